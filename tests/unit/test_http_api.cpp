// The gateway's HTTP API mapping: routes, purchase bodies and status codes (DESIGN.md section 6).

#include <gtest/gtest.h>

#include "api/http_api.hpp"

namespace {

using namespace flashsale;
using api::route_kind;

TEST(http_api, routes_purchases_orders_and_health) {
  auto r = api::match("POST", "/v1/products/TV/purchase");
  EXPECT_EQ(r.kind, route_kind::purchase);
  EXPECT_EQ(r.product, "TV");
  EXPECT_EQ(api::match("POST", "/v1/products/TV/purchase?src=app").kind, route_kind::purchase);
  auto o = api::match("GET", "/v1/orders/gw1-abc-1");
  EXPECT_EQ(o.kind, route_kind::order);
  EXPECT_EQ(o.ticket, "gw1-abc-1");
  EXPECT_EQ(api::match("GET", "/healthz").kind, route_kind::healthz);
  EXPECT_EQ(api::match("GET", "/v1/products/TV").kind, route_kind::product);
}

TEST(http_api, wrong_methods_and_unknown_paths) {
  EXPECT_EQ(api::match("GET", "/v1/products/TV/purchase").kind, route_kind::method_not_allowed);
  EXPECT_EQ(api::match("POST", "/healthz").kind, route_kind::method_not_allowed);
  EXPECT_EQ(api::match("POST", "/v1/products//purchase").kind, route_kind::not_found);
  EXPECT_EQ(api::match("POST", "/v1/products/TV/buy").kind, route_kind::not_found);
  EXPECT_EQ(api::match("GET", "/v1/orders/").kind, route_kind::not_found);
  EXPECT_EQ(api::match("GET", "/").kind, route_kind::not_found);
}

TEST(http_api, purchase_body_needs_a_user_string) {
  std::string error;
  EXPECT_EQ(api::parse_purchase_body(R"({"user":"alice"})", error).value_or(""), "alice");
  EXPECT_EQ(api::parse_purchase_body(R"({"user":"bob","extra":1})", error).value_or(""), "bob");
  for (const char* bad : {"", "{", "[]", "\"alice\"", R"({"usr":"a"})", R"({"user":7})",
                          R"({"user":""})", "{\"user\":\"a\\u0001b\"}"}) {
    error.clear();
    EXPECT_FALSE(api::parse_purchase_body(bad, error).has_value()) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  EXPECT_FALSE(api::parse_purchase_body("{\"user\":\"" + std::string(129, 'x') + "\"}", error));
}

TEST(http_api, decisions_map_to_documented_status_codes) {
  auto accepted = api::purchase_response(purchase_reply{admission::accepted, "t-1"});
  EXPECT_EQ(accepted.status, 202);
  EXPECT_EQ(accepted.body, R"({"status":"queued","ticket":"t-1"})");
  ASSERT_EQ(accepted.headers.size(), 1u);
  EXPECT_EQ(accepted.headers[0].second, "/v1/orders/t-1");
  EXPECT_EQ(api::purchase_response({admission::shed, {}}).status, 429);
  EXPECT_EQ(api::purchase_response({admission::sold_out, {}}).status, 410);
  EXPECT_EQ(api::purchase_response({admission::already_bought, {}}).status, 409);
  EXPECT_EQ(api::purchase_response({admission::queue_refused, {}}).status, 503);
  EXPECT_EQ(api::purchase_response({admission::unknown_product, {}}).status, 404);
}

TEST(http_api, tickets_answer_their_state_or_404) {
  EXPECT_EQ(api::ticket_response(std::nullopt).status, 404);
  ticket_view v{"t-1", "t-1", "TV", "alice", order_status::confirmed, 42};
  auto r = api::ticket_response(v);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"status\":\"confirmed\""), std::string::npos);
  EXPECT_NE(r.body.find("\"order_id\":42"), std::string::npos);
}

}  // namespace

// The gateway's HTTP API mapping: routes, purchase bodies and status codes (docs/http-api.md).

#include <gtest/gtest.h>

#include "admission/admission_front.hpp"
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
  auto busy = api::purchase_response({admission::busy, {}});
  EXPECT_EQ(busy.status, 503);
  EXPECT_NE(busy.body.find(R"("status":"busy")"), std::string::npos) << busy.body;
}

TEST(http_api, outside_the_window_answers_say_why) {
  auto early = api::purchase_response({admission::not_started, {}}, 1795809600000);
  EXPECT_EQ(early.status, 403);
  EXPECT_NE(early.body.find(R"("status":"not_started")"), std::string::npos) << early.body;
  EXPECT_NE(early.body.find(R"("opens_at":"2026-11-27T20:00:00Z")"), std::string::npos);
  auto closed = api::purchase_response({admission::closed, {}});
  EXPECT_EQ(closed.status, 403);
  EXPECT_NE(closed.body.find(R"("status":"closed")"), std::string::npos);
  auto ended = api::purchase_response({admission::ended, {}});
  EXPECT_EQ(ended.status, 410);
  EXPECT_NE(ended.body.find(R"("status":"ended")"), std::string::npos);
}

TEST(http_api, product_state_shows_window_lottery_and_quota) {
  sale_definition sale;
  sale.name = "s";
  sale.products.push_back(product_definition{"TV", 10, 2, 1, false, "flashsale"});
  sale.opens_at_ms = 1795809600000;
  admission_front front{sale, 10, crypto::hash_key{1, 2}};
  front.gauges("TV")->quota_left.set(4);
  auto before = api::product_response(front, "TV", 1795809600000 - 1);
  EXPECT_EQ(before.status, 200);
  EXPECT_EQ(before.body,
            R"({"closes_at":null,"keep_one_in":10,"opens_at":"2026-11-27T20:00:00Z",)"
            R"("product":"TV","quota_left":4,"sale":"s","sold_out":false,"state":"not_started"})");
  EXPECT_NE(api::product_response(front, "TV", 1795809600000).body.find(R"("state":"open")"),
            std::string::npos);
  EXPECT_EQ(api::product_response(front, "Radio", 0).status, 404);
  EXPECT_EQ(api::match("GET", "/metrics").kind, api::route_kind::metrics);
  EXPECT_EQ(api::match("POST", "/metrics").kind, api::route_kind::method_not_allowed);
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

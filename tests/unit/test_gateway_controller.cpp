// The gateway's HTTP controller with buyer tokens: who the purchase is for, and that a refused
// token costs nothing downstream (the gateway actor never hears of it). The actor is replaced by
// the two calls the node wires; tokens are real HS256 JWTs.

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "admission/admission_front.hpp"
#include "admission/buyer_auth.hpp"
#include "admission/rate_limiter.hpp"
#include "api/gateway_controller.hpp"
#include "common/utc_time.hpp"

namespace {

using namespace flashsale;

struct captured : http::responder {
  std::shared_ptr<http::response> out = std::make_shared<http::response>();
  void send(http::response r) override { *out = std::move(r); }
};

class gateway_controller_test : public ::testing::Test {
 protected:
  crypto::secret_key key = crypto::secret_key(32, 7);

  void make(bool with_auth, rate_limit per_address = {}, rate_limit per_user = {}) {
    sale.name = "s1";
    sale.products.push_back(product_definition{"TV", 10, 2, 1, false, "flashsale"});
    front = std::make_shared<admission_front>(sale, 1, crypto::hash_key{1, 2});
    api::controller_links links;
    links.front = front;
    if (with_auth)
      links.auth =
          std::make_shared<const buyer_authenticator>("s1", std::vector<crypto::secret_key>{key});
    links.per_address = std::make_shared<rate_limiter>(per_address);
    links.per_user = std::make_shared<rate_limiter>(per_user);
    links.purchase = [this](purchase_call c) { calls.push_back(std::move(c)); };
    links.ticket = [](ticket_query) {};
    links.broker_up = std::make_shared<std::atomic<bool>>(true);
    links.quota_ready = std::make_shared<std::atomic<bool>>(true);
    controller = std::make_unique<api::gateway_controller>(std::move(links));
  }

  http::response post(const std::string& body, const std::string& authorization = {},
                      const std::string& target = "/v1/products/TV/purchase",
                      const std::string& peer = "10.0.0.1") {
    http::request req;
    req.peer = peer;
    req.method = target == "/metrics" ? "GET" : "POST";
    req.target = target;
    req.body = body;
    req.authorization = authorization;
    auto reply = std::make_shared<captured>();
    auto out = reply->out;
    controller->handle(std::move(req), std::move(reply));
    return *out;
  }

  std::string token_for(const std::string& user, const std::string& for_sale = "s1") const {
    return "Bearer " + issue_buyer_token(key, for_sale, user, utc_now_ms() / 1000, 600);
  }

  static std::string reason_of(const http::response& r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("reason", "") : "";
  }

  sale_definition sale;
  std::shared_ptr<admission_front> front;
  std::vector<purchase_call> calls;
  std::unique_ptr<api::gateway_controller> controller;
};

TEST_F(gateway_controller_test, a_purchase_without_a_valid_token_is_401_and_goes_no_further) {
  make(true);
  auto missing = post(R"({"user":"alice"})");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(reason_of(missing), "missing") << missing.body;
  ASSERT_EQ(missing.headers.size(), 1u);
  EXPECT_EQ(missing.headers[0].first, "WWW-Authenticate");
  EXPECT_EQ(reason_of(post("{}", "Bearer x.y.z")), "malformed");
  EXPECT_EQ(reason_of(post("{}", token_for("alice", "other-sale"))), "wrong_sale");
  auto forged = "Bearer " + issue_buyer_token(crypto::secret_key(32, 8), "s1", "alice",
                                              utc_now_ms() / 1000, 600);
  EXPECT_EQ(reason_of(post("{}", forged)), "forged");
  EXPECT_TRUE(calls.empty()) << "a refused token reached the gateway actor";
  EXPECT_EQ(front->outcome_total(unauthorized_outcome), 4u);
  EXPECT_EQ(front->in_flight(), 0);
  auto metrics = post("", "", "/metrics").body;
  EXPECT_NE(metrics.find("flashsale_purchases_total{outcome=\"unauthorized\"} 4"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("flashsale_auth_refused_total{reason=\"forged\"} 1"), std::string::npos)
      << metrics;
}

TEST_F(gateway_controller_test, the_token_names_the_buyer_and_the_body_may_not_name_another) {
  make(true);
  post("", token_for("alice"));
  post("{}", token_for("bob"));
  post(R"({"user":"carol"})", token_for("carol"));
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].user, "alice");
  EXPECT_EQ(calls[1].user, "bob");
  EXPECT_EQ(calls[2].user, "carol");
  auto other = post(R"({"user":"mallory"})", token_for("dave"));
  EXPECT_EQ(other.status, 400) << other.body;
  EXPECT_EQ(post("[1]", token_for("dave")).status, 400);
  EXPECT_EQ(calls.size(), 3u) << "a disagreeing body must buy for nobody";
  EXPECT_EQ(front->outcome_total(bad_request_outcome), 2u);
}

TEST_F(gateway_controller_test, without_authentication_the_body_names_the_buyer) {
  make(false);
  EXPECT_EQ(post("{}").status, 400);
  post(R"({"user":"alice"})", token_for("ignored"));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].user, "alice");
  EXPECT_EQ(post("", "", "/metrics").body.find("flashsale_auth_refused_total"), std::string::npos);
}

TEST_F(gateway_controller_test, an_address_over_its_limit_gets_429_before_its_token_is_checked) {
  make(true, rate_limit{1, 2});
  const std::string bot = "10.9.9.9";
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(post("{}", "Bearer forged", "/v1/products/TV/purchase", bot).status, 401);
  auto limited = post("{}", "Bearer forged", "/v1/products/TV/purchase", bot);
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_NE(limited.body.find("\"rate_limited\""), std::string::npos) << limited.body;
  ASSERT_EQ(limited.headers.size(), 1u);
  EXPECT_EQ(limited.headers[0], (std::pair<std::string, std::string>{"Retry-After", "1"}));
  EXPECT_EQ(front->outcome_total(unauthorized_outcome), 2u) << "the third cost no token check";
  EXPECT_EQ(front->outcome_total(rate_limited_outcome), 1u);
  // Another address is not held back by the bot.
  post("{}", token_for("alice"), "/v1/products/TV/purchase", "10.0.0.2");
  EXPECT_EQ(calls.size(), 1u);
}

TEST_F(gateway_controller_test, a_buyer_over_his_limit_gets_429_from_every_address) {
  make(true, rate_limit{}, rate_limit{1, 3});
  for (int i = 0; i < 3; ++i)
    post("{}", token_for("alice"), "/v1/products/TV/purchase", "10.0.0." + std::to_string(i));
  EXPECT_EQ(calls.size(), 3u);
  auto limited = post("{}", token_for("alice"), "/v1/products/TV/purchase", "10.0.0.99");
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_NE(limited.body.find("this user"), std::string::npos) << limited.body;
  EXPECT_EQ(calls.size(), 3u);
  post("{}", token_for("bob"));
  EXPECT_EQ(calls.size(), 4u) << "another buyer is not held back";
  auto metrics = post("", "", "/metrics").body;
  EXPECT_NE(metrics.find("flashsale_rate_limited_total{by=\"user\"} 1"), std::string::npos)
      << metrics;
}

}  // namespace

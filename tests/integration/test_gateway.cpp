// The gateway's HTTP API as a buyer and an operator meet it, through the real flashsale-gateway
// process (its quota from ZooKeeper, its purchases confirmed by RabbitMQ): every answer of a
// purchase, the sale window from the sale file and from the operator (flashsale-admin sale
// open|close|schedule), GET /v1/products, /metrics, and the lottery's shed share under
// 100,000 requests of flashsale-load. Needs the private services (scripts/services). Each test
// has its own sale file, ZooKeeper root, queue and port (tests/support/gateway_fixture.hpp).

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "adapters/crypto/key_file.hpp"
#include "admission/buyer_auth.hpp"
#include "common/utc_time.hpp"
#include "tests/support/gateway_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::testing::gateway_fixture;
using flashsale::testing::gateway_setup;
using flashsale::testing::http_client;
using flashsale::testing::http_reply;
using flashsale::testing::metrics_page;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

constexpr const char* two_products = R"(
[sale]
name = gw
[product.TV]
stock = 2
slots = 2
[product.Phone]
stock = 1000
slots = 4
)";

/// The outcomes /metrics counts purchases under (flashsale_purchases_total{outcome=...}).
const std::vector<std::string> all_outcomes{
    "accepted",    "shed",   "sold_out", "already_bought", "queue_refused", "unknown_product",
    "not_started", "closed", "ended",    "bad_request",    "unauthorized",  "rate_limited"};

double outcome(const metrics_page& m, const std::string& name) {
  return m.value("flashsale_purchases_total", {{"outcome", name}});
}

std::string describe(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body;
}

class gateway_api : public gateway_fixture {
 protected:
  /// Refusals cost nothing: `product`'s quota is still `quota`, nothing was queued or confirmed,
  /// and /metrics counted `n` purchases as `outcome_name`.
  void expect_free_refusals(const std::string& product, std::int64_t quota,
                            const std::string& outcome_name, double n) {
    EXPECT_EQ(quota_left(product), quota);
    EXPECT_EQ(queued_purchases(), 0);
    auto m = scrape();
    EXPECT_EQ(outcome(m, outcome_name), n) << m.text();
    EXPECT_EQ(m.value("flashsale_publish_confirms_total"), 0) << m.text();
  }
};

// --- every answer of a purchase -------------------------------------------------------------

TEST_F(gateway_api, an_accepted_purchase_is_202_with_a_ticket_the_buyer_can_look_up) {
  ASSERT_NO_FATAL_FAILURE(start({two_products}));
  auto before = product_state("Phone");
  EXPECT_EQ(before.value("product", ""), "Phone") << before.dump();
  EXPECT_EQ(before.value("sale", ""), "gw") << before.dump();
  EXPECT_EQ(before.value("state", ""), "open") << before.dump();
  EXPECT_TRUE(before.contains("opens_at") && before["opens_at"].is_null()) << before.dump();
  EXPECT_TRUE(before.contains("closes_at") && before["closes_at"].is_null()) << before.dump();
  EXPECT_EQ(before.value("keep_one_in", -1), 1) << before.dump();
  EXPECT_EQ(before.value("quota_left", -1), 1000) << before.dump();
  EXPECT_EQ(before.value("sold_out", true), false) << before.dump();

  auto reply = purchase("Phone", "alice");
  ASSERT_EQ(reply.status, 202) << reply.body << gateway_log();
  auto body = json_of(reply);
  EXPECT_EQ(body.value("status", ""), "queued") << reply.body;
  ASSERT_TRUE(body.contains("ticket") && body["ticket"].is_string()) << reply.body;
  auto ticket = body["ticket"].get<std::string>();
  EXPECT_FALSE(ticket.empty());
  EXPECT_EQ(reply.headers["location"], "/v1/orders/" + ticket);

  auto order = request("GET", "/v1/orders/" + ticket);
  ASSERT_EQ(order.status, 200) << order.body;
  auto view = json_of(order);
  EXPECT_EQ(view.value("ticket", ""), ticket) << order.body;
  EXPECT_EQ(view.value("user", ""), "alice") << order.body;
  EXPECT_EQ(view.value("product", ""), "Phone") << order.body;
  EXPECT_EQ(request("GET", "/v1/orders/no-such-ticket").status, 404);

  // Confirmed before the 202: the purchase is in the queue, the unit is reserved.
  EXPECT_EQ(queued_purchases(), 1);
  EXPECT_EQ(quota_left("Phone"), 999);
  EXPECT_EQ(quota_left("TV"), 2);
  EXPECT_EQ(request("GET", "/v1/products/Toaster").status, 404);
}

TEST_F(gateway_api, a_lost_lottery_is_429_shed_and_costs_nothing) {
  gateway_setup setup{two_products};
  setup.keep_one_in = 2;
  ASSERT_NO_FATAL_FAILURE(start(setup));
  int accepted = 0;
  int shed = 0;
  for (int i = 0; i < 200 && (accepted < 3 || shed < 3); ++i) {
    auto reply = purchase("Phone", "u" + std::to_string(i));
    if (reply.status == 202) {
      ++accepted;
      EXPECT_EQ(status_of(reply), "queued") << reply.body;
    } else if (reply.status == 429) {
      ++shed;
      EXPECT_EQ(status_of(reply), "shed") << reply.body;
    } else {
      ADD_FAILURE() << "purchase " << i << ": " << describe(reply);
    }
  }
  EXPECT_GE(accepted, 3);
  EXPECT_GE(shed, 3);
  EXPECT_EQ(product_state("Phone").value("keep_one_in", -1), 2);
  // Only the winners took a unit and reached the queue.
  EXPECT_EQ(quota_left("Phone"), 1000 - accepted);
  EXPECT_EQ(queued_purchases(), accepted);
}

TEST_F(gateway_api, the_last_unit_sells_once_then_410_sold_out_and_a_repeat_buyer_gets_409) {
  ASSERT_NO_FATAL_FAILURE(start({two_products}));
  auto first = purchase("TV", "u1");
  ASSERT_EQ(first.status, 202) << first.body << gateway_log();
  auto again = purchase("TV", "u1");
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(status_of(again), "already_bought") << again.body;
  EXPECT_EQ(purchase("TV", "u2").status, 202);
  for (const char* user : {"u3", "u4"}) {
    auto reply = purchase("TV", user);
    EXPECT_EQ(reply.status, 410) << user << ": " << reply.body;
    EXPECT_EQ(status_of(reply), "sold_out") << reply.body;
  }
  auto tv = product_state("TV");
  EXPECT_EQ(tv.value("quota_left", -1), 0) << tv.dump();
  EXPECT_EQ(tv.value("sold_out", false), true) << tv.dump();
  EXPECT_EQ(tv.value("state", ""), "open") << tv.dump();
  // The same user may still buy another product.
  EXPECT_EQ(purchase("Phone", "u1").status, 202);
  EXPECT_EQ(queued_purchases(), 3);
}

TEST_F(gateway_api, malformed_requests_are_400_and_unknown_products_404_and_cost_nothing) {
  gateway_setup setup{two_products};
  setup.keep_one_in = 10;  // unknown products are decided before the lottery: always 404
  ASSERT_NO_FATAL_FAILURE(start(setup));
  for (const char* body : {"{\"user\":", "not json", "[]", "{}", "{\"name\":\"x\"}",
                           "{\"user\": 42}", "{\"user\": \"\"}", ""}) {
    auto reply = request("POST", "/v1/products/Phone/purchase", body);
    EXPECT_EQ(reply.status, 400) << "body '" << body << "' -> " << reply.body;
  }
  for (int i = 0; i < 20; ++i) {
    auto reply = purchase("Toaster", "u" + std::to_string(i));
    EXPECT_EQ(reply.status, 404) << reply.body;
  }
  EXPECT_EQ(quota_left("Phone"), 1000);
  EXPECT_EQ(queued_purchases(), 0);
}

TEST_F(gateway_api, an_oversized_body_is_413_and_an_oversized_header_431) {
  gateway_setup setup{two_products};
  setup.gateway_args = {"--http.max-body-bytes=256", "--http.max-header-bytes=1024"};
  ASSERT_NO_FATAL_FAILURE(start(setup));
  // Within the caps: served.
  auto fits =
      request("POST", "/v1/products/Phone/purchase", "{\"user\":\"" + std::string(100, 'a') + "\"}",
              {{"X-Pad", std::string(300, 'p')}});
  EXPECT_EQ(fits.status, 202) << fits.body;

  auto big_body = request("POST", "/v1/products/Phone/purchase",
                          "{\"user\":\"" + std::string(1000, 'b') + "\"}");
  EXPECT_EQ(big_body.status, 413) << big_body.body;
  auto big_header = request("POST", "/v1/products/Phone/purchase", "{\"user\":\"c\"}",
                            {{"X-Pad", std::string(2000, 'p')}});
  EXPECT_EQ(big_header.status, 431) << big_header.body;
  EXPECT_EQ(quota_left("Phone"), 999);
  EXPECT_EQ(queued_purchases(), 1);
}

TEST_F(gateway_api, a_header_that_does_not_arrive_in_time_is_408) {
  gateway_setup setup{two_products};
  setup.gateway_args = {"--http.header-deadline-ms=500"};
  ASSERT_NO_FATAL_FAILURE(start(setup));
  http_client slow{http_port_, 5000};
  auto started = clock_type::now();
  // Part of a header, never finished (a slowloris client).
  auto reply = slow.raw("POST /v1/products/Phone/purchase HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started);
  EXPECT_EQ(reply.status, 408) << "after " << waited.count() << " ms: " << reply.body;
  EXPECT_GE(waited.count(), 400);
  EXPECT_LT(waited.count(), 3000);
  // The gateway still serves others.
  EXPECT_EQ(purchase("Phone", "after").status, 202);
}

TEST_F(gateway_api, a_queue_that_refuses_is_503_unavailable_and_the_unit_is_refunded) {
  gateway_setup setup{two_products};
  setup.queue_max_length = 1;  // no writer: the queue stays full after one
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto first = purchase("Phone", "u1");
  ASSERT_EQ(first.status, 202) << first.body << gateway_log();
  auto refused = purchase("Phone", "u2");
  EXPECT_EQ(refused.status, 503) << refused.body << gateway_log();
  EXPECT_EQ(status_of(refused), "unavailable") << refused.body;
  EXPECT_EQ(quota_left("Phone"), 999);  // the refused unit is back
  EXPECT_EQ(queued_purchases(), 1);
  auto m = scrape();
  EXPECT_GE(m.value("flashsale_publish_nacks_total"), 1) << m.text();
  EXPECT_EQ(outcome(m, "queue_refused"), 1) << m.text();
  EXPECT_EQ(outcome(m, "accepted"), 1) << m.text();
  EXPECT_EQ(m.value("flashsale_quota_left", {{"product", "Phone"}}), 999) << m.text();
}

// [amqp] hosts: a cluster whose first broker does not answer (a node down, a wrong address) costs
// the gateway one connect attempt; it starts on the next broker and sells.
TEST_F(gateway_api, a_broker_list_whose_first_broker_does_not_answer_sells_through_the_next) {
  gateway_setup setup{two_products};
  setup.gateway_args = {"--amqp.hosts=127.0.0.1:1," + amqp_.host + ":" +
                        std::to_string(amqp_.port)};  // nothing listens on port 1
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto reply = purchase("Phone", "u1");
  EXPECT_EQ(reply.status, 202) << reply.body << gateway_log();
  EXPECT_EQ(queued_purchases(), 1);
}

// --- the sale window --------------------------------------------------------------------------

TEST_F(gateway_api, before_opens_at_purchases_are_403_not_started_and_cost_nothing) {
  gateway_setup setup{R"(
[sale]
name = early
opens_at = 2030-01-01T00:00:00Z
[product.TV]
stock = 50
slots = 2
)"};
  setup.keep_one_in = 10;  // the window is decided before the lottery: every request gets 403
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto tv = product_state("TV");
  EXPECT_EQ(tv.value("state", ""), "not_started") << tv.dump();
  EXPECT_EQ(tv.value("opens_at", json()), json("2030-01-01T00:00:00Z")) << tv.dump();
  EXPECT_TRUE(tv.contains("closes_at") && tv["closes_at"].is_null()) << tv.dump();
  EXPECT_EQ(tv.value("quota_left", -1), 50) << tv.dump();
  for (int i = 0; i < 20; ++i) {
    auto reply = purchase("TV", "u" + std::to_string(i));
    EXPECT_EQ(reply.status, 403) << reply.body;
    auto body = json_of(reply);
    EXPECT_EQ(body.value("status", ""), "not_started") << reply.body;
    EXPECT_EQ(body.value("opens_at", ""), "2030-01-01T00:00:00Z") << reply.body;
  }
  expect_free_refusals("TV", 50, "not_started", 20);
}

TEST_F(gateway_api, after_closes_at_purchases_are_410_ended_and_cost_nothing) {
  gateway_setup setup{R"(
[sale]
name = late
opens_at = 2020-01-01T00:00:00Z
closes_at = 2020-01-02T00:00:00Z
[product.TV]
stock = 50
slots = 2
)"};
  setup.keep_one_in = 10;
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto tv = product_state("TV");
  EXPECT_EQ(tv.value("state", ""), "ended") << tv.dump();
  EXPECT_EQ(tv.value("opens_at", json()), json("2020-01-01T00:00:00Z")) << tv.dump();
  EXPECT_EQ(tv.value("closes_at", json()), json("2020-01-02T00:00:00Z")) << tv.dump();
  for (int i = 0; i < 20; ++i) {
    auto reply = purchase("TV", "u" + std::to_string(i));
    EXPECT_EQ(reply.status, 410) << reply.body;
    EXPECT_EQ(status_of(reply), "ended") << reply.body;
  }
  expect_free_refusals("TV", 50, "ended", 20);
}

TEST_F(gateway_api, inside_the_window_purchases_are_accepted) {
  ASSERT_NO_FATAL_FAILURE(start({R"(
[sale]
name = now
opens_at = 2020-01-01T00:00:00Z
closes_at = 2099-12-31T23:59:59Z
[product.TV]
stock = 50
slots = 2
)"}));
  auto tv = product_state("TV");
  EXPECT_EQ(tv.value("state", ""), "open") << tv.dump();
  EXPECT_EQ(tv.value("closes_at", json()), json("2099-12-31T23:59:59Z")) << tv.dump();
  auto reply = purchase("TV", "alice");
  EXPECT_EQ(reply.status, 202) << reply.body;
  EXPECT_EQ(quota_left("TV"), 49);
}

// --- the operator's window --------------------------------------------------------------------

TEST_F(gateway_api, an_operator_close_stops_purchases_within_2_s_at_no_cost_and_open_resumes) {
  ASSERT_NO_FATAL_FAILURE(start({two_products}));
  // A live shedding setting the window commands must keep.
  ASSERT_TRUE(flashsale::testing::set_keep_one_in(zk_->session(), *paths_, 1));
  ASSERT_EQ(purchase("Phone", "before").status, 202);
  // The lottery's draw secret (written by zk init) must survive the window commands, unprinted.
  auto secret = object_of(settings_znode().value_or("")).value("draw_secret", "");
  ASSERT_EQ(secret.size(), 32u) << settings_znode().value_or("");

  std::string out;
  auto closed_at = clock_type::now();  // the operator's command, its own run included
  ASSERT_EQ(sale_window("close", &out), 0) << out;
  ASSERT_TRUE(wait_for_state("Phone", "closed", 5s)) << product_state("Phone").dump();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - closed_at);
  EXPECT_LE(took.count(), 2000) << "the gateway followed the close after " << took.count() << " ms";
  std::cout << "[          ] closed after " << took.count() << " ms\n";
  EXPECT_EQ(product_state("TV").value("state", ""), "closed");

  auto settings = object_of(settings_znode().value_or(""));
  EXPECT_EQ(settings.value("window", ""), "closed") << settings.dump();
  EXPECT_EQ(settings.value("keep_one_in", -1), 1) << settings.dump();
  EXPECT_EQ(settings.value("draw_secret", ""), secret);
  EXPECT_EQ(out.find(secret), std::string::npos) << out;

  for (int i = 0; i < 5; ++i) {
    auto reply = purchase("Phone", "closed" + std::to_string(i));
    EXPECT_EQ(reply.status, 403) << reply.body;
    EXPECT_EQ(status_of(reply), "closed") << reply.body;
  }
  EXPECT_EQ(quota_left("Phone"), 999);
  EXPECT_EQ(queued_purchases(), 1);

  auto opened_at = clock_type::now();
  ASSERT_EQ(sale_window("open", &out), 0) << out;
  ASSERT_TRUE(wait_for_state("Phone", "open", 5s)) << product_state("Phone").dump();
  took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - opened_at);
  EXPECT_LE(took.count(), 2000) << "the gateway followed the open after " << took.count() << " ms";
  std::cout << "[          ] opened after " << took.count() << " ms\n";
  settings = object_of(settings_znode().value_or(""));
  EXPECT_EQ(settings.value("window", ""), "open") << settings.dump();
  EXPECT_EQ(settings.value("keep_one_in", -1), 1) << settings.dump();
  EXPECT_EQ(settings.value("draw_secret", ""), secret);
  auto reply = purchase("Phone", "closed0");  // refused while closed, so not holding a unit
  EXPECT_EQ(reply.status, 202) << reply.body;
  EXPECT_EQ(quota_left("Phone"), 998);
}

TEST_F(gateway_api, an_operator_can_open_a_sale_early_and_hand_it_back_to_its_schedule) {
  ASSERT_NO_FATAL_FAILURE(start({R"(
[sale]
name = early
opens_at = 2030-01-01T00:00:00Z
[product.TV]
stock = 50
slots = 2
)"}));
  EXPECT_EQ(purchase("TV", "u1").status, 403);
  std::string out;
  ASSERT_EQ(sale_window("open", &out), 0) << out;
  ASSERT_TRUE(wait_for_state("TV", "open", 5s)) << product_state("TV").dump();
  auto reply = purchase("TV", "u2");
  EXPECT_EQ(reply.status, 202) << reply.body;

  ASSERT_EQ(sale_window("schedule", &out), 0) << out;
  ASSERT_TRUE(wait_for_state("TV", "not_started", 5s)) << product_state("TV").dump();
  auto settings = object_of(settings_znode().value_or(""));
  EXPECT_EQ(settings.value("window", ""), "scheduled") << settings.dump();
  reply = purchase("TV", "u3");
  EXPECT_EQ(reply.status, 403) << reply.body;
  EXPECT_EQ(status_of(reply), "not_started") << reply.body;
  EXPECT_EQ(quota_left("TV"), 49);
  EXPECT_EQ(queued_purchases(), 1);
}

// --- /metrics ---------------------------------------------------------------------------------

TEST_F(gateway_api, metrics_count_every_purchase_under_the_outcome_the_client_saw) {
  gateway_setup setup{two_products};
  setup.keep_one_in = 2;
  ASSERT_NO_FATAL_FAILURE(start(setup));

  auto idle = scrape();
  for (const auto& o : all_outcomes)
    EXPECT_EQ(outcome(idle, o), 0) << o << "\n" << idle.text();

  std::map<std::string, int> seen;  // outcome -> answers the client got
  int purchases = 0;
  int accepted_phone = 0;
  std::string phone_buyer;
  auto send = [&](const std::string& product, const std::string& user) {
    ++purchases;
    auto reply = purchase(product, user);
    switch (reply.status) {
      case 202:
        ++seen["accepted"];
        if (product == "Phone") {
          ++accepted_phone;
          phone_buyer = user;
        }
        break;
      case 429:  // the repeat buyer below may run into his rate limit (burst 20)
        ++seen[status_of(reply) == "rate_limited" ? "rate_limited" : "shed"];
        break;
      case 410:
        ++seen[status_of(reply) == "sold_out" ? "sold_out" : "?410"];
        break;
      case 409:
        ++seen["already_bought"];
        break;
      case 404:
        ++seen["unknown_product"];
        break;
      case 403:
        ++seen[status_of(reply) == "closed" ? "closed" : "?403"];
        break;
      default:
        ++seen["?" + std::to_string(reply.status)];
        ADD_FAILURE() << describe(reply);
    }
    return reply.status;
  };

  for (int i = 0; i < 200 && (seen["accepted"] < 3 || seen["shed"] < 3); ++i)
    send("Phone", "p" + std::to_string(i));
  ASSERT_FALSE(phone_buyer.empty());
  for (int i = 0; i < 20; ++i)  // a repeat buyer: 409 when the lottery lets the request through
    send("Phone", phone_buyer);
  int sold_out_seen = 0;
  for (int i = 0; i < 200 && sold_out_seen < 2; ++i)
    sold_out_seen += send("TV", "t" + std::to_string(i)) == 410;
  for (int i = 0; i < 3; ++i)
    send("Toaster", "x" + std::to_string(i));
  for (const char* body : {"not json", "{}", "{\"user\": 7}", "{\"user\":"}) {
    ++purchases;
    auto reply = request("POST", "/v1/products/Phone/purchase", body);
    EXPECT_EQ(reply.status, 400) << reply.body;
    ++seen["bad_request"];
  }
  std::string out;
  ASSERT_EQ(sale_window("close", &out), 0) << out;
  ASSERT_TRUE(wait_for_state("Phone", "closed", 5s));
  for (int i = 0; i < 2; ++i)
    send("Phone", "c" + std::to_string(i));

  EXPECT_GE(seen["already_bought"], 1);
  EXPECT_EQ(sold_out_seen, 2);
  auto m = scrape();
  int counted = 0;
  for (const auto& o : all_outcomes) {
    EXPECT_EQ(outcome(m, o), seen[o]) << "outcome " << o << "\n" << m.text();
    counted += seen[o];
  }
  EXPECT_EQ(counted, purchases) << "answers outside the documented outcomes";
  EXPECT_EQ(m.type_of("flashsale_purchases_total"), "counter");

  // Histograms: every purchase request in one, every acceptance in the other.
  const std::vector<std::string> histograms{"flashsale_purchase_duration_seconds",
                                            "flashsale_accepted_duration_seconds"};
  for (const auto& h : histograms) {
    double count = h == "flashsale_purchase_duration_seconds" ? purchases : seen["accepted"];
    EXPECT_EQ(m.type_of(h), "histogram") << h;
    EXPECT_EQ(m.value(h + "_count"), count) << h << "\n" << m.text();
    EXPECT_GT(m.value(h + "_sum"), 0) << h;
    auto buckets = m.all(h + "_bucket");
    ASSERT_GE(buckets.size(), 2u) << h;
    double previous = 0;
    for (const auto& [labels, value] : buckets) {
      EXPECT_GE(value, previous) << h << " le=" << labels.at("le") << ": buckets are cumulative";
      previous = value;
    }
    EXPECT_EQ(buckets.back().first.at("le"), "+Inf") << h;
    EXPECT_EQ(buckets.back().second, count) << h;
  }

  EXPECT_EQ(m.value("flashsale_publish_confirms_total"), seen["accepted"]) << m.text();
  EXPECT_EQ(m.value("flashsale_publish_nacks_total"), 0) << m.text();
  EXPECT_EQ(m.type_of("flashsale_publish_confirms_total"), "counter");
  EXPECT_EQ(m.type_of("flashsale_publish_nacks_total"), "counter");
  EXPECT_EQ(m.value("flashsale_quota_left", {{"product", "TV"}}), 0) << m.text();
  EXPECT_EQ(m.value("flashsale_quota_left", {{"product", "Phone"}}), 1000 - accepted_phone)
      << m.text();
  EXPECT_EQ(m.type_of("flashsale_quota_left"), "gauge");
  EXPECT_EQ(m.value("flashsale_keep_one_in"), 2) << m.text();
  EXPECT_EQ(m.value("flashsale_purchases_in_flight"), 0) << m.text();
  EXPECT_GE(m.value("flashsale_http_connections_open"), 1) << m.text();  // this scrape's

  // The Grafana dashboard shipped in deploy/ asks only for families this page has.
  std::ifstream dashboard_file("deploy/grafana/flashsale-dashboard.json");
  ASSERT_TRUE(dashboard_file) << "deploy/grafana/flashsale-dashboard.json";
  std::string dashboard{std::istreambuf_iterator<char>(dashboard_file), {}};
  std::regex family{R"(flashsale_[a-z_]+)"};
  std::set<std::string> asked;
  std::regex histogram_part{R"(_(bucket|count|sum)$)"};  // a histogram's series name its family
  for (std::sregex_iterator i{dashboard.begin(), dashboard.end(), family}, end; i != end; ++i)
    asked.insert(std::regex_replace(i->str(), histogram_part, ""));
  EXPECT_GE(asked.size(), 5u);
  for (const auto& name : asked)
    EXPECT_FALSE(m.type_of(name).empty()) << "the dashboard asks for " << name << "\n" << m.text();
}

// --- the lottery under load -------------------------------------------------------------------

TEST_F(gateway_api, one_in_ten_is_kept_of_100k_requests_and_every_request_is_answered) {
  gateway_setup setup{R"(
[sale]
name = shed
[product.TV]
stock = 1000000
slots = 8
)"};
  setup.keep_one_in = 10;  // no writer: the accepted ~10,000 wait in the queue (max 1,000,000)
  setup.tokens = true;     // every buyer's token is checked, as in a real sale
  ASSERT_NO_FATAL_FAILURE(start(setup));
  constexpr std::uint64_t requests = 100000;
  auto started = clock_type::now();
  auto load = run_load({"--requests", std::to_string(requests), "--users", std::to_string(requests),
                        "--connections", "64", "--products", "TV", "--timeout-ms", "10000"},
                       240s);
  auto took = std::chrono::duration<double>(clock_type::now() - started).count();
  std::cout << "[          ] " << requests << " requests in " << took << " s: 202 "
            << load.status(202) << ", 429 " << load.status(429) << "\n";
  ASSERT_EQ(load.exit_code, 0) << load.output << gateway_log();
  EXPECT_EQ(load.errors, 0u) << load.output;
  EXPECT_EQ(load.answered, requests) << load.output;
  EXPECT_EQ(load.statuses_total(), requests) << load.output;
  EXPECT_EQ(load.status(202) + load.status(429), requests) << load.output;
  double shed_share = static_cast<double>(load.status(429)) / requests;
  EXPECT_NEAR(shed_share, 0.9, 0.01) << load.output;

  auto m = scrape();
  EXPECT_EQ(outcome(m, "shed"), load.status(429)) << m.text();
  EXPECT_EQ(outcome(m, "accepted"), load.status(202)) << m.text();
  EXPECT_EQ(m.value("flashsale_purchase_duration_seconds_count"), requests) << m.text();
  EXPECT_EQ(outcome(m, "unauthorized"), 0) << m.text();
  EXPECT_EQ(quota_left("TV"), 1000000 - static_cast<std::int64_t>(load.status(202)));
  EXPECT_EQ(queued_purchases(), static_cast<std::int64_t>(load.status(202)));
}

// --- buyer tokens
// ---------------------------------------------------------------------------------

TEST_F(gateway_api, a_purchase_without_a_valid_token_is_401_and_costs_nothing) {
  gateway_setup setup{two_products};
  setup.tokens = true;
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto now_s = flashsale::utc_now_ms() / 1000;
  const auto& key = token_key_;
  auto signed_by = [&](const flashsale::crypto::secret_key& k, const std::string& sale,
                       std::int64_t issued, std::int64_t ttl) {
    return "Bearer " + flashsale::issue_buyer_token(k, sale, "alice", issued, ttl);
  };
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "missing"},
      {"Bearer not.a.token", "malformed"},
      {signed_by(flashsale::crypto::secret_key(32, 1), "gw", now_s, 600), "forged"},
      {signed_by(key, "gw", now_s - 7200, 600), "expired"},
      {signed_by(key, "another-sale", now_s, 600), "wrong_sale"},
  };
  for (const auto& [authorization, reason] : cases) {
    std::map<std::string, std::string> headers;
    if (!authorization.empty())
      headers["Authorization"] = authorization;
    auto reply = request("POST", "/v1/products/Phone/purchase", R"({"user":"alice"})", headers);
    EXPECT_EQ(reply.status, 401) << reason << ": " << describe(reply);
    EXPECT_EQ(json_of(reply).value("reason", ""), reason) << describe(reply);
  }
  expect_free_refusals("Phone", 1000, "unauthorized", static_cast<double>(cases.size()));
  auto m = scrape();
  for (const auto& [authorization, reason] : cases)
    EXPECT_EQ(m.value("flashsale_auth_refused_total", {{"reason", reason}}), 1) << m.text();
}

TEST_F(gateway_api, a_minted_token_buys_one_unit_and_its_replay_gets_409) {
  gateway_setup setup{two_products};
  setup.tokens = true;
  ASSERT_NO_FATAL_FAILURE(start(setup));
  std::string token;
  ASSERT_EQ(run_admin({"token", "issue", "--user", "bob", "--sale", sale_file_, "--key-file",
                       key_file_, "--ttl", "10m"},
                      &token),
            0)
      << token;
  while (!token.empty() && token.back() == '\n')
    token.pop_back();
  std::map<std::string, std::string> auth{{"Authorization", "Bearer " + token}};
  // The body may name the token's user, or nobody; never another.
  auto other = request("POST", "/v1/products/Phone/purchase", R"({"user":"mallory"})", auth);
  EXPECT_EQ(other.status, 400) << describe(other);
  auto first = request("POST", "/v1/products/Phone/purchase", "", auth);
  EXPECT_EQ(first.status, 202) << describe(first) << gateway_log();
  auto replay = request("POST", "/v1/products/Phone/purchase", R"({"user":"bob"})", auth);
  EXPECT_EQ(replay.status, 409) << describe(replay);
  EXPECT_EQ(quota_left("Phone"), 999);
  EXPECT_EQ(queued_purchases(), 1);
}

// --- per-client limits
// ----------------------------------------------------------------------------

TEST_F(gateway_api, an_address_over_its_rate_gets_429_with_retry_after_at_no_cost) {
  gateway_setup setup{two_products};
  setup.tokens = true;
  setup.gateway_args = {"--limits.per-address-rate=1", "--limits.per-address-burst=3"};
  ASSERT_NO_FATAL_FAILURE(start(setup));
  std::map<int, int> statuses;
  http_reply limited;
  for (int i = 0; i < 10; ++i) {
    auto r = purchase("Phone", "buyer-" + std::to_string(i));
    ++statuses[r.status];
    if (r.status == 429)
      limited = r;
  }
  EXPECT_EQ(statuses[202], 3) << "the burst";
  EXPECT_EQ(statuses[429], 7);
  EXPECT_EQ(status_of(limited), "rate_limited") << describe(limited);
  EXPECT_EQ(limited.headers["retry-after"], "1") << describe(limited);
  EXPECT_EQ(quota_left("Phone"), 997) << "a refused purchase reserves nothing";
  EXPECT_EQ(queued_purchases(), 3);
  auto m = scrape();
  EXPECT_EQ(outcome(m, "rate_limited"), 7) << m.text();
  EXPECT_EQ(m.value("flashsale_rate_limited_total", {{"by", "address"}}), 7) << m.text();
}

TEST_F(gateway_api, connections_beyond_the_per_address_cap_get_429_and_are_closed) {
  gateway_setup setup{two_products};
  setup.gateway_args = {"--http.max-connections-per-address=2"};
  ASSERT_NO_FATAL_FAILURE(start(setup));
  http_client first{http_port_};
  auto second = std::make_unique<http_client>(http_port_);
  ASSERT_EQ(first.request("GET", "/healthz").status, 200);
  ASSERT_EQ(second->request("GET", "/healthz").status, 200);
  auto third = request("GET", "/healthz");
  EXPECT_EQ(third.status, 429) << describe(third);
  EXPECT_EQ(third.headers["connection"], "close") << describe(third);
  // Closing one gives its slot back.
  second.reset();
  EXPECT_TRUE(
      flashsale::testing::poll_until([&] { return request("GET", "/healthz").status == 200; }, 5s));
  // Read on the connection already held: a new one could find the poll's last connection not
  // yet closed on the server's side, and the cap still full.
  auto m = metrics_page::parse(first.request("GET", "/metrics").body);
  EXPECT_GE(
      m.value("flashsale_http_refused_total", {{"reason", "too_many_connections_from_address"}}), 1)
      << m.text();
}

}  // namespace

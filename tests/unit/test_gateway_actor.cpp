// The gateway actor's admission decisions, under CAF's deterministic scheduler: real product
// counters and a real publisher bridge over a fake outlet (the test plays the broker). What a
// buyer relies on: 202 only after the broker's confirm; the per-user limit holds while an attempt
// is in flight; no unit left is 410 without a publish; a refused publish frees its unit, one of
// unknown fate keeps it (it may become an order); a purchase waiting for its claim is retried,
// then answered busy.

#define CAF_SUITE gateway_actor
#include <caf/test/unit_test_impl.hpp>

#include <caf/test/dsl.hpp>

#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "actors/gateway.hpp"
#include "actors/product_counter.hpp"
#include "actors/publisher_bridge.hpp"
#include "admission/admission_front.hpp"
#include "tests/unit/actor_fixture.hpp"

using namespace flashsale;
using flashsale::testing::fake_outlet;

namespace {

sale_definition test_sale() {
  sale_definition sale;
  sale.name = "unit";
  product_definition tv;
  tv.id = "TV";
  tv.stock = 1000;
  tv.database = "flashsale";
  sale.products.push_back(tv);
  return sale;
}

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct fixture : flashsale::testing::actor_fixture {
  sale_definition sale = test_sale();
  std::shared_ptr<admission_front> front =
      std::make_shared<admission_front>(sale, 1, crypto::hash_key{1, 2});
  fake_outlet outlet;
  publisher_actor publisher;
  counter_actor counter;
  gateway_actor gateway;
  std::map<std::string, std::optional<purchase_reply>> replies;  // by buyer

  /// A gateway whose TV counter holds `grant` units. With `live_quotas` the counter needs a lease
  /// and a claim too (as under ZooKeeper); the lease is valid for a minute, the claim is `claim`.
  void start(std::int64_t grant, bool live_quotas = false, std::int64_t claim = 0) {
    publisher_bridge_options bridge_opts;
    bridge_opts.outlet = outlet.factory();
    bridge_opts.route.queue = "orders";
    publisher = spawn_publisher_bridge(sys, std::move(bridge_opts));
    auto tv = spawn_product_counter(sys, "TV", counter_options{0, live_quotas, {}});
    counter = tv.actor;
    caf::anon_send(counter, quota_update{"TV", grant, 1});
    if (live_quotas) {
      caf::anon_send(counter, lease_atom_v, steady_now_ms() + 60000);
      caf::anon_send(counter, claim_atom_v, claim);
    }
    gateway_options opts;
    opts.name = "gw1";
    opts.front = front;
    gateway = spawn_gateway(sys, opts, sale, {{"TV", tv}}, publisher);
    consume();
  }

  /// `user` tries to buy `product` (the admission front's screen passed); the answer lands in
  /// replies[user].
  void buy(const std::string& user, const std::string& product = "TV") {
    replies[user].reset();
    caf::anon_send(gateway, purchase_call{product, user, {}, [this, user](const purchase_reply& r) {
                                            replies[user] = r;
                                          }});
    consume();
  }

  /// The answer `user` got: its status word, or "none" while there is none.
  std::string answer(const std::string& user) {
    auto i = replies.find(user);
    return i == replies.end() || !i->second ? "none" : to_string(i->second->outcome);
  }

  std::optional<ticket_view> ticket(const std::string& id) {
    std::optional<ticket_view> out;
    bool answered = false;
    caf::anon_send(gateway, ticket_query{id, [&](const std::optional<ticket_view>& v) {
                                           out = v;
                                           answered = true;
                                         }});
    consume();
    CAF_REQUIRE(answered);
    return out;
  }

  ~fixture() override {
    for (const auto& a :
         {caf::actor_cast<caf::actor>(gateway), caf::actor_cast<caf::actor>(counter),
          caf::actor_cast<caf::actor>(publisher)})
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(gateway_admission, fixture)

CAF_TEST(a_purchase_is_accepted_only_once_the_broker_confirms) {
  start(10);
  buy("alice");
  CAF_REQUIRE_EQUAL(outlet.published().size(), 1u);
  CAF_CHECK_EQUAL(answer("alice"), "none");
  outlet.tell_last(publish_outcome::confirmed);
  consume();
  CAF_REQUIRE_EQUAL(answer("alice"), "accepted");
  auto id = replies["alice"]->ticket;
  CAF_CHECK_EQUAL(id.rfind("gw1-", 0), 0u);
  auto view = ticket(id);
  CAF_REQUIRE(view);
  CAF_CHECK_EQUAL(view->request_id, id);  // no Idempotency-Key: the ticket is the request id
  CAF_CHECK_EQUAL(view->user, "alice");
  CAF_CHECK_EQUAL(to_string(view->status), "queued");
}

CAF_TEST(the_per_user_limit_holds_while_the_first_attempt_is_in_flight) {
  start(10);
  buy("alice");
  buy("alice");  // before the broker answered the first
  CAF_CHECK_EQUAL(answer("alice"), "already_bought");
  buy("bob");
  CAF_CHECK_EQUAL(outlet.published().size(), 1u + 1u);  // alice's first and bob's
  outlet.tell(outlet.published()[0].id, publish_outcome::confirmed);
  outlet.tell(outlet.published()[1].id, publish_outcome::confirmed);
  consume();
  CAF_CHECK_EQUAL(answer("bob"), "accepted");
  buy("alice");  // after the acceptance too
  CAF_CHECK_EQUAL(answer("alice"), "already_bought");
}

CAF_TEST(no_unit_left_answers_sold_out_without_publishing) {
  start(1);
  buy("alice");
  buy("bob");
  CAF_CHECK_EQUAL(answer("bob"), "sold_out");
  CAF_CHECK_EQUAL(outlet.published().size(), 1u);
}

CAF_TEST(an_unknown_product_is_refused) {
  start(1);
  buy("alice", "Radio");
  CAF_CHECK_EQUAL(answer("alice"), "unknown_product");
  CAF_CHECK(outlet.published().empty());
}

CAF_TEST(a_refused_publish_gives_the_unit_back) {
  start(1);
  buy("alice");
  outlet.tell_last(publish_outcome::refused);
  consume();
  CAF_CHECK_EQUAL(answer("alice"), "queue_refused");
  CAF_CHECK_EQUAL(std::as_const(*front).publish_nacks(), 1u);
  buy("bob");  // the only unit is free again
  CAF_REQUIRE_EQUAL(outlet.published().size(), 2u);
  outlet.tell_last(publish_outcome::confirmed);
  consume();
  CAF_CHECK_EQUAL(answer("bob"), "accepted");
}

CAF_TEST(a_publish_of_unknown_fate_keeps_its_unit) {
  start(1);
  buy("alice");
  outlet.tell_last(publish_outcome::unknown);
  consume();
  CAF_CHECK_EQUAL(answer("alice"), "queue_refused");
  CAF_CHECK_EQUAL(std::as_const(*front).publish_unconfirmed(), 1u);
  buy("bob");  // the broker may have stored alice's purchase: her unit is not sold again
  CAF_CHECK_EQUAL(answer("bob"), "sold_out");
  buy("alice");  // her hold ended with the answer: a retry is decided like any purchase
  CAF_CHECK_EQUAL(answer("alice"), "sold_out");
}

CAF_TEST(a_purchase_waiting_for_its_claim_is_retried_and_then_accepted) {
  start(10, true, 0);  // units granted, none claimed yet
  buy("alice");
  CAF_CHECK_EQUAL(answer("alice"), "none");
  CAF_CHECK(outlet.published().empty());
  later(std::chrono::milliseconds{100});  // retried every 20 ms meanwhile
  CAF_CHECK_EQUAL(answer("alice"), "none");
  caf::anon_send(counter, claim_atom_v, std::int64_t{5});  // the keeper wrote a claim
  later(std::chrono::milliseconds{20});
  CAF_REQUIRE_EQUAL(outlet.published().size(), 1u);
  outlet.tell_last(publish_outcome::confirmed);
  consume();
  CAF_CHECK_EQUAL(answer("alice"), "accepted");
}

CAF_TEST(a_claim_that_does_not_come_within_a_second_answers_busy) {
  start(10, true, 0);
  buy("alice");
  for (int i = 0; i < 49; ++i)
    later(std::chrono::milliseconds{20});
  CAF_CHECK_EQUAL(answer("alice"), "none");
  later(std::chrono::milliseconds{20});
  CAF_CHECK_EQUAL(answer("alice"), "busy");
  CAF_CHECK(outlet.published().empty());
  buy("alice");  // the hold was released with the answer
  CAF_CHECK_EQUAL(answer("alice"), "none");
}

CAF_TEST(a_writers_result_makes_the_ticket_final) {
  start(10);
  buy("alice");
  outlet.tell_last(publish_outcome::confirmed);
  consume();
  auto id = replies["alice"]->ticket;
  order_result r;
  r.request_id = id;
  r.ticket = id;
  r.product = "TV";
  r.gateway = "gw1";
  r.status = order_status::duplicate_request;  // a re-sent copy: the same order
  r.order_id = 42;
  caf::anon_send(gateway, std::vector<order_result>{r});
  consume();
  auto view = ticket(id);
  CAF_REQUIRE(view);
  CAF_CHECK_EQUAL(to_string(view->status), "confirmed");
  CAF_CHECK_EQUAL(view->order_id, 42);
  CAF_CHECK(!ticket("gw1-unknown"));  // a ticket never issued (and no database to ask)
}

CAF_TEST(sold_out_from_a_writer_stops_admission_until_the_grant_grows) {
  start(10);
  caf::anon_send(gateway, sold_out{"TV"});
  consume();
  buy("alice");
  CAF_CHECK_EQUAL(answer("alice"), "sold_out");
  caf::anon_send(counter, quota_update{"TV", 20, 2});  // stock was added
  consume();
  buy("bob");
  CAF_CHECK_EQUAL(outlet.published().size(), 1u);
}

CAF_TEST(older_live_settings_are_ignored) {
  start(10);
  caf::anon_send(gateway, shedding_update{5, 20});
  caf::anon_send(gateway, shedding_update{3, 10});  // older: a late read
  caf::anon_send(gateway, window_update{window_mode::closed, 20});
  caf::anon_send(gateway, window_update{window_mode::open, 10});
  consume();
  CAF_CHECK_EQUAL(front->keep_one_in(), 5u);
  CAF_CHECK(front->window() == window_mode::closed);
}

CAF_TEST_FIXTURE_SCOPE_END()

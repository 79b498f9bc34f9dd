// The product counter's rules under live quotas, through its messages, under CAF's deterministic
// scheduler: nothing is admitted without a lease; within the lease, only up to the claim the
// quota keeper last wrote (more units left is "throttled", not "none left"); a claim never goes
// down; a release caps the grant at what was consumed and says from which grant version; older
// grants are ignored; a sold-out mark lasts until the grant grows. These are what keep a gone
// gateway's sales from being granted again (docs/design.md, "Live quotas").

#define CAF_SUITE product_counter
#include <caf/test/unit_test_impl.hpp>

#include <caf/test/dsl.hpp>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actors/product_counter.hpp"
#include "tests/unit/actor_fixture.hpp"

using namespace flashsale;

namespace {

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* name(reservation r) {
  switch (r) {
    case reservation::reserved:
      return "reserved";
    case reservation::none_left:
      return "none_left";
    case reservation::throttled:
      return "throttled";
  }
  return "?";
}

struct fixture : flashsale::testing::actor_fixture {
  counter_actor counter;
  std::shared_ptr<counter_gate> gate;  // the gateway actor's way in
  std::int64_t left = -1;              // as on_change last said
  bool sold_out_gauge = false;

  /// A counter as a gateway under ZooKeeper has one: lease and claim required.
  void start() {
    counter_options opts{0, true, [this](std::int64_t l, bool s) {
                           left = l;
                           sold_out_gauge = s;
                         }};
    auto spawned = spawn_product_counter(sys, "TV", opts);
    counter = spawned.actor;
    gate = spawned.gate;
    consume();
  }

  template <class T, class... Ts>
  T ask(Ts... xs) {
    std::optional<T> out;
    sys.spawn([&out, h = counter, xs...](caf::event_based_actor* self) {
      self->request(h, caf::infinite, xs...).then([&out](T v) { out = std::move(v); });
    });
    consume();
    CAF_REQUIRE(out);
    return *out;
  }

  std::string reserve() { return name(ask<reservation>(reserve_atom_v)); }
  counter_stats stats() { return ask<counter_stats>(stats_atom_v); }

  void tell_grant(std::int64_t grant, std::int64_t version) {
    caf::anon_send(counter, quota_update{"TV", grant, version});
    consume();
  }
  void tell_claim(std::int64_t claim) {
    caf::anon_send(counter, claim_atom_v, claim);
    consume();
  }
  void tell_lease(std::int64_t until_ms) {
    caf::anon_send(counter, lease_atom_v, until_ms);
    consume();
  }

  ~fixture() override { caf::anon_send_exit(counter, caf::exit_reason::user_shutdown); }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(product_counter_claims, fixture)

CAF_TEST(nothing_is_admitted_without_a_lease) {
  start();
  tell_grant(10, 1);
  tell_claim(10);
  CAF_CHECK_EQUAL(reserve(), "none_left");
  CAF_CHECK_EQUAL(stats().refused, 1);
  CAF_CHECK(!stats().lease_valid);
}

CAF_TEST(within_the_lease_only_up_to_the_claim_then_throttled) {
  start();
  tell_grant(10, 1);
  tell_lease(steady_now_ms() + 60000);
  CAF_CHECK_EQUAL(reserve(), "throttled");  // units left, none claimed yet
  tell_claim(3);
  for (int i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(reserve(), "reserved");
  CAF_CHECK_EQUAL(reserve(), "throttled");
  CAF_CHECK_EQUAL(left, 7);  // the gauge counts the grant, not the claim
  tell_claim(10);
  for (int i = 0; i < 7; ++i)
    CAF_CHECK_EQUAL(reserve(), "reserved");
  CAF_CHECK_EQUAL(reserve(), "none_left");  // the grant is used up
  CAF_CHECK_EQUAL(left, 0);
  CAF_CHECK(sold_out_gauge);
}

CAF_TEST(a_claim_is_never_lowered) {
  start();
  tell_grant(10, 1);
  tell_lease(steady_now_ms() + 60000);
  tell_claim(5);
  tell_claim(2);  // a late, older claim
  for (int i = 0; i < 5; ++i)
    CAF_CHECK_EQUAL(reserve(), "reserved");
  CAF_CHECK_EQUAL(stats().claim, 5);
}

CAF_TEST(a_revoked_lease_stops_admission_at_once) {
  start();
  tell_grant(10, 1);
  tell_lease(steady_now_ms() + 60000);
  tell_claim(10);
  CAF_CHECK_EQUAL(reserve(), "reserved");
  tell_lease(0);  // the session is known to be lost
  CAF_CHECK_EQUAL(reserve(), "none_left");
  tell_lease(steady_now_ms() + 60000);
  CAF_CHECK_EQUAL(reserve(), "reserved");
}

CAF_TEST(a_release_caps_the_grant_at_what_was_consumed_and_names_its_version) {
  start();
  tell_grant(10, 7);
  tell_lease(steady_now_ms() + 60000);
  tell_claim(10);
  for (int i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(reserve(), "reserved");
  auto r = ask<quota_release>(release_atom_v);
  CAF_CHECK_EQUAL(r.released, 7);
  CAF_CHECK_EQUAL(r.grant, 3);
  CAF_CHECK_EQUAL(r.version, 7);
  CAF_CHECK_EQUAL(reserve(), "none_left");
  tell_grant(12, 6);  // older than the version released from: ignored
  CAF_CHECK_EQUAL(reserve(), "none_left");
  tell_grant(12, 8);
  CAF_CHECK_EQUAL(reserve(), "reserved");
}

CAF_TEST(a_refund_gives_a_unit_back) {
  start();
  tell_grant(1, 1);
  tell_lease(steady_now_ms() + 60000);
  tell_claim(1);
  CAF_CHECK_EQUAL(reserve(), "reserved");
  CAF_CHECK_EQUAL(reserve(), "none_left");
  caf::anon_send(counter, refund_atom_v);
  consume();
  CAF_CHECK_EQUAL(reserve(), "reserved");
}

CAF_TEST(a_restart_resumes_from_the_last_report_only_before_the_first_grant) {
  start();
  caf::anon_send(counter, resume_atom_v, std::int64_t{4});
  consume();
  tell_grant(10, 1);
  CAF_CHECK_EQUAL(stats().consumed, 4);
  caf::anon_send(counter, resume_atom_v, std::int64_t{9});  // with a grant, its own figure stands
  consume();
  CAF_CHECK_EQUAL(stats().consumed, 4);
}

CAF_TEST(sold_out_lasts_until_the_grant_grows) {
  start();
  tell_grant(10, 1);
  tell_lease(steady_now_ms() + 60000);
  tell_claim(10);
  caf::anon_send(counter, sold_out{"TV"});
  consume();
  CAF_CHECK_EQUAL(reserve(), "none_left");
  CAF_CHECK_EQUAL(left, 0);
  tell_grant(10, 2);  // a newer version of the same grant: still sold out
  CAF_CHECK_EQUAL(reserve(), "none_left");
  tell_grant(11, 3);
  tell_claim(11);
  CAF_CHECK_EQUAL(reserve(), "reserved");
}

CAF_TEST(a_gate_shared_by_threads_never_reserves_past_the_claim_and_agrees_with_the_actor) {
  start();
  tell_grant(100000, 1);
  tell_lease(steady_now_ms() + 60000);
  tell_claim(30000);
  // Four threads reserve (and some refund) at once, as the gateway actor's threads would.
  std::atomic<std::int64_t> reserved{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i)
        if (gate->reserve() == reservation::reserved) {
          if (i % 10 == t) {
            gate->refund();
          } else {
            reserved.fetch_add(1);
          }
        }
    });
  for (auto& t : threads)
    t.join();
  CAF_CHECK_EQUAL(stats().consumed, reserved.load());
  while (gate->reserve() == reservation::reserved)  // what refunds gave back at the end
    reserved.fetch_add(1);
  CAF_CHECK_EQUAL(reserved.load(), 30000);
  CAF_CHECK_EQUAL(stats().consumed, 30000);
  CAF_CHECK_EQUAL(left, 70000);
  CAF_CHECK_EQUAL(reserve(), "throttled");  // the claim is used up, the grant is not
}

CAF_TEST_FIXTURE_SCOPE_END()

// Per-client token buckets: a client gets its burst, then its rate, and is told when to come
// back; clients do not share buckets; the table of buckets stays bounded. Time is injected.

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "admission/rate_limiter.hpp"

namespace {

using namespace flashsale;
using namespace std::chrono_literals;
using clock_type = rate_limiter::clock;

const clock_type::time_point t0 = clock_type::time_point{} + 1000h;

/// How many of `n` requests at `now` the limiter let through.
int allowed(rate_limiter& l, const std::string& key, int n, clock_type::time_point now) {
  int ok = 0;
  for (int i = 0; i < n; ++i)
    ok += !l.take(key, now).has_value();
  return ok;
}

TEST(rate_limiter, a_client_gets_its_burst_then_is_told_when_to_come_back) {
  rate_limiter l{{2, 5}};  // 2 per second, 5 at once
  EXPECT_EQ(allowed(l, "10.0.0.1", 100, t0), 5);
  auto wait = l.take("10.0.0.1", t0);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 500ms) << "one token comes back every 1/2 s";
  EXPECT_EQ(l.refused(), 96u);
  EXPECT_EQ(allowed(l, "10.0.0.1", 10, t0 + 499ms), 0);
  EXPECT_EQ(allowed(l, "10.0.0.1", 10, t0 + 500ms), 1);
}

TEST(rate_limiter, over_time_a_client_gets_its_rate_and_no_more) {
  rate_limiter l{{10, 1}};
  int ok = 0;
  for (int ms = 0; ms < 10000; ++ms)  // asks every millisecond for 10 s
    ok += allowed(l, "bot", 1, t0 + std::chrono::milliseconds(ms));
  EXPECT_EQ(ok, 100);
}

TEST(rate_limiter, a_quiet_client_gets_its_burst_again_but_never_more) {
  rate_limiter l{{1, 3}};
  EXPECT_EQ(allowed(l, "u", 3, t0), 3);
  EXPECT_EQ(allowed(l, "u", 10, t0 + 1h), 3) << "idle for an hour: the burst, not 3,600";
}

TEST(rate_limiter, clients_do_not_share_buckets) {
  rate_limiter l{{1, 2}};
  EXPECT_EQ(allowed(l, "alice", 10, t0), 2);
  EXPECT_EQ(allowed(l, "bob", 10, t0), 2);
  EXPECT_EQ(allowed(l, "alice", 10, t0), 0);
}

TEST(rate_limiter, a_limit_of_zero_is_off) {
  rate_limiter l{{0, 1}};
  EXPECT_FALSE(l.enabled());
  EXPECT_EQ(allowed(l, "x", 100000, t0), 100000);
  EXPECT_EQ(l.refused(), 0u);
}

TEST(rate_limiter, nonsense_limits_are_refused) {
  EXPECT_THROW(rate_limiter(rate_limit{-1, 1}), std::invalid_argument);
  EXPECT_THROW(rate_limiter(rate_limit{5, 0.5}), std::invalid_argument);
}

TEST(rate_limiter, the_table_stays_bounded_and_fails_open_not_closed) {
  rate_limiter l{{1, 1}, 64 * 4};  // 4 buckets per shard
  // Busy clients (their bucket empty) fill the table: further new clients pass, counted.
  int ok = 0;
  for (int i = 0; i < 2000; ++i)
    ok += allowed(l, "c" + std::to_string(i), 1, t0);
  EXPECT_EQ(ok, 2000) << "a first request always passes";
  EXPECT_GT(l.overflowed(), 0u);
  // Once the buckets are full again (1 s later) they are dropped and new clients are tracked.
  auto later = t0 + 2s;
  EXPECT_EQ(allowed(l, "fresh", 5, later), 1) << "a new client is limited again";
}

}  // namespace

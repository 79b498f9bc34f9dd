// The gateway's admission front: what is decided on the HTTP thread (unknown product, sale window,
// lottery) and in which order, the operator's window modes, and the lottery under concurrent
// draws. Pure: no CAF, no services.

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "admission/admission_front.hpp"
#include "common/utc_time.hpp"

namespace {

using namespace flashsale;

sale_definition sale_with_window(std::int64_t opens, std::int64_t closes) {
  sale_definition s;
  s.name = "t";
  s.products.push_back(product_definition{"TV", 10, 2, 1, false, "flashsale"});
  s.opens_at_ms = opens;
  s.closes_at_ms = closes;
  return s;
}

constexpr std::int64_t opens = 1'000'000;
constexpr std::int64_t closes = 2'000'000;
const crypto::hash_key key{0x1234, 0x5678};

TEST(admission_front, unknown_product_is_refused_before_the_window_and_the_lottery) {
  admission_front f{sale_with_window(opens, closes), 1000000, key};
  EXPECT_EQ(f.screen("Radio", "alice", 0), admission::unknown_product);
  EXPECT_EQ(f.screen("Radio", "alice", opens), admission::unknown_product);
}

TEST(admission_front, the_window_of_the_sale_decides_when_scheduled) {
  admission_front f{sale_with_window(opens, closes), 1, key};
  EXPECT_EQ(f.screen("TV", "alice", opens - 1), admission::not_started);
  EXPECT_EQ(f.screen("TV", "alice", opens), std::nullopt);  // opens_at is inclusive
  EXPECT_EQ(f.screen("TV", "alice", closes - 1), std::nullopt);
  EXPECT_EQ(f.screen("TV", "alice", closes), admission::ended);  // closes_at is exclusive
  EXPECT_EQ(f.state_at(opens - 1), sale_state::not_started);
  EXPECT_EQ(f.state_at(opens), sale_state::open);
  EXPECT_EQ(f.state_at(closes), sale_state::ended);
}

TEST(admission_front, a_sale_without_times_is_always_open) {
  admission_front f{sale_with_window(0, 0), 1, key};
  EXPECT_EQ(f.screen("TV", "alice", 0), std::nullopt);
  EXPECT_EQ(f.screen("TV", "alice", 4'000'000'000'000), std::nullopt);
}

TEST(admission_front, the_operator_overrides_the_schedule_both_ways_and_can_hand_it_back) {
  admission_front f{sale_with_window(opens, closes), 1, key};
  f.set_window(window_mode::open);
  EXPECT_EQ(f.screen("TV", "alice", opens - 1), std::nullopt);
  EXPECT_EQ(f.screen("TV", "alice", closes + 1), std::nullopt);
  f.set_window(window_mode::closed);
  EXPECT_EQ(f.screen("TV", "alice", opens + 1), admission::closed);
  EXPECT_EQ(f.state_at(opens + 1), sale_state::closed);
  f.set_window(window_mode::scheduled);
  EXPECT_EQ(f.screen("TV", "alice", opens + 1), std::nullopt);
  EXPECT_EQ(f.screen("TV", "alice", opens - 1), admission::not_started);
}

TEST(admission_front, outside_the_window_the_answer_is_the_windows_not_the_lotterys) {
  // Nearly every buyer loses a 1-in-1,000,000 lottery, but before and after the sale none is told
  // so: the window is decided first.
  admission_front f{sale_with_window(opens, closes), 1000000, key};
  for (int i = 0; i < 1000; ++i) {
    auto user = "user-" + std::to_string(i);
    ASSERT_EQ(f.screen("TV", user, opens - 1), admission::not_started) << user;
    ASSERT_EQ(f.screen("TV", user, closes), admission::ended) << user;
  }
}

TEST(admission_front, sheds_within_one_point_of_one_minus_one_over_k_of_the_buyers) {
  admission_front f{sale_with_window(0, 0), 10, key};
  int shed = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i)
    shed += f.screen("TV", "user-" + std::to_string(i), 0) == admission::shed ? 1 : 0;
  EXPECT_NEAR(static_cast<double>(shed) / n, 0.9, 0.01);
}

TEST(admission_front, a_new_lottery_takes_effect_at_once) {
  admission_front f{sale_with_window(0, 0), 1000000, key};
  f.set_lottery(1, key, 0);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(f.screen("TV", "user-" + std::to_string(i), 0), std::nullopt);
  EXPECT_EQ(f.keep_one_in(), 1u);
}

TEST(lottery, concurrent_draws_give_every_user_the_answer_of_one_thread) {
  // Four threads drawing for the same 50,000 users, each in its own order, agree with one thread
  // on every user.
  const int users = 50000, threads = 4;
  lottery draw{10, key};
  std::vector<char> alone(users);
  for (int u = 0; u < users; ++u)
    alone[u] = draw.draw("user-" + std::to_string(u), 0);
  std::atomic<int> disagreements{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < users; ++i) {
        int u = (i * 7919 + t * 12345) % users;  // 7919 is prime: every user once per thread
        if (draw.draw("user-" + std::to_string(u), 0) != static_cast<bool>(alone[u]))
          ++disagreements;
      }
    });
  for (auto& t : pool)
    t.join();
  EXPECT_EQ(disagreements.load(), 0);
}

TEST(admission_front, every_finished_purchase_is_counted_once_under_its_outcome) {
  admission_front f{sale_with_window(0, 0), 1, key};
  f.started();
  f.finished(static_cast<std::size_t>(admission::accepted), std::chrono::milliseconds{3}, true);
  f.finished(static_cast<std::size_t>(admission::shed), std::chrono::microseconds{50}, false);
  f.finished(bad_request_outcome, std::chrono::microseconds{10}, false);
  EXPECT_EQ(f.outcome_total(static_cast<std::size_t>(admission::accepted)), 1u);
  EXPECT_EQ(f.outcome_total(static_cast<std::size_t>(admission::shed)), 1u);
  EXPECT_EQ(f.outcome_total(bad_request_outcome), 1u);
  EXPECT_EQ(f.purchase_latency().count(), 3u);
  EXPECT_EQ(f.accepted_latency().count(), 1u);
  EXPECT_EQ(f.in_flight(), 0);
}

TEST(utc_time, parses_and_formats_rfc3339_utc) {
  EXPECT_EQ(parse_utc_time("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_utc_time("2026-11-27T20:00:00Z"), 1795809600000);
  EXPECT_EQ(parse_utc_time("2024-02-29t23:59:59z"), 1709251199000);
  EXPECT_EQ(format_utc_time(1795809600000), "2026-11-27T20:00:00Z");
  EXPECT_EQ(format_utc_time(1709251199999), "2024-02-29T23:59:59Z");
}

TEST(utc_time, refuses_everything_else) {
  for (const char* bad : {"", "2026-11-27", "2026-11-27T20:00:00", "2026-11-27T20:00:00+01:00",
                          "2026-11-27 20:00:00Z", "2026-11-27T20:00:00.5Z", "2026-02-29T00:00:00Z",
                          "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-31T00:00:00Z",
                          "2026-11-27T24:00:00Z", "2026-11-27T20:60:00Z", "1969-12-31T23:59:59Z",
                          " 2026-11-27T20:00:00Z", "2026-11-27T20:00:00Zx", "2O26-11-27T20:00:00Z"})
    EXPECT_FALSE(parse_utc_time(bad).has_value()) << bad;
}

}  // namespace

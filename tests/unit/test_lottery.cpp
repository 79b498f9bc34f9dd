// The fair lottery: a buyer's draw depends on (secret, draw window, user) only, so retries and
// other gateways do not help, the share kept over buyers is 1/K, and the key behind it is
// libsodium's. Pure: no CAF, no services.

#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "adapters/crypto/keyed_hash.hpp"
#include "admission/lottery.hpp"

namespace {

using namespace flashsale;

const crypto::hash_key secret{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
constexpr std::int64_t sale_start_ms = 1'800'000'000'000;

std::string user(int i) {
  return "buyer-" + std::to_string(i);
}

TEST(lottery, keep_one_in_one_keeps_every_buyer) {
  lottery l{1, secret};
  for (int i = 0; i < 1000; ++i)
    EXPECT_TRUE(l.draw(user(i), sale_start_ms));
}

TEST(lottery, the_share_kept_over_100000_buyers_is_within_one_point_of_one_over_k) {
  for (std::uint32_t k : {2u, 10u, 100u}) {
    lottery l{k, secret};
    int kept = 0;
    const int n = 100000;
    for (int i = 0; i < n; ++i)
      kept += l.draw(user(i), sale_start_ms) ? 1 : 0;
    EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 / k, 0.01) << "K=" << k;
    std::cout << "[          ] K=" << k << ": " << kept << " of " << n << " buyers kept ("
              << 100.0 * kept / n << "%, 1/K = " << 100.0 / k << "%)\n";
  }
}

TEST(lottery, one_hundred_requests_of_a_buyer_win_no_more_often_than_one) {
  // Over 20,000 buyers: a buyer who sends 100 requests through the sale (one every 50 ms) wins
  // when any of them is kept; a buyer who taps once wins when that one is kept.
  lottery l{10, secret};
  const int buyers = 20000;
  int one_try_wins = 0;
  int retry_wins = 0;
  for (int i = 0; i < buyers; ++i) {
    one_try_wins += l.draw(user(i), sale_start_ms) ? 1 : 0;
    bool any = false;
    for (int r = 0; r < 100; ++r)
      any = l.draw(user(i), sale_start_ms + 50 * r) || any;
    retry_wins += any ? 1 : 0;
  }
  EXPECT_EQ(retry_wins, one_try_wins);
  EXPECT_NEAR(static_cast<double>(one_try_wins) / buyers, 0.1, 0.01);
  std::cout << "[          ] K=10, " << buyers << " buyers: one try won " << one_try_wins
            << ", 100 tries won " << retry_wins << "\n";
}

TEST(lottery, gateways_with_the_same_secret_agree_and_a_new_secret_draws_anew) {
  lottery gw1{10, secret};
  lottery gw2{10, secret};
  lottery other{10, crypto::hash_key{secret.k0, secret.k1 + 1}};
  int both = 0;
  int same_under_other = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    bool a = gw1.draw(user(i), sale_start_ms);
    ASSERT_EQ(a, gw2.draw(user(i), sale_start_ms + 12345)) << user(i);
    both += a ? 1 : 0;
    same_under_other += a && other.draw(user(i), sale_start_ms) ? 1 : 0;
  }
  // Under an unrelated key a winner wins again with probability 1/K, not 1.
  EXPECT_NEAR(static_cast<double>(same_under_other) / both, 0.1, 0.03);
}

TEST(lottery, a_draw_window_lets_a_losing_buyer_try_again_in_the_next_one) {
  const std::int64_t window = 10'000;  // 10 s
  lottery l{10, secret, window};
  const std::int64_t first = (sale_start_ms / window) * window;
  int losers = 0;
  int won_next = 0;
  for (int i = 0; i < 20000; ++i) {
    bool now = l.draw(user(i), first);
    // The whole window gives the same answer ...
    ASSERT_EQ(now, l.draw(user(i), first + window - 1)) << user(i);
    if (now)
      continue;
    ++losers;
    // ... and the next window draws again.
    won_next += l.draw(user(i), first + window) ? 1 : 0;
  }
  EXPECT_NEAR(static_cast<double>(won_next) / losers, 0.1, 0.01);
}

TEST(lottery, lowering_k_keeps_every_earlier_winner) {
  lottery strict{100, secret};
  lottery loose{10, secret};
  int winners = 0;
  for (int i = 0; i < 50000; ++i) {
    if (!strict.draw(user(i), 0))
      continue;
    ++winners;
    ASSERT_TRUE(loose.draw(user(i), 0)) << user(i);
  }
  EXPECT_GT(winners, 300);  // about 500: the loop above did check something
}

TEST(lottery, long_user_ids_draw_like_short_ones) {
  lottery l{2, secret};
  int kept = 0;
  for (int i = 0; i < 2000; ++i) {
    auto id = std::string(300, 'x') + user(i);
    bool a = l.draw(id, 0);
    ASSERT_EQ(a, l.draw(id, 0));
    kept += a ? 1 : 0;
  }
  EXPECT_NEAR(kept / 2000.0, 0.5, 0.05);
}

TEST(keyed_hash, the_key_decides_the_hash) {
  const char msg[] = "buyer-1";
  auto h = crypto::keyed_hash(secret, msg, sizeof msg - 1);
  EXPECT_EQ(h, crypto::keyed_hash(secret, msg, sizeof msg - 1));
  EXPECT_NE(h, crypto::keyed_hash(crypto::hash_key{secret.k0 ^ 1, secret.k1}, msg, sizeof msg - 1));
  EXPECT_NE(h, crypto::keyed_hash(secret, msg, sizeof msg - 2));
}

TEST(keyed_hash, keys_round_trip_through_hex_and_bad_hex_is_refused) {
  auto key = crypto::random_key();
  EXPECT_FALSE(key == crypto::random_key());
  auto hex = crypto::to_hex(key);
  ASSERT_EQ(hex.size(), 32u);
  auto back = crypto::key_from_hex(hex);
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == key);
  EXPECT_EQ(crypto::key_from_hex("00112233445566778899AABBCCDDEEFF"),
            crypto::key_from_hex("00112233445566778899aabbccddeeff"));
  for (const char* bad : {"", "0011", "00112233445566778899aabbccddeeff00",
                          "00112233445566778899aabbccddeefg", "00112233 45566778899aabbccddeeff"})
    EXPECT_FALSE(crypto::key_from_hex(bad)) << bad;
}

}  // namespace

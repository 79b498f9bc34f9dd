#pragma once

// Load shedding by a fair lottery: keep 1 buyer in K. A buyer's draw is a keyed hash of (the sale's
// draw secret, the draw window, the user id), so every request of one user in one window gets the
// same answer: retrying does not win more often than asking once, and moving to another gateway
// does not help either (every gateway of the sale holds the same secret, from the ZooKeeper
// settings). Over users the hash is uniform, so the share kept is 1/K. Without the secret nobody
// can tell which user ids win.
//
// A user wins when hash <= 2^64 / K, so lowering K keeps every earlier winner a winner. The draw
// window is either the whole sale (window 0: a losing buyer stays a loser) or N ms of wall clock
// (window now / N: a losing buyer may try again in the next window). Gateways whose clocks differ
// may disagree for a user during the moment a window turns over.
//
// Thread-safe and lock-free: the HTTP I/O threads draw without a message to any actor. reset() is
// called by the gateway actor only; a draw racing with it may use the old setting, the new one, or
// (for one draw) a mix of both keys.

#include <atomic>
#include <cstdint>
#include <string_view>

#include "adapters/crypto/keyed_hash.hpp"

namespace flashsale {

class lottery {
 public:
  /// keep_one_in = K >= 1 (1 keeps everything; 0 is taken as 1); window_ms 0 = the whole sale.
  lottery(std::uint32_t keep_one_in, const crypto::hash_key& key, std::int64_t window_ms = 0) {
    reset(keep_one_in, key, window_ms);
  }

  /// True if `user` wins (is kept) in the draw window of `now_ms` (wall clock, ms since the
  /// epoch). The same arguments under the same setting always give the same answer.
  bool draw(std::string_view user, std::int64_t now_ms) const;

  /// A new setting: K, the draw secret and the window length (gateway actor only).
  void reset(std::uint32_t keep_one_in, const crypto::hash_key& key, std::int64_t window_ms) {
    key0_.store(key.k0, std::memory_order_relaxed);
    key1_.store(key.k1, std::memory_order_relaxed);
    window_ms_.store(window_ms < 0 ? 0 : window_ms, std::memory_order_relaxed);
    keep_one_in_.store(keep_one_in < 1 ? 1 : keep_one_in, std::memory_order_relaxed);
  }

  std::uint32_t keep_one_in() const { return keep_one_in_.load(std::memory_order_relaxed); }
  std::int64_t window_ms() const { return window_ms_.load(std::memory_order_relaxed); }
  crypto::hash_key key() const {
    return {key0_.load(std::memory_order_relaxed), key1_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<std::uint32_t> keep_one_in_{1};
  std::atomic<std::uint64_t> key0_{0};
  std::atomic<std::uint64_t> key1_{0};
  std::atomic<std::int64_t> window_ms_{0};
};

}  // namespace flashsale

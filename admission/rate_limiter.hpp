#pragma once

// Per-client request limits: one token bucket per key (a client's address, or a buyer's user
// id). A bucket holds at most `burst` tokens and refills at `per_second`; a request takes one,
// and a request that finds none is refused (429 with Retry-After) before it costs anything.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace flashsale {

/// A bucket's shape. per_second 0 turns the limit off.
struct rate_limit {
  double per_second = 0;  ///< refill rate, requests per second (0: no limit)
  double burst = 1;       ///< bucket size: requests allowed at once after a quiet time (>= 1)
};

class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  /// Throws std::invalid_argument for a negative rate or a burst below 1 (with a rate). At most
  /// `max_keys` buckets are kept (spread over shards); beyond that idle (full) buckets are dropped
  /// (a shard is swept at most every 100 ms) and, while none can be dropped, a new key is let
  /// through unlimited and counted in overflowed(): the limiter fails open, never closed.
  explicit rate_limiter(rate_limit limit, std::size_t max_keys = 1000000);
  ~rate_limiter();

  /// Takes a token from `key`'s bucket at `now`. Returns nothing when the request may go on,
  /// else how long until the bucket holds a token again (>= 1 ms). Thread-safe (a mutex per shard
  /// of keys); never blocks for long. Always nothing when the limit is off.
  std::optional<std::chrono::milliseconds> take(std::string_view key, clock::time_point now);

  bool enabled() const { return limit_.per_second > 0; }
  /// Requests refused so far.
  std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  /// New keys let through unlimited because the table was full of busy buckets.
  std::uint64_t overflowed() const { return overflowed_.load(std::memory_order_relaxed); }

 private:
  struct shard;
  static constexpr std::size_t shard_count = 64;

  rate_limit limit_;
  std::size_t max_keys_per_shard_;
  std::array<std::unique_ptr<shard>, shard_count> shards_;
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> overflowed_{0};
};

}  // namespace flashsale

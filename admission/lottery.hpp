#pragma once

// Load shedding by lottery: keep 1 request in K. Draw n (counted from 0 since the last reset) is
// kept when a 64-bit mix of (seed, n) falls in the first 1/K of its range, so the shed share is
// 1 - 1/K and a run can be replayed from (seed, K). Thread-safe and lock-free: the HTTP I/O
// threads draw without a message to any actor; the draws of all threads together are exactly the
// draws 0..n-1 of one sequence, whatever the interleaving.

#include <atomic>
#include <cstdint>

namespace flashsale {

class lottery {
 public:
  /// keep_one_in = K >= 1 (1 keeps everything; 0 is taken as 1).
  lottery(std::uint32_t keep_one_in, std::uint64_t seed) { reset(keep_one_in, seed); }

  /// True if this request wins (is kept).
  bool draw() {
    auto k = keep_one_in_.load(std::memory_order_relaxed);
    if (k <= 1)
      return true;
    auto n = next_.fetch_add(1, std::memory_order_relaxed);
    return mix(seed_.load(std::memory_order_relaxed) + n * 0x9e3779b97f4a7c15ULL) % k == 0;
  }

  /// Starts a new sequence with K and seed. A draw racing with the change uses either setting.
  void reset(std::uint32_t keep_one_in, std::uint64_t seed) {
    seed_.store(seed, std::memory_order_relaxed);
    next_.store(0, std::memory_order_relaxed);
    keep_one_in_.store(keep_one_in < 1 ? 1 : keep_one_in, std::memory_order_relaxed);
  }

  std::uint32_t keep_one_in() const { return keep_one_in_.load(std::memory_order_relaxed); }

 private:
  /// splitmix64's finaliser: every input bit affects every output bit.
  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::atomic<std::uint32_t> keep_one_in_{1};
  std::atomic<std::uint64_t> seed_{0};
  std::atomic<std::uint64_t> next_{0};
};

}  // namespace flashsale

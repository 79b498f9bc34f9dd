#pragma once

// Load shedding by lottery: keep 1 request in K, decided by a seeded per-node RNG, so the shed
// share is 1 - 1/K and a run can be replayed. Not thread-safe (the gateway actor owns it).

#include <cstdint>
#include <random>

namespace flashsale {

class lottery {
 public:
  /// keep_one_in = K >= 1 (1 keeps everything).
  lottery(std::uint32_t keep_one_in, std::uint64_t seed)
      : keep_one_in_(keep_one_in < 1 ? 1 : keep_one_in), rng_(seed) {}

  /// True if this request wins (is kept).
  bool draw() {
    if (keep_one_in_ == 1)
      return true;
    return std::uniform_int_distribution<std::uint32_t>{0, keep_one_in_ - 1}(rng_) == 0;
  }

  std::uint32_t keep_one_in() const { return keep_one_in_; }

 private:
  std::uint32_t keep_one_in_;
  std::mt19937_64 rng_;
};

}  // namespace flashsale

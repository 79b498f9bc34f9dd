#include "admission/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <utility>

namespace flashsale {

struct rate_limiter::shard {
  struct bucket {
    double tokens = 0;
    clock::time_point last{};
  };
  std::mutex mutex;
  std::unordered_map<std::string, bucket> buckets;
  clock::time_point last_sweep{};
};

namespace {
/// A full shard is swept for idle buckets at most this often (a sweep walks the whole shard).
constexpr auto sweep_interval = std::chrono::milliseconds(100);
}  // namespace

rate_limiter::rate_limiter(rate_limit limit, std::size_t max_keys)
    : limit_(limit), max_keys_per_shard_(std::max<std::size_t>(max_keys / shard_count, 1)) {
  if (limit_.per_second < 0 || (limit_.per_second > 0 && limit_.burst < 1))
    throw std::invalid_argument("rate_limiter: the rate must be >= 0 and the burst >= 1");
  for (auto& s : shards_)
    s = std::make_unique<shard>();
}

rate_limiter::~rate_limiter() = default;

std::optional<std::chrono::milliseconds> rate_limiter::take(std::string_view key,
                                                            clock::time_point now) {
  if (!enabled())
    return std::nullopt;
  auto& s = *shards_[std::hash<std::string_view>{}(key) % shard_count];
  std::lock_guard<std::mutex> lock(s.mutex);
  auto refill = [&](shard::bucket& b) {
    double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(limit_.burst, b.tokens + std::max(elapsed, 0.0) * limit_.per_second);
    b.last = std::max(b.last, now);
  };
  std::string owned_key(key);  // built once: for the lookup and, if new, the table
  auto it = s.buckets.find(owned_key);
  if (it == s.buckets.end()) {
    if (s.buckets.size() >= max_keys_per_shard_ && now - s.last_sweep >= sweep_interval) {
      // Drop the buckets that are full again: forgetting them changes nobody's allowance.
      s.last_sweep = now;
      for (auto i = s.buckets.begin(); i != s.buckets.end();) {
        refill(i->second);
        i = i->second.tokens >= limit_.burst ? s.buckets.erase(i) : std::next(i);
      }
    }
    if (s.buckets.size() >= max_keys_per_shard_) {
      overflowed_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    it = s.buckets.emplace(std::move(owned_key), shard::bucket{limit_.burst, now}).first;
  }
  auto& b = it->second;
  refill(b);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  refused_.fetch_add(1, std::memory_order_relaxed);
  auto wait_s = (1 - b.tokens) / limit_.per_second;
  return std::chrono::milliseconds(std::max<long long>(1, std::llround(std::ceil(wait_s * 1000))));
}

}  // namespace flashsale

#pragma once

// Lock-free counters, gauges and latency histograms, and their Prometheus text exposition
// (format 0.0.4). Updating is a relaxed atomic add: safe and cheap from any thread (HTTP I/O
// threads, actors). Reading gives a consistent-enough snapshot, as Prometheus expects.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

namespace flashsale::metrics {

class counter {
 public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class gauge {
 public:
  void set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

/// Events per second over a sliding window, from a cumulative total the owner samples now and
/// then (each call keeps at most one sample per tenth of the window). Not thread-safe: one owner.
class rate_meter {
 public:
  using clock = std::chrono::steady_clock;
  explicit rate_meter(std::chrono::milliseconds window = std::chrono::seconds{10})
      : window_(window) {}
  /// Records that the total was `total` at `now`.
  void sample(clock::time_point now, std::int64_t total);
  /// The rate from the oldest sample within the window to (now, total); 0 without one.
  double per_second(clock::time_point now, std::int64_t total);

 private:
  std::chrono::milliseconds window_;
  std::deque<std::pair<clock::time_point, std::int64_t>> samples_;  // oldest first
};

/// A latency histogram with fixed buckets from 100 us to 10 s (upper bounds in bucket_bounds),
/// plus the implicit +Inf bucket.
class latency_histogram {
 public:
  static constexpr std::size_t bucket_count = 14;
  /// Upper bounds in seconds, ascending.
  static const std::array<double, bucket_count> bucket_bounds;

  void observe(std::chrono::nanoseconds d);

  /// Per-bucket (not cumulative) counts; index bucket_count is +Inf.
  std::array<std::uint64_t, bucket_count + 1> counts() const;
  std::uint64_t count() const;
  double sum_seconds() const;

 private:
  std::array<std::atomic<std::uint64_t>, bucket_count + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// Builds one Prometheus text page. Each family: family(name, help, type) once, then its samples.
/// Label strings are written as given ("" or `product="TV"`); label values must already be
/// escaped (our labels are product ids and fixed words).
class exposition {
 public:
  void family(const std::string& name, const std::string& help, const char* type);
  void sample(const std::string& name, const std::string& labels, double value);
  void sample(const std::string& name, const std::string& labels, std::uint64_t value);
  void sample(const std::string& name, const std::string& labels, std::int64_t value);
  /// The _bucket (cumulative, with le), _sum and _count lines of a histogram.
  void histogram(const std::string& name, const std::string& labels, const latency_histogram& h);

  const std::string& text() const { return out_; }

 private:
  void line_start(const std::string& name, const std::string& labels);
  std::string out_;
};

}  // namespace flashsale::metrics

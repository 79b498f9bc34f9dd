#include "common/metrics.hpp"

#include <cstdio>

namespace flashsale::metrics {

const std::array<double, latency_histogram::bucket_count> latency_histogram::bucket_bounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0};

void latency_histogram::observe(std::chrono::nanoseconds d) {
  auto ns = d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
  double seconds = static_cast<double>(ns) / 1e9;
  std::size_t i = 0;
  while (i < bucket_count && seconds > bucket_bounds[i])
    ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

std::array<std::uint64_t, latency_histogram::bucket_count + 1> latency_histogram::counts() const {
  std::array<std::uint64_t, bucket_count + 1> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::uint64_t latency_histogram::count() const {
  std::uint64_t n = 0;
  for (auto& b : buckets_)
    n += b.load(std::memory_order_relaxed);
  return n;
}

double latency_histogram::sum_seconds() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

void exposition::family(const std::string& name, const std::string& help, const char* type) {
  out_ += "# HELP " + name + ' ' + help + "\n# TYPE " + name + ' ' + type + '\n';
}

void exposition::line_start(const std::string& name, const std::string& labels) {
  out_ += name;
  if (!labels.empty())
    out_ += '{' + labels + '}';
  out_ += ' ';
}

void exposition::sample(const std::string& name, const std::string& labels, double value) {
  line_start(name, labels);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g\n", value);
  out_ += buf;
}

void exposition::sample(const std::string& name, const std::string& labels, std::uint64_t value) {
  line_start(name, labels);
  out_ += std::to_string(value) + '\n';
}

void exposition::sample(const std::string& name, const std::string& labels, std::int64_t value) {
  line_start(name, labels);
  out_ += std::to_string(value) + '\n';
}

void exposition::histogram(const std::string& name, const std::string& labels,
                           const latency_histogram& h) {
  auto counts = h.counts();
  std::uint64_t cumulative = 0;
  auto with_le = [&](const std::string& le) {
    return labels.empty() ? "le=\"" + le + "\"" : labels + ",le=\"" + le + "\"";
  };
  for (std::size_t i = 0; i < latency_histogram::bucket_count; ++i) {
    cumulative += counts[i];
    char le[32];
    std::snprintf(le, sizeof le, "%g", latency_histogram::bucket_bounds[i]);
    sample(name + "_bucket", with_le(le), cumulative);
  }
  cumulative += counts[latency_histogram::bucket_count];
  sample(name + "_bucket", with_le("+Inf"), cumulative);
  sample(name + "_sum", labels, h.sum_seconds());
  sample(name + "_count", labels, cumulative);
}

void rate_meter::sample(clock::time_point now, std::int64_t total) {
  while (!samples_.empty() && now - samples_.front().first > window_)
    samples_.pop_front();
  if (samples_.empty() || now - samples_.back().first >= window_ / 10)
    samples_.emplace_back(now, total);
}

double rate_meter::per_second(clock::time_point now, std::int64_t total) {
  sample(now, total);
  const auto& [since, base] = samples_.front();
  auto seconds = std::chrono::duration<double>(now - since).count();
  return seconds > 0 ? static_cast<double>(total - base) / seconds : 0.0;
}

}  // namespace flashsale::metrics

#pragma once

// Pieces of flashsale-load that are pure and unit-tested: the latency histogram and the minimal
// HTTP/1.1 response scanner.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace flashsale::load {

/// Log-linear histogram of microsecond values: exact below 32 us, then 16 buckets per power of
/// two (<= 6.25 % error). Not thread-safe: one per thread, merged at the end.
class latency_histogram {
 public:
  void record(std::uint64_t micros);
  void merge(const latency_histogram& other);
  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  /// Value (us) below which a fraction q (0..1) of the samples lie; 0 when empty.
  double quantile(double q) const;

 private:
  static constexpr std::size_t bucket_count = 61 * 16;
  static std::size_t index_of(std::uint64_t v);
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

/// What scan_response found at the start of a buffer.
struct scanned_response {
  enum class state { incomplete, complete, malformed } result = state::incomplete;
  int status = 0;
  std::size_t header_bytes = 0;  ///< status line and fields, final CRLF CRLF included
  std::size_t total_bytes = 0;   ///< header_bytes + Content-Length (when complete)
  bool close = false;            ///< "Connection: close" (or HTTP/1.0 without keep-alive)
  std::string_view body;         ///< valid while the buffer is (when complete)
  const char* problem = "";      ///< why malformed
};

/// Scans one response at the start of `data`. Supports Content-Length framing only (what the
/// gateway sends); no Content-Length means an empty body; chunked is reported as malformed.
scanned_response scan_response(std::string_view data);

/// Value of "ticket" in a JSON body like {"ticket":"abc","status":"queued"}; empty if absent.
std::string_view find_ticket(std::string_view body);

}  // namespace flashsale::load

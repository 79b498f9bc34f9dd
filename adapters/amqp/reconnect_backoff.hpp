#pragma once

// Internal to adapters/amqp: the delay between reconnect attempts of one connection's thread, and
// the words of the log line that says it moved to another broker.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

namespace flashsale::amqp::detail {

/// An exponential reconnect delay: 100 ms, doubled after each failed attempt up to a ceiling, back
/// to 100 ms after a success. Not thread-safe: owned by the one thread that connects.
class reconnect_backoff {
 public:
  explicit reconnect_backoff(std::chrono::milliseconds ceiling) : ceiling_(ceiling) {}

  /// The delay the next wait() will take (for the log line that announces it).
  std::chrono::milliseconds delay() const { return delay_; }

  /// After a successful connect: the next failure waits the shortest delay again.
  void reset() { delay_ = initial; }

  /// Blocks for delay() on `cv` (locking `mtx`) or until `stopping()` holds, then doubles the
  /// delay.
  template <class Predicate>
  void wait(std::mutex& mtx, std::condition_variable& cv, Predicate stopping) {
    std::unique_lock<std::mutex> lock{mtx};
    cv.wait_for(lock, delay_, stopping);
    delay_ = std::min(delay_ * 2, ceiling_);
  }

 private:
  static constexpr std::chrono::milliseconds initial{100};
  std::chrono::milliseconds ceiling_;
  std::chrono::milliseconds delay_{initial};
};

/// " (moved from <last>)" when a reconnect reached another broker than `last`, else "".
inline std::string moved_from(const std::string& last, const std::string& now) {
  return last.empty() || last == now ? std::string{} : " (moved from " + last + ")";
}

}  // namespace flashsale::amqp::detail

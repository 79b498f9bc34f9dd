#pragma once

// Internal to adapters/amqp: the delay between reconnect attempts of one connection's thread, and
// which broker of a cluster it tries next.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
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

/// Which broker of a cluster a connection's thread tries first (the one after the broker it lost),
/// and the words of the log line that says it moved. Not thread-safe: owned by that thread.
class broker_rotation {
 public:
  /// The index in connection_params::candidates() to start the next connect at.
  std::size_t first() const { return next_; }

  /// After a connect to `broker`: " (moved from <previous>)" when the previous connection reached
  /// another broker, else "".
  std::string connected(const std::string& broker) {
    auto words = last_.empty() || last_ == broker ? std::string{} : " (moved from " + last_ + ")";
    last_ = broker;
    return words;
  }

  /// After the connection to the broker at `index` was lost: the next connect tries the next one.
  void lost(std::size_t index) { next_ = index + 1; }

 private:
  std::size_t next_ = 0;
  std::string last_;
};

}  // namespace flashsale::amqp::detail

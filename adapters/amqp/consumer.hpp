#pragma once

// Consuming with manual acks and a prefetch window, on a thread of its own. Deliveries are handed
// over in batches through a callback; acks and rejects are queued by any thread and sent by the
// consumer's thread. After a reconnect, acks for deliveries of the old connection are dropped: the
// broker redelivers those messages, and the request id makes that harmless.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/amqp/amqp_connection.hpp"

namespace flashsale::amqp {

/// One message handed to the application. `tag` also identifies the connection it came on.
struct delivery {
  std::uint64_t tag = 0;
  bool redelivered = false;
  std::string body;
};

class consumer {
 public:
  /// Called on the consumer's thread with up to max_batch deliveries. Must not block.
  using batch_callback = std::function<void(std::vector<delivery>)>;

  struct options {
    topology route;                ///< the queue to consume; declared on connect
    std::uint16_t prefetch = 500;  ///< unacked deliveries the broker may hand over
    std::size_t max_batch = 200;   ///< deliveries per callback
  };

  /// Starts the thread, which connects (and keeps reconnecting) in the background.
  consumer(connection_params params, options opts, batch_callback on_batch);
  /// Stops the thread. Unacked deliveries return to the queue when the connection closes.
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  /// Acknowledges a delivery (after its effect is durable). Thread-safe, non-blocking.
  void ack(std::uint64_t tag);
  /// Rejects a delivery: requeue = true puts it back, false dead-letters it. Thread-safe.
  void reject(std::uint64_t tag, bool requeue);

  bool connected() const { return connected_.load(); }
  /// Acks sent to the broker so far (for tests and stats).
  std::uint64_t acks_sent() const { return acks_sent_.load(); }

 private:
  struct settle {
    std::uint64_t tag;
    bool ack;
    bool requeue;
  };

  void run();

  connection_params params_;
  options opts_;
  batch_callback on_batch_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<settle> settles_;  // guarded by mtx_
  bool stop_ = false;            // guarded by mtx_
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> acks_sent_{0};
  std::thread thread_;
};

}  // namespace flashsale::amqp

#pragma once

// Consuming with manual acks and a prefetch window, on a thread of its own. Deliveries of every
// order queue of the route (the main queue and one per hot product, all on one channel) are handed
// over in batches through a callback; acks and rejects are queued by any thread and sent by the
// consumer's thread. Acks go out as one "multiple" ack for the longest run of finished deliveries
// at the head of the unacked window; a delivery finished behind an unfinished one is acked on its
// own once it has waited `ack_hold`. After a reconnect, acks for deliveries of the old connection
// are dropped: the broker redelivers those messages, and the request id makes that harmless.

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

/// What the consumer did so far (monotonic counters, for stats and tests).
struct consumer_counters {
  std::uint64_t delivered = 0;      ///< deliveries received (redeliveries included)
  std::uint64_t acked = 0;          ///< deliveries acknowledged
  std::uint64_t ack_frames = 0;     ///< basic.ack frames sent (one may cover many deliveries)
  std::uint64_t dead_lettered = 0;  ///< deliveries rejected without requeue
  std::uint64_t requeued = 0;       ///< deliveries rejected with requeue
  /// Deliveries still unsettled when their connection closed (a pause or a lost connection):
  /// the broker puts them back in the queue and delivers them again.
  std::uint64_t returned = 0;
};

class consumer {
 public:
  /// Called on the consumer's thread with up to max_batch deliveries. Must not block.
  using batch_callback = std::function<void(std::vector<delivery>)>;

  struct options {
    topology route;  ///< every queue of route.queues() is consumed; checked on connect
    std::uint16_t prefetch = 500;  ///< unacked deliveries the broker may hand over, per queue
    std::size_t max_batch = 200;   ///< deliveries per callback
    std::chrono::milliseconds ack_hold{5};  ///< longest wait of a finished delivery for its run
  };

  /// Starts the thread, which connects (and keeps reconnecting) in the background.
  consumer(connection_params params, options opts, batch_callback on_batch);
  /// Stops the thread. Unacked deliveries return to the queue when the connection closes.
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  /// Acknowledges a delivery (after its effect is durable). Thread-safe, non-blocking.
  void ack(std::uint64_t tag);
  /// Acknowledges several deliveries. Thread-safe, non-blocking.
  void ack(const std::vector<std::uint64_t>& tags);
  /// Rejects a delivery: requeue = true puts it back, false dead-letters it. Thread-safe.
  void reject(std::uint64_t tag, bool requeue);
  /// Stops consuming for `how_long`: the connection closes (every unacked delivery goes back to
  /// the queue, for other consumers; later acks of them are dropped), and the consumer connects
  /// again once the pause is over. For a consumer that cannot use what it gets (its database is
  /// unreachable). A pause during a pause ends at the later time. Thread-safe, non-blocking.
  void pause(std::chrono::milliseconds how_long, std::string why);

  bool connected() const { return connected_.load(); }
  /// Deliveries acknowledged so far (for tests and stats).
  std::uint64_t acks_sent() const { return acked_.load(); }
  /// A snapshot of the counters. Thread-safe.
  consumer_counters counters() const;

 private:
  struct settle {
    std::uint64_t tag;
    bool ack;
    bool requeue;
  };

  class loop;  // the consumer thread's state and steps (consumer.cpp)

  void run();

  connection_params params_;
  options opts_;
  batch_callback on_batch_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<settle> settles_;                           // guarded by mtx_
  bool stop_ = false;                                     // guarded by mtx_
  std::chrono::steady_clock::time_point paused_until_{};  // guarded by mtx_
  std::string pause_why_;                                 // guarded by mtx_
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> acked_{0};
  std::atomic<std::uint64_t> ack_frames_{0};
  std::atomic<std::uint64_t> dead_lettered_{0};
  std::atomic<std::uint64_t> requeued_{0};
  std::atomic<std::uint64_t> returned_{0};
  std::thread thread_;
};

}  // namespace flashsale::amqp

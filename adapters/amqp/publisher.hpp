#pragma once

// Persistent publishing with publisher confirms, on a thread of its own (rabbitmq-c connections are
// not thread-safe). Confirms are read as a stream of basic.ack / basic.nack frames (with
// "multiple") and reported in batches through a callback. The publisher reconnects by itself with
// backoff, and also after a second of refusals on one connection (a quorum queue's new leader may
// never serve a channel opened during its election).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/amqp/amqp_connection.hpp"

namespace flashsale::amqp {

class publisher {
 public:
  /// What became of a published message.
  enum class fate {
    confirmed,  ///< the broker confirmed: the message is durable
    refused,    ///< certainly not stored: nacked (e.g. queue full) or never sent
    unknown,    ///< sent, then the connection died or no confirm came in time: may be stored
  };

  /// Called on the publisher's thread with publish ids and their fate, or on the caller's thread
  /// inside publish() when it refuses a message at once (disconnected). Must not block.
  using confirm_callback = std::function<void(std::vector<std::uint64_t> ids, fate f)>;

  struct options {
    topology route;  ///< where messages go; checked on connect (verify)
    std::chrono::milliseconds confirm_timeout{
        5000};                                    ///< unconfirmed that long -> reconnect, nack all
    std::chrono::milliseconds max_backoff{2000};  ///< reconnect delay cap
    /// Set while a confirmed channel is open; readable by anyone holding a copy (health checks).
    std::shared_ptr<std::atomic<bool>> connected = std::make_shared<std::atomic<bool>>(false);
  };

  /// Starts the thread, which connects (and keeps reconnecting) in the background.
  publisher(connection_params params, options opts, confirm_callback on_confirm);
  /// Stops the thread; whatever is unconfirmed is reported as nacked.
  ~publisher();
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  /// Queues one persistent message for `queue` (one of the route's queues, see
  /// topology::queue_of; empty = the route's main queue). Thread-safe, never blocks on I/O. While
  /// disconnected the message is refused at once (callback), so callers never wait on a dead
  /// broker.
  void publish(std::uint64_t id, std::string body, std::string queue = {});

  /// True while a confirmed channel is open.
  bool connected() const { return connected_->load(); }

 private:
  struct pending {
    std::uint64_t id;
    std::string body;
    std::string queue;  ///< routing key; empty = the route's main queue
  };

  class loop;  // the publisher thread's state and steps (publisher.cpp)

  void run();
  void wake();
  void report(std::vector<std::uint64_t> ids, fate f);

  connection_params params_;
  options opts_;
  confirm_callback on_confirm_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<pending> queue_;  // guarded by mtx_
  bool stop_ = false;           // guarded by mtx_
  /// An eventfd the publisher thread polls beside the broker's socket: written when queue_ stops
  /// being empty and on stop, so the thread sleeps until a message or a frame comes.
  int wake_fd_ = -1;
  std::shared_ptr<std::atomic<bool>> connected_;
  std::thread thread_;
};

}  // namespace flashsale::amqp

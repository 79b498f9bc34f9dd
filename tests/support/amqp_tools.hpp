#pragma once

// RabbitMQ helpers for tests, on the real broker of scripts/services (FLASHSALE_AMQP_*): publish
// many messages with confirms, read a queue's depth, delete queues. Every call has a deadline.
// Test support only.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "adapters/amqp/amqp_connection.hpp"

namespace flashsale::testing {

/// One message to publish: its body and the queue it goes to (routing key).
struct outgoing_message {
  std::string queue;
  std::string body;
};

/// What publish_all achieved.
struct publish_outcome {
  std::size_t confirmed = 0;  ///< stored by the broker
  std::size_t refused = 0;    ///< nacked, refused or lost with the connection
  bool timed_out = false;     ///< not every confirm arrived before the deadline
};

/// Publishes every message persistently through amqp::publisher (declaring `route` first, so
/// `params` must be a user that may: the admin user of from_env()), with
/// at most `window` unconfirmed at a time, and waits for every confirm until `timeout` (a busy
/// broker may take long to confirm: the publisher waits up to `timeout` for each). Blocks.
publish_outcome publish_all(const amqp::connection_params& params, const amqp::topology& route,
                            const std::vector<outgoing_message>& messages,
                            std::chrono::milliseconds timeout, std::size_t window = 2000);

/// The broker's view of `queue` (a new connection each call). Throws amqp::amqp_error when it
/// does not exist.
amqp::queue_state queue_state_of(const amqp::connection_params& params, const std::string& queue);

/// Deletes the queues (and their messages); missing ones are fine.
void delete_queues(const amqp::connection_params& params, const std::vector<std::string>& queues);

}  // namespace flashsale::testing

#pragma once

// What RabbitMQ holds in a queue, and removing a test's queue. Test support only.

#include <cstdint>
#include <string>

#include "adapters/amqp/amqp_connection.hpp"

namespace flashsale::testing {

/// Messages ready in `queue` (passive declare); -1 when the queue does not exist or the broker
/// cannot be reached.
std::int64_t queue_messages(const amqp::connection_params& params, const std::string& queue);

/// Purchases in the messages ready in `queue` (a message carries one or more, see
/// messages/codec.hpp); -1 when the queue does not exist, the broker cannot be reached or a message
/// does not decode. Reads every message without acknowledging it: they are back in the queue (as
/// redelivered) when this returns. Use while nothing consumes the queue.
std::int64_t queued_purchases(const amqp::connection_params& params, const std::string& queue);

/// Deletes `queue` with its messages; returns false (and reports nothing) when that fails.
bool delete_queue(const amqp::connection_params& params, const std::string& queue);

}  // namespace flashsale::testing

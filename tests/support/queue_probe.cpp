#include "tests/support/queue_probe.hpp"

#include <amqp.h>

#include "messages/codec.hpp"

namespace flashsale::testing {

std::int64_t queue_messages(const amqp::connection_params& params, const std::string& queue) {
  try {
    amqp::amqp_connection conn{params};
    auto state = static_cast<amqp_connection_state_t>(conn.native());
    auto* ok = amqp_queue_declare(state, 1, amqp_cstring_bytes(queue.c_str()), 1, 0, 0, 0,
                                  amqp_empty_table);
    if (ok == nullptr)
      return -1;
    return ok->message_count;
  } catch (const amqp::amqp_error&) {
    return -1;
  }
}

std::int64_t queued_purchases(const amqp::connection_params& params, const std::string& queue) {
  try {
    amqp::amqp_connection conn{params};
    auto state = static_cast<amqp_connection_state_t>(conn.native());
    std::int64_t purchases = 0;
    for (;;) {
      // basic.get without auto-ack: each message stays unacked (and invisible to the next get)
      // until the connection closes, which puts them all back.
      auto reply = amqp_basic_get(state, 1, amqp_cstring_bytes(queue.c_str()), 0);
      if (reply.reply_type != AMQP_RESPONSE_NORMAL)
        return -1;
      if (reply.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
        return purchases;
      amqp_message_t message;
      if (amqp_read_message(state, 1, &message, 0).reply_type != AMQP_RESPONSE_NORMAL)
        return -1;
      auto decoded =
          decode_purchases(static_cast<const char*>(message.body.bytes), message.body.len);
      amqp_destroy_message(&message);
      if (!decoded)
        return -1;
      purchases += static_cast<std::int64_t>(decoded->size());
    }
  } catch (const amqp::amqp_error&) {
    return -1;
  }
}

bool delete_queue(const amqp::connection_params& params, const std::string& queue) {
  try {
    amqp::amqp_connection conn{params};
    auto state = static_cast<amqp_connection_state_t>(conn.native());
    return amqp_queue_delete(state, 1, amqp_cstring_bytes(queue.c_str()), 0, 0) != nullptr;
  } catch (const amqp::amqp_error&) {
    return false;
  }
}

}  // namespace flashsale::testing

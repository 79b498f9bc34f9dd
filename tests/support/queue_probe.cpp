#include "tests/support/queue_probe.hpp"

#include <amqp.h>

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

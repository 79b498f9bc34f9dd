#pragma once

// Local calls into a gateway's actor from its HTTP threads: a purchase and a ticket lookup, each
// carrying the callback its answer goes to. Never serialized (they cross no process); free of CAF
// so that the HTTP controller (api/gateway_controller.hpp) needs no CAF header.

#include <functional>
#include <optional>
#include <string>

#include "messages/messages.hpp"

namespace flashsale {

/// A purchase attempt that passed admission_front::screen.
struct purchase_call {
  std::string product;
  std::string user;
  std::string idempotency_key;  ///< optional client key; scopes the request id with the user
  /// Called exactly once, on an actor thread, with the decision. Must not block.
  std::function<void(const purchase_reply&)> done;
  int throttled = 0;  ///< reservations refused so far for want of a claim (the actor retries)
};

/// Looks up a ticket: from the gateway's memory, then from the databases. done(nullopt) for
/// tickets the gateway does not know and no database holds. Called exactly once, on an actor
/// thread. Must not block.
struct ticket_query {
  std::string ticket;
  std::function<void(const std::optional<ticket_view>&)> done;
};

}  // namespace flashsale

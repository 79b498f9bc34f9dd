#pragma once

#include "adapters/db/order_store.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

/// Spawns a slot writer on its own thread (database calls block). It holds one connection to the
/// database `params` names, opened on first use and reopened after a failure. Each purchase is one
/// stored-function call (one transaction); a database failure answers the whole batch with an error
/// (purchases of it that committed are absorbed by their request id when redelivered).
slot_writer_actor spawn_slot_writer(caf::actor_system& sys, db::connection_params params);

}  // namespace flashsale

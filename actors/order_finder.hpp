#pragma once

// The gateway's fallback for GET /v1/orders: looks orders up in one database (the main one or a
// hot product's) through db::order_lookup, as the role flashsale_gateway. Detached (a blocking
// call per lookup): the admission path never waits for it. It connects on first use, so a gateway
// starts and sells without the database; a failure is logged once per run of failures and
// answered as an error (the gateway then answers from its memory).

#include "adapters/db/connection.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

/// Spawns the finder of the database `params` names.
order_finder_actor spawn_order_finder(caf::actor_system& sys, db::connection_params params);

}  // namespace flashsale

#pragma once

// A slot writer: one connection to one database on a writer node, writing batches of purchases,
// one purchase_batch call (one transaction) per product of a batch. The pool that feeds it:
// slot_writer_pool.hpp.

#include "adapters/db/connection.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

/// Spawns a slot writer on its own thread (database calls block). It holds one connection to the
/// database `params` names, opened on first use and reopened after a failure. Each product's
/// purchases of a write request become one purchase_batch call (one transaction), in order of
/// first appearance; the reply holds one result per purchase, in request order. A database failure
/// answers the whole request with an error (a part that committed before is absorbed by its
/// request ids when redelivered). The failure is logged here, once.
slot_writer_actor spawn_slot_writer(caf::actor_system& sys, db::connection_params params);

}  // namespace flashsale

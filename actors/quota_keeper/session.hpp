#pragma once

// The quota keeper's ZooKeeper session and this node's registration: a session is started (and
// replaced after an expiry: new session, new ephemerals), session and watch events are routed to
// the parts that watch, and a connected session registers the node in three steps: its grant and
// report znodes, its ephemeral membership, then a resume from the last reports (rewritten with
// what the counters really consumed) before grants, settings and the election are read.

#include <string>

#include "actors/quota_keeper/keeper_state.hpp"

namespace flashsale::keeper_parts {

/// Drops the session (if any) and starts a new one; on a client that cannot even start, retries
/// in 1 s. Everything of the old session (pending results, registration, leadership) is forgotten.
void start_session(keeper* self);

/// A session or watch event of the current session.
void on_event(keeper* self, const zk::event& e);

/// Registers this node if the session is connected and no registration runs or is done.
void start_registration(keeper* self);

/// A registration step failed (logged once per distinct problem): retried in 500 ms.
void registration_failed(keeper* self, const std::string& what);

}  // namespace flashsale::keeper_parts

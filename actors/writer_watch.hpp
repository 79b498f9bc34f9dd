#pragma once

// A gateway's links to the writer nodes: it connects to every writer registered in ZooKeeper
// (nodes/writers/<node>) and monitors it through CAF's middleman (see peer_links.hpp), so that a
// writer that dies or freezes (SIGSTOP, a hung machine) is noticed within the middleman's
// connection-timeout: logged once, and gone from the roster (flashsale-admin status, /metrics)
// until it answers again. The gateway sends writers nothing; purchases reach them through
// RabbitMQ, which hands a lost writer's unacked messages to the others.
//
// Detached: its ZooKeeper reads block it for up to op_timeout each.

#include <memory>
#include <string>

#include "cluster/cluster_links.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

class peer_roster;

struct writer_watch_options {
  std::string node;                     ///< the gateway's name (logs)
  cluster_links cluster;                ///< where the writers register, how to reach them
  std::shared_ptr<peer_roster> roster;  ///< required: the writers connected now
};

/// The watch takes no requests: it polls on its own timer (this message) until it receives an
/// exit message.
using writer_watch_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;

/// Spawns the watch (detached).
writer_watch_actor spawn_writer_watch(caf::actor_system& sys, writer_watch_options opts);

}  // namespace flashsale

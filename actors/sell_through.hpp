#pragma once

// The writers' sell-through: settles gone gateways without an operator, so that what a dead
// gateway claimed but did not sell goes back to the live ones (cluster/sell_through.hpp has the
// rule, docs/design.md "Gone gateways" the safety argument). Every writer runs one; only the
// first registered writer by name acts, the others look again every interval.
//
// Threads: a detached actor (a thread of its own): each round blocks on ZooKeeper, the writers'
// stats, RabbitMQ and the databases' fences, never on another actor of the node.

#include <chrono>

#include "cluster/sell_through.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

struct sell_through_actor_options {
  sell_through_options round;                ///< round.by: this writer's node name
  std::chrono::milliseconds interval{1000};  ///< between rounds (after one ends)
};

using sell_through_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;

/// Spawns the settler; its first round starts one interval after the spawn. It runs until it
/// receives an exit message (a round in progress finishes first).
sell_through_actor spawn_sell_through(caf::actor_system& sys, sell_through_actor_options opts,
                                      const sale_definition& sale);

}  // namespace flashsale

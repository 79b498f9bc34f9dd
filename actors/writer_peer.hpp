#pragma once

// What a writer node publishes for the cluster (CAF middleman; registered as nodes/writers/<node>
// in ZooKeeper): gateways connect to it and monitor it (liveness), flashsale-admin asks it for
// stats. It passes stats requests on to the consumer bridge, so nothing else of the writer is
// reachable from the network.

#include "actors/consumer_bridge.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

/// Spawns the writer's peer over its consumer bridge; a stats request waits up to 3 s for it.
writer_peer_actor spawn_writer_peer(caf::actor_system& sys, consumer_bridge_actor consumer_bridge);

}  // namespace flashsale

#pragma once

// The writer node's way back to the gateways, and its registration in ZooKeeper (see
// peer_links.hpp, which does the finding, connecting and monitoring). After each commit the
// consumer bridge hands it the purchases' results; it sends each gateway the results of the
// purchases that gateway accepted, and tells every gateway when the database had no unit of a
// product left. Gateways are found in ZooKeeper (their ephemeral registration carries the endpoint
// of their published gateway_peer_actor), polled every poll_interval, and reached through CAF's
// middleman without blocking (connect requests with a deadline). A gateway whose connection drops
// is monitored and reconnected while its registration exists, with a backoff. Delivery is best
// effort: results for a gateway that cannot be reached are counted and dropped (the database stays
// the truth; GET /v1/orders falls back to it).
//
// Detached: the ZooKeeper reads block it for at most op_timeout each; the write path does not wait
// for it (the consumer bridge only sends).

#include <chrono>
#include <memory>
#include <string>

#include "cluster/cluster_links.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

class peer_roster;

struct result_router_options {
  std::string node;  ///< the writer's name (logs)
  /// Where the gateways register, how to reach them (zk_hosts empty: deliver nothing).
  cluster_links cluster;
  std::chrono::milliseconds sold_out_repeat{1000};  ///< tell sold-out again at most this often
  std::shared_ptr<peer_roster> roster;  ///< mirrors the gateways connected now (optional)
};

using result_router_actor = caf::typed_actor<
    /// Results after a commit (any mix of gateways and products): each goes to its gateway.
    caf::reacts_to<std::vector<order_result>>,
    /// From now on, keep the writer registered as nodes/writers/<node> (ephemeral, put back after
    /// a session loss) with this host:port of its published writer_peer_actor, where gateways and
    /// flashsale-admin find it.
    caf::reacts_to<register_atom, std::string>>;

/// Spawns the router (detached).
result_router_actor spawn_result_router(caf::actor_system& sys, result_router_options opts);

}  // namespace flashsale

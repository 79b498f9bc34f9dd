#pragma once

// The quota keeper: one per gateway node. It owns the node's ZooKeeper session, registers the
// node, feeds the product counters their grants, claims and lease, reports what they consumed,
// follows the sale's live settings, and takes part in the election of the sale's quota leader; the
// elected keeper also makes the leader's grant decisions (quota/policy.hpp). The design, with its
// safety argument (the gateways together never admit more than the stock made available):
// docs/design.md, "Live quotas". The znodes: quota/znodes.hpp. Its parts: actors/quota_keeper/.
//
// Threads: the ZooKeeper session delivers results and events on its own threads; they are only
// forwarded (anon_send) to this actor, which holds all state. Nothing here blocks except the
// closing of the session when the actor stops (or replaces an expired session).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "adapters/zookeeper/session.hpp"
#include "common/sale_definition.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

struct quota_keeper_options {
  std::string node;            ///< this gateway's name (grants/<node>/...)
  std::string http_endpoint;   ///< host:port, published in the registration
  std::string actor_endpoint;  ///< host:port of the published gateway_peer_actor (may be empty)
  std::string hosts = "127.0.0.1:21810";  ///< ZooKeeper connect string
  std::string root = "/flashsale";        ///< root of every znode
  std::chrono::milliseconds session_timeout{6000};
  std::chrono::milliseconds op_timeout{3000};  ///< deadline of every ZooKeeper operation
  zk::credentials login;  ///< the gateway identity and the tree's ACL (quota/tree_acl.hpp)
  std::chrono::milliseconds report_interval{200};  ///< reports, lease renewal, leader re-check
  std::chrono::milliseconds idle_release{1000};    ///< no attempt for this long: idle
  std::size_t expected_gateways = 1;               ///< the first split waits for this many ...
  std::chrono::milliseconds split_wait{10000};     ///< ... or this long after the election
  /// Set while the node is registered and its counters hold a valid lease (readiness).
  std::shared_ptr<std::atomic<bool>> ready = std::make_shared<std::atomic<bool>>(false);
};

/// The keeper takes no requests: it works on its own timer (this message, every report interval)
/// and on ZooKeeper's events, until it receives an exit message (which closes the session).
using quota_keeper_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;

/// Spawns the keeper. It connects at once and keeps reconnecting (new sessions after expiry) until
/// it is stopped. `counters` must hold one counter per product of `sale` (spawned with
/// require_lease); `settings` (the gateway actor) receives shedding_update and window_update.
quota_keeper_actor spawn_quota_keeper(caf::actor_system& sys, quota_keeper_options opts,
                                      const sale_definition& sale,
                                      std::map<std::string, counter_actor> counters,
                                      sale_settings_actor settings);

}  // namespace flashsale

#pragma once

// The quota keeper: one per gateway node. It owns the node's ZooKeeper session, registers the
// node, feeds the product counters their grants, reports what they consumed, follows the sale's
// live settings, and takes part in the election of the sale's quota leader; the elected keeper
// also makes the leader's grant decisions (quota_policy.hpp). Layout of the znodes:
// quota_znodes.hpp.
//
// Design (safety first: the servers together never admit more than the stock made available)
// ------------------------------------------------------------------------------------------
// Grants. grants/<node>/<p> holds the cumulative units the node may admit. Its counter admits
//   while consumed < grant. Every change reaches the counter as quota_update{grant, version =
//   the znode's mzxid}; the counter ignores versions it has passed, so a late or repeated read
//   never undoes a newer grant.
// Who writes grants. Only the leader raises a grant, only inside a zoo_multi that checks the
//   version of every grant it touches and of the product znode, and writes (with version) the
//   fence znode sales/<sale>/grants: two leaders (an old one that does not know yet) can never
//   both raise from the same reading. The leader computes free = stock - sum(grants) from reads
//   made after reading the fence; anything else that happens meanwhile only lowers grants, so
//   sum(grants) <= stock holds after every raise. A lost race (bad version) is re-read and
//   re-decided, never forced.
// Lowering a live node's grant. The leader never does it: a live node may admit up to its grant
//   at any moment and reports consumption late. Instead it sets the node's release flag
//   ({"grant": G, "release": true}); the node's keeper asks its counter to release_unused() (the
//   counter caps its grant at consumed at once and returns the grant version it capped), then
//   writes {"grant": consumed} with the version check of that same grant version. If the znode
//   changed meanwhile, the write fails and the counter, still capped, receives the newer grant.
//   The leader re-grants only what was given back this way. It asks for releases when the stock
//   was lowered below the sum of grants, and when a node has run dry (buyers keep trying, nothing
//   left) while others are idle (no attempt for idle-release-ms) with unused quota.
// Gone nodes. A node whose ephemeral registration vanished (its session expired: kill -9,
//   freeze, partition) can no longer admit (see the lease), so the leader lowers its grant to its
//   last claim and re-grants the difference. The write also checks the version of
//   the node's report: a node coming back first rewrites its report, so the leader either
//   reclaims before that (and the node then reads the lowered grant) or fails and re-reads.
//   Claims make this safe: a counter admits only up to the claim its keeper last wrote into the
//   node's report (claimed >= consumed, raised ahead of sales by several intervals' worth at the
//   recent rate), so the leader lowers a gone node's grant to max(claimed, consumed) and never
//   grants again a unit the node may have sold. What it claimed but did not sell stays unsold
//   (bounded by one claim step), and a restarted node resumes from its last claim.
// The lease. The counters admit only within a lease the keeper extends after each successful
//   ZooKeeper round trip: deadline = send time + half the negotiated session timeout. The server
//   cannot expire the session before send time + timeout, so a node stops admitting before the
//   leader can treat it as gone, even when the whole process was frozen (SIGSTOP) and nothing ran
//   to tell it. While disconnected for less than the lease the counters keep serving within their
//   last grant; after a session expiry the keeper makes a new session, re-registers, rewrites its
//   reports with what its counters really consumed, re-reads its grants (maybe lowered by a
//   reclaim) and only then extends the lease again.
// First split. Nothing granted or consumed yet: the leader waits for expected-gateways
//   registered gateways (or split-wait-ms), then splits the stock equally; the remainder goes one
//   unit each to the lowest-sorted node names (1,000 over gw1, gw2, gw3 -> 334/333/333).
// Re-grants. Free quota (given back, reclaimed, or added stock) is split equally over the live
//   nodes that want it (an attempt within idle-release-ms), or over all live nodes when none does.
// Stock changes. products/<p> ({"stock": N}, or a plain number from zkCli.sh) is watched by the
//   leader: more stock is split like free quota; less stock sets every release flag, and the
//   difference is re-granted once the sum is below the new stock. A decrease never takes a
//   node's grant below what it consumed.
// Restarts. A gateway that starts under a name with earlier grants resumes from its last report:
//   its counter's consumed starts at the reported claim.
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

#include <caf/fwd.hpp>

#include "actors/gateway.hpp"
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
  std::chrono::milliseconds op_timeout{3000};      ///< deadline of every ZooKeeper operation
  std::chrono::milliseconds report_interval{200};  ///< reports, lease renewal, leader re-check
  std::chrono::milliseconds idle_release{1000};    ///< no attempt for this long: idle
  std::size_t expected_gateways = 1;               ///< the first split waits for this many ...
  std::chrono::milliseconds split_wait{10000};     ///< ... or this long after the election
  /// Set while the node is registered and its counters hold a valid lease (readiness).
  std::shared_ptr<std::atomic<bool>> ready = std::make_shared<std::atomic<bool>>(false);
};

/// Spawns the keeper. It connects at once and keeps reconnecting (new sessions after expiry) until
/// it is stopped. `counters` must hold one counter per product of `sale` (spawned with
/// require_lease); `gateway` receives shedding_update messages.
caf::actor spawn_quota_keeper(caf::actor_system& sys, quota_keeper_options opts,
                              const sale_definition& sale,
                              std::map<std::string, counter_actor> counters, gateway_actor gateway);

}  // namespace flashsale

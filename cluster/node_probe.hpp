#pragma once

// Asking the registered nodes for their stats through CAF's middleman (flashsale-admin status,
// zk reconcile, and the writers' sell-through). The CAF includes stay in the source.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "adapters/zookeeper/session.hpp"
#include "messages/messages.hpp"

namespace flashsale {

/// What one registered node said when asked for its stats.
struct node_answer {
  std::string name;
  std::string role;                 ///< "gateway" or "writer" (where it is registered)
  std::optional<node_stats> stats;  ///< nothing: it did not answer (see why)
  std::string why;
};

/// Asks every node registered under `zk_root` (nodes/gateways, nodes/writers; only those of
/// `role` when it is not empty) for its stats through CAF's middleman, each within `timeout`
/// (connect, then answer), from an actor system of its own. Gateways first, then writers, each
/// sorted by name. Throws std::runtime_error when ZooKeeper cannot be read. Blocks; thread-safe.
std::vector<node_answer> ask_every_node(const std::string& zk_hosts, const std::string& zk_root,
                                        const zk::credentials& zk_login,
                                        std::chrono::milliseconds timeout,
                                        const std::string& role = "");

}  // namespace flashsale

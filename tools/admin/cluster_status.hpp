#pragma once

// flashsale-admin status: the cluster as its nodes see themselves. Kept apart from main.cpp
// because it needs CAF (the middleman), which is slow to compile.

#include <chrono>
#include <ostream>
#include <string>

#include "adapters/zookeeper/session.hpp"
#include "cluster/node_probe.hpp"

namespace flashsale::admin {

/// Lists the nodes registered under `zk_root` (nodes/gateways, nodes/writers), asks each for its
/// stats through CAF's middleman (connect and answer within `timeout` each) and prints one table
/// to `out`, a row per node. Returns 0 when every registered node answered, 5 when one did not
/// (its row says why). Throws std::runtime_error when ZooKeeper cannot be read. Blocks.
int print_cluster_status(const std::string& zk_hosts, const std::string& zk_root,
                         const zk::credentials& zk_login, std::chrono::milliseconds timeout,
                         std::ostream& out);

}  // namespace flashsale::admin

#pragma once

// Where a node finds the nodes of the other role, and how hard it tries to reach them: the
// settings peer_links (peer_links.hpp) works with, shared by the gateway's writer watch and the
// writer's result router. No CAF include: for options headers.

#include <chrono>
#include <string>

#include "adapters/zookeeper/session.hpp"

namespace flashsale {

struct cluster_links {
  std::string zk_hosts;                             ///< ZooKeeper connect string; empty: none
  std::string zk_root = "/flashsale";               ///< root of the flash-sale tree
  std::chrono::milliseconds poll_interval{1000};    ///< re-read the peers' registrations
  std::chrono::milliseconds op_timeout{3000};       ///< per ZooKeeper operation
  std::chrono::milliseconds connect_timeout{3000};  ///< per connection attempt to a peer
  std::chrono::milliseconds max_backoff{8000};      ///< between failed attempts to one peer
  zk::credentials zk_login;  ///< this node's identity and the tree's ACL (quota/tree_acl.hpp)
};

}  // namespace flashsale

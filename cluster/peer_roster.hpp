#pragma once

// The names of the peers a node is connected to now (a gateway's writers, a writer's gateways),
// for its stats and flashsale-admin status. No CAF include: for options headers.

#include <mutex>
#include <string>
#include <vector>

namespace flashsale {

/// Written by one peer_links (peer_links.hpp), read by anyone. Thread-safe.
class peer_roster {
 public:
  /// Replaces the names.
  void set(std::vector<std::string> names);
  /// A copy of the names, as last set.
  std::vector<std::string> names() const;

 private:
  mutable std::mutex mtx_;
  std::vector<std::string> names_;
};

}  // namespace flashsale

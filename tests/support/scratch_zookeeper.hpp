#pragma once

// A ZooKeeper root of the test process's own on the private ZooKeeper (FLASHSALE_ZK from
// build/run/endpoints.env): /<prefix>-<pid>-<n>, emptied first, removed with everything below it at
// the end. Plus small waits on the quota tree. Test support only.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "quota/sale_tree.hpp"
#include "adapters/zookeeper/blocking_session.hpp"

namespace flashsale::testing {

/// FLASHSALE_ZK; throws std::runtime_error with a hint when it is not set.
std::string zookeeper_hosts_from_env();

class scratch_zookeeper {
 public:
  /// Connects and clears a leftover root of the same name. Throws std::runtime_error.
  explicit scratch_zookeeper(const std::string& prefix);
  /// Removes the root; a failure is reported as a test failure.
  ~scratch_zookeeper();
  scratch_zookeeper(const scratch_zookeeper&) = delete;
  scratch_zookeeper& operator=(const scratch_zookeeper&) = delete;

  const std::string& hosts() const { return hosts_; }
  const std::string& root() const { return root_; }
  zk::blocking_session& session() { return *session_; }

 private:
  std::string hosts_;
  std::string root_;
  std::unique_ptr<zk::blocking_session> session_;
};

/// The grant znode of `node` for `product`, or nothing when it cannot be read.
std::optional<quota::grant_znode> read_grant(zk::blocking_session& zk, const quota::layout& paths,
                                             const std::string& node, const std::string& product);

/// The consumption report of `node` for `product`, or nothing.
std::optional<quota::consumption_report> read_report(zk::blocking_session& zk,
                                                     const quota::layout& paths,
                                                     const std::string& node,
                                                     const std::string& product);

/// Sets the lottery's K in the sale's settings znode, keeping its other keys (the draw secret
/// zk init wrote). Returns whether the versioned write succeeded.
bool set_keep_one_in(zk::blocking_session& zk, const quota::layout& paths, std::uint32_t k);

/// Polls until `node`'s counter of `product` enforces a grant > 0 that is the grant in ZooKeeper
/// (its report says so), or `timeout_ms` passes. Returns whether it happened.
bool wait_until_granted(zk::blocking_session& zk, const quota::layout& paths,
                        const std::string& node, const std::string& product, int timeout_ms);

}  // namespace flashsale::testing

#pragma once

// The quota tree's safety check for tests (I2 in ZooKeeper): a thread with its own ZooKeeper
// session that watches each product's stock and every gateway's grant of it and checks
// sum(grants) <= stock at every consistent state it observes. Test support only.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "adapters/zookeeper/blocking_session.hpp"
#include "quota/znodes.hpp"

namespace flashsale::testing {

/// Watches products/<p> and grants/<gateway>/<p> of `products` x `gateways`; after each change
/// (or every 50 ms) it takes a consistent snapshot (two identical collects in a row: the state
/// held in between) and checks it. While a product's stock was lowered its sum may exceed it, but
/// only shrinking, until the gateways gave back; anything else is a violation. A ZooKeeper that
/// does not answer (a lost leader, an election) only delays the next snapshot. Thread-safe: the
/// accessors may be called while it runs.
class grant_watcher {
 public:
  /// Connects as the tree's admin (within 10 s; throws zk_error otherwise) and starts watching.
  grant_watcher(const std::string& hosts, quota::layout paths, std::vector<std::string> products,
                std::vector<std::string> gateways);
  ~grant_watcher();

  /// Stops the thread (idempotent); the figures stay readable.
  void stop();

  /// Consistent states checked.
  std::size_t snapshots() const { return snapshots_.load(); }
  /// The largest sum of grants seen for any product.
  std::int64_t max_sum() const { return max_sum_.load(); }
  /// One line per state that broke the rule: product, sum, stock and each gateway's grant.
  std::vector<std::string> violations() const;

 private:
  struct product_state {
    std::int64_t stock = -1;
    std::vector<std::int64_t> grants;
    std::int64_t sum() const;
  };
  struct state {
    std::vector<product_state> products;
    std::vector<std::int64_t> zxids;  ///< of every znode read: equal zxids, equal state
    bool operator==(const state& o) const { return zxids == o.zxids; }
  };

  void wake();
  std::optional<state> collect(bool watch);
  void check(const state& s);
  void run();

  quota::layout paths_;
  std::vector<std::string> products_;
  std::vector<std::string> gateways_;
  std::unique_ptr<zk::blocking_session> session_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool changed_ = true;
  bool stopping_ = false;
  std::optional<state> last_;
  std::vector<std::int64_t> max_stock_;
  std::atomic<std::size_t> snapshots_{0};
  std::atomic<std::int64_t> max_sum_{0};
  std::vector<std::string> violations_;
  std::thread thread_;
};

}  // namespace flashsale::testing

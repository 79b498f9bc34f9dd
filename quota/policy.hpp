#pragma once

// The quota leader's decisions as a pure function: from what the leader read in ZooKeeper (one
// product: its stock, every node's grant and last consumption report, who is alive) to the grant
// writes to make. No I/O, no CAF; the quota keeper reads, calls plan_product(), and writes the
// plan in one versioned multi. The rules and their safety argument: docs/design.md, "Live quotas".

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "quota/znodes.hpp"

namespace flashsale::quota {

/// One node's quota of one product as the leader read it.
struct node_view {
  std::string node;
  bool live = false;                         ///< its ephemeral registration exists
  std::optional<grant_znode> grant;          ///< nullopt: no readable grant znode (yet)
  std::int32_t grant_version = -1;           ///< znode version of the grant read
  std::int64_t grant_mzxid = 0;              ///< zxid of the grant's last change
  std::optional<consumption_report> report;  ///< nullopt: no readable report
  std::int32_t report_version = -1;          ///< znode version of the report read
  /// Since the node's last purchase attempt (from its report, at the leader's clock).
  std::int64_t idle_ms = 0;
  /// Buyers are trying there: an attempt within the idle-release time.
  bool demand = false;
  /// A gone node whose claim epoch (its report's) a writer has fenced in every database: the
  /// orders it holds of the product, final (settled/<node>). Set by the reader only when the
  /// record's epoch is the report's.
  std::optional<std::int64_t> settled_sold;
};

/// One product as the leader read it.
struct product_view {
  std::string product;
  std::int64_t stock = 0;  ///< stock made available (products/<p>)
  /// The stock level the grants were last split for (the leader's record in the fence znode; 0:
  /// never split). Stock above it was added and is split equally over every live node.
  std::int64_t split_stock = 0;
  std::vector<node_view> nodes;
};

struct policy_settings {
  /// The first split waits until this many gateways are registered ...
  std::size_t expected_gateways = 1;
  /// ... or until the leader has waited long enough (split among those present).
  bool split_wait_over = false;
  /// A live node whose last purchase attempt is older than this is idle: it is asked to give
  /// back its unused quota when another node has run dry.
  std::int64_t idle_release_ms = 1000;
};

enum class change_reason {
  first_split,   ///< the stock split equally over the registered gateways
  new_stock,     ///< stock an operator added, split equally over the live gateways
  regrant,       ///< free quota (given back or reclaimed) handed to the nodes that want it
  reclaim_dead,  ///< a gone node's grant lowered to its last claim (>= its consumption)
  settle_dead,   ///< a gone, fenced node's grant lowered to what it sold
  ask_release,   ///< a live node asked to give back what it has not used (flag only)
};

const char* to_string(change_reason r);

struct grant_change {
  std::string node;
  grant_znode value;  ///< the new content of grants/<node>/<p>
  change_reason reason = change_reason::regrant;
};

struct product_plan {
  std::vector<grant_change> changes;   ///< sorted by node name
  bool raises = false;                 ///< some grant grows: the write must pass the fence
  std::vector<std::string> reclaimed;  ///< gone nodes: their report version must still hold
  std::int64_t free_before = 0;        ///< stock - sum(grants), as read
  std::int64_t free_after = 0;         ///< stock - sum(grants) once the plan is written
  std::int64_t split_stock_after = 0;  ///< the record to keep for the next decision

  bool empty() const { return changes.empty(); }
};

/// `total` in `n` shares that differ by at most one; the first (total % n) shares get the extra
/// unit (the caller orders the recipients by node name: the remainder goes to the lowest names).
/// Empty when n == 0.
std::vector<std::int64_t> equal_split(std::int64_t total, std::size_t n);

/// The leader's decision for one product (docs/design.md, "Live quotas", has the rules).
/// Deterministic: nodes are considered in name order.
product_plan plan_product(const product_view& view, const policy_settings& settings);

}  // namespace flashsale::quota

#include "quota/policy.hpp"

#include <algorithm>
#include <map>

namespace flashsale::quota {

const char* to_string(change_reason r) {
  switch (r) {
    case change_reason::first_split:
      return "first split";
    case change_reason::new_stock:
      return "added stock";
    case change_reason::regrant:
      return "re-grant";
    case change_reason::reclaim_dead:
      return "reclaim from a gone node";
    case change_reason::settle_dead:
      return "settle a gone, fenced node";
    case change_reason::ask_release:
      return "ask to release unused quota";
  }
  return "invalid";
}

std::vector<std::int64_t> equal_split(std::int64_t total, std::size_t n) {
  std::vector<std::int64_t> shares;
  if (n == 0 || total < 0)
    return shares;
  auto count = static_cast<std::int64_t>(n);
  for (std::int64_t i = 0; i < count; ++i)
    shares.push_back(total / count + (i < total % count ? 1 : 0));
  return shares;
}

namespace {

/// One product's decision in the making: the nodes with a readable grant (by name), what is free,
/// the stock split so far, and the new grant decided per node (the first reason wins the log).
class planner {
 public:
  planner(const product_view& view, const policy_settings& settings)
      : view_(view), settings_(settings) {
    for (const auto& n : view.nodes)
      if (n.grant)  // a node without a readable grant znode has nothing to decide on
        nodes_.push_back(&n);
    std::sort(nodes_.begin(), nodes_.end(),
              [](const node_view* a, const node_view* b) { return a->node < b->node; });
    // A node that consumed more than its grant (it came back after its unused quota was
    // reclaimed, having admitted units it had not reported) holds what it consumed: those units
    // are not free. A settled one holds what the databases hold of it, which is final.
    std::int64_t granted = 0;
    for (const auto* n : nodes_)
      granted += settled(*n) ? std::max(n->grant->grant, *n->settled_sold)
                             : std::max(n->grant->grant, n->report ? n->report->consumed : 0);
    free_ = view.stock - granted;
    plan_.free_before = free_;
    split_ = std::min(view.split_stock, view.stock);
  }

  /// 1. A gone node can no longer admit (its session expired and with it the lease of its
  ///    counters): what it had not claimed comes back. It never admitted past its last written
  ///    claim, so nothing it sold is granted again (what it claimed but did not sell stays
  ///    unsold). Its report version is checked by the write, so a node that comes back (and first
  ///    rewrites its report) makes the write fail instead of losing its quota.
  ///    Once a writer has fenced its claim epoch in the databases (settled_sold), no purchase of
  ///    it can be written any more: the grant falls to what it sold, and what it claimed but did
  ///    not sell comes back too.
  void reclaim_gone() {
    for (const auto* n : nodes_) {
      if (n->live || !n->report)
        continue;
      auto kept =
          settled(*n) ? *n->settled_sold : std::max(n->report->claimed, n->report->consumed);
      if (n->grant->grant <= kept)
        continue;
      free_ += n->grant->grant - kept;
      set(*n, grant_znode{kept, false},
          settled(*n) ? change_reason::settle_dead : change_reason::reclaim_dead);
      plan_.reclaimed.push_back(n->node);
    }
    // Registered live nodes (their keeper created the grant znode), and those that may receive.
    for (const auto* n : nodes_) {
      if (!n->live)
        continue;
      live_.push_back(n);
      if (!n->grant->release)
        receiving_.push_back(n);
    }
  }

  /// 2. More granted than the stock (the stock was lowered): every live node with unused quota
  ///    is asked to give it back. No grant grows until the sum is below the stock again. True
  ///    when that is the decision.
  bool over_granted() {
    if (free_ >= 0)
      return false;
    for (const auto* n : live_)
      if (!n->grant->release && unused(*n) > 0)
        set(*n, grant_znode{n->grant->grant, true}, change_reason::ask_release);
    return true;
  }

  /// 3. Stock not split yet (the first split, or stock an operator added) goes equally to every
  ///    live node. The very first split waits for the expected gateways (or the split wait):
  ///    false while it must wait (then nothing else is decided).
  bool split_new_stock() {
    auto added = std::min(std::max<std::int64_t>(view_.stock - split_, 0), free_);
    if (added <= 0)
      return true;
    bool first = view_.split_stock == 0;
    bool ready = !first || live_.size() >= settings_.expected_gateways || settings_.split_wait_over;
    if (!ready)
      return false;
    split_ +=
        give(receiving_, added, first ? change_reason::first_split : change_reason::new_stock);
    return true;
  }

  /// 4. Other free quota (given back, reclaimed) goes to the live nodes that want it (purchase
  ///    attempts within the idle time), or, when none does, to every live node. Nodes asked to
  ///    release get nothing meanwhile. True when there was some.
  bool regrant_free() {
    if (free_ <= 0)
      return false;
    std::vector<const node_view*> wanting;
    for (const auto* n : receiving_)
      if (n->report && n->demand)
        wanting.push_back(n);
    give(wanting.empty() ? receiving_ : wanting, free_, change_reason::regrant);
    return true;
  }

  /// 5. Nothing free but a node has run dry while buyers keep trying: idle nodes give back.
  void ask_idle_to_release() {
    bool someone_dry = false;
    for (const auto* n : receiving_)
      if (n->report && n->demand && n->report->consumed >= grant_of(*n))
        someone_dry = true;
    if (!someone_dry)
      return;
    for (const auto* n : receiving_)
      if (n->report && !n->demand && n->idle_ms >= settings_.idle_release_ms && unused(*n) > 0 &&
          decided_.count(n->node) == 0)
        set(*n, grant_znode{n->grant->grant, true}, change_reason::ask_release);
  }

  /// The plan: every decided grant that differs from what was read, in name order.
  product_plan finish() {
    for (const auto* n : nodes_) {
      auto i = decided_.find(n->node);
      if (i == decided_.end())
        continue;
      if (i->second.value.grant == n->grant->grant && i->second.value.release == n->grant->release)
        continue;
      if (i->second.value.grant > n->grant->grant)
        plan_.raises = true;
      plan_.changes.push_back(grant_change{n->node, i->second.value, i->second.reason});
    }
    plan_.free_after = free_;
    plan_.split_stock_after = split_;
    return plan_;
  }

 private:
  static bool settled(const node_view& n) { return !n.live && n.report && n.settled_sold; }

  struct decision {
    grant_znode value;
    change_reason reason;
  };

  std::int64_t grant_of(const node_view& n) const {
    auto i = decided_.find(n.node);
    return i == decided_.end() ? n.grant->grant : i->second.value.grant;
  }

  void set(const node_view& n, grant_znode value, change_reason why) {
    auto i = decided_.find(n.node);
    if (i == decided_.end())
      decided_.emplace(n.node, decision{value, why});
    else
      i->second.value = value;
  }

  /// Splits `units` equally over `to` (the remainder to the first names); returns what was given.
  std::int64_t give(const std::vector<const node_view*>& to, std::int64_t units,
                    change_reason why) {
    auto shares = equal_split(units, to.size());
    std::int64_t given = 0;
    for (std::size_t i = 0; i < to.size(); ++i) {
      if (shares[i] <= 0)
        continue;
      set(*to[i], grant_znode{grant_of(*to[i]) + shares[i], false}, why);
      given += shares[i];
    }
    free_ -= given;
    return given;
  }

  /// Unused quota as the node last reported it; only a report about the grant in force counts
  /// (right after a release the report still shows the grant before it).
  static std::int64_t unused(const node_view& n) {
    if (!n.report)
      return n.grant->grant;
    if (n.report->version < n.grant_mzxid)
      return 0;
    return n.grant->grant - n.report->consumed;
  }

  const product_view& view_;
  const policy_settings& settings_;
  product_plan plan_;
  std::vector<const node_view*> nodes_;
  std::vector<const node_view*> live_;
  std::vector<const node_view*> receiving_;
  std::map<std::string, decision> decided_;
  std::int64_t free_ = 0;
  std::int64_t split_ = 0;
};

}  // namespace

product_plan plan_product(const product_view& view, const policy_settings& settings) {
  planner p{view, settings};
  p.reclaim_gone();
  if (!p.over_granted() && p.split_new_stock() && !p.regrant_free())
    p.ask_idle_to_release();
  return p.finish();
}

}  // namespace flashsale::quota

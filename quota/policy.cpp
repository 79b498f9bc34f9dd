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

product_plan plan_product(const product_view& view, const policy_settings& settings) {
  product_plan plan;
  std::vector<const node_view*> nodes;
  for (const auto& n : view.nodes)
    if (n.grant)  // a node without a readable grant znode has nothing to decide on
      nodes.push_back(&n);
  std::sort(nodes.begin(), nodes.end(),
            [](const node_view* a, const node_view* b) { return a->node < b->node; });

  // A node that consumed more than its grant (it came back after its unused quota was reclaimed,
  // having admitted units it had not reported) holds what it consumed: those units are not free.
  std::int64_t granted = 0;
  for (const auto* n : nodes)
    granted += std::max(n->grant->grant, n->report ? n->report->consumed : 0);
  std::int64_t free = view.stock - granted;
  plan.free_before = free;
  auto split = std::min(view.split_stock, view.stock);

  // The decision per node: its new grant and flag, and why (the first reason wins the log).
  struct decision {
    grant_znode value;
    change_reason reason;
  };
  std::map<std::string, decision> decided;
  auto grant_of = [&](const node_view& n) {
    auto i = decided.find(n.node);
    return i == decided.end() ? n.grant->grant : i->second.value.grant;
  };
  auto set = [&](const node_view& n, grant_znode value, change_reason why) {
    auto i = decided.find(n.node);
    if (i == decided.end())
      decided.emplace(n.node, decision{value, why});
    else
      i->second.value = value;
  };
  auto give = [&](const std::vector<const node_view*>& to, std::int64_t units, change_reason why) {
    auto shares = equal_split(units, to.size());
    std::int64_t given = 0;
    for (std::size_t i = 0; i < to.size(); ++i) {
      if (shares[i] <= 0)
        continue;
      set(*to[i], grant_znode{grant_of(*to[i]) + shares[i], false}, why);
      given += shares[i];
    }
    free -= given;
    return given;
  };
  auto finish = [&]() {
    for (const auto* n : nodes) {
      auto i = decided.find(n->node);
      if (i == decided.end())
        continue;
      if (i->second.value.grant == n->grant->grant && i->second.value.release == n->grant->release)
        continue;
      if (i->second.value.grant > n->grant->grant)
        plan.raises = true;
      plan.changes.push_back(grant_change{n->node, i->second.value, i->second.reason});
    }
    plan.free_after = free;
    plan.split_stock_after = split;
    return plan;
  };

  // 1. A gone node can no longer admit (its session expired and with it the lease of its
  //    counters): what it had not claimed comes back. It never admitted past its last written
  //    claim, so nothing it sold is granted again (what it claimed but did not sell stays unsold).
  //    Its report version is checked by the write, so a node that comes back (and first rewrites
  //    its report) makes the write fail instead of losing its quota.
  for (const auto* n : nodes) {
    if (n->live || !n->report)
      continue;
    auto kept = std::max(n->report->claimed, n->report->consumed);
    if (n->grant->grant <= kept)
      continue;
    free += n->grant->grant - kept;
    set(*n, grant_znode{kept, false}, change_reason::reclaim_dead);
    plan.reclaimed.push_back(n->node);
  }

  // Registered live nodes (their keeper created the grant znode), and those that may receive.
  std::vector<const node_view*> live;
  std::vector<const node_view*> receiving;
  for (const auto* n : nodes) {
    if (!n->live)
      continue;
    live.push_back(n);
    if (!n->grant->release)
      receiving.push_back(n);
  }
  // Unused quota as the node last reported it; only a report about the grant in force counts
  // (right after a release the report still shows the grant before it).
  auto unused = [](const node_view& n) -> std::int64_t {
    if (!n.report)
      return n.grant->grant;
    if (n.report->version < n.grant_mzxid)
      return 0;
    return n.grant->grant - n.report->consumed;
  };

  // 2. More granted than the stock (the stock was lowered): every live node with unused quota
  //    is asked to give it back. No grant grows until the sum is below the stock again.
  if (free < 0) {
    for (const auto* n : live)
      if (!n->grant->release && unused(*n) > 0)
        set(*n, grant_znode{n->grant->grant, true}, change_reason::ask_release);
    return finish();
  }

  // 3. Stock not split yet (the first split, or stock an operator added) goes equally to every
  //    live node. The very first split waits for the expected gateways (or the split wait).
  auto added = std::min(std::max<std::int64_t>(view.stock - split, 0), free);
  if (added > 0) {
    bool first = view.split_stock == 0;
    bool ready = !first || live.size() >= settings.expected_gateways || settings.split_wait_over;
    if (!ready)
      return finish();
    split += give(receiving, added, first ? change_reason::first_split : change_reason::new_stock);
  }

  // 4. Other free quota (given back, reclaimed) goes to the live nodes that want it (purchase
  //    attempts within the idle time), or, when none does, to every live node. Nodes asked to
  //    release get nothing meanwhile.
  if (free > 0) {
    std::vector<const node_view*> wanting;
    for (const auto* n : receiving)
      if (n->report && n->demand)
        wanting.push_back(n);
    give(wanting.empty() ? receiving : wanting, free, change_reason::regrant);
    return finish();
  }

  // 5. Nothing free but a node has run dry while buyers keep trying: idle nodes give back.
  bool someone_dry = false;
  for (const auto* n : receiving)
    if (n->report && n->demand && n->report->consumed >= grant_of(*n))
      someone_dry = true;
  if (someone_dry) {
    for (const auto* n : receiving)
      if (n->report && !n->demand && n->idle_ms >= settings.idle_release_ms && unused(*n) > 0 &&
          decided.count(n->node) == 0)
        set(*n, grant_znode{n->grant->grant, true}, change_reason::ask_release);
  }
  return finish();
}

}  // namespace flashsale::quota

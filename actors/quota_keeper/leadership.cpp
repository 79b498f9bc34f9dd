#include "actors/quota_keeper/leadership.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/quota_keeper/session.hpp"
#include "quota/policy.hpp"

namespace flashsale::keeper_parts {

namespace {

using std::chrono::milliseconds;

void leader_failed(keeper* self, const std::string& what) {
  auto& st = self->state;
  st.evaluating = false;
  warn_once(st.leader_problem, "quota keeper " + st.opts.node + " (leader): " + what);
}

void evaluate_again(keeper* self, milliseconds delay) {
  self->delayed_send(self, delay, evaluate_atom_v, self->state.generation);
}

std::string describe(const std::string& product, const quota::product_plan& plan,
                     const quota::product_view& view) {
  std::string text = product + " (stock " + std::to_string(view.stock) + ", free " +
                     std::to_string(plan.free_before) + "):";
  for (const auto& c : plan.changes) {
    std::int64_t before = 0;
    for (const auto& n : view.nodes)
      if (n.node == c.node && n.grant)
        before = n.grant->grant;
    text += " " + c.node + " " + std::to_string(before) + "->" + std::to_string(c.value.grant) +
            (c.value.release ? " (release)" : "") + " [" + to_string(c.reason) + "]";
  }
  return text;
}

/// What one round read, in the order it was read (docs/design.md: the order matters): the fence
/// first, then every product's stock, every node's reports, the members, every node's grants,
/// every node's settled record.
struct tree_reading {
  zk::node_stat fence_stat;
  quota::fence_znode fence;
  std::vector<std::string> products;
  std::vector<std::string> nodes;
  std::vector<zk::result> results;

  zk::result& product_at(std::size_t p) { return results[p]; }
  zk::result& report_at(std::size_t n, std::size_t p) {
    return results[products.size() + n * products.size() + p];
  }
  zk::result& members() { return results[products.size() * (1 + nodes.size())]; }
  zk::result& grant_at(std::size_t n, std::size_t p) {
    return results[products.size() * (1 + nodes.size()) + 1 + n * products.size() + p];
  }
  zk::result& settled_at(std::size_t n) {
    return results[products.size() * (1 + 2 * nodes.size()) + 1 + n];
  }
};

/// What the leader will write: the multi's operations, the log lines of the changes, and the
/// fence (written when a grant grows or the record of split stock changes).
struct round_writes {
  std::vector<zk::op> ops;
  std::vector<std::string> log_lines;
  bool write_fence = false;
  quota::fence_znode record;  ///< what stock each product was split for
};

/// The leader's view of product `p` from the reading; nullopt (logged) for unreadable stock.
std::optional<quota::product_view> view_of(keeper_state& st, tree_reading& tr, std::size_t p,
                                           const std::set<std::string>& live, std::int64_t wall) {
  auto& stock_read = tr.product_at(p);
  auto stock = quota::decode_product(stock_read.data);
  if (!stock) {
    warn_once(st.leader_problem, "quota keeper " + st.opts.node +
                                     " (leader): " + st.paths.product(tr.products[p]) +
                                     " holds no stock: '" + stock_read.data + "'; product skipped");
    return std::nullopt;
  }
  quota::product_view view;
  view.product = tr.products[p];
  view.stock = stock->stock;
  if (auto i = tr.fence.split.find(tr.products[p]); i != tr.fence.split.end())
    view.split_stock = i->second;
  for (std::size_t n = 0; n < tr.nodes.size(); ++n) {
    quota::node_view v;
    v.node = tr.nodes[n];
    v.live = live.count(tr.nodes[n]) > 0;
    auto& g = tr.grant_at(n, p);
    if (g.ok()) {
      v.grant = quota::decode_grant(g.data);
      v.grant_version = g.stat.version;
      v.grant_mzxid = g.stat.mzxid;
    }
    auto& c = tr.report_at(n, p);
    if (c.ok()) {
      v.report = quota::decode_report(c.data);
      v.report_version = c.stat.version;
      if (v.report) {
        v.idle_ms = std::max<std::int64_t>(wall - v.report->last_attempt_ms, 0);
        v.demand = v.idle_ms < st.opts.idle_release.count();
      }
    }
    // A writer fenced this epoch: the node can sell nothing more of what it claimed under it.
    auto& settled_read = tr.settled_at(n);
    if (!v.live && v.report && v.report->epoch >= 1 && settled_read.ok()) {
      auto rec = quota::decode_settled(settled_read.data);
      // A fence at or above the report's epoch stops everything of it; a product the record
      // does not name (a sale file that differs) is not settled.
      if (rec && rec->epoch >= v.report->epoch)
        if (auto i = rec->sold.find(tr.products[p]); i != rec->sold.end())
          v.settled_sold = i->second;
    }
    if (v.grant || v.report)
      view.nodes.push_back(v);
  }
  return view;
}

/// Adds the writes of one product's plan: a check of the product's stock version, every grant
/// change (versioned), and a check of every reclaimed node's report version.
void add_plan(const keeper_state& st, const quota::product_view& view,
              const quota::product_plan& plan, std::int32_t product_version, round_writes& out) {
  const auto& product = view.product;
  bool recorded = plan.split_stock_after == view.split_stock;
  out.write_fence = out.write_fence || plan.raises || !recorded;
  out.record.split[product] = plan.split_stock_after;
  out.ops.push_back(zk::op::check(st.paths.product(product), product_version));
  auto node_of = [&](const std::string& name) {
    return std::find_if(view.nodes.begin(), view.nodes.end(),
                        [&](const quota::node_view& v) { return v.node == name; });
  };
  for (const auto& c : plan.changes)
    out.ops.push_back(zk::op::set(st.paths.grant(c.node, product), encode(c.value),
                                  node_of(c.node)->grant_version));
  for (const auto& gone : plan.reclaimed)
    out.ops.push_back(
        zk::op::check(st.paths.consumed(gone, product), node_of(gone)->report_version));
  if (!plan.empty())
    out.log_lines.push_back(describe(product, plan, view));
}

/// Step 4: the multi's answer. A lost race (a node gave back, a stock change, another leader) is
/// re-read and re-decided.
void written(keeper* self, const std::vector<std::string>& log_lines, zk::result& w) {
  auto& st = self->state;
  st.evaluating = false;
  if (w.ok()) {
    st.conflicts = 0;
    st.leader_problem.clear();
    for (const auto& line : log_lines)
      spdlog::info("quota keeper {} (leader): {}", st.opts.node, line);
    if (st.dirty)
      evaluate(self);
    return;
  }
  if (w.rc == zk::code::bad_version || w.rc == zk::code::no_node || w.rc == zk::code::node_exists) {
    ++st.conflicts;
    spdlog::debug("quota keeper {} (leader): write lost a race ({}), re-reading", st.opts.node,
                  zk::to_string(w.rc));
    evaluate_again(self, milliseconds{std::min(5 * st.conflicts, 200)});
    return;
  }
  leader_failed(self, "writing grants failed: " + zk::to_string(w.rc));
}

/// Step 3: decide every product and write all plans in one multi.
void decide(keeper* self, tree_reading& tr) {
  auto& st = self->state;
  for (const auto& x : tr.results)
    if (!x.ok() && x.rc != zk::code::no_node) {
      leader_failed(self, "reading the quota tree failed: " + zk::to_string(x.rc));
      return;
    }
  auto& members = tr.members();
  if (!members.ok()) {
    leader_failed(self, "cannot read " + st.paths.members() + ": " + zk::to_string(members.rc));
    return;
  }
  std::set<std::string> live(members.children.begin(), members.children.end());
  quota::policy_settings settings;
  settings.expected_gateways = st.opts.expected_gateways;
  settings.split_wait_over = steady_ms() - st.leader_since >= st.opts.split_wait.count();
  settings.idle_release_ms = st.opts.idle_release.count();
  auto wall = quota::wall_ms();
  round_writes out;
  out.record = tr.fence;
  for (std::size_t p = 0; p < tr.products.size(); ++p) {
    if (!tr.product_at(p).ok())
      continue;  // removed meanwhile
    auto view = view_of(st, tr, p, live, wall);
    if (!view)
      continue;
    auto plan = quota::plan_product(*view, settings);
    if (plan.empty() && plan.split_stock_after == view->split_stock)
      continue;
    add_plan(st, *view, plan, tr.product_at(p).stat.version, out);
  }
  if (out.ops.empty()) {
    st.evaluating = false;
    st.leader_problem.clear();
    if (st.dirty)
      evaluate(self);
    return;
  }
  if (out.write_fence) {
    out.record.leader = st.opts.node;
    out.record.at_ms = quota::wall_ms();
    out.ops.push_back(zk::op::set(st.paths.grants(), encode(out.record), tr.fence_stat.version));
  }
  zk_call(
      self, multi_op(std::move(out.ops)),
      [self, log_lines = std::move(out.log_lines)](zk::result& w) { written(self, log_lines, w); });
}

/// Step 2: with the product and node names known, read stock, reports, members, grants and the
/// settled records (in that order), then decide.
void read_tree(keeper* self, tree_reading tr) {
  auto& st = self->state;
  std::vector<starter> ops;
  for (const auto& p : tr.products)
    ops.push_back(get_op(st.paths.product(p), true));
  for (const auto& n : tr.nodes)
    for (const auto& p : tr.products)
      ops.push_back(get_op(st.paths.consumed(n, p), false));
  ops.push_back(children_op(st.paths.members(), true));
  for (const auto& n : tr.nodes)
    for (const auto& p : tr.products)
      ops.push_back(get_op(st.paths.grant(n, p), true));
  for (const auto& n : tr.nodes)
    ops.push_back(get_op(st.paths.settled(n), false));  // not watched: re-read every interval
  auto shared = std::make_shared<tree_reading>(std::move(tr));
  zk_all(self, std::move(ops), [self, shared](std::vector<zk::result>& r) {
    shared->results = std::move(r);
    decide(self, *shared);
  });
}

}  // namespace

void read_election(keeper* self) {
  auto& st = self->state;
  zk_call(self, children_op(st.paths.leader(), true), [self](zk::result& r) {
    auto& st = self->state;
    if (!r.ok())
      return;
    auto kids = r.children;
    std::sort(kids.begin(), kids.end());  // n_<10-digit sequence>: the order of creation
    if (st.election_node.empty() ||
        std::find(kids.begin(), kids.end(), st.election_node) == kids.end()) {
      if (st.registered && !st.standing) {
        // Our candidacy vanished (deleted by hand?) or could not be made: stand (again).
        spdlog::warn("quota keeper {}: not a candidate for quota leader; standing again",
                     st.opts.node);
        st.election_node.clear();
        if (st.leader)
          spdlog::info("quota keeper {}: no longer the quota leader", st.opts.node);
        st.leader = false;
        stand_for_leader(self, [](bool) {});
      }
      return;
    }
    bool lead = !kids.empty() && kids.front() == st.election_node;
    if (lead && !st.leader) {
      st.leader = true;
      st.leader_since = steady_ms();
      st.conflicts = 0;
      spdlog::info("quota keeper {}: elected quota leader of sale {} ({})", st.opts.node,
                   st.sale.name, st.election_node);
      auto note = encode(quota::leader_announcement{st.opts.node, quota::wall_ms()});
      zk_call(self, set_op(st.paths.leader(), note, -1), [self](zk::result& w) {
        if (!w.ok())
          spdlog::warn("quota keeper {}: cannot announce the leadership: {}", self->state.opts.node,
                       zk::to_string(w.rc));
      });
      evaluate(self);
    } else if (!lead && st.leader) {
      st.leader = false;
      spdlog::info("quota keeper {}: no longer the quota leader", st.opts.node);
    }
  });
}

void stand_for_leader(keeper* self, std::function<void(bool)> done) {
  auto& st = self->state;
  if (st.standing)
    return;
  st.standing = true;
  zk_call(self,
          create_op(st.paths.leader_prefix(), st.opts.node, zk::create_mode::ephemeral_sequential),
          [self, done](zk::result& r) {
            auto& st = self->state;
            st.standing = false;
            if (!r.ok()) {
              auto what = "cannot stand for quota leader under " + st.paths.leader() + ": " +
                          zk::to_string(r.rc);
              if (st.registered)
                spdlog::warn("quota keeper {}: {}", st.opts.node, what);  // next reconnect retries
              else
                registration_failed(self, what);
              done(false);
              return;
            }
            st.election_node = r.path.substr(r.path.rfind('/') + 1);
            read_election(self);
            done(true);
          });
}

void evaluate(keeper* self) {
  auto& st = self->state;
  if (!st.leader || !st.registered)
    return;
  if (st.evaluating) {
    st.dirty = true;
    return;
  }
  st.evaluating = true;
  st.dirty = false;
  // Step 1: the fence version (read first: a raise by anyone after this read fails our write),
  // the products and the nodes that ever registered.
  std::vector<starter> ops{get_op(st.paths.grants(), false), children_op(st.paths.products(), true),
                           children_op(st.paths.grants(), true)};
  zk_all(self, std::move(ops), [self](std::vector<zk::result>& r) {
    for (const auto& x : r)
      if (!x.ok()) {
        leader_failed(self, "cannot read the sale's tree: " + zk::to_string(x.rc));
        return;
      }
    tree_reading tr;
    tr.fence_stat = r[0].stat;
    tr.fence = quota::decode_fence(r[0].data);
    tr.products = r[1].children;
    tr.nodes = r[2].children;
    std::sort(tr.products.begin(), tr.products.end());
    std::sort(tr.nodes.begin(), tr.nodes.end());
    read_tree(self, std::move(tr));
  });
}

}  // namespace flashsale::keeper_parts

#include "cluster/sell_through.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <thread>

#include "adapters/db/order_store.hpp"
#include "adapters/zookeeper/blocking_session.hpp"
#include "cluster/node_probe.hpp"
#include "common/utc_time.hpp"
#include "quota/znodes.hpp"

namespace flashsale {

namespace {

/// A gone gateway to settle: its epoch and the version of its settled record (-1: none).
struct candidate {
  std::string gateway;
  std::int64_t epoch = 0;
  std::int32_t record_version = -1;
};

/// What the writers and the queues said at one moment (step 2).
struct drain_snapshot {
  bool drained = true;
  std::vector<std::string> reasons;  // why not
  std::int64_t batches = 0;          // every writer's batches written so far
};

void require_read(const zk::result& r, const std::string& path) {
  if (!r.ok() && r.rc != zk::code::no_node)
    throw std::runtime_error("cannot read " + path + ": " + zk::to_string(r.rc));
}

drain_snapshot take_snapshot(const sell_through_options& opts) {
  drain_snapshot snap;
  auto busy = [&](std::string why) {
    snap.drained = false;
    snap.reasons.push_back(std::move(why));
  };
  std::size_t writers = 0;
  for (const auto& a :
       ask_every_node(opts.zk_hosts, opts.zk_root, opts.zk_login, opts.timeout, "writer")) {
    if (!a.stats) {
      busy("writer " + a.name + " did not answer (" + a.why + ")");
      continue;
    }
    ++writers;
    snap.batches += static_cast<std::int64_t>(a.stats->batches);
    if (a.stats->queue_lag != 0)
      busy("writer " + a.name + " has " + std::to_string(a.stats->queue_lag) +
           " purchases in progress");
  }
  amqp::amqp_connection conn{opts.amqp};
  for (const auto& q : opts.route.queues()) {
    auto state = conn.inspect(q);
    if (state.messages != 0)
      busy("queue " + q + " holds " + std::to_string(state.messages) + " messages");
    if (state.consumers != writers)
      busy("queue " + q + " has " + std::to_string(state.consumers) + " consumers but " +
           std::to_string(writers) + " writers answered (an unregistered consumer may hold " +
           "deliveries)");
  }
  return snap;
}

/// Step 1: the gone gateways whose epoch is not settled yet.
std::vector<candidate> gone_gateways(zk::blocking_session& zk, const quota::layout& paths,
                                     const sale_definition& sale) {
  // The reports first, then the registrations (see the header).
  auto reporting = zk.get_children(paths.consumed());
  require_read(reporting, paths.consumed());
  std::map<std::string, std::int64_t> epochs;
  for (const auto& node : reporting.children) {
    std::int64_t epoch = 0;
    for (const auto& p : sale.products) {
      auto path = paths.consumed(node, p.id);
      auto r = zk.get(path);
      require_read(r, path);
      if (auto rep = r.ok() ? quota::decode_report(r.data) : std::nullopt)
        epoch = std::max(epoch, rep->epoch);
    }
    if (epoch >= 1)  // 0: a keeper before fencing (flashsale-admin zk reconcile cannot help it)
      epochs[node] = epoch;
  }
  auto members = zk.get_children(paths.members());
  require_read(members, paths.members());
  std::set<std::string> live(members.children.begin(), members.children.end());
  std::vector<candidate> out;
  for (const auto& [node, epoch] : epochs) {
    if (live.count(node) != 0)
      continue;
    auto path = paths.settled(node);
    auto r = zk.get(path);
    require_read(r, path);
    candidate c{node, epoch, -1};
    if (r.ok()) {
      auto rec = quota::decode_settled(r.data);
      if (rec && rec->epoch >= epoch)
        continue;  // settled at this epoch (or a later one) already
      c.record_version = r.stat.version;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

settle_result settle_gone_gateways(const sell_through_options& opts, const sale_definition& sale) {
  zk::options zo;
  zo.hosts = opts.zk_hosts;
  zo.op_timeout = opts.timeout;
  zo.login = opts.zk_login;
  zk::blocking_session zk{zo, opts.timeout};
  quota::layout paths{opts.zk_root, sale.name};
  settle_result result;
  if (opts.only_first_writer) {
    auto writers = zk.get_children(paths.writers());
    require_read(writers, paths.writers());
    auto names = writers.children;
    std::sort(names.begin(), names.end());
    if (names.empty() || names.front() != opts.by) {
      result.waiting.push_back("another writer (" + (names.empty() ? "-" : names.front()) +
                               ") settles gone gateways");
      return result;
    }
  }
  auto candidates = gone_gateways(zk, paths, sale);
  for (const auto& c : candidates)
    result.gone.push_back(c.gateway + "@" + std::to_string(c.epoch));
  if (candidates.empty())
    return result;

  // Step 2: drained, twice, with nothing written in between.
  auto first = take_snapshot(opts);
  if (first.drained)
    std::this_thread::sleep_for(opts.settle);
  auto second = first.drained ? take_snapshot(opts) : first;
  if (!first.drained || !second.drained || first.batches != second.batches) {
    result.waiting = second.reasons;
    if (first.drained && second.drained)
      result.waiting.push_back("batches were written meanwhile");
    return result;
  }

  // Steps 3 and 4, one gateway at a time.
  for (const auto& c : candidates) {
    // Every product each database holds (the leader settles only the products a record names).
    settlement s{c.gateway, c.epoch, {}};
    for (const auto& [name, params] : opts.databases) {
      auto store = db::order_store::connect(params);
      for (const auto& [product, n] : store->fence(c.gateway, c.epoch))
        s.sold[product] += n;
    }
    quota::settled_znode rec{c.epoch, s.sold, opts.by, quota::wall_ms()};
    auto path = paths.settled(c.gateway);
    auto written = c.record_version < 0 ? zk.create(path, encode(rec))
                                        : zk.set(path, encode(rec), c.record_version);
    if (!written.ok()) {
      // Another settler was first (node_exists, bad_version): the next round reads its record.
      result.waiting.push_back("cannot write " + path + ": " + zk::to_string(written.rc));
      continue;
    }
    result.settled.push_back(std::move(s));
  }
  return result;
}

}  // namespace flashsale

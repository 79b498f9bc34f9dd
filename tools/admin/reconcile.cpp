#include "tools/admin/reconcile.hpp"

#include <algorithm>
#include <map>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "quota/znodes.hpp"
#include "adapters/db/schema_admin.hpp"
#include "adapters/zookeeper/blocking_session.hpp"
#include "tools/admin/cluster_status.hpp"

namespace flashsale::admin {

namespace {

/// gateway -> product -> orders in the database.
using sales_map = std::map<std::string, std::map<std::string, std::int64_t>>;

/// What the queues, the writers and the database said at one moment.
struct drain_snapshot {
  bool idle = true;
  std::vector<std::string> reasons;  // why not idle
  sales_map sold;
};

drain_snapshot take_snapshot(const reconcile_options& opts, const sale_definition& sale,
                             const std::vector<std::string>& gone) {
  drain_snapshot snap;
  auto busy = [&](std::string why) {
    snap.idle = false;
    snap.reasons.push_back(std::move(why));
  };
  std::size_t writers = 0;
  for (const auto& a : ask_every_node(opts.zk_hosts, opts.zk_root, opts.zk_login, opts.timeout)) {
    if (a.role != "writer")
      continue;
    if (!a.stats) {
      busy("writer " + a.name + " did not answer (" + a.why + ")");
      continue;
    }
    ++writers;
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
           std::to_string(writers) +
           " writers answered (an unregistered consumer may hold "
           "deliveries)");
  }
  for (const auto& name : sale.databases()) {
    auto admin = db::schema_admin::connect(opts.db.with_dbname(name));
    for (const auto& g : gone)
      for (const auto& [product, n] : admin->sold_by_gateway(g))
        snap.sold[g][product] += n;
  }
  return snap;
}

}  // namespace

int reconcile_gone_gateways(const reconcile_options& opts, const sale_definition& sale,
                            std::ostream& out) {
  zk::options zo;
  zo.hosts = opts.zk_hosts;
  zo.op_timeout = opts.timeout;
  zo.login = opts.zk_login;
  zk::blocking_session zk{zo, opts.timeout};
  quota::layout paths{opts.zk_root, sale.name};
  auto check = [](const zk::result& r, const std::string& path) {
    if (!r.ok() && r.rc != zk::code::no_node)
      throw std::runtime_error("cannot read " + path + ": " + zk::to_string(r.rc));
  };
  auto members = zk.get_children(paths.members());
  check(members, paths.members());
  auto nodes = zk.get_children(paths.grants());
  check(nodes, paths.grants());
  std::vector<std::string> gone;
  for (const auto& n : nodes.children)
    if (std::find(members.children.begin(), members.children.end(), n) == members.children.end())
      gone.push_back(n);
  std::sort(gone.begin(), gone.end());
  if (gone.empty()) {
    out << "every gateway with a grant is registered: nothing to reconcile\n";
    return 0;
  }

  // Every purchase a gone gateway accepted is written once nothing is queued or in progress; the
  // same picture twice, settle apart, rules out deliveries on their way to a writer.
  auto first = take_snapshot(opts, sale, gone);
  if (first.idle)
    std::this_thread::sleep_for(opts.settle);
  auto second = first.idle ? take_snapshot(opts, sale, gone) : first;
  if (!first.idle || !second.idle || first.sold != second.sold) {
    out << "not reconciled: the sale is not idle (every purchase of a gone gateway must be "
           "written first); try again later:\n";
    for (const auto& r : second.reasons)
      out << "  " << r << '\n';
    if (first.idle && second.idle)
      out << "  orders of a gone gateway were still being written\n";
    return 6;
  }

  std::int64_t freed = 0;
  for (const auto& g : gone) {
    const auto& sold_of = second.sold[g];
    for (const auto& p : sale.products) {
      auto path = paths.grant(g, p.id);
      auto current = zk.get(path);
      check(current, path);
      auto grant = current.ok() ? quota::decode_grant(current.data) : std::nullopt;
      if (!grant)
        continue;
      auto sold = sold_of.count(p.id) != 0 ? sold_of.at(p.id) : 0;
      if (sold >= grant->grant) {
        out << g << ' ' << p.id << ": grant " << grant->grant << ", " << sold
            << " sold: nothing to give back\n";
        continue;
      }
      auto written =
          zk.set(path, quota::encode(quota::grant_znode{sold, false}), current.stat.version);
      if (!written.ok()) {
        // The leader changed it meanwhile (e.g. lowered it to the claim): the next run sees that.
        out << g << ' ' << p.id << ": grant changed meanwhile (" << zk::to_string(written.rc)
            << "); run again\n";
        continue;
      }
      freed += grant->grant - sold;
      out << g << ' ' << p.id << ": grant " << grant->grant << " -> " << sold << " (its orders); "
          << grant->grant - sold << " units back to the live gateways\n";
    }
  }
  out << "reconciled " << gone.size() << " gone gateway(s): " << freed << " units freed\n";
  return 0;
}

}  // namespace flashsale::admin

#include "tools/admin/reconcile.hpp"

#include "cluster/sell_through.hpp"

namespace flashsale::admin {

int reconcile_gone_gateways(const reconcile_options& opts, const sale_definition& sale,
                            std::ostream& out) {
  sell_through_options s;
  s.zk_hosts = opts.zk_hosts;
  s.zk_root = opts.zk_root;
  s.zk_login = opts.zk_login;
  for (const auto& name : sale.databases())
    s.databases[name] = opts.db.with_dbname(name);
  s.amqp = opts.amqp;
  s.route = opts.route;
  s.settle = opts.settle;
  s.timeout = opts.timeout;
  s.by = "flashsale-admin";
  auto r = settle_gone_gateways(s, sale);
  if (r.gone.empty()) {
    out << "every gateway that reported is registered or settled: nothing to reconcile\n";
    return 0;
  }
  if (r.settled.empty() && !r.waiting.empty()) {
    out << "not reconciled: the sale is not drained (every purchase of a gone gateway must be "
           "written first); try again later:\n";
    for (const auto& why : r.waiting)
      out << "  " << why << '\n';
    return 6;
  }
  for (const auto& x : r.settled) {
    out << x.gateway << " fenced at claim epoch " << x.epoch << "; its orders:";
    for (const auto& [product, n] : x.sold)
      out << ' ' << product << '=' << n;
    out << '\n';
  }
  for (const auto& why : r.waiting)
    out << "  not settled: " << why << '\n';
  out << "reconciled " << r.settled.size() << " gone gateway(s): the quota leader lowers their "
      << "grants to these orders and re-grants the rest\n";
  return r.waiting.empty() ? 0 : 6;
}

}  // namespace flashsale::admin

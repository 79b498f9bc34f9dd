#pragma once

// flashsale-admin zk reconcile: settles the gone gateways now, as the writers do by themselves
// (cluster/sell_through.hpp has the rule): once the queues and writers are drained, each gone
// gateway's claim epoch is fenced in every database and its orders recorded under
// sales/<sale>/settled; the quota leader then lowers its grant to them and hands the rest of
// what it claimed to the live gateways where buyers are. Kept for operators (and for a sale whose
// writers cannot reach ZooKeeper); normally a writer has done it already.

#include <chrono>
#include <ostream>
#include <string>

#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/zookeeper/session.hpp"
#include "common/sale_definition.hpp"

namespace flashsale::admin {

struct reconcile_options {
  std::string zk_hosts;
  std::string zk_root = "/flashsale";
  zk::credentials zk_login;
  db::connection_params db;  ///< admin role; dbname = the sale's main database
  amqp::connection_params amqp;
  amqp::topology route;  ///< the sale's queues (hot products filled in from the sale)
  std::chrono::milliseconds settle{3000};
  std::chrono::milliseconds timeout{3000};  ///< per ZooKeeper operation and per node asked
};

/// Exit status: 0 done (also when no gateway is gone or every gone one is settled), 6 the queues
/// or writers were not drained (nothing changed; try again later). Prints what it found and did
/// to `out`. Throws std::runtime_error (ZooKeeper, RabbitMQ) or db::db_error. Blocks for at least
/// `settle` when a gateway is gone.
int reconcile_gone_gateways(const reconcile_options& opts, const sale_definition& sale,
                            std::ostream& out);

}  // namespace flashsale::admin

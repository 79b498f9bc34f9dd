#pragma once

// flashsale-admin zk reconcile: gives the live gateways what a gone gateway claimed but did not
// sell. A gateway admits only within a claim it wrote to ZooKeeper first, so when it dies the
// leader can lower its grant no further than that claim (docs/design.md, "Live quotas"): its sales
// after its last report are unknown to ZooKeeper. The database knows them once every purchase the
// gateway accepted has been written, which is what this command waits for: no message ready in any
// order queue, every registered writer answering with nothing in progress, as many consumers on
// each queue as writers answered, and the same gone gateways' order counts, twice, `settle` apart.
// Then it lowers each gone gateway's grant of each product to the orders the database holds for
// it (versioned writes; never raised), and the quota leader hands the difference to the live
// gateways where buyers are. A gateway restarted later under the same name admits nothing of
// that product (it resumes from its claim).

#include <chrono>
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

/// Exit status: 0 done (also when no gateway is gone), 6 the queues or writers were not idle
/// (nothing changed; try again later). Prints what it found and did to `out`. Throws
/// std::runtime_error (ZooKeeper, RabbitMQ) or db::db_error. Blocks for at least `settle`.
int reconcile_gone_gateways(const reconcile_options& opts, const sale_definition& sale,
                            std::ostream& out);

}  // namespace flashsale::admin

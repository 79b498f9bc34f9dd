#pragma once

// flashsale-admin's commands, one function each: what they print goes to std::cout, the exit code
// is returned. Database failures throw db::db_error, ZooKeeper failures zookeeper_failure (main
// turns both into exit codes). No CAF (status and reconcile: cluster_status.hpp, reconcile.hpp).

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/sale_definition.hpp"
#include "tools/admin/admin_options.hpp"

namespace flashsale::zk {
class blocking_session;
}

namespace flashsale::admin {

/// Thrown for ZooKeeper failures (exit_zookeeper).
struct zookeeper_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A session for one command on o.zk_hosts as o.zk_login (10 s to connect); throws
/// zookeeper_failure.
std::unique_ptr<zk::blocking_session> connect_zookeeper(const options& o);

/// `migrate`: creates (if missing) and migrates every database of the sale.
int run_migrate(const options& o, const sale_definition& sale);
/// `sale create`: defines every product in its database.
int run_sale_create(const options& o, const sale_definition& sale);
/// `report`: the figures and the I1-I3 checks per product; exit_invariant_failed if one fails.
int run_report(const options& o, const sale_definition& sale);
/// The sale's queues as the options name them: one order queue per hot product too.
amqp::topology sale_route(const options& o, const sale_definition& sale);
/// `amqp declare`: the sale's exchange, order queues and dead-letter queue, as the admin user
/// (the nodes' users may only check them). Prints what it declared; amqp::amqp_error on failure.
int run_amqp_declare(const options& o, const sale_definition& sale);
/// `zk init`, `zk status`, `zk drop`: the sale's ZooKeeper tree.
int run_zk_init(const options& o, const sale_definition& sale);
int run_zk_status(const options& o, const sale_definition& sale);
int run_zk_drop(const options& o, const sale_definition& sale);
/// `stock set|add|remove PRODUCT N`: the database first (it says what was applied: a removal
/// takes at most what is left), then the product's znode takes the database's figure, with a
/// versioned write retried on conflicts (never forced).
int run_stock(const options& o, const sale_definition& sale, const std::string& verb,
              const std::string& id, std::int64_t n);
/// `sale open|close|schedule`, `sale shed K` (number = K) and `sale draw-window S` (number = S):
/// changes one key of the sale's settings znode (the others, the draw secret among them, are
/// kept) with a versioned write, retried on conflicts; every gateway of the sale follows within
/// about a second. Prints the settings with the secret left out.
int run_settings(const options& o, const sale_definition& sale, const std::string& verb,
                 std::int64_t number);

}  // namespace flashsale::admin

#pragma once

// Sell-through without an operator: settling a gone gateway. A gateway admits only within a claim
// it wrote to ZooKeeper, so when its session goes the quota leader can lower its grant no further
// than that claim; what it claimed but did not sell would stay unsold. The databases know what it
// sold once every purchase it was answered for is written, and can make that figure final by
// fencing its claim epoch (sql/006_fencing.sql). This is the procedure that does it; a writer
// runs it (actors/sell_through.hpp) and flashsale-admin zk reconcile runs the same.
//
// The rule (the safety argument is in docs/design.md, "Gone gateways"):
//   1. A gone gateway: one with consumption reports under the sale but no registration, read in
//      that order (a gateway that registers after the reports were read has a newer epoch than
//      the one read); its claim epoch E is the highest its reports name. Settled already (a
//      settled record of E or later): nothing to do.
//   2. Wait for the drain: no message ready in any order queue, every registered writer
//      answering with nothing in progress, as many consumers on each queue as writers answered,
//      and the same number of batches written, twice, `settle` apart. Every purchase the gateway
//      was answered 202 for was confirmed while its session lived, so it was queued before the
//      gateway could be seen gone, and it is written once the queues drained after that.
//   3. Fence E in every database of the sale; each answers what the gateway holds there.
//   4. Record settled/<gateway> = {E, sold}; the quota leader lowers the grant to it (checking
//      that the gateway's report is still the one of epoch E) and re-grants the rest.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/zookeeper/session.hpp"
#include "common/sale_definition.hpp"

namespace flashsale {

struct sell_through_options {
  std::string zk_hosts;
  std::string zk_root = "/flashsale";
  zk::credentials zk_login;  ///< writer (reads reports, writes settled records) or admin
  /// One connection's parameters per database of the sale (the role may execute fence_gateway).
  std::map<std::string, db::connection_params> databases;
  amqp::connection_params amqp;
  amqp::topology route;  ///< the sale's queues
  std::chrono::milliseconds settle{1000};
  std::chrono::milliseconds timeout{3000};  ///< per ZooKeeper operation and per node asked
  std::string by;                           ///< who settles (recorded); a writer's node name
  /// Act only while `by` is the first registered writer by name (one writer settles at a time;
  /// two would still be safe: fences and records only ever grow).
  bool only_first_writer = false;
};

/// A gone gateway's epoch fenced, and what the databases hold of its purchases.
struct settlement {
  std::string gateway;
  std::int64_t epoch = 0;
  std::map<std::string, std::int64_t> sold;  ///< product -> orders
};

struct settle_result {
  std::vector<std::string> gone;    ///< gone gateways not settled at their epoch (before this run)
  std::vector<settlement> settled;  ///< settled by this run
  /// Why it did not settle (not the first writer, not drained, ...); empty when it did or when
  /// nothing is gone.
  std::vector<std::string> waiting;
};

/// Runs steps 1-4 once. Blocks: for `settle` at least when a gateway is gone, and for the
/// database fences (which wait for the gateway's batches in progress). Throws std::runtime_error
/// (ZooKeeper, RabbitMQ) or db::db_error; nothing is recorded for a gateway whose fences did not
/// all succeed (fencing again is harmless). Not thread-safe with itself on one `opts.by`.
settle_result settle_gone_gateways(const sell_through_options& opts, const sale_definition& sale);

}  // namespace flashsale

#pragma once

// A sale of the test's own served by a small cluster of real node processes: N flashsale-gateway
// processes (distinct names and ports; --zookeeper.expected-gateways=N) and M
// flashsale-writer processes (distinct names) sharing one sale file, one ZooKeeper root, one order
// queue and one scratch database. Plus what fault tests need: kill -9 / SIGSTOP / SIGCONT of a
// node, stopping and starting the shared services through scripts/services (started again in
// TearDown whatever happened), flashsale-load over every gateway (--ports), and the end-of-sale
// audit: every 202 has exactly one order, no oversell, I1-I3 in the database.
// Needs the private services and FLASHSALE_* from build/run/endpoints.env. Test support only.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "quota/znodes.hpp"
#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/schema_admin.hpp"
#include "common/sale_definition.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/gateway_fixture.hpp"
#include "tests/support/host_network.hpp"
#include "tests/support/sale_fixture.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/scratch_zookeeper.hpp"

namespace flashsale::testing {

/// The seed scenario's sale file: 3 products (TV, Phone, Clothes) x 1,000 units in 4 slots each.
std::string seed_sale(const std::string& name);

/// The cluster a test starts.
struct cluster_setup {
  cluster_setup(std::string sale) : sale_text(std::move(sale)) {}  // NOLINT: implicit on purpose

  std::string sale_text;                  ///< the sale file (no hot products)
  int gateways = 2;                       ///< gw1..gwN
  int writers = 2;                        ///< w1..wM
  int keep_one_in = 1;                    ///< --gateway.keep-one-in
  std::vector<std::string> gateway_args;  ///< more --section.key=value overrides
  std::vector<std::string> writer_args;
  /// Set: every node runs on a host of its own, gwI on host "gwI" and wI on "wI", and listens
  /// and registers there (--http.address, --cluster.address). Unset: all on 127.0.0.1.
  const host_network* hosts = nullptr;
};

/// One node process of the cluster.
struct cluster_node {
  std::string name;
  std::string address = "127.0.0.1";  ///< where it listens (its host's address)
  int port = 0;                       ///< HTTP port (gateways)
  std::unique_ptr<child_process> process;
  bool killed = false;  ///< killed on purpose: its exit is not a failure
  bool frozen = false;  ///< SIGSTOPped (TearDown sends SIGCONT)
  std::string log_path;
  std::string log_tail(int lines = 40) const;
};

/// One flashsale-load run of a sale and its --tickets-out file.
struct load_run {
  load_result result;
  std::string tickets_file;
};

/// What the end-of-sale audit found.
struct sale_audit {
  std::uint64_t requests = 0;
  std::uint64_t accepted = 0;       ///< 202s the load generator saw
  std::uint64_t orders = 0;         ///< order rows
  std::uint64_t lost = 0;           ///< 202s without an order
  std::uint64_t duplicated = 0;     ///< request ids with more than one order
  std::uint64_t unconfirmed = 0;    ///< orders without a 202 (the client saw an error or a 503)
  std::uint64_t wrong_product = 0;  ///< orders of another product than the 202's
  std::int64_t oversold = 0;        ///< units sold beyond the stock made available
  std::int64_t unsold = 0;          ///< stock left in the slots
  bool drained = false;             ///< the queue emptied and every 202 got its order in time
  std::map<std::string, std::uint64_t> writer_stats;  ///< the writers' last counts, summed
  std::vector<std::string> lost_ids;  ///< the first lost request ids (with their tickets)
  /// "requests N, 202s N, orders N, lost 0, duplicated 0, oversold 0, unsold stock N"
  std::string figures() const;
};

class cluster_fixture : public sale_fixture {
 protected:
  void TearDown() override;

  /// Creates the sale (file, database with the products, ZooKeeper tree, queue names), starts
  /// the writers and the gateways and waits until every writer consumes the queue, every gateway
  /// is healthy and holds its grant of every product. Use with ASSERT_NO_FATAL_FAILURE.
  void start(const cluster_setup& setup);

  // --- nodes ------------------------------------------------------------------------------------
  /// kill -9 and reap.
  void kill_node(cluster_node& node);
  void freeze_node(cluster_node& node);
  void thaw_node(cluster_node& node);
  /// The HTTP ports of every gateway.
  std::vector<int> gateway_ports() const;
  /// "address:port,..." of the gateways listening on `ports` (all when empty), for
  /// flashsale-load --gateways.
  std::string gateway_endpoints(const std::vector<int>& ports = {}) const;
  /// Sum of the sample `name{labels}` over the gateways still running (neither killed nor
  /// frozen; an unreachable gateway counts 0).
  double gateway_metric(const std::string& name,
                        const std::map<std::string, std::string>& labels = {});
  /// The sample `name{labels}` of one gateway (0 when it does not answer within 2 s).
  static double gateway_metric_of(const cluster_node& gateway, const std::string& name,
                                  const std::map<std::string, std::string>& labels = {});
  /// gateway_metric() of flashsale_purchases_total{outcome="accepted"}.
  double accepted_so_far() {
    return gateway_metric("flashsale_purchases_total", {{"outcome", "accepted"}});
  }
  /// Fails the test for every node that exited without being killed on purpose.
  void expect_nodes_alive();
  /// The log tails of every node, for failure messages.
  std::string logs() const;
  /// Lines of `node`'s log that contain `needle`.
  static std::size_t count_in_log(const cluster_node& node, const std::string& needle);
  /// The counts of the last "writer stats" line of every writer's log (killed ones included),
  /// summed by name (delivered, acked, requeued, confirmed, duplicate_request, sold_out, ...).
  std::map<std::string, std::uint64_t> writer_stats() const;
  /// The counts of the last "writer stats" line of one writer's log.
  static std::map<std::string, std::uint64_t> writer_stats_of(const cluster_node& writer);

  // --- load -------------------------------------------------------------------------------------
  /// flashsale-load over the gateways `ports` (every gateway when empty) with `args`, in the
  /// background; its output goes to <name>.log.
  std::unique_ptr<background_load> start_load(const std::vector<std::string>& args,
                                              const std::string& name = "load",
                                              std::vector<int> ports = {});
  /// The "error <kind> N" lines of a load report, by kind.
  static std::map<std::string, std::uint64_t> errors_by_kind(const load_result& result);

  // --- the audit --------------------------------------------------------------------------------
  /// Reads the tickets of every run (each file must have result.status(202) lines), waits up to
  /// `drain_timeout` until the queue is empty and every 202 has its order (and the order count is
  /// stable), then checks with EXPECTs: no 202 lost, no request id twice, no order of another
  /// product, no orders without a 202 beyond the requests that got an error or a 503, I1-I3 per
  /// product (the database's figures and flashsale-admin report), and prints the figures line.
  sale_audit audit(const std::vector<load_run>& runs, std::chrono::milliseconds drain_timeout);

  std::vector<cluster_node> gateways_;
  std::vector<cluster_node> writers_;
};

}  // namespace flashsale::testing

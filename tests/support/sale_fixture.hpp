#pragma once

// What a gateway test and a cluster test sell: a sale of the test's own on the private services.
// A scratch directory with the sale file, order queue names of its own, optionally a scratch
// database with the products, and a scratch ZooKeeper root with the sale's tree; all removed at
// the end (the directory is kept when the test failed). Test support only.

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
#include "tests/support/scratch_database.hpp"
#include "tests/support/scratch_zookeeper.hpp"

namespace flashsale::testing {

class sale_fixture : public ::testing::Test {
 protected:
  /// Creates the directory /tmp/flashsale-<kind>-<pid>-<n> with sale.ini (`sale_text`), the
  /// queue names flashsale.<kind>.<pid>-<n> (deleted first: a leftover of a crashed run), with
  /// `with_database` a scratch database flashsale_<kind>_... holding the products (without one the
  /// products' database is "flashsale"), and a ZooKeeper root with the sale's tree. The queues are
  /// declared as `flashsale-admin amqp declare` does (the nodes' users may only check them), the
  /// order queue bounded by `queue_max_length`. Only sales without hot products (one queue, one
  /// database). Use with ASSERT_NO_FATAL_FAILURE.
  void create_sale(const std::string& kind, const std::string& sale_text, bool with_database,
                   std::int64_t queue_max_length = 1000000);

  /// Deletes the queues, the ZooKeeper root and the database; removes the directory unless
  /// `keep_dir` (then prints where it is). Stop the nodes first.
  void release_sale(bool keep_dir);

  /// Messages ready in the order queue (-1: no such queue or broker unreachable).
  std::int64_t queued();
  /// Runs flashsale-admin with `args` (its output in *output when given); its exit code, -1 when
  /// it did not exit within 30 s.
  int run_admin(const std::vector<std::string>& args, std::string* output = nullptr);
  /// Every order row as request id -> product, with the number of rows per request id in
  /// *counts; false (and a message in *error) when there is no database or it cannot be read.
  bool read_orders(std::map<std::string, std::string>& products, std::map<std::string, int>& counts,
                   std::string* error = nullptr);
  std::string path_in_dir(const std::string& name) const { return dir_ + "/" + name; }

  /// Runs `scripts/services <verb> <service>` (verb start-one, stop-one, restart-one, kill-one or
  /// wipe-one and a member, or a verb alone with `service` empty; output in
  /// <dir>/services-<verb>-<service>.log and in *output), up to `timeout`; its exit code. A service
  /// a test stops (or fails to restart) is remembered until it is started again: restore_services()
  /// starts it.
  int services(const std::string& verb, const std::string& service,
               std::chrono::milliseconds timeout, std::string* output = nullptr);
  /// Starts every service this test left down; a failure fails the test. The fixtures' TearDown
  /// calls it first: everything else needs the services.
  void restore_services();

  std::string dir_;
  std::string sale_file_;
  sale_definition sale_;
  std::unique_ptr<scratch_database> database_;
  std::unique_ptr<db::schema_admin> admin_;
  std::unique_ptr<scratch_zookeeper> zk_;
  std::unique_ptr<quota::layout> paths_;
  amqp::connection_params amqp_ = amqp::connection_params::from_env();  ///< the admin user
  std::string queue_;
  std::string dead_letter_queue_;
  std::set<std::string> services_down_;  ///< stopped (or restarted without success) by the test
};

}  // namespace flashsale::testing

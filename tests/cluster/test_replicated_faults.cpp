// Faults of a replicated engine in the middle of a sale (issue 11): the same cluster of real
// processes as test_cluster_faults.cpp (2 gateways, 2 writers, the seed sale's 3 x 1,000 units),
// run on the replicated services (`scripts/services --replicated`: a 3-node RabbitMQ cluster with
// the order queue a quorum queue, a 3-server ZooKeeper ensemble, a PostgreSQL primary with a
// synchronous standby). One member of an engine is killed with SIGKILL while the stock sells, and
// the sale must go on (by itself, or after the operator's one act for PostgreSQL: promoting the
// standby): every 202 is exactly one order, nothing is oversold, all the stock sells, and the
// buyers get only 202, 410 or 503. Each test prints the audit line and how long the sale took to
// go on.
// Needs FLASHSALE_* from build/run-replicated/endpoints.env (scripts/test exports them for the
// label `replicated`); they kill and restart members of the shared services, so they run alone.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster/fault_fixture.hpp"
#include "tests/support/grant_watcher.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::testing::clock_type;
using flashsale::testing::fault_after;
using flashsale::testing::load_run;
using flashsale::testing::poll_until;
using flashsale::testing::seconds_since;

class replicated_faults : public flashsale::testing::cluster_faults {
 protected:
  void SetUp() override {
    const char* profile = std::getenv("FLASHSALE_SERVICES");
    if (profile == nullptr || std::string(profile) != "replicated")
      GTEST_SKIP() << "needs the replicated services (FLASHSALE_SERVICES=replicated from "
                      "build/run-replicated/endpoints.env; scripts/test sets them)";
    cluster_faults::SetUp();
  }

  /// After a failover the PostgreSQL pair is made anew (both data directories deleted, a new
  /// primary and a standby of it started), once the nodes are gone and the scratch database is
  /// dropped from the promoted one: the tests after this one find the profile as `start` makes it.
  void TearDown() override {
    cluster_faults::TearDown();  // removes the test's directory: the log goes beside it
    if (!pg_promoted_)
      return;
    auto log = dir_ + "-pg-anew.log";
    auto script = std::string(FLASHSALE_SOURCE_DIR) + "/scripts/services";
    std::string output;
    bool ok = true;
    for (const char* member : {"pg-standby", "pg"})
      ok =
          ok && flashsale::testing::run_tool(script, {"wipe-one", member}, log, 120s, &output) == 0;
    ok = ok && flashsale::testing::run_tool(script, {"start"}, log, 300s, &output) == 0;
    if (!ok) {
      ADD_FAILURE() << "cannot make the PostgreSQL pair anew (log " << log << ")\n" << output;
      return;
    }
    std::remove(log.c_str());
    std::cout << "[          ] TearDown made the PostgreSQL primary and standby anew\n";
  }

  bool pg_promoted_ = false;

  /// The member of the RabbitMQ cluster (rabbit1..rabbit3) that leads the sale's order queue,
  /// asked of the first node that answers rabbitmqctl; empty when none can say.
  std::string queue_leader() {
    const char* ctl = std::getenv("FLASHSALE_RABBITMQCTL_ANY_NODE");
    const char* nodes = std::getenv("FLASHSALE_RABBIT_NODES");
    if (ctl == nullptr || nodes == nullptr)
      return {};
    std::istringstream names{nodes};
    for (std::string node; names >> node;) {
      std::string output;
      int rc = flashsale::testing::run_tool(
          "/bin/sh",
          {"-c", std::string(ctl) + " -n " + node + " -q list_queues -p flashsale name leader"},
          path_in_dir("list-queues.log"), 30s, &output);
      if (rc != 0)
        continue;
      std::istringstream lines{output};
      std::string name, leader;
      while (lines >> name >> leader)
        if (name == queue_ && leader.rfind("fsr", 0) == 0 && leader.size() > 3)
          return "rabbit" + leader.substr(3, 1);  // fsr<i>-<hash>@localhost
    }
    return {};
  }

  /// The member of the ZooKeeper ensemble (zk1..zk3) that leads it, as `scripts/services status`
  /// reports it; empty when none does.
  std::string zookeeper_leader() {
    std::string output;
    services("status", "", 60s, &output);  // exits 1 while a member is down: the lines still say
    std::istringstream lines{output};
    for (std::string line; std::getline(lines, line);) {
      auto at = line.find("] zk");
      if (at != std::string::npos && line.find(" leader") != std::string::npos)
        return line.substr(at + 2, 3);  // "[services] zk2:   running   127.0.0.1:47112 leader"
    }
    return {};
  }

  /// Seconds from now until the gateways have accepted `more` purchases beyond what they had;
  /// -1 when they did not within `timeout`.
  double seconds_until_accepting_again(double more, std::chrono::seconds timeout) {
    auto t0 = clock_type::now();
    double base = accepted_so_far();
    if (!poll_until([&] { return accepted_so_far() >= base + more; }, timeout, 20ms))
      return -1;
    return seconds_since(t0);
  }

  /// Starts `member` again (ready: back in its ensemble or cluster, its queue replicas online),
  /// then sells what the fault left unsold and runs the audit.
  void bring_back_and_sell_the_rest(const std::string& member, const load_run& first) {
    std::string output;
    ASSERT_EQ(services("start-one", member, 180s, &output), 0) << output;
    sell_the_rest_after_fault(first, 60s);
  }

  /// The seed sale; `pick(leader)` names the member to kill -9 once fault_after purchases were
  /// accepted. Then: the gateways accept again within 30 s (the time is printed), the load ends
  /// with only 202/410/503 answers, the member comes back (with its data deleted first when
  /// `lose_disk`: it rejoins empty and copies the queue from the others), the rest of the stock
  /// sells, and the audit finds nothing lost, duplicated or oversold and no stock unsold.
  void kill_rabbitmq_member_mid_sale(const std::function<std::string(const std::string&)>& pick,
                                     bool lose_disk = false) {
    auto t0 = clock_type::now();
    ASSERT_NO_FATAL_FAILURE(start({flashsale::testing::faults_sale_text()}));
    auto leader = queue_leader();
    ASSERT_FALSE(leader.empty()) << "no leader of " << queue_ << " known to rabbitmqctl";
    auto victim = pick(leader);
    auto load = start_sale_load();
    ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));

    auto accepted_at_kill = accepted_so_far();
    std::string output;
    ASSERT_EQ(services("kill-one", victim, 60s, &output), 0) << output;
    auto failover_s = seconds_until_accepting_again(100, 30s);
    auto new_leader = queue_leader();
    std::cout << "[          ] killed " << victim << " (queue leader " << leader << ") at "
              << accepted_at_kill << " accepted; gateways accepting again after " << failover_s
              << " s; queue leader now " << (new_leader.empty() ? "unknown" : new_leader) << "\n";
    EXPECT_GE(failover_s, 0) << "the gateways accepted no purchase within 30 s of the kill\n"
                             << logs();
    EXPECT_NE(new_leader, victim);

    auto first = finish_sale_load(*load, 90s);
    if (lose_disk) {
      ASSERT_EQ(services("wipe-one", victim, 60s, &output), 0) << output;
    }
    ASSERT_NO_FATAL_FAILURE(bring_back_and_sell_the_rest(victim, first));
    expect_nodes_alive();
    std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
  }
};

// kill -9 of a RabbitMQ node that holds a replica of the order queue but neither leads it nor
// serves the nodes (they connect to the first of the broker list, rabbit1): the queue keeps its
// majority and the sale goes on.
TEST_F(replicated_faults, rabbitmq_follower_killed_mid_sale_loses_no_202) {
  kill_rabbitmq_member_mid_sale([](const std::string& leader) {
    return leader == "rabbit3" ? std::string("rabbit2") : std::string("rabbit3");
  });
}

// kill -9 of the RabbitMQ node that leads the order queue and serves every node (the first of the
// broker list). A new leader is elected within a second; the nodes move to another broker. A
// gateway channel opened there during the election is refused (RabbitMQ 3.10.8 nacks, or never
// confirms, what such a channel publishes until the old leader's node is back), so the publisher
// renews a connection that the broker refuses on (adapters/amqp/publisher.cpp); the buyers see a
// second of 503s, nothing accepted is lost.
TEST_F(replicated_faults, rabbitmq_queue_leader_killed_mid_sale_loses_no_202) {
  kill_rabbitmq_member_mid_sale([](const std::string& leader) { return leader; });
}

// The same, and the killed leader's disk is lost: its data directory is deleted before it comes
// back. RabbitMQ 3.10 lets the empty node rejoin the cluster under its old name, and each quorum
// queue's member on it copies the log from the new leader; the other two replicas hold every
// confirmed message meanwhile, so nothing accepted is lost.
TEST_F(replicated_faults, rabbitmq_queue_leader_killed_and_its_disk_lost_loses_no_202) {
  kill_rabbitmq_member_mid_sale([](const std::string& leader) { return leader; }, true);
}

// kill -9 of the PostgreSQL primary mid-sale, then the operator's failover (scripts/services
// promote-standby). Every order the primary had committed before the kill is on the promoted
// standby (synchronous replication: a commit is visible only once the standby has it), the writers
// find the new primary by themselves through their server list (--db.hosts, read-write sessions
// only), the batches that failed meanwhile are written once, the rest of the stock sells, and the
// audit holds on the new primary. The gateways never stop selling: the purchases wait in the queue.
TEST_F(replicated_faults, postgresql_primary_killed_and_standby_promoted_loses_no_order) {
  auto t0 = clock_type::now();
  ASSERT_NO_FATAL_FAILURE(start({flashsale::testing::faults_sale_text()}));
  auto load = start_sale_load();
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));

  auto before = orders_now();  // committed, hence on the standby too
  std::string output;
  ASSERT_EQ(services("kill-one", "pg", 60s, &output), 0) << output;
  auto killed_at = clock_type::now();
  EXPECT_TRUE(poll_until([&] { return failed_batches() >= 1; }, 30s, 50ms))
      << "no writer batch failed after the primary's kill\n"
      << logs();
  auto accepted_at_promote = accepted_so_far();
  auto promote_started = clock_type::now();
  ASSERT_EQ(services("promote-standby", "", 120s, &output), 0) << output;
  pg_promoted_ = true;
  services_down_.erase("pg");  // retired: TearDown makes the pair anew instead
  auto promote_s = seconds_since(promote_started);
  auto down_s = seconds_since(killed_at);
  // The writers find the new primary and write what the gateways accepted meanwhile.
  auto written_again = poll_until(
      [&] { return static_cast<double>(orders_now().size()) >= accepted_at_promote; }, 60s, 50ms);
  auto backlog_s = seconds_since(promote_started);
  std::cout << "[          ] killed the primary with " << before.size() << " orders seen; "
            << "promoted the standby " << down_s << " s later (the promotion took " << promote_s
            << " s); the " << accepted_at_promote << " purchases accepted by then were written "
            << backlog_s << " s after the promotion began\n";
  EXPECT_TRUE(written_again) << "the purchases accepted before the promotion were not written "
                                "within 60 s of it\n"
                             << logs();

  auto first = finish_sale_load(*load, 90s);

  sell_the_rest_after_fault(first, 90s);  // on the new primary, with the audit
  auto stats = writer_stats();
  auto after = orders_now();
  std::size_t missing = 0;
  for (const auto& [id, product] : before) {
    auto it = after.find(id);
    if (it == after.end() || it->second != product)
      ++missing;
  }
  EXPECT_EQ(missing, 0u) << "orders committed before the kill are not on the new primary";
  // A commit the writers counted but the new primary lacks would show as confirmed > rows.
  EXPECT_LE(stats["confirmed"], after.size()) << "writers confirmed more orders than exist";
  std::cout << "[          ] failed batches " << failed_batches() << ", requeued "
            << stats["requeued"] << ", confirmed " << stats["confirmed"] << ", order rows "
            << after.size() << "\n";
  expect_nodes_alive();
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

// kill -9 of the ZooKeeper server that leads the ensemble, mid-sale: the two others elect a new
// leader and the sale goes on. The buyers come to gw1 only, so the quota tree keeps changing
// around the kill: gw2, idle, gives its units back (idle release 1 s) and the quota leader
// re-grants them to gw1. A watcher of its own checks sum(grants) <= stock at every state of the
// tree it observes, through the election too: no unit is admitted twice. Prints how long the
// ensemble had no leader and how long the gateways admitted nothing.
TEST_F(replicated_faults, zookeeper_leader_killed_mid_sale_admits_no_unit_twice) {
  auto t0 = clock_type::now();
  flashsale::testing::cluster_setup setup{flashsale::testing::faults_sale_text()};
  setup.gateway_args = {"--zookeeper.report-interval-ms=100", "--zookeeper.idle-release-ms=1000"};
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto watcher = watch_grants();
  auto leader = zookeeper_leader();
  ASSERT_FALSE(leader.empty()) << "no ZooKeeper leader known to scripts/services status";
  auto load = start_sale_load({gateways_[0].port});
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));

  auto accepted_at_kill = accepted_so_far();
  std::string output;
  ASSERT_EQ(services("kill-one", leader, 60s, &output), 0) << output;
  auto killed_at = clock_type::now();
  auto admitting_after_s = seconds_until_accepting_again(100, 30s);
  std::string new_leader;
  EXPECT_TRUE(poll_until(
      [&] {
        new_leader = zookeeper_leader();
        return !new_leader.empty();
      },
      30s, 100ms))
      << "no new ZooKeeper leader within 30 s";
  std::cout << "[          ] killed ZooKeeper leader " << leader << " at " << accepted_at_kill
            << " accepted; a leader (" << new_leader << ") again within "
            << seconds_since(killed_at) << " s; gateways admitting again after "
            << admitting_after_s << " s\n";
  EXPECT_GE(admitting_after_s, 0) << "the gateways admitted nothing within 30 s of the kill\n"
                                  << logs();
  EXPECT_NE(new_leader, leader);

  auto first = finish_sale_load(*load, 90s);

  ASSERT_NO_FATAL_FAILURE(bring_back_and_sell_the_rest(leader, first));
  expect_grants_within_stock(*watcher);
  expect_nodes_alive();
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

}  // namespace

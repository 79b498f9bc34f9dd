// Faults in the middle of a sale, through a cluster of real processes (tests/cluster/
// cluster_fixture.hpp): 2 gateways and 2 writers sell 3 products x 1,000 units to flashsale-load
// spread over both gateways, and one thing breaks while the stock is selling: a writer and a
// gateway are killed with SIGKILL (and, separately, a gateway is killed and the buyers keep coming
// until its quota was re-granted), RabbitMQ is stopped for 5 s, PostgreSQL is restarted, a writer
// is frozen with SIGSTOP. What must hold afterwards (docs/design.md, section 1): every 202 the load
// generator saw is exactly one order (I4, I3), nothing is oversold and the stock is conserved
// (I1, I2), and orders nobody was told about come only from requests that got no answer or a 503.
// Each test prints "requests N, 202s N, orders N, lost 0, duplicated 0, oversold 0, unsold stock
// N". They stop and restart the shared services, so they run alone (RUN_SERIAL); a service a test
// stopped is started again in TearDown whatever happened.

#include <gtest/gtest.h>

#include <atomic>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/fault_fixture.hpp"
#include "tests/support/amqp_tools.hpp"
#include "tests/support/http_client.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::testing::background_load;
using flashsale::testing::cluster_faults;
using flashsale::testing::cluster_setup;
using flashsale::testing::fault_after;
using flashsale::testing::load_result;
using flashsale::testing::load_run;
using flashsale::testing::poll_until;
using flashsale::testing::read_tickets;
using flashsale::testing::seconds_since;
using clock_type = std::chrono::steady_clock;

const std::string& sale_text = flashsale::testing::faults_sale_text();
constexpr std::uint64_t requests = flashsale::testing::fault_requests;

// (b) A writer and a gateway die (kill -9) while the stock is selling. The load's connections to
// the dead gateway fail at once (connection refused) and use up the rest of its requests in
// milliseconds; the buyers go on at the surviving gateway, and once the surviving writer has
// settled the dead gateway (no operator) the whole stock is sold.
TEST_F(cluster_faults, killing_a_writer_and_a_gateway_mid_sale_loses_no_accepted_purchase) {
  auto t0 = clock_type::now();
  ASSERT_NO_FATAL_FAILURE(start({sale_text}));
  auto load = start_sale_load();
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));
  auto at_kill = accepted_so_far();
  kill_node(writers_[1]);
  kill_node(gateways_[1]);
  std::cout << "[          ] killed w2 and gw2 after " << at_kill << " accepted\n";

  load_run first{load->finish(60s), tickets_file_};
  const auto& result = first.result;
  ASSERT_NE(result.requests, 0u) << result.output;
  // Requests sent to the dead gateway fail (connection refused, or cut while in flight);
  // everything else is answered.
  EXPECT_GE(result.errors, 1u) << "no request failed: did the load still reach gw2?\n"
                               << result.output;
  expect_only_sale_statuses(result);
  // The survivors keep working: gw1 answers, w1 consumes.
  EXPECT_TRUE(flashsale::testing::wait_until_healthy(gateways_[0].port, 10000))
      << gateways_[0].log_tail();
  EXPECT_TRUE(writers_consume(1, 10s)) << writers_[0].log_tail();

  // The buyers go on at gw1 and buy what it holds and what the leader re-grants from gw2, whose
  // grant is lowered to its last claim once its session expired.
  ASSERT_TRUE(poll_until(
      [&] {
        auto members = zk_->session().get_children(paths_->members());
        return members.ok() && std::find(members.children.begin(), members.children.end(), "gw2") ==
                                   members.children.end();
      },
      30s, 200ms))
      << "gw2's registration did not expire";
  auto second = sell_the_rest({gateways_[0].port}, 1);
  expect_only_sale_statuses(second.result);
  // What gw2 claimed but did not sell comes back without an operator once its every purchase is
  // written: w1 (the first writer) waits for drained queues and writers (w2's registration must
  // expire first: until then it counts as a writer that does not answer), fences gw2's claim
  // epoch in the database and records its orders; the leader lowers gw2's grant to them.
  auto settled_at = clock_type::now();
  ASSERT_TRUE(poll_until([&] { return settled_record("gw2").has_value(); }, 60s, 200ms))
      << "no writer settled gw2\n"
      << writers_[0].log_tail();
  std::cout << "[          ] gw2 settled by w1 " << seconds_since(settled_at)
            << " s after the second round\n";
  // The operator's command finds nothing left to do.
  std::string output;
  int rc = run_admin(
      {"zk", "reconcile", "--sale", sale_file_, "--db-name", database_->admin().dbname, "--zk",
       zk_->hosts(), "--zk-root", zk_->root(), "--amqp-queue", queue_, "--settle-s", "1"},
      &output);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("nothing to reconcile"), std::string::npos) << output;
  auto third = sell_the_rest({gateways_[0].port}, 2);
  expect_only_sale_statuses(third.result);

  auto a = audit({first, second, third}, 45s);
  EXPECT_EQ(a.unsold, 0) << "stock left after the dead gateway was settled";
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

// (b, continued) The buyers keep coming after a gateway died mid-sale: once its ZooKeeper session
// expired, the leader lowers its grant to its last claim and re-grants the rest to the survivor,
// which sells it. Every 202 must still be an order: the dead gateway's sales, reported or not,
// must not be sold a second time (before claims, 83 to 508 buyers per run held a 202 whose
// purchase the database refused, because reports lag sales by up to half a second).
TEST_F(cluster_faults, a_killed_gateways_quota_regranted_to_the_survivor_is_not_sold_twice) {
  auto t0 = clock_type::now();
  cluster_setup setup{sale_text};
  setup.gateway_args = {"--zookeeper.session-timeout-ms=4000", "--zookeeper.report-interval-ms=100",
                        "--zookeeper.idle-release-ms=1000"};
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto load = start_sale_load();
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));
  auto at_kill = accepted_so_far();
  kill_node(gateways_[1]);
  auto killed_at = clock_type::now();
  std::cout << "[          ] killed gw2 after " << at_kill << " accepted\n";
  load_run first{load->finish(60s), tickets_file_};
  expect_only_sale_statuses(first.result);

  // gw2's session expires; the leader lowers gw2's grant to its last claim and re-grants the rest
  // to gw1.
  bool regranted = poll_until(
      [&] {
        if (zk_->session().exists(paths_->member("gw2")).rc != flashsale::zk::code::no_node)
          return false;
        for (const auto& p : sale_.products) {
          auto g1 = flashsale::testing::read_grant(zk_->session(), *paths_, "gw1", p.id);
          auto g2 = flashsale::testing::read_grant(zk_->session(), *paths_, "gw2", p.id);
          auto r2 = flashsale::testing::read_report(zk_->session(), *paths_, "gw2", p.id);
          // Its last claim, or (once a writer settled it) what it sold, which is no more.
          if (!g1 || !g2 || !r2 || g2->grant > std::max(r2->claimed, r2->consumed) ||
              g1->grant + g2->grant != p.stock)
            return false;
        }
        return true;
      },
      20s, 100ms);
  ASSERT_TRUE(regranted) << "gw2's unused quota was not re-granted to gw1\n"
                         << gateways_[0].log_tail();
  std::cout << "[          ] gw2's quota re-granted to gw1 " << seconds_since(killed_at)
            << " s after the kill\n";
  // What gw2 sold (its 202s) against what it had reported when it died.
  std::map<std::string, std::int64_t> sold_by_gw2;
  for (const auto& t : read_tickets(tickets_file_))
    if (t.ticket.rfind("gw2-", 0) == 0)
      ++sold_by_gw2[t.product];
  for (const auto& p : sale_.products) {
    auto r2 = flashsale::testing::read_report(zk_->session(), *paths_, "gw2", p.id);
    std::cout << "[          ] " << p.id << ": gw2 answered 202 to " << sold_by_gw2[p.id]
              << " purchases, its last report said " << (r2 ? r2->consumed : -1) << " sold and "
              << (r2 ? r2->claimed : -1) << " claimed\n";
  }

  auto second = sell_the_rest({gateways_[0].port});
  EXPECT_EQ(second.result.errors, 0u) << second.result.output;
  expect_only_sale_statuses(second.result);

  auto a = audit({first, second}, 45s);
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

// (b, fenced) gw1 frozen (SIGSTOP) mid-sale, past its session: what it had admitted but not yet
// published or confirmed sits in the frozen process. w1 settles it meanwhile (fences its claim
// epoch in the database) and the leader gives its unsold claim to gw2. Thawed, gw1 publishes
// what it held: too late for a 202 (its session may be gone), and the database refuses it
// (fenced); gw1 rejoins under a new epoch and sells only what it is granted anew. Every 202 is
// one order, the whole stock is sold.
TEST_F(cluster_faults, a_frozen_gateway_thawed_after_it_was_settled_sells_nothing_twice) {
  auto t0 = clock_type::now();
  cluster_setup setup{sale_text};
  setup.gateway_args = {"--zookeeper.report-interval-ms=100", "--zookeeper.idle-release-ms=1000"};
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto watcher = watch_grants();
  // Requests to the frozen gateway time out after 3 s; the others take the rest of the load.
  tickets_file_ = path_in_dir("tickets.txt");
  auto load = start_load({"--requests", std::to_string(requests), "--users",
                          std::to_string(requests), "--connections", "16", "--timeout-ms", "3000",
                          "--tickets-out", tickets_file_, "--progress"});
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));
  auto& gw1 = gateways_[0];
  freeze_node(gw1);
  auto frozen_at = clock_type::now();
  load_run first{load->finish(120s), tickets_file_};
  expect_only_sale_statuses(first.result);
  ASSERT_TRUE(poll_until([&] { return settled_record("gw1").has_value(); }, 60s, 200ms))
      << "no writer settled the frozen gw1\n"
      << writers_[0].log_tail();
  auto settled_s = seconds_since(frozen_at);
  // The buyers at gw2 take what gw1 claimed but had not written.
  auto second = sell_the_rest({gateways_[1].port}, 1);
  expect_only_sale_statuses(second.result);
  thaw_node(gw1);
  EXPECT_TRUE(flashsale::testing::wait_until_healthy(gw1.address, gw1.port, 30000))
      << gw1.log_tail();
  auto third = sell_the_rest({}, 2);
  expect_only_sale_statuses(third.result);
  EXPECT_EQ(third.result.errors, 0u) << third.result.output;
  auto a = audit({first, second, third}, 45s);
  EXPECT_EQ(a.unsold, 0);
  expect_grants_within_stock(*watcher);
  std::cout << "[          ] gw1 frozen, settled " << settled_s
            << " s later; after the thaw it refused "
            << count_in_log(gw1, "came after the ZooKeeper session") << " late confirm(s) "
            << "(logged once per session); run time " << seconds_since(t0) << " s\n";
}

// (c) RabbitMQ is away for 5 s while the stock is selling. `scripts/services stop-one rabbit`
// needs seconds before the broker goes (rabbitmqctl starts its own Erlang VM first); at full speed
// the load would sell out meanwhile. So from the fault on the buyers are held back to a trickle
// (the load runs 10 ms of every 100 ms; SIGSTOP / SIGCONT) until the gateways see the broker gone:
// purchases are in flight when it goes and stock is left. Then the load runs free into the outage
// (503s), and a second load after the outage sells the rest.
TEST_F(cluster_faults, rabbitmq_stopped_for_5s_mid_sale_refuses_with_503_and_loses_no_202) {
  auto t0 = clock_type::now();
  ASSERT_NO_FATAL_FAILURE(start({sale_text}));
  tickets_file_ = path_in_dir("tickets.txt");
  auto load = start_load({"--requests", std::to_string(requests), "--users",
                          std::to_string(requests), "--connections", "8", "--timeout-ms", "20000",
                          "--tickets-out", tickets_file_, "--progress"});
  ASSERT_TRUE(
      poll_until([&] { return accepted_so_far() >= fault_after || !load->running(); }, 30s, 20ms))
      << load->log_tail() << logs();
  ASSERT_TRUE(load->running()) << "the load ended before the fault\n" << load->log_tail();

  auto refused_before = purchases("queue_refused");
  std::atomic<int> stop_rc{-2};
  std::string stop_output;
  auto stop_started = clock_type::now();
  std::thread stopper([&] { stop_rc = services("stop-one", "rabbit", 60s, &stop_output); });
  bool broker_gone = false;
  load->trickle_until(
      [&] {
        broker_gone = true;  // for every gateway: each notices on its own
        for (const auto& g : gateways_) {
          try {
            flashsale::testing::http_client client{g.port, 1000};
            broker_gone = broker_gone && client.request("GET", "/healthz").status == 503;
          } catch (const std::exception&) {
            broker_gone = false;
          }
        }
        return broker_gone || stop_rc.load() != -2;
      },
      60s);
  auto gone_after = seconds_since(stop_started);
  auto accepted_when_gone = purchases("accepted");
  bool running_when_gone = load->running();
  stopper.join();
  ASSERT_EQ(stop_rc.load(), 0) << stop_output;
  auto stopped_after = seconds_since(stop_started);
  EXPECT_TRUE(broker_gone) << "the gateways' /healthz did not all say 503 while the broker stopped";
  EXPECT_LT(accepted_when_gone, 3000) << "sold out before the broker went: nothing to refuse";

  auto gap_started = clock_type::now();
  std::this_thread::sleep_for(5s);  // the deliberate outage
  auto gap_s = seconds_since(gap_started);
  auto refused_after_gap = purchases("queue_refused");
  EXPECT_EQ(purchases("accepted"), accepted_when_gone) << "purchases accepted without a broker";
  auto start_started = clock_type::now();
  ASSERT_EQ(services("start-one", "rabbit", 120s, &stop_output), 0) << stop_output;
  std::cout << "[          ] RabbitMQ gone " << gone_after << " s after stop-one began ("
            << accepted_when_gone << " accepted, load running " << running_when_gone
            << "), stopped after " << stopped_after << " s, away " << gap_s
            << " s more, started in " << seconds_since(start_started) << " s; 503s "
            << refused_before << " before the stop, " << refused_after_gap << " after the gap\n";

  load_run first{load->finish(60s), tickets_file_};
  const auto& result = first.result;
  EXPECT_EQ(result.exit_code, 0) << "a request got no answer\n" << result.output;
  EXPECT_EQ(result.errors, 0u) << result.output;
  EXPECT_GE(result.status(503), 1u) << "no purchase was refused while the broker was away\n"
                                    << result.output;
  EXPECT_GT(refused_after_gap, refused_before) << "no 503 while the broker was down";
  expect_only_sale_statuses(result);
  // Everything sells: purchases the broker took without confirming before it went are either
  // stored or sent again by their gateway once it is back (their buyers got 503).
  sell_the_rest_after_fault(first, 45s);
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

// (d) PostgreSQL goes down while the writers are writing and comes back. The stop is made certain
// to meet work in flight: the buyers are held to a trickle while it stops, then run on, so
// purchases are accepted into the queue while the database is away, and it starts again only once a
// writer has seen a batch fail. (Restarting it at once, as `restart-one` does, raced the writers:
// on a fast machine they had written the whole stock before the server went.)
TEST_F(cluster_faults, postgresql_restarted_mid_sale_writers_reconnect_and_write_every_202_once) {
  auto t0 = clock_type::now();
  ASSERT_NO_FATAL_FAILURE(start({sale_text}));
  auto load = start_sale_load();
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));

  std::string output;
  std::atomic<int> stop_rc{-2};
  auto down_since = clock_type::now();
  std::thread stopper([&] { stop_rc = services("stop-one", "pg", 60s, &output); });
  load->trickle_until([&] { return stop_rc.load() != -2; }, 60s);
  stopper.join();
  ASSERT_EQ(stop_rc.load(), 0) << output;
  auto accepted_at_stop = accepted_so_far();
  auto failed_batches = [&] {
    std::size_t n = 0;
    for (const auto& w : writers_)
      n += count_in_log(w, "goes back to the queue");
    return n;
  };
  bool missed_by_writers = !poll_until([&] { return failed_batches() >= 1; }, 30s, 50ms);
  auto accepted_while_down = accepted_so_far() - accepted_at_stop;
  auto down_s = seconds_since(down_since);
  auto start_started = clock_type::now();
  ASSERT_EQ(services("start-one", "pg", 60s, &output), 0) << output;
  std::cout << "[          ] PostgreSQL stopped after " << accepted_at_stop << " accepted; "
            << accepted_while_down << " more accepted before a writer's batch failed, " << down_s
            << " s after the stop began; started in " << seconds_since(start_started)
            << " s; load still running: " << load->running() << "\n";
  EXPECT_FALSE(missed_by_writers) << "no writer batch failed while the database was away\n"
                                  << logs();

  load_run first{load->finish(60s), tickets_file_};
  EXPECT_EQ(first.result.exit_code, 0) << "a request got no answer\n" << first.result.output;
  EXPECT_EQ(first.result.errors, 0u) << first.result.output;
  expect_only_sale_statuses(first.result);

  // Writers reconnect by themselves; every batch that failed is written once.
  auto a = audit({first}, 60s);
  std::cout << "[          ] failed batches " << failed_batches() << ", requeued "
            << a.writer_stats["requeued"] << "\n";
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

// (e) A writer is frozen (SIGSTOP) while the stock is selling: every gateway sees it gone within
// the middleman's connection timeout and connects again once it is thawed, and the other writer
// keeps draining the queue. What the frozen writer had taken from the queue (unacked) is not
// lost to the sale either: RabbitMQ closes a connection that sent nothing for about two
// heartbeat intervals (amqp heartbeat 10 s), which requeues those deliveries for the other.
TEST_F(cluster_faults, a_frozen_writer_is_seen_gone_and_the_other_drains_the_queue) {
  auto t0 = clock_type::now();
  ASSERT_NO_FATAL_FAILURE(start({sale_text}));
  auto load = start_sale_load();
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));
  // Both gateways are connected to both writers before the fault.
  ASSERT_TRUE(poll_until(
      [&] {
        for (const auto& g : gateways_)
          if (count_in_log(g, "connected to writer w2") == 0)
            return false;
        return true;
      },
      10s, 100ms))
      << logs();
  freeze_node(writers_[1]);
  auto frozen_at = clock_type::now();

  // The gateways see the frozen writer as gone once the middleman's heartbeats stop arriving
  // (config: heartbeat-interval 1 s, connection-timeout 5 s).
  std::vector<double> noticed_after(gateways_.size(), -1);
  poll_until(
      [&] {
        bool all = true;
        for (std::size_t i = 0; i < gateways_.size(); ++i) {
          if (noticed_after[i] < 0 && count_in_log(gateways_[i], "lost writer w2") > 0)
            noticed_after[i] = seconds_since(frozen_at);
          all = all && noticed_after[i] >= 0;
        }
        return all;
      },
      20s, 100ms);
  for (std::size_t i = 0; i < gateways_.size(); ++i) {
    std::cout << "[          ] " << gateways_[i].name << " saw w2 gone " << noticed_after[i]
              << " s after SIGSTOP\n";
    EXPECT_GE(noticed_after[i], 0) << gateways_[i].name << " never noticed\n"
                                   << gateways_[i].log_tail();
    // The connection timeout, plus a heartbeat interval and this test's polling.
    EXPECT_LE(noticed_after[i], 7.0) << gateways_[i].name;
  }

  load_run first{load->finish(60s), tickets_file_};
  EXPECT_EQ(first.result.exit_code, 0) << "a request got no answer\n" << first.result.output;
  EXPECT_EQ(first.result.errors, 0u) << first.result.output;
  expect_only_sale_statuses(first.result);

  // While w2 is frozen, w1 empties the queue: nothing stays ready.
  bool drained_by_w1 = poll_until([&] { return queued() == 0; }, 30s, 200ms);
  EXPECT_TRUE(drained_by_w1) << "the queue still holds " << queued() << " with w2 frozen\n"
                             << writers_[0].log_tail();
  auto tickets = read_tickets(tickets_file_);
  auto held = [&] {  // 202s without an order: deliveries w2 holds unacked
    std::map<std::string, std::string> products;
    std::map<std::string, int> counts;
    if (!read_orders(products, counts))
      return std::size_t{0};
    std::size_t n = 0;
    for (const auto& t : tickets)
      n += counts.count(t.request_id()) == 0 ? 1 : 0;
    return n;
  };
  auto held_when_drained = held();
  std::cout << "[          ] w2 frozen " << seconds_since(frozen_at) << " s: queue empty "
            << drained_by_w1 << ", " << held_when_drained << " of " << tickets.size()
            << " 202s without an order (held by the frozen writer)\n";
  // Still frozen: once the broker gives up on w2's connection, w1 writes what w2 held.
  auto held_wait = clock_type::now();
  bool released = poll_until([&] { return held() == 0; }, 60s, 500ms);
  std::cout << "[          ] the deliveries w2 held were written by w1 " << seconds_since(frozen_at)
            << " s after the SIGSTOP\n";
  EXPECT_TRUE(released) << held() << " 202s still without an order after "
                        << seconds_since(held_wait) << " s more";
  EXPECT_TRUE(writers_[1].process->running());
  thaw_node(writers_[1]);
  // Thawed, it is found and connected again (it is still registered, or registers anew).
  EXPECT_TRUE(poll_until(
      [&] {
        for (const auto& g : gateways_)
          if (count_in_log(g, "connected to writer w2") < 2)
            return false;
        return true;
      },
      30s, 200ms))
      << logs();

  auto a = audit({first}, 45s);
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

}  // namespace

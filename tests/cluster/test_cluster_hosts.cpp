// The seed sale with every node on a host of its own (issue 12, test (a)): 4 gateways and 2
// writers, each in its own network namespace with its own address (scripts/hosts), the private
// services on a seventh host, the buyers and the audit in the harness's namespace. What must hold
// is what holds on one host: every 202 exactly one order, nothing oversold, exactly the stock
// sold; and the nodes find each other by the addresses they register, not by 127.0.0.1. Needs
// root; runs alone (RUN_SERIAL): it starts services of its own and measures a sale.

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/cluster/cluster_fixture.hpp"
#include "tests/cluster/fault_fixture.hpp"
#include "tests/support/delay_proxy.hpp"
#include "tests/support/host_network.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::testing::clock_type;
using flashsale::testing::cluster_fixture;
using flashsale::testing::cluster_setup;
using flashsale::testing::fault_after;
using flashsale::testing::host_network;
using flashsale::testing::load_run;
using flashsale::testing::poll_until;
using flashsale::testing::seconds_since;

/// The hosts and the services on theirs, for the whole test program: made before any fixture
/// reads the FLASHSALE_* endpoints (which then name the services' host), taken down at the end.
class hosts_environment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (::geteuid() != 0) {
      why_not_ = "network namespaces need root (CI runs as root)";
      return;
    }
    net_ = std::make_unique<host_network>(
        std::vector<std::string>{"services", "gw1", "gw2", "gw3", "gw4", "w1", "w2"});
    run_dir_ = "/tmp/flashsale-cluster-hosts-" + net_->run();
    log_ = run_dir_ + ".log";
    auto t0 = clock_type::now();
    std::string output;
    if (flashsale::testing::services_on_host(*net_, "services", run_dir_, "start", log_, &output) !=
        0) {
      why_not_ = "the services did not start on their host:\n" + output;
      return;
    }
    for (const auto& [key, value] : flashsale::testing::read_env_file(run_dir_ + "/endpoints.env"))
      ::setenv(key.c_str(), value.c_str(), 1);
    std::cout << "[          ] services on host " << net_->address("services") << ", started in "
              << std::chrono::duration<double>(clock_type::now() - t0).count() << " s\n";
  }

  void TearDown() override {
    if (!net_)
      return;
    flashsale::testing::services_on_host(*net_, "services", run_dir_, "stop", log_ + ".stop");
    std::filesystem::remove_all(run_dir_);
    std::filesystem::remove(log_);
    std::filesystem::remove(log_ + ".stop");
    net_.reset();
  }

  /// Partitions `host` from the services' host, TCP to and from `port` only.
  void partition(const std::string& host, const std::string& services, int port) {
    net_->partition(host, services, false, port);
  }
  void heal(const std::string& host, const std::string& services) { net_->heal(host, services); }
  /// Every host drops `percent` of what it receives.
  void loss_everywhere(int percent) {
    for (const auto& h : {"services", "gw1", "gw2", "gw3", "gw4", "w1", "w2"})
      net_->loss(h, percent);
  }

  /// Empty when the hosts and services are up; else why not.
  const std::string& why_not() const { return why_not_; }
  const host_network* hosts() const { return net_.get(); }

 private:
  std::unique_ptr<host_network> net_;
  std::string run_dir_, log_, why_not_;
};

hosts_environment* const environment =
    static_cast<hosts_environment*>(::testing::AddGlobalTestEnvironment(new hosts_environment));

class cluster_on_hosts : public flashsale::testing::cluster_faults {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << environment->why_not();
    ASSERT_TRUE(environment->why_not().empty()) << environment->why_not();
  }

  /// The fault tests' sale on 2 gateways and 2 writers, each on its host.
  static cluster_setup faults_on_hosts() {
    cluster_setup setup{flashsale::testing::faults_sale_text()};
    setup.hosts = environment->hosts();
    return setup;
  }
};

TEST_F(cluster_on_hosts,
       four_gateways_and_two_writers_on_hosts_of_their_own_sell_exactly_the_stock) {
  auto t0 = clock_type::now();
  cluster_setup setup{flashsale::testing::seed_sale("hosts")};
  setup.gateways = 4;
  setup.writers = 2;
  setup.keep_one_in = 10;
  setup.hosts = environment->hosts();
  ASSERT_NO_FATAL_FAILURE(start(setup));
  for (const auto& g : gateways_)
    EXPECT_EQ(g.address, setup.hosts->address(g.name));

  constexpr std::uint64_t requests = 100000;
  auto tickets = path_in_dir("tickets.txt");
  auto load = start_load({"--gateways", gateway_endpoints(), "--requests", std::to_string(requests),
                          "--users", std::to_string(requests), "--connections", "32",
                          "--timeout-ms", "20000", "--tickets-out", tickets});
  load_run run{load->finish(120s), tickets};
  // The same buyers again, each for another product: units that moved between gateways near the
  // end of the first load sell to the second.
  constexpr std::uint64_t more = 40000;
  auto more_tickets = path_in_dir("tickets-2.txt");
  auto second_load =
      start_load({"--gateways", gateway_endpoints(), "--requests", std::to_string(more), "--users",
                  std::to_string(more), "--products", "Phone,Clothes,TV", "--connections", "32",
                  "--timeout-ms", "20000", "--tickets-out", more_tickets},
                 "load-2");
  load_run second{second_load->finish(120s), more_tickets};
  for (const auto* r : {&run, &second}) {
    ASSERT_EQ(r->result.exit_code, 0) << r->result.output;
    EXPECT_EQ(r->result.errors, 0u) << r->result.output;
    for (const auto& [code, n] : r->result.statuses)
      EXPECT_TRUE(code == 202 || code == 410 || code == 429 || code == 503)
          << n << " answers with status " << code << "\n"
          << r->result.output;
  }
  EXPECT_EQ(run.result.status(202) + second.result.status(202), 3000u)
      << run.result.output << second.result.output;
  auto a = audit({run, second}, 60s);
  EXPECT_EQ(a.unsold, 0);
  expect_nodes_alive();
  std::cout << "[          ] run time "
            << std::chrono::duration<double>(clock_type::now() - t0).count() << " s\n";
}

// (c) gw1 cut off from the broker, both ways, mid-sale, while its buyers, ZooKeeper and the
// database still reach it: what it published goes unconfirmed, so it answers 503 (never a 202
// without the broker's confirm), reconnects by itself after the heal, sends again what was of
// unknown fate, and the sale ends with every 202 one order and no stock unsold.
TEST_F(cluster_on_hosts,
       a_gateway_partitioned_from_the_broker_answers_503_and_sells_after_the_heal) {
  auto t0 = clock_type::now();
  auto setup = faults_on_hosts();
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto& gw1 = gateways_[0];
  auto refused = [&] { return purchases_of(gw1, "queue_refused"); };
  auto accepted = [&] { return purchases_of(gw1, "accepted"); };
  // The buyers come to gw1 only, so that the sale cannot end on the other gateway meanwhile.
  auto load = start_sale_load({gw1.port});
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));

  int amqp_port = std::stoi(std::getenv("FLASHSALE_AMQP_PORT"));
  double refused_before = refused();
  environment->partition("gw1", "services", amqp_port);
  auto cut_at = clock_type::now();
  // Held back to a trickle (the requests to a gateway without a broker are answered at once) for
  // 8 s: gw1 answers 503 all that time.
  EXPECT_TRUE(load->trickle_until(
      [&] { return refused() >= refused_before + 1 && seconds_since(cut_at) >= 8; }, 30s))
      << "gw1 answered no 503 within 30 s of losing the broker\n"
      << gw1.log_tail();
  double accepted_at_heal = accepted();
  double refused_at_heal = refused();
  environment->heal("gw1", "services");
  auto healed_at = clock_type::now();
  bool again = poll_until([&] { return accepted() > accepted_at_heal; }, 30s, 20ms);
  auto again_s = seconds_since(healed_at);
  std::cout << "[          ] gw1 cut off from the broker for " << seconds_since(cut_at) - again_s
            << " s: " << refused_at_heal - refused_before << " answered 503, " << accepted_at_heal
            << " accepted in all by the heal; accepting again " << again_s << " s after the heal\n";
  EXPECT_TRUE(again) << "gw1 accepted nothing within 30 s of the heal\n" << gw1.log_tail();
  auto first = finish_sale_load(*load, 120s);
  sell_the_rest_after_fault(first, 60s);
  expect_nodes_alive();
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

// (d) w1 cut off from PostgreSQL mid-sale, while it still reaches the broker: its batch in progress
// fails once the server has been silent for the connection's silence timeout (10 s), goes back to
// the queue, and w2 writes it and the rest; after the heal the sale ends with nothing lost.
TEST_F(cluster_on_hosts, a_writer_partitioned_from_the_database_returns_its_batches_to_the_other) {
  auto t0 = clock_type::now();
  auto setup = faults_on_hosts();
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto& w1 = writers_[0];
  auto load = start_sale_load();
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));

  int pg_port = std::stoi(std::getenv("FLASHSALE_PG_PORT"));
  auto failed_before = count_in_log(w1, "goes back to the queue");
  environment->partition("w1", "services", pg_port);
  auto cut_at = clock_type::now();
  bool returned = poll_until(
      [&] { return count_in_log(w1, "goes back to the queue") > failed_before; }, 40s, 100ms);
  auto returned_s = seconds_since(cut_at);
  EXPECT_TRUE(returned) << "w1's batch did not fail within 40 s of losing the database\n"
                        << w1.log_tail();
  auto first = finish_sale_load(*load, 120s);
  // Still cut off: every accepted purchase becomes an order through w2 alone.
  auto accepted = static_cast<std::size_t>(first.result.status(202));
  bool written = poll_until([&] { return orders_now().size() >= accepted; }, 60s, 200ms);
  auto written_s = seconds_since(cut_at);
  std::cout << "[          ] w1 cut off from PostgreSQL: its batch went back to the queue after "
            << returned_s << " s; the " << accepted << " purchases accepted were all written "
            << written_s << " s after the cut, w1 still cut off\n";
  EXPECT_TRUE(written) << "the other writer did not write every accepted purchase\n" << logs();
  environment->heal("w1", "services");
  sell_the_rest_after_fault(first, 60s);
  expect_nodes_alive();
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

// (b) gw1 cut off from ZooKeeper (still reached by its buyers and the broker) past its session
// timeout (6 s). It must stop admitting before its session can have expired on the ensemble's side
// (then the quota leader may hand its claim to another gateway), the other gateway sells on, and
// after the heal gw1 joins again and sells only what it is granted. A watcher checks sum(grants) <=
// stock at every state of the quota tree; the audit finds nothing admitted twice.
TEST_F(cluster_on_hosts, a_gateway_partitioned_from_zookeeper_stops_admitting_within_its_session) {
  auto t0 = clock_type::now();
  auto setup = faults_on_hosts();
  setup.gateway_args = {"--zookeeper.report-interval-ms=100", "--zookeeper.idle-release-ms=1000"};
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto watcher = watch_grants();
  auto& gw1 = gateways_[0];
  auto accepted = [&] { return purchases_of(gw1, "accepted"); };
  auto load = start_sale_load();
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));

  const std::string zk = std::getenv("FLASHSALE_ZK");  // "address:port"
  int zk_port = std::stoi(zk.substr(zk.rfind(':') + 1));
  double quota_at_cut = 0;  // what gw1 may sell without asking ZooKeeper
  for (const auto& p : sale_.products)
    quota_at_cut += gateway_metric_of(gw1, "flashsale_quota_left", {{"product", p.id}});
  environment->partition("gw1", "services", zk_port);
  auto cut_at = clock_type::now();
  double last = accepted();
  double last_202_s = 0;
  // The buyers held to a trickle for 15 s so that stock is left; gw1's 202s are watched meanwhile.
  load->trickle_until(
      [&] {
        double now = accepted();
        if (now > last) {
          last = now;
          last_202_s = seconds_since(cut_at);
        }
        return seconds_since(cut_at) >= 15;
      },
      30s);
  environment->heal("gw1", "services");
  std::cout << "[          ] gw1 cut off from ZooKeeper (session timeout 6 s) holding "
            << quota_at_cut << " units of quota: its last 202 came " << last_202_s
            << " s after the cut; healed after " << seconds_since(cut_at) << " s\n";
  EXPECT_GT(quota_at_cut, 0) << "gw1 held no quota when cut off: its lease was not put to the test";
  EXPECT_LT(last_202_s, 6.0) << "gw1 admitted after its session may have expired\n"
                             << gw1.log_tail();
  auto first = finish_sale_load(*load, 120s);
  sell_the_rest_after_fault(first, 60s);
  expect_grants_within_stock(*watcher);
  expect_nodes_alive();
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

// (f) kill -9 of gw1 mid-sale and no operator: once gw1's session expired the leader (gw2) takes
// back what gw1 had not claimed; once the queues drained, w1 fences gw1's claim epoch in the
// database and records its orders, and the leader hands gw2 the rest of gw1's grant too. The
// buyers, who keep coming to gw2, buy the whole stock.
TEST_F(cluster_on_hosts, a_killed_gateways_unsold_claim_is_sold_by_the_other_without_an_operator) {
  auto t0 = clock_type::now();
  auto setup = faults_on_hosts();
  setup.gateway_args = {"--zookeeper.report-interval-ms=100", "--zookeeper.idle-release-ms=1000"};
  ASSERT_NO_FATAL_FAILURE(start(setup));
  auto watcher = watch_grants();
  auto load = start_sale_load();
  ASSERT_NO_FATAL_FAILURE(wait_for_accepted(*load, fault_after));
  auto& gw1 = gateways_[0];
  auto& gw2 = gateways_[1];
  double gw1_accepted = purchases_of(gw1, "accepted");
  kill_node(gw1);
  auto killed_at = clock_type::now();
  // The first load's requests to gw1 now fail at once (connection refused); the rest go to gw2.
  load_run first{load->finish(120s), tickets_file_};
  expect_only_sale_statuses(first.result);

  // More buyers at gw2, held to a trickle until gw1 is settled so that stock is left to sell.
  constexpr std::uint64_t more = 150000;
  auto tickets = path_in_dir("tickets-2.txt");
  auto buyers = start_load({"--requests", std::to_string(more), "--users", std::to_string(more),
                            "--products", "Phone,Clothes,TV", "--connections", "16", "--timeout-ms",
                            "20000", "--tickets-out", tickets, "--progress"},
                           "load-2", {gw2.port});
  auto settled = [&] { return settled_record("gw1").has_value(); };
  bool was_settled = buyers->trickle_until(settled, 60s);
  auto settled_s = seconds_since(killed_at);
  ASSERT_TRUE(was_settled) << "no writer settled gw1 within 60 s\n"
                           << writers_[0].log_tail() << writers_[1].log_tail();
  auto rec = settled_record("gw1");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->by, "w1");
  std::int64_t gw1_orders = 0;
  for (const auto& [product, n] : rec->sold)
    gw1_orders += n;
  // Every 202 gw1 gave is one of its orders (nothing of it was fenced away).
  EXPECT_GE(static_cast<double>(gw1_orders), gw1_accepted);
  // At full speed now: the rest of the stock, gw1's unsold claim included, sells at gw2.
  std::size_t stock = 0;
  for (const auto& p : sale_.products)
    stock += static_cast<std::size_t>(p.stock);
  auto full_at = clock_type::now();
  bool sold_out = poll_until([&] { return orders_now().size() >= stock; }, 60s, 100ms);
  auto sold_out_s = seconds_since(full_at);
  std::cout << "[          ] gw1 killed after " << gw1_accepted << " of its purchases accepted; "
            << "settled by w1 " << settled_s
            << " s after the kill (session timeout 6 s): " << gw1_orders << " orders at epoch "
            << rec->epoch << "; the whole stock sold " << sold_out_s << " s after that\n";
  EXPECT_TRUE(sold_out) << "stock left 60 s after gw1 was settled\n" << gw2.log_tail();
  load_run second{buyers->finish(120s), tickets};
  expect_only_sale_statuses(second.result);
  EXPECT_EQ(second.result.errors, 0u) << second.result.output;
  auto a = audit({first, second}, 60s);
  EXPECT_EQ(a.unsold, 0);
  expect_grants_within_stock(*watcher);
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

/// The "latency_ms p50 .. p90 .. p99 .. max .." line of a load report.
std::string latency_line(const std::string& report) {
  auto at = report.find("latency_ms");
  return at == std::string::npos ? "(no latency line)"
                                 : report.substr(at, report.find('\n', at) - at);
}

// (e) 50 ms more each way on every node's link to a service (a relay on the harness delays every
// byte: this kernel has no netem, no qdisc at all), and 5% of the packets every host receives
// dropped, for the whole sale: TCP retransmits, every confirm, claim and batch waits longer, the
// sale is slower, nothing breaks. The buyers' links to the gateways and the gateways' links to the
// writers (CAF) see the loss but not the delay.
TEST_F(cluster_on_hosts, fifty_ms_delay_and_five_percent_loss_slow_the_sale_and_break_nothing) {
  auto t0 = clock_type::now();
  auto setup = faults_on_hosts();
  const auto& harness = environment->hosts()->harness_address();
  auto port_of = [](const char* name) { return std::stoi(std::getenv(name)); };
  const std::string zk = std::getenv("FLASHSALE_ZK");  // "address:port"
  const std::string services = std::getenv("FLASHSALE_PG_HOST");
  using flashsale::testing::delay_proxy;
  constexpr auto delay = 50ms;
  delay_proxy pg{harness, services, port_of("FLASHSALE_PG_PORT"), delay};
  delay_proxy amqp{harness, services, port_of("FLASHSALE_AMQP_PORT"), delay};
  delay_proxy zookeeper{harness, services, std::stoi(zk.substr(zk.rfind(':') + 1)), delay};
  // Host and port, and the lists that win over them when the services name one.
  std::vector<std::string> through_relays{"--db.host=" + harness,
                                          "--db.port=" + std::to_string(pg.port()),
                                          "--db.hosts=" + pg.endpoint(),
                                          "--amqp.host=" + harness,
                                          "--amqp.port=" + std::to_string(amqp.port()),
                                          "--amqp.hosts=" + amqp.endpoint(),
                                          "--zookeeper.hosts=" + zookeeper.endpoint()};
  setup.gateway_args = through_relays;
  setup.writer_args = through_relays;
  struct loss_guard {  // the other tests must not inherit the loss
    ~loss_guard() { environment->loss_everywhere(0); }
  } guard;
  environment->loss_everywhere(5);
  ASSERT_NO_FATAL_FAILURE(start(setup));
  // The nodes name the relays they use.
  EXPECT_GT(count_in_log(gateways_[0], "zookeeper " + zookeeper.endpoint()), 0u)
      << gateways_[0].log_tail();
  EXPECT_GT(count_in_log(gateways_[0], "amqp " + amqp.endpoint()), 0u) << gateways_[0].log_tail();
  EXPECT_GT(count_in_log(writers_[0], "at " + amqp.endpoint()), 0u) << writers_[0].log_tail();
  auto load = start_sale_load();
  auto first = finish_sale_load(*load, 180s);
  std::cout << "[          ] 50 ms each way to every service, 5% loss everywhere: "
            << latency_line(first.result.output) << "; sale time " << seconds_since(t0) << " s\n";
  sell_the_rest_after_fault(first, 60s);
  expect_nodes_alive();
  std::cout << "[          ] run time " << seconds_since(t0) << " s\n";
}

}  // namespace

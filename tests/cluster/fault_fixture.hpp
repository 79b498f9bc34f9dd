#pragma once

// The fault tests' fixture (tests/cluster/test_cluster_faults.cpp, test_replicated_faults.cpp): a
// cluster_fixture with the seed sale's load, the later load that sells what is left, and the checks
// every fault test makes. Test support only.

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/cluster/cluster_fixture.hpp"
#include "tests/support/grant_watcher.hpp"
#include "tests/support/amqp_tools.hpp"
#include "tests/support/http_client.hpp"

namespace flashsale::testing {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

inline const std::string& faults_sale_text() {
  static const std::string text = seed_sale("faults");
  return text;
}

constexpr std::uint64_t fault_requests = 40000;
constexpr std::uint64_t fault_after = 1000;  // 202s before the fault

inline double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

class cluster_faults : public cluster_fixture {
 protected:
  /// flashsale-load over the gateways `ports` (every gateway when empty): distinct users, enough
  /// requests to sell out.
  std::unique_ptr<background_load> start_sale_load(std::vector<int> ports = {}) {
    tickets_file_ = path_in_dir("tickets.txt");
    return start_load({"--requests", std::to_string(fault_requests), "--users",
                       std::to_string(fault_requests), "--connections", "16", "--timeout-ms",
                       "20000", "--tickets-out", tickets_file_, "--progress"},
                      "load", std::move(ports));
  }

  /// A later load that sells what is left: its users are u0.. again, but each buys another
  /// product than in the first load (the products rotated by `round`, 1 or 2), so no (user,
  /// product) repeats.
  load_run sell_the_rest(std::vector<int> ports, int round = 1, std::uint64_t n = 20000) {
    auto name = "load-" + std::to_string(round + 1);
    auto tickets = path_in_dir("tickets-" + std::to_string(round + 1) + ".txt");
    auto load =
        start_load({"--requests", std::to_string(n), "--users", std::to_string(n), "--products",
                    round == 1 ? "Phone,Clothes,TV" : "Clothes,TV,Phone", "--connections", "16",
                    "--timeout-ms", "20000", "--tickets-out", tickets, "--progress"},
                   name, std::move(ports));
    return {load->finish(60s), tickets};
  }

  /// Waits until the gateways accepted `n` purchases; fails when the load ended first.
  void wait_for_accepted(background_load& load, double n) {
    ASSERT_TRUE(poll_until([&] { return accepted_so_far() >= n || !load.running(); }, 30s, 20ms))
        << "fewer than " << n << " purchases accepted within 30 s\n"
        << load.log_tail() << logs();
    ASSERT_TRUE(load.running()) << "the load ended before the fault; make it longer\n"
                                << load.log_tail();
  }

  /// gateway_metric() of flashsale_purchases_total{outcome}.
  double purchases(const std::string& outcome) {
    return gateway_metric("flashsale_purchases_total", {{"outcome", outcome}});
  }
  /// The same of one gateway.
  static double purchases_of(const cluster_node& gateway, const std::string& outcome) {
    return gateway_metric_of(gateway, "flashsale_purchases_total", {{"outcome", outcome}});
  }

  /// The answers a sale may give here: accepted, sold out, refused by the queue.
  static void expect_only_sale_statuses(const load_result& r) {
    for (const auto& [code, n] : r.statuses)
      EXPECT_TRUE(code == 202 || code == 410 || code == 503)
          << n << " answers with status " << code << "\n"
          << r.output;
  }

  /// Waits up to `timeout` for the load start_sale_load() started; every request got an answer,
  /// none an error, all of them 202, 410 or 503 (EXPECTs).
  load_run finish_sale_load(background_load& load, std::chrono::milliseconds timeout) {
    load_run run{load.finish(timeout), tickets_file_};
    EXPECT_EQ(run.result.exit_code, 0) << "a request got no answer\n" << run.result.output;
    EXPECT_EQ(run.result.errors, 0u) << run.result.output;
    expect_only_sale_statuses(run.result);
    return run;
  }

  /// Writer batches that failed and went back to the queue, counted in the writers' logs.
  std::size_t failed_batches() const {
    std::size_t n = 0;
    for (const auto& w : writers_)
      n += count_in_log(w, "goes back to the queue");
    return n;
  }

  /// Order rows of the sale's database (as read_orders() reads them, through the server list);
  /// fails the test when they cannot be read.
  std::map<std::string, std::string> orders_now() {
    std::map<std::string, std::string> products;
    std::map<std::string, int> counts;
    std::string error;
    EXPECT_TRUE(read_orders(products, counts, &error)) << error;
    return products;
  }

  /// Stops `watcher` and expects sum(grants) <= stock in every state it saw, and that it saw the
  /// tree change; prints its figures.
  static void expect_grants_within_stock(grant_watcher& watcher) {
    watcher.stop();
    auto violations = watcher.violations();
    EXPECT_TRUE(violations.empty())
        << violations.size() << " states with sum(grants) > stock, first: " << violations.front();
    EXPECT_GT(watcher.snapshots(), 1u) << "the quota tree never changed: nothing was checked";
    std::cout << "[          ] watcher: " << watcher.snapshots()
              << " consistent states of the quota tree, sum(grants) <= stock in each (max sum "
              << watcher.max_sum() << ")\n";
  }

  /// A watcher of this sale's grants (every product, every gateway).
  std::unique_ptr<grant_watcher> watch_grants() {
    std::vector<std::string> products, names;
    for (const auto& p : sale_.products)
      products.push_back(p.id);
    for (const auto& g : gateways_)
      names.push_back(g.name);
    return std::make_unique<grant_watcher>(zk_->hosts(), *paths_, products, names);
  }

  /// The settled record a writer wrote for `gateway` (sales/<sale>/settled), if there is one.
  std::optional<quota::settled_znode> settled_record(const std::string& gateway) {
    auto rec = zk_->session().get(paths_->settled(gateway));
    return rec.ok() ? quota::decode_settled(rec.data) : std::nullopt;
  }

  /// Waits until `n` consumers consume the order queue.
  bool writers_consume(std::size_t n, std::chrono::milliseconds timeout) {
    return poll_until(
        [&] {
          try {
            return queue_state_of(amqp_, queue_).consumers >= n;
          } catch (const std::exception&) {
            return false;
          }
        },
        timeout, 200ms);
  }

  /// After a fault of the services and the first load `first`: the gateways become healthy and the
  /// writers consume again by themselves, a second load sells the rest (only 202/410/503, no
  /// error), and the audit of both finds nothing lost, duplicated or oversold and no stock unsold
  /// (printed with the purchases of unknown fate).
  void sell_the_rest_after_fault(const load_run& first, std::chrono::milliseconds drain_timeout) {
    for (auto& g : gateways_)
      EXPECT_TRUE(wait_until_healthy(g.address, g.port, 30000)) << g.log_tail();
    EXPECT_TRUE(writers_consume(writers_.size(), 30s)) << logs();
    auto second = sell_the_rest({});
    EXPECT_EQ(second.result.errors, 0u) << second.result.output;
    expect_only_sale_statuses(second.result);
    auto a = audit({first, second}, drain_timeout);
    std::cout << "[          ] purchases of unknown fate (sent, no confirm): "
              << gateway_metric("flashsale_publish_unconfirmed_total") << "\n";
    EXPECT_EQ(a.unsold, 0);
  }

  std::string tickets_file_;
};

}  // namespace flashsale::testing

// The seed scenario on the larger cluster of config/ (4 gateways, 2 writers): 3 products x 1,000
// units, buyers spread over every gateway with the sale's lottery (keep 1 in 10), and afterwards
// the operator's view of the cluster (flashsale-admin status). What must hold: every 202 is
// exactly one order, nothing oversold, the whole stock sold to buyers who keep coming (a first
// load of 200,000 requests, then a second one with the products rotated: units that moved between
// gateways near the end of the first, after a grant was released and granted again, sell to the
// second; a bounded load cannot wait for that by itself), and every node answers status with its
// role and the nodes of the other role it is connected to, the writers' orders adding up to the
// stock. Prints the figures line like the fault tests. Runs alone (RUN_SERIAL): it measures a sale
// end to end.

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster/cluster_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::testing::cluster_fixture;
using flashsale::testing::cluster_setup;
using flashsale::testing::load_run;
using flashsale::testing::poll_until;
using clock_type = std::chrono::steady_clock;

const std::string sale_text = flashsale::testing::seed_sale("seed");

/// One row of flashsale-admin status.
struct status_row {
  std::string role;
  bool reachable = false;
  std::string peers;                           ///< "a,b" or "-"
  std::map<std::string, std::int64_t> counts;  ///< the last column, k=v,k=v
};

/// The rows of the table by node: "node role uptime lag batches per_s peers quota counts", or
/// "node role unreachable: why".
std::map<std::string, status_row> parse_status(const std::string& text) {
  std::map<std::string, status_row> rows;
  std::istringstream in(text);
  std::string line;
  static const std::regex pair("([a-z_]+)=(-?[0-9]+)");
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string node, role, uptime, lag, batches, per_s, peers, quota, counts;
    if (!(words >> node >> role >> uptime) || node == "node" || node == "lag:")
      continue;
    status_row r;
    r.role = role;
    if (uptime != "unreachable:" &&
        (words >> lag >> batches >> per_s >> peers >> quota >> counts)) {
      r.reachable = true;
      r.peers = peers;
      for (std::sregex_iterator it(counts.begin(), counts.end(), pair), end; it != end; ++it)
        r.counts[(*it)[1].str()] = std::stoll((*it)[2].str());
    }
    rows[node] = r;
  }
  return rows;
}

class cluster_sale : public cluster_fixture {};

TEST_F(cluster_sale, four_gateways_and_two_writers_sell_exactly_the_stock) {
  auto t0 = clock_type::now();
  cluster_setup setup{sale_text};
  setup.gateways = 4;
  setup.writers = 2;
  setup.keep_one_in = 10;
  ASSERT_NO_FATAL_FAILURE(start(setup));

  constexpr std::uint64_t requests = 200000;
  auto tickets = path_in_dir("tickets.txt");
  auto load = start_load({"--requests", std::to_string(requests), "--users",
                          std::to_string(requests), "--connections", "32", "--timeout-ms", "20000",
                          "--tickets-out", tickets, "--progress"});
  load_run run{load->finish(120s), tickets};
  // The same buyers again, each for another product than before (no user buys one twice).
  constexpr std::uint64_t more = 40000;
  auto more_tickets = path_in_dir("tickets-2.txt");
  auto second_load =
      start_load({"--requests", std::to_string(more), "--users", std::to_string(more), "--products",
                  "Phone,Clothes,TV", "--connections", "32", "--timeout-ms", "20000",
                  "--tickets-out", more_tickets, "--progress"},
                 "load-2");
  load_run second{second_load->finish(120s), more_tickets};
  for (const auto* r : {&run, &second}) {
    ASSERT_EQ(r->result.exit_code, 0) << r->result.output;
    EXPECT_EQ(r->result.errors, 0u) << r->result.output;
    EXPECT_EQ(r->result.statuses_total(), r->result.requests) << r->result.output;
    for (const auto& [code, n] : r->result.statuses)
      EXPECT_TRUE(code == 202 || code == 410 || code == 429 || code == 503)
          << n << " answers with status " << code << "\n"
          << r->result.output;
  }
  EXPECT_EQ(run.result.requests, requests);
  EXPECT_EQ(run.result.status(202) + second.result.status(202), 3000u)
      << run.result.output << second.result.output;
  std::cout << "[          ] 202s: " << run.result.status(202) << " in the first load, "
            << second.result.status(202) << " in the second\n";

  auto a = audit({run, second}, 60s);
  EXPECT_EQ(a.unsold, 0);
  expect_nodes_alive();

  // The operator's view: every node answers, each sees every node of the other role, and the
  // writers' confirmed orders add up to the stock (each order written once, by one writer).
  std::string out;
  std::map<std::string, status_row> rows;
  auto complete = [&] {
    out.clear();
    if (run_admin({"status", "--zk", zk_->hosts(), "--zk-root", zk_->root()}, &out) != 0)
      return false;
    rows = parse_status(out);
    std::int64_t confirmed = 0;
    for (const auto& [node, r] : rows)
      confirmed += r.role == "writer" && r.counts.count("confirmed") ? r.counts.at("confirmed") : 0;
    bool all_reachable = true;
    for (const auto& [node, r] : rows)
      all_reachable = all_reachable && r.reachable;
    return rows.size() == 6 && all_reachable && confirmed == 3000;
  };
  EXPECT_TRUE(poll_until(complete, 15s, 500ms)) << out;
  std::cout << out;
  for (const auto& g : gateways_) {
    ASSERT_EQ(rows.count(g.name), 1u) << out;
    EXPECT_EQ(rows[g.name].role, "gateway");
    EXPECT_EQ(rows[g.name].peers, "w1,w2") << out;
  }
  for (const auto& w : writers_) {
    ASSERT_EQ(rows.count(w.name), 1u) << out;
    EXPECT_EQ(rows[w.name].role, "writer");
    EXPECT_EQ(rows[w.name].peers, "gw1,gw2,gw3,gw4") << out;
  }
  std::int64_t accepted = 0;
  for (const auto& g : gateways_)
    accepted += rows[g.name].counts["accepted"];
  EXPECT_EQ(accepted, 3000) << out;
  std::cout << "[          ] run time "
            << std::chrono::duration<double>(clock_type::now() - t0).count() << " s\n";
}

}  // namespace

#include "tests/cluster/cluster_fixture.hpp"

#include <algorithm>
#include <csignal>
#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/amqp_tools.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/service_accounts.hpp"

namespace flashsale::testing {

using namespace std::chrono_literals;

namespace {

std::string describe_exit(int status) {
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exit code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

std::string cluster_node::log_tail(int lines) const {
  return process ? process->log_tail(lines) : std::string{};
}

std::string seed_sale(const std::string& name) {
  std::string text = "[sale]\nname = " + name + "\n";
  for (const char* product : {"TV", "Phone", "Clothes"})
    text += std::string("[product.") + product + "]\nstock = 1000\nslots = 4\n";
  return text;
}

std::string sale_audit::figures() const {
  std::ostringstream s;
  s << "requests " << requests << ", 202s " << accepted << ", orders " << orders << ", lost "
    << lost << ", duplicated " << duplicated << ", oversold " << oversold << ", unsold stock "
    << unsold;
  return s.str();
}

// --- set-up and tear-down
// -------------------------------------------------------------------------

void cluster_fixture::start(const cluster_setup& setup) {
  ASSERT_NO_FATAL_FAILURE(create_sale("cluster", setup.sale_text, true));
  const auto& server = database_->admin();

  std::vector<std::string> amqp_args{
      "--amqp.host=" + amqp_.host, "--amqp.port=" + std::to_string(amqp_.port),
      "--amqp.queue=" + queue_, "--amqp.dead-letter-queue=" + dead_letter_queue_};
  if (!amqp_.brokers.empty())  // the replicated services: every node of the cluster
    amqp_args.push_back("--amqp.hosts=" + amqp_.endpoint());
  std::vector<std::string> service_args{"--db.host=" + server.host,
                                        "--db.port=" + std::to_string(server.port),
                                        "--db.database=" + server.dbname};
  if (!server.servers.empty())  // a primary and its standby: whichever accepts writes
    service_args.push_back("--db.hosts=" + host_list_text(server.servers));
  service_args.insert(service_args.end(), amqp_args.begin(), amqp_args.end());
  // Starts `binary` for `node`: on its host when the cluster has hosts, with the address flags.
  auto launch = [&](cluster_node& node, const std::string& binary, std::vector<std::string> args) {
    if (setup.hosts == nullptr) {
      node.process = std::make_unique<child_process>(binary, args, node.log_path);
      return;
    }
    node.address = setup.hosts->address(node.name);
    args.push_back("--cluster.address=" + node.address);
    if (node.port != 0)
      args.push_back("--http.address=" + node.address);
    args.insert(args.begin(), binary);
    auto argv = setup.hosts->on(node.name, args);
    node.process = std::make_unique<child_process>(
        argv[0], std::vector<std::string>(argv.begin() + 1, argv.end()), node.log_path);
  };
  for (int i = 1; i <= setup.writers; ++i) {
    cluster_node w;
    w.name = "w" + std::to_string(i);
    w.log_path = path_in_dir(w.name + ".log");
    std::vector<std::string> args{
        "--config-file=config/writer-1.ini", "--writer.name=" + w.name,
        "--writer.sale-file=" + sale_file_,  "--writer.stats-interval-s=1",
        "--zookeeper.hosts=" + zk_->hosts(), "--zookeeper.root=" + zk_->root()};
    args.insert(args.end(), service_args.begin(), service_args.end());
    for (auto& arg : writer_credential_args())
      args.push_back(std::move(arg));
    args.insert(args.end(), setup.writer_args.begin(), setup.writer_args.end());
    launch(w, FLASHSALE_WRITER_BIN, std::move(args));
    writers_.push_back(std::move(w));
  }
  for (int i = 1; i <= setup.gateways; ++i) {
    cluster_node g;
    g.name = "gw" + std::to_string(i);
    g.port = free_port();
    g.log_path = path_in_dir(g.name + ".log");
    std::vector<std::string> args{"--config-file=config/gateway-1.ini",
                                  "--gateway.name=" + g.name,
                                  "--gateway.sale-file=" + sale_file_,
                                  "--gateway.keep-one-in=" + std::to_string(setup.keep_one_in),
                                  "--auth.mode=off",  // buyer tokens are tested in test_gateway
                                  "--http.port=" + std::to_string(g.port),
                                  "--http.io-threads=1",
                                  "--zookeeper.hosts=" + zk_->hosts(),
                                  "--zookeeper.root=" + zk_->root(),
                                  "--zookeeper.expected-gateways=" + std::to_string(setup.gateways),
                                  "--scheduler.max-threads=2"};
    args.insert(args.end(), service_args.begin(), service_args.end());
    for (auto& arg : gateway_credential_args())
      args.push_back(std::move(arg));
    args.insert(args.end(), setup.gateway_args.begin(), setup.gateway_args.end());
    launch(g, FLASHSALE_GATEWAY_BIN, std::move(args));
    gateways_.push_back(std::move(g));
  }

  for (auto& g : gateways_) {
    bool healthy = poll_until(
        [&] { return !g.process->running() || wait_until_healthy(g.address, g.port, 200); }, 30s);
    ASSERT_TRUE(healthy && g.process->running()) << g.name << " is not healthy\n" << g.log_tail();
  }
  // Every writer consumes the order queue.
  bool consuming = poll_until(
      [&] {
        for (auto& w : writers_)
          if (!w.process->running())
            return true;
        try {
          return queue_state_of(amqp_, queue_).consumers >= writers_.size();
        } catch (const amqp::amqp_error&) {
          return false;
        }
      },
      30s, 100ms);
  for (auto& w : writers_)
    ASSERT_TRUE(w.process->running()) << w.name << " exited\n" << w.log_tail();
  ASSERT_TRUE(consuming) << "the writers do not all consume " << queue_ << "\n" << logs();
  // The first split: every gateway holds a grant of every product.
  for (auto& g : gateways_)
    for (const auto& p : sale_.products)
      ASSERT_TRUE(wait_until_granted(zk_->session(), *paths_, g.name, p.id, 30000))
          << g.name << " has no grant of " << p.id << "\n"
          << g.log_tail();
}

void cluster_fixture::TearDown() {
  restore_services();  // first: everything below needs them
  for (auto& n : gateways_)
    if (n.frozen)
      thaw_node(n);
  for (auto& n : writers_)
    if (n.frozen)
      thaw_node(n);
  expect_nodes_alive();
  bool keep_logs = HasFailure();
  if (keep_logs)
    std::cout << logs();
  gateways_.clear();  // SIGTERM, then SIGKILL after 10 s
  writers_.clear();
  release_sale(keep_logs);
}

// --- nodes
// ------------------------------------------------------------------------------------------

void cluster_fixture::kill_node(cluster_node& node) {
  node.killed = true;
  node.process->signal(SIGKILL);
  EXPECT_NE(node.process->wait(10000), -1) << node.name << " did not die of SIGKILL";
}

void cluster_fixture::freeze_node(cluster_node& node) {
  node.frozen = true;
  node.process->signal(SIGSTOP);
}

void cluster_fixture::thaw_node(cluster_node& node) {
  node.process->signal(SIGCONT);
  node.frozen = false;
}

std::string cluster_fixture::gateway_endpoints(const std::vector<int>& ports) const {
  std::string list;
  for (const auto& g : gateways_)
    if (ports.empty() || std::find(ports.begin(), ports.end(), g.port) != ports.end())
      list += (list.empty() ? "" : ",") + g.address + ":" + std::to_string(g.port);
  return list;
}

std::vector<int> cluster_fixture::gateway_ports() const {
  std::vector<int> ports;
  for (const auto& g : gateways_)
    ports.push_back(g.port);
  return ports;
}

double cluster_fixture::gateway_metric(const std::string& name,
                                       const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (auto& g : gateways_)
    if (!g.killed && !g.frozen)
      sum += gateway_metric_of(g, name, labels);
  return sum;
}

double cluster_fixture::gateway_metric_of(const cluster_node& gateway, const std::string& name,
                                          const std::map<std::string, std::string>& labels) {
  try {
    http_client client{gateway.address, gateway.port, 2000};
    auto page = metrics_page::parse(client.request("GET", "/metrics").body);
    return page.get(name, labels).value_or(0);
  } catch (const std::exception&) {
    return 0;
  }
}

void cluster_fixture::expect_nodes_alive() {
  for (auto* group : {&gateways_, &writers_})
    for (auto& n : *group) {
      if (n.killed || !n.process || n.process->running())
        continue;
      ADD_FAILURE() << n.name << " exited by itself: " << describe_exit(n.process->wait(0)) << "\n"
                    << n.log_tail();
      n.killed = true;  // reported once
    }
}

std::string cluster_fixture::logs() const {
  std::string out;
  for (const auto* group : {&gateways_, &writers_})
    for (const auto& n : *group)
      out += n.log_tail(25);
  return out;
}

std::size_t cluster_fixture::count_in_log(const cluster_node& node, const std::string& needle) {
  std::ifstream in(node.log_path);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line))
    n += line.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

std::map<std::string, std::uint64_t> cluster_fixture::writer_stats_of(const cluster_node& w) {
  std::map<std::string, std::uint64_t> counts;
  std::ifstream in(w.log_path);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find("writer stats") != std::string::npos)
      last = line;
  std::istringstream words(last.substr(std::min(last.size(), last.find("stats") + 5)));
  std::string word;
  while (words >> word) {
    auto eq = word.find('=');
    if (eq != std::string::npos)
      counts[word.substr(0, eq)] = std::strtoull(word.c_str() + eq + 1, nullptr, 10);
  }
  return counts;
}

std::map<std::string, std::uint64_t> cluster_fixture::writer_stats() const {
  std::map<std::string, std::uint64_t> sums;
  for (const auto& w : writers_)
    for (const auto& [key, n] : writer_stats_of(w))
      sums[key] += n;
  return sums;
}

// --- load
// -------------------------------------------------------------------------------------------

std::unique_ptr<background_load> cluster_fixture::start_load(const std::vector<std::string>& args,
                                                             const std::string& name,
                                                             std::vector<int> ports) {
  std::vector<std::string> all{"--gateways", gateway_endpoints(ports)};
  all.insert(all.end(), args.begin(), args.end());
  return std::make_unique<background_load>(all, path_in_dir(name + ".log"));
}

std::map<std::string, std::uint64_t> cluster_fixture::errors_by_kind(const load_result& result) {
  std::map<std::string, std::uint64_t> kinds;
  std::istringstream in(result.output);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, kind;
    std::uint64_t n = 0;
    if (words >> key >> kind >> n && key == "error")
      kinds[kind] = n;
  }
  return kinds;
}

// --- services
// ---------------------------------------------------------------------------------------

// --- RabbitMQ, PostgreSQL
// -----------------------------------------------------------------------------

// --- the audit
// ----------------------------------------------------------------------------------------

sale_audit cluster_fixture::audit(const std::vector<load_run>& runs,
                                  std::chrono::milliseconds drain_timeout) {
  sale_audit a;
  std::map<std::string, load_ticket> accepted;  // by request id
  std::uint64_t no_answer_or_503 = 0;
  for (const auto& run : runs) {
    const auto& result = run.result;
    a.requests += result.requests;
    auto tickets = read_tickets(run.tickets_file);
    a.accepted += tickets.size();
    EXPECT_EQ(tickets.size(), result.status(202))
        << run.tickets_file << ": --tickets-out and the 202 count disagree";
    for (const auto& t : tickets)
      EXPECT_TRUE(accepted.emplace(t.request_id(), t).second)
          << "request id " << t.request_id() << " was answered 202 twice";
    no_answer_or_503 += result.errors + result.status(503);
    EXPECT_EQ(result.answered + result.errors, result.requests) << result.output;
  }

  // The writers drain the queue: every 202 has its order, nothing is left, the count is stable.
  std::map<std::string, std::string> products;
  std::map<std::string, int> counts;
  std::string db_error;
  // Settled, with 202s still missing: the queue is empty, no order came for 3 s and every running
  // writer has finished each delivery it got (its last stats line); waiting longer is useless.
  std::size_t last_rows = static_cast<std::size_t>(-1);
  int stable_polls = 0;
  bool settled = false;
  double in_doubt = 0;
  auto drain_started = std::chrono::steady_clock::now();
  poll_until(
      [&] {
        if (!read_orders(products, counts, &db_error))
          return false;
        std::size_t rows = 0;
        for (const auto& [id, n] : counts)
          rows += static_cast<std::size_t>(n);
        stable_polls = rows == last_rows ? stable_polls + 1 : 0;
        last_rows = rows;
        if (stable_polls == 0 || queued() != 0)
          return false;
        a.drained = true;
        for (const auto& [id, ticket] : accepted)
          a.drained = a.drained && counts.count(id) != 0;
        // Purchases answered 503 whose fate the broker left unknown are re-sent by their gateway
        // until a copy is confirmed; until then their units are neither sold nor free.
        in_doubt = gateway_metric("flashsale_publish_in_doubt");
        if (a.drained && in_doubt == 0)
          return true;
        bool writers_idle = true;
        for (const auto& w : writers_) {
          if (w.killed || !w.process || !w.process->running())
            continue;
          auto c = writer_stats_of(w);
          writers_idle = writers_idle && c["delivered"] == c["acked"] + c["requeued"] +
                                                               c["dead_lettered"] + c["returned"];
        }
        settled = writers_idle && stable_polls >= 6;
        return settled;
      },
      drain_timeout, 500ms);
  auto drain_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_started).count();
  EXPECT_TRUE(a.drained) << "the writers did not write every 202 "
                         << (settled ? "and have nothing left to write"
                                     : "within " + std::to_string(drain_timeout.count()) + " ms")
                         << " (queue holds " << queued() << (db_error.empty() ? "" : ", ")
                         << db_error << ")\n"
                         << logs();
  EXPECT_EQ(in_doubt, 0) << "purchases of unknown fate still re-sent by the gateways\n" << logs();

  for (const auto& [id, n] : counts) {
    a.orders += static_cast<std::uint64_t>(n);
    a.duplicated += n > 1 ? 1 : 0;
    auto i = accepted.find(id);
    if (i == accepted.end())
      ++a.unconfirmed;
    else if (products[id] != i->second.product)
      ++a.wrong_product;
  }
  std::map<std::string, std::uint64_t> lost_by;  // "<gateway> <product>" of the lost 202s
  for (const auto& [id, t] : accepted)
    if (counts.count(id) == 0) {
      ++a.lost;
      ++lost_by[t.ticket.substr(0, t.ticket.find('-')) + " " + t.product];
      if (a.lost_ids.size() < 20)
        a.lost_ids.push_back(id + " (ticket " + t.ticket + ")");
    }
  for (const auto& [where, n] : lost_by)
    std::cout << "[          ] lost 202s of " << where << ": " << n << "\n";

  // I1-I3 per product, as the database sees them (a new connection: PostgreSQL may have been
  // restarted since the sale was created).
  try {
    admin_ = db::schema_admin::connect(database_->admin());
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot connect to the database: " << e.what();
    return a;
  }
  std::int64_t sold = 0;
  for (const auto& p : sale_.products) {
    auto r = admin_->report(p.id);
    if (!r) {
      ADD_FAILURE() << "no report for " << p.id;
      continue;
    }
    a.oversold += std::max<std::int64_t>(0, r->sold - r->made_available);
    a.unsold += r->remaining;
    sold += r->sold;
    EXPECT_TRUE(r->ok()) << p.id << ": made available " << r->made_available << ", sold " << r->sold
                         << ", remaining " << r->remaining << ", negative slots "
                         << r->negative_slots << ", duplicate requests " << r->duplicate_requests
                         << ", users over limit " << r->users_over_limit;
    EXPECT_LE(r->sold, p.stock) << p.id << " oversold";
  }
  // The operator's view agrees (exit 1 when an invariant FAILs).
  std::string report;
  EXPECT_EQ(
      run_admin({"report", "--sale", sale_file_, "--db-name", database_->admin().dbname}, &report),
      0)
      << report;

  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& result = runs[i].result;
    std::cout << "[          ] load " << i + 1 << ": " << result.requests << " requests, answered "
              << result.answered << ", errors " << result.errors;
    for (const auto& [kind, n] : errors_by_kind(result))
      if (n > 0)
        std::cout << " (" << kind << " " << n << ")";
    std::cout << "; statuses";
    for (const auto& [code, n] : result.statuses)
      std::cout << " " << code << ":" << n;
    std::cout << "\n";
  }
  a.writer_stats = writer_stats();
  std::cout << "[          ] orders without a 202 " << a.unconfirmed << "; drained " << drain_s
            << " s after the load; writers:";
  for (const auto& [key, n] : a.writer_stats)
    std::cout << " " << key << "=" << n;
  std::cout << "\n" << a.figures() << "\n";

  EXPECT_EQ(a.lost, 0u) << "202s without an order, e.g. "
                        << (a.lost_ids.empty() ? "" : a.lost_ids.front());
  for (const auto& id : a.lost_ids)
    std::cout << "[          ] lost 202: " << id << "\n";
  EXPECT_EQ(a.duplicated, 0u) << "request ids with more than one order";
  EXPECT_EQ(a.wrong_product, 0u) << "orders of another product than their 202";
  EXPECT_EQ(a.oversold, 0);
  EXPECT_EQ(static_cast<std::int64_t>(a.orders), sold);
  // An order nobody was told about comes from a request whose answer the client never saw (an
  // error) or a 503 whose publish the broker stored after all; nothing else.
  EXPECT_LE(a.unconfirmed, no_answer_or_503)
      << "orders without a 202 beyond the requests that got no answer or a 503";
  return a;
}

}  // namespace flashsale::testing

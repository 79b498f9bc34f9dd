// Live quotas against the real private ZooKeeper and RabbitMQ (and PostgreSQL for the stock
// change): three gateway processes share one product. Every test has its own ZooKeeper root and
// queue, starts its own processes, and runs a watcher that checks sum(grants) <= stock at every
// consistent state it observes. Timeouts are short (session 4 s, the server's minimum with
// tickTime 2000; idle release 1 s; reports every 100 ms) so the suite stays fast.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "quota/znodes.hpp"
#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/schema_admin.hpp"
#include "common/sale_definition.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/grant_watcher.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/queue_probe.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/scratch_zookeeper.hpp"
#include "tests/support/service_accounts.hpp"

namespace {

using namespace flashsale;
using flashsale::testing::child_process;
using flashsale::testing::grant_watcher;
using flashsale::testing::http_client;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int session_timeout_ms = 4000;  // asked for; the private server grants >= 4000
constexpr int server_tick_ms = 2000;      // zoo.cfg tickTime: sessions expire on tick boundaries
constexpr int idle_release_ms = 1000;
constexpr int report_interval_ms = 100;
constexpr const char* product = "TV";
const std::vector<std::string> names{"gw1", "gw2", "gw3"};

std::int64_t since_ms(clock_type::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(clock_type::now() - t0).count();
}

/// Polls `done` every 10 ms until it holds or `timeout_ms` passes.
bool eventually(int timeout_ms, const std::function<bool()>& done) {
  auto deadline = clock_type::now() + milliseconds{timeout_ms};
  while (clock_type::now() < deadline) {
    if (done())
      return true;
    std::this_thread::sleep_for(milliseconds{10});
  }
  return done();
}

// -- buyers: one thread per gateway ------------------------------------------------------------

class buyers {
 public:
  /// `per_gateway` client threads (keep-alive connections) per gateway.
  buyers(std::vector<int> ports, int per_gateway)
      : ports_(std::move(ports)), lanes_(ports_.size()) {
    for (std::size_t i = 0; i < ports_.size(); ++i)
      for (int t = 0; t < per_gateway; ++t)
        threads_.emplace_back([this, i, t] { run(i, t); });
  }
  ~buyers() { stop(); }

  void stop() {
    if (stopping_.exchange(true))
      return;
    for (auto& t : threads_)
      t.join();
  }

  /// Starts or stops the traffic to gateway `i`; stopping waits until no request is in flight.
  void set_active(std::size_t i, bool on, int pause_ms = 0) {
    lanes_[i].pause_ms = pause_ms;
    lanes_[i].active = on;
    if (!on)
      eventually(20000, [&] { return lanes_[i].busy.load() == 0; });
  }
  void set_all(bool on, int pause_ms = 0) {
    for (std::size_t i = 0; i < lanes_.size(); ++i)
      set_active(i, on, pause_ms);
  }

  long accepted(std::size_t i) const { return lanes_[i].accepted.load(); }
  long refused(std::size_t i) const { return lanes_[i].refused.load(); }
  long accepted() const {
    long n = 0;
    for (const auto& l : lanes_)
      n += l.accepted.load();
    return n;
  }
  /// Answers after which the purchase may or may not be in the queue: 503 (the broker refused or
  /// did not confirm in time: the unit was refunded, but an unconfirmed message may still have
  /// been stored) and requests that got no answer.
  long in_doubt() const {
    std::lock_guard<std::mutex> guard{mtx_};
    long n = 0;
    for (const auto& [status, count] : statuses_)
      if (status == 503 || status == 0)
        n += count;
    return n;
  }
  long unexpected() const {
    long n = 0;
    for (const auto& l : lanes_)
      n += l.unexpected.load();
    return n;
  }

 private:
  struct lane {
    std::atomic<bool> active{false};
    std::atomic<int> busy{0};  // requests in flight
    std::atomic<int> pause_ms{0};
    std::atomic<long> accepted{0};
    std::atomic<long> refused{0};     // 410: no quota here (now)
    std::atomic<long> unexpected{0};  // anything else (503, no answer, ...)
  };

  void note_unexpected(lane& l, int status) {
    ++l.unexpected;
    std::lock_guard<std::mutex> guard{mtx_};
    ++statuses_[status];
  }

 public:
  /// Answers other than 202 and 410 by status (0: no answer, -1: cannot connect).
  std::map<int, long> unexpected_statuses() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return statuses_;
  }

 private:
  void run(std::size_t i, int t) {
    std::unique_ptr<http_client> client;
    long n = 0;
    auto& l = lanes_[i];
    int last_status = 0;
    while (!stopping_) {
      last_status = 202;
      if (!l.active) {
        std::this_thread::sleep_for(milliseconds{2});
        continue;
      }
      ++l.busy;
      if (l.active) {
        try {
          // The gateway answers within its publish timeout (8 s): wait longer than that, so an
          // acceptance is never missed.
          if (!client)
            client = std::make_unique<http_client>(ports_[i], 15000);
          auto user = "b" + std::to_string(i) + "-" + std::to_string(t) + "-" + std::to_string(n++);
          auto r = client->request("POST", std::string("/v1/products/") + product + "/purchase",
                                   "{\"user\":\"" + user + "\"}");
          last_status = r.status;
          if (r.status == 202)
            ++l.accepted;
          else if (r.status == 410)
            ++l.refused;
          else
            note_unexpected(l, r.status);
          if (r.status == 0)
            client.reset();
        } catch (const std::exception&) {
          last_status = -1;
          note_unexpected(l, -1);
          client.reset();
        }
      }
      --l.busy;
      // Like a real client, back off a little after a refusal (and do not flood the machine).
      if (last_status == 410 || last_status == 503 || last_status <= 0)
        std::this_thread::sleep_for(milliseconds{last_status == 410 ? 10 : 50});
      else if (l.pause_ms > 0)
        std::this_thread::sleep_for(milliseconds{l.pause_ms});
    }
  }

  std::vector<int> ports_;
  std::vector<lane> lanes_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mtx_;
  std::map<int, long> statuses_;
  std::vector<std::thread> threads_;
};

// -- the fixture -------------------------------------------------------------------------------

struct gateway_process {
  std::string name;
  int port = 0;
  bool killed = false;  ///< killed by the test on purpose
  std::unique_ptr<child_process> process;

  void kill() {
    killed = true;
    process->signal(SIGKILL);
    process->wait(5000);
  }
};

class live_quotas : public ::testing::Test {
 protected:
  void SetUp() override {
    started_ = clock_type::now();
    auto id = std::to_string(::getpid());
    static int test_number = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("flashsale-quota-" + id + "-" + std::to_string(++test_number));
    std::filesystem::create_directories(dir_);
    sale_file_ = (dir_ / "sale.ini").string();
    std::ofstream(sale_file_) << "[sale]\nname = live\n[product." << product
                              << "]\nstock = 1000\nslots = 4\n";
    queue_ = "flashsale.quota." + id;
    amqp_ = amqp::connection_params::from_env();
    ASSERT_NO_THROW(amqp::amqp_connection{amqp_}.declare(
        amqp::topology{"flashsale", queue_, "flashsale.dead", 1000000, {}}));
    zk_ = std::make_unique<flashsale::testing::scratch_zookeeper>("flashsale-test");
    paths_ = std::make_unique<quota::layout>(zk_->root(), "live");
    ASSERT_EQ(run_admin({"zk", "init", "--sale", sale_file_, "--zk", zk_->hosts(), "--zk-root",
                         zk_->root()}),
              0);
    watcher_ = std::make_unique<grant_watcher>(zk_->hosts(), *paths_,
                                               std::vector<std::string>{product}, names);
  }

  void TearDown() override {
    if (buyers_)
      buyers_->stop();
    if (watcher_) {
      watcher_->stop();
      auto violations = watcher_->violations();
      EXPECT_TRUE(violations.empty())
          << violations.size() << " violations, first: " << violations.front();
      EXPECT_GT(watcher_->snapshots(), 0u);
      std::cout << "[watcher] " << watcher_->snapshots()
                << " consistent states checked, sum(grants) <= stock in each (max sum "
                << watcher_->max_sum() << ")\n";
    }
    // No gateway may have died on its own (a crash would look like a gone node).
    for (auto& g : gateways_) {
      if (g.killed || g.process->running())
        continue;
      int status = g.process->wait(0);
      ADD_FAILURE() << g.name << " exited by itself: "
                    << (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                            : "exit code " + std::to_string(WEXITSTATUS(status)));
    }
    bool keep_logs = HasFailure();
    if (keep_logs)
      for (auto& g : gateways_)
        std::cout << g.process->log_tail(40);
    buyers_.reset();
    gateways_.clear();
    writer_.reset();
    watcher_.reset();
    flashsale::testing::delete_queue(amqp_, queue_);
    zk_.reset();
    database_.reset();
    if (keep_logs)
      std::cout << "logs kept in " << dir_.string() << "\n";
    else
      std::filesystem::remove_all(dir_);
  }

  int run_admin(std::vector<std::string> args) {
    auto log = (dir_ / "admin.log").string();
    child_process admin{FLASHSALE_ADMIN_BIN, args, log};
    int status = admin.wait(30000);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::cout << admin.log_tail();
      return status == -1 ? -1 : WEXITSTATUS(status);
    }
    std::ifstream in(log);
    std::cout << in.rdbuf();
    return 0;
  }

  /// Starts gw1..gw3 (expecting three for the first split) and waits until each is ready.
  void start_gateways() {
    for (const auto& name : names) {
      gateway_process g;
      g.name = name;
      g.port = flashsale::testing::free_port();
      std::vector<std::string> args{
          "--config-file=config/gateway-1.ini",
          "--gateway.name=" + name,
          "--gateway.sale-file=" + sale_file_,
          "--gateway.keep-one-in=1",
          "--auth.mode=off",  // buyer tokens are tested in test_gateway
          "--http.port=" + std::to_string(g.port),
          "--http.io-threads=1",
          "--amqp.port=" + std::to_string(amqp_.port),
          "--amqp.queue=" + queue_,
          "--zookeeper.hosts=" + zk_->hosts(),
          "--zookeeper.root=" + zk_->root(),
          "--zookeeper.session-timeout-ms=" + std::to_string(session_timeout_ms),
          "--zookeeper.report-interval-ms=" + std::to_string(report_interval_ms),
          "--zookeeper.idle-release-ms=" + std::to_string(idle_release_ms),
          "--zookeeper.expected-gateways=3",
          "--scheduler.max-threads=2",
      };
      for (auto& arg : flashsale::testing::gateway_credential_args())
        args.push_back(std::move(arg));
      g.process = std::make_unique<child_process>(FLASHSALE_GATEWAY_BIN, args,
                                                  (dir_ / (name + ".log")).string());
      gateways_.push_back(std::move(g));
    }
    for (auto& g : gateways_) {
      bool healthy = eventually(20000, [&] {
        return !g.process->running() || flashsale::testing::wait_until_healthy(g.port, 100);
      });
      ASSERT_TRUE(healthy && g.process->running()) << g.process->log_tail();
    }
    std::vector<int> ports;
    for (auto& g : gateways_)
      ports.push_back(g.port);
    buyers_ = std::make_unique<buyers>(ports, 3);
  }

  std::optional<quota::grant_znode> grant(const std::string& node) {
    return flashsale::testing::read_grant(zk_->session(), *paths_, node, product);
  }
  std::optional<quota::consumption_report> report(const std::string& node) {
    return flashsale::testing::read_report(zk_->session(), *paths_, node, product);
  }
  std::int64_t stock() {
    auto r = zk_->session().get(paths_->product(product));
    auto s = r.ok() ? quota::decode_product(r.data) : std::nullopt;
    return s ? s->stock : -1;
  }
  std::size_t index_of(const std::string& node) {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == node)
        return i;
    return 0;
  }

  /// Waits for the first split and returns the grants by node.
  std::map<std::string, std::int64_t> wait_for_split() {
    std::map<std::string, std::int64_t> grants;
    bool split = eventually(10000, [&] {
      grants.clear();
      std::int64_t sum = 0;
      for (const auto& n : names) {
        if (!flashsale::testing::wait_until_granted(zk_->session(), *paths_, n, product, 0))
          return false;
        grants[n] = grant(n)->grant;
        sum += grants[n];
      }
      return sum == 1000;
    });
    EXPECT_TRUE(split) << "no first split within 10 s";
    return grants;
  }

  /// Sells until `total` units were accepted, or `timeout_ms` passes (then says where it stands).
  bool sell_until(long total, int timeout_ms = 30000) {
    auto t0 = clock_type::now();
    auto next_note = t0 + std::chrono::seconds{5};
    if (eventually(timeout_ms, [&] {
          if (clock_type::now() >= next_note) {
            next_note += std::chrono::seconds{5};
            std::cout << "[progress] " << buyers_->accepted() << " of " << total
                      << " accepted after " << since_ms(t0) << " ms;";
            for (std::size_t i = 0; i < names.size(); ++i) {
              auto g = grant(names[i]);
              auto r = report(names[i]);
              std::cout << " " << names[i] << " grant " << (g ? g->grant : -1)
                        << (g && g->release ? "(release)" : "") << " counter "
                        << (r ? r->grant : -1) << " consumed " << (r ? r->consumed : -1)
                        << (r && quota::wall_ms() - r->last_attempt_ms < idle_release_ms ? " busy"
                                                                                         : " idle");
            }
            std::cout << "\n";
          }
          return buyers_->accepted() >= total;
        }))
      return true;
    std::cout << "accepted " << buyers_->accepted() << " of " << total << ", "
              << buyers_->unexpected() << " unexpected answers (";
    for (const auto& [status, n] : buyers_->unexpected_statuses())
      std::cout << " " << status << ": " << n;
    std::cout << " );";
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto g = grant(names[i]);
      auto r = report(names[i]);
      std::cout << " " << names[i] << ": accepted " << buyers_->accepted(i) << " grant "
                << (g ? g->grant : -1) << " reported consumed " << (r ? r->consumed : -1)
                << " counter grant " << (r ? r->grant : -1);
    }
    std::cout << "\n";
    return false;
  }

  /// After a sell-out: `n` more purchases at every live gateway, all must be refused.
  long extra_accepted_after_sell_out(int n, const std::vector<std::size_t>& live) {
    long accepted = 0;
    for (auto i : live) {
      http_client client{gateways_[i].port};
      for (int k = 0; k < n; ++k) {
        auto r = client.request(
            "POST", std::string("/v1/products/") + product + "/purchase",
            "{\"user\":\"late-" + std::to_string(i) + "-" + std::to_string(k) + "\"}");
        accepted += r.status == 202 ? 1 : 0;
      }
    }
    return accepted;
  }

  /// Every accepted purchase is in the queue; more only where the broker may have stored a
  /// publish the gateway reported as failed (503, unit refunded: the database absorbs those).
  void expect_queue_holds(long accepted) {
    auto purchases = flashsale::testing::queued_purchases(amqp_, queue_);
    EXPECT_GE(purchases, accepted);
    EXPECT_LE(purchases, accepted + buyers_->in_doubt());
  }

  /// Waits until the reports of `nodes` add up to `consumed`.
  bool reports_add_up(const std::vector<std::string>& nodes, std::int64_t consumed) {
    return eventually(5000, [&] {
      std::int64_t sum = 0;
      for (const auto& n : nodes) {
        auto r = report(n);
        if (!r)
          return false;
        sum += r->consumed;
      }
      return sum == consumed;
    });
  }

  clock_type::time_point started_;
  std::filesystem::path dir_;
  std::string sale_file_;
  std::string queue_;
  amqp::connection_params amqp_;
  std::unique_ptr<flashsale::testing::scratch_zookeeper> zk_;
  std::unique_ptr<quota::layout> paths_;
  std::unique_ptr<grant_watcher> watcher_;
  std::vector<gateway_process> gateways_;
  std::unique_ptr<buyers> buyers_;
  std::unique_ptr<flashsale::testing::scratch_database> database_;
  std::unique_ptr<child_process> writer_;
};

// -- Done when ---------------------------------------------------------------------------------

TEST_F(live_quotas, three_gateways_split_the_stock_equally) {
  ASSERT_NO_FATAL_FAILURE(start_gateways());
  auto grants = wait_for_split();
  EXPECT_EQ(grants["gw1"], 334);  // the remainder goes to the lowest-sorted name
  EXPECT_EQ(grants["gw2"], 333);
  EXPECT_EQ(grants["gw3"], 333);
  // Every counter enforces exactly its grant (its report names the same version).
  for (const auto& n : names) {
    auto r = report(n);
    ASSERT_TRUE(r) << n;
    EXPECT_EQ(r->grant, grants[n]) << n;
    EXPECT_EQ(r->consumed, 0) << n;
  }
}

TEST_F(live_quotas, one_busy_gateway_sells_all_the_stock_and_not_one_unit_more) {
  ASSERT_NO_FATAL_FAILURE(start_gateways());
  wait_for_split();
  buyers_->set_active(0, true);
  ASSERT_TRUE(sell_until(1000)) << "accepted " << buyers_->accepted() << " of 1000";
  buyers_->set_active(0, false);
  EXPECT_EQ(buyers_->accepted(0), 1000);
  EXPECT_EQ(extra_accepted_after_sell_out(50, {0, 1, 2}), 0);
  // Every request got an answer; the only other answer allowed is 503 (the broker refused).
  for (const auto& [status, n] : buyers_->unexpected_statuses())
    EXPECT_EQ(status, 503) << n << " answers with status " << status;
  // The others gave back what they had not used; all of it went to gw1.
  EXPECT_TRUE(eventually(3000, [&] { return grant("gw1")->grant == 1000; }))
      << "gw1 grant " << grant("gw1")->grant;
  EXPECT_EQ(grant("gw2")->grant, 0);
  EXPECT_EQ(grant("gw3")->grant, 0);
  EXPECT_TRUE(reports_add_up(names, 1000));
  expect_queue_holds(1000);
}

TEST_F(live_quotas, a_killed_gateways_unused_quota_returns_to_the_others) {
  ASSERT_NO_FATAL_FAILURE(start_gateways());
  wait_for_split();
  // Everyone sells a little; then the victim's buyers stop and its report catches up.
  buyers_->set_all(true, 5);
  ASSERT_TRUE(eventually(15000, [&] { return buyers_->accepted(2) >= 30; }));
  buyers_->set_active(2, false);
  auto sold_by_victim = buyers_->accepted(2);
  ASSERT_TRUE(eventually(5000, [&] { return report("gw3")->consumed == sold_by_victim; }));
  // It sold up to its claim at most: the claim (>= what it sold) is what it keeps when it dies,
  // so none of its sales can be granted again; what it claimed but did not sell stays unsold.
  auto kept = report("gw3")->claimed;
  ASSERT_GE(kept, sold_by_victim);
  auto granted = grant("gw3")->grant;
  ASSERT_GT(granted, sold_by_victim);

  auto t0 = clock_type::now();
  gateways_[2].kill();
  bool returned = eventually(session_timeout_ms + server_tick_ms + 5000, [&] {
    return grant("gw3")->grant == kept && grant("gw1")->grant + grant("gw2")->grant == 1000 - kept;
  });
  auto returned_ms = since_ms(t0);
  ASSERT_TRUE(returned) << "gw3 grant " << grant("gw3")->grant << ", its claim " << kept;
  std::cout << "[measure] kill -9 gw3: its " << granted - kept
            << " unclaimed units were re-granted to gw1 and gw2 (" << kept - sold_by_victim
            << " claimed but unsold stay unsold) " << returned_ms
            << " ms after the kill (session timeout " << session_timeout_ms << " ms, server tick "
            << server_tick_ms << " ms)\n";
  // Expiry comes between one session timeout and one more server tick after the last ping; the
  // leader then needs a few round trips (more on a loaded machine).
  EXPECT_LE(returned_ms, session_timeout_ms + server_tick_ms + 2000);

  auto sellable = 1000 - (kept - sold_by_victim);
  ASSERT_TRUE(sell_until(sellable)) << "accepted " << buyers_->accepted() << " of " << sellable;
  buyers_->set_all(false);
  EXPECT_EQ(buyers_->accepted(), sellable);
  EXPECT_EQ(extra_accepted_after_sell_out(50, {0, 1}), 0);
  EXPECT_TRUE(reports_add_up(names, sellable));
  expect_queue_holds(sellable);
}

TEST_F(live_quotas, a_frozen_gateway_rebuilds_its_session_and_admits_nothing_twice) {
  ASSERT_NO_FATAL_FAILURE(start_gateways());
  wait_for_split();
  buyers_->set_all(true, 5);
  ASSERT_TRUE(eventually(15000, [&] { return buyers_->accepted(1) >= 30; }));
  buyers_->set_active(1, false);
  auto sold_by_victim = buyers_->accepted(1);
  ASSERT_TRUE(eventually(5000, [&] { return report("gw2")->consumed == sold_by_victim; }));
  auto kept = report("gw2")->claimed;  // see the test above
  ASSERT_GE(kept, sold_by_victim);
  auto unused = grant("gw2")->grant - kept;
  auto member = zk_->session().get(paths_->member("gw2"));
  ASSERT_TRUE(member.ok());
  auto old_session = member.stat.ephemeral_owner;

  // Freeze gw2 past its session timeout: the server expires the session, the leader takes back
  // gw2's unused quota and hands it to gw1 and gw3.
  auto t0 = clock_type::now();
  gateways_[1].process->signal(SIGSTOP);
  ASSERT_TRUE(eventually(session_timeout_ms + server_tick_ms + 5000,
                         [&] {
                           return zk_->session().exists(paths_->member("gw2")).rc ==
                                      zk::code::no_node &&
                                  grant("gw2")->grant == kept;
                         }))
      << "gw2 grant " << grant("gw2")->grant << ", sold there " << sold_by_victim << ", claimed "
      << kept << ", registration "
      << zk::to_string(zk_->session().exists(paths_->member("gw2")).rc);
  std::cout << "[measure] SIGSTOP gw2: session expired and its " << unused
            << " unused units re-granted " << since_ms(t0) << " ms after the freeze\n";

  // Thaw it and buy there at once: its counters may not admit on the old grant (their lease ran
  // out while frozen). Whatever it admits later comes from a new grant.
  gateways_[1].process->signal(SIGCONT);
  auto t1 = clock_type::now();
  buyers_->set_active(1, true, 5);
  ASSERT_TRUE(eventually(session_timeout_ms + 5000, [&] {
    auto m = zk_->session().get(paths_->member("gw2"));
    return m.ok() && m.stat.ephemeral_owner != old_session;
  })) << gateways_[1].process->log_tail();
  std::cout << "[measure] gw2 registered again with a new session " << since_ms(t1)
            << " ms after SIGCONT\n";

  // The thawed process knows what it really sold: it sells what it had claimed but not sold
  // itself, so the whole stock sells.
  ASSERT_TRUE(sell_until(1000)) << "accepted " << buyers_->accepted() << " of 1000";
  buyers_->set_all(false);
  EXPECT_EQ(buyers_->accepted(), 1000);
  EXPECT_EQ(extra_accepted_after_sell_out(50, {0, 1, 2}), 0);
  EXPECT_TRUE(reports_add_up(names, 1000));
  expect_queue_holds(1000);
}

TEST_F(live_quotas, stock_added_and_removed_during_a_sale_reaches_every_gateway_within_a_second) {
  database_ = std::make_unique<flashsale::testing::scratch_database>("flashsale_quota");
  const auto& db = database_->admin();
  auto admin_db = db::schema_admin::connect(db);
  for (const auto& p : load_sale_file(sale_file_, db.dbname).products)
    admin_db->define_product(p);
  writer_ = std::make_unique<child_process>(
      FLASHSALE_WRITER_BIN,
      std::vector<std::string>{"--config-file=config/writer-1.ini",
                               "--writer.sale-file=" + sale_file_, "--db.host=" + db.host,
                               "--db.port=" + std::to_string(db.port), "--db.database=" + db.dbname,
                               "--amqp.port=" + std::to_string(amqp_.port),
                               "--amqp.queue=" + queue_, "--zookeeper.hosts=" + zk_->hosts(),
                               "--zookeeper.root=" + zk_->root()},
      (dir_ / "writer.log").string());
  ASSERT_NO_FATAL_FAILURE(start_gateways());
  wait_for_split();
  // A steady sale (at most ~150 purchases/s) that the changes land in the middle of.
  buyers_->set_all(true, 50);

  // Applies a stock change with the operator's tool and measures, per gateway, the time from the
  // product znode's change to the moment its counter held its share of the new stock.
  auto change = [&](const std::string& verb, int units, std::int64_t expected_stock) {
    ASSERT_EQ(run_admin({"stock", verb, product, std::to_string(units), "--sale", sale_file_,
                         "--db-name", db.dbname, "--db-connect-timeout", "30", "--zk", zk_->hosts(),
                         "--zk-root", zk_->root()}),
              0);
    auto node = zk_->session().get(paths_->product(product));
    ASSERT_TRUE(node.ok());
    ASSERT_EQ(quota::decode_product(node.data)->stock, expected_stock);
    std::map<std::string, quota::consumption_report> seen;
    bool applied = eventually(5000, [&] {
      std::int64_t sum = 0;
      for (const auto& n : names) {
        auto r = report(n);
        auto g = zk_->session().get(paths_->grant(n, product));
        if (!r || !g.ok() || r->version <= node.stat.mzxid || r->version != g.stat.mzxid)
          return false;
        seen[n] = *r;
        sum += r->grant;
      }
      return sum == expected_stock;
    });
    ASSERT_TRUE(applied) << "stock " << verb << " " << units << " not applied everywhere";
    std::cout << "[measure] stock " << verb << " " << units << " -> " << expected_stock << ":";
    for (const auto& n : names) {
      auto latency = seen[n].applied_at_ms - node.stat.mtime_ms;
      std::cout << " " << n << " applied after " << latency << " ms (grant " << seen[n].grant
                << ")";
      EXPECT_LT(latency, 1000) << n;
      EXPECT_GE(seen[n].grant, seen[n].consumed) << n;
    }
    std::cout << "\n";
  };

  ASSERT_TRUE(eventually(20000, [&] { return buyers_->accepted() >= 300; }));
  ASSERT_NO_FATAL_FAILURE(change("add", 500, 1500));
  ASSERT_TRUE(eventually(20000, [&] { return buyers_->accepted() >= 500; }));
  ASSERT_NO_FATAL_FAILURE(change("remove", 200, 1300));
  // The removal must have come while the gateways had admitted less than the new stock, or there
  // is nothing left to take back (the database then ends the surplus as sold_out).
  ASSERT_LT(buyers_->accepted(), 1300) << "sold too fast to remove stock during the sale";
  buyers_->set_all(true, 0);  // the changes are measured: now sell out fast

  ASSERT_TRUE(sell_until(1300)) << "accepted " << buyers_->accepted() << " of 1300";
  buyers_->set_all(false);
  std::cout << "[measure] sold out " << since_ms(started_) << " ms after the start\n";
  EXPECT_EQ(buyers_->accepted(), 1300);
  EXPECT_EQ(extra_accepted_after_sell_out(50, {0, 1, 2}), 0);
  EXPECT_TRUE(reports_add_up(names, 1300));
  EXPECT_EQ(stock(), 1300);

  // The database agrees once the writer drained the queue.
  db::product_report r;
  EXPECT_TRUE(eventually(30000, [&] {
    r = admin_db->report(product).value();
    return r.sold >= 1300;
  })) << writer_->log_tail();
  std::cout << "[measure] the writer had written every order " << since_ms(started_)
            << " ms after the start\n";
  EXPECT_EQ(r.made_available, 1300);
  EXPECT_EQ(r.sold, 1300);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_TRUE(r.ok());
}

TEST_F(live_quotas, killing_the_leader_moves_leadership_within_the_session_timeout) {
  ASSERT_NO_FATAL_FAILURE(start_gateways());
  wait_for_split();
  auto announced = [&]() -> std::string {
    auto r = zk_->session().get(paths_->leader());
    auto a = r.ok() ? quota::decode_leader(r.data) : std::nullopt;
    return a ? a->node : "";
  };
  auto leader = announced();
  ASSERT_FALSE(leader.empty());
  auto victim = index_of(leader);

  auto t0 = clock_type::now();
  gateways_[victim].kill();
  std::string successor;
  ASSERT_TRUE(eventually(session_timeout_ms + server_tick_ms + 5000, [&] {
    successor = announced();
    return !successor.empty() && successor != leader;
  }));
  auto failover_ms = since_ms(t0);
  std::cout << "[measure] kill -9 of leader " << leader << ": " << successor << " leads after "
            << failover_ms << " ms (session timeout " << session_timeout_ms
            << " ms; the server expires sessions on " << server_tick_ms << " ms tick boundaries)\n";
  // The server expires a session between one timeout and one more tick after the last ping;
  // the successor then needs a watch event and a read.
  EXPECT_LE(failover_ms, session_timeout_ms + server_tick_ms + 1000);
  // The new leader acts: what the dead leader had not claimed goes to the survivors (it sold
  // nothing, but it may have claimed units ahead of buyers who never came: those stay unsold).
  std::int64_t claimed = -1;
  EXPECT_TRUE(eventually(3000,
                         [&] {
                           std::int64_t sum = 0;
                           for (const auto& n : names)
                             if (n != leader)
                               sum += grant(n)->grant;
                           auto r = report(leader);
                           claimed = r ? r->claimed : -1;
                           return r && r->consumed == 0 && grant(leader)->grant == claimed &&
                                  sum == 1000 - claimed;
                         }))
      << "dead leader's grant " << grant(leader)->grant << ", its claim " << claimed;
}

// -- beyond the list: the live shedding setting ------------------------------------------------

TEST_F(live_quotas, the_shedding_ratio_follows_the_settings_znode) {
  ASSERT_NO_FATAL_FAILURE(start_gateways());
  wait_for_split();
  http_client client{gateways_[0].port};
  auto buy = [&](int k) {
    return client
        .request("POST", std::string("/v1/products/") + product + "/purchase",
                 "{\"user\":\"s" + std::to_string(k) + "\"}")
        .status;
  };
  EXPECT_EQ(buy(0), 202);
  ASSERT_TRUE(flashsale::testing::set_keep_one_in(zk_->session(), *paths_, 1000000));
  int k = 1;
  ASSERT_TRUE(eventually(2000, [&] { return buy(k++) == 429; }));
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(buy(k++), 429);
  ASSERT_TRUE(flashsale::testing::set_keep_one_in(zk_->session(), *paths_, 1));
  EXPECT_TRUE(eventually(2000, [&] { return buy(k++) == 202; }));
}

TEST_F(live_quotas, a_buyer_gets_the_same_draw_from_every_gateway_however_often_he_asks) {
  ASSERT_NO_FATAL_FAILURE(start_gateways());
  wait_for_split();
  ASSERT_TRUE(flashsale::testing::set_keep_one_in(zk_->session(), *paths_, 4));
  std::vector<std::unique_ptr<http_client>> clients;
  for (auto& g : gateways_)
    clients.push_back(std::make_unique<http_client>(g.port));
  for (auto& c : clients)
    ASSERT_TRUE(eventually(5000, [&] {
      auto r = c->request("GET", std::string("/v1/products/") + product, "");
      return r.body.find("\"keep_one_in\":4") != std::string::npos;
    }));
  auto shed = [&](http_client& c, int buyer) {
    auto r = c.request("POST", std::string("/v1/products/") + product + "/purchase",
                       "{\"user\":\"fair-" + std::to_string(buyer) + "\"}");
    EXPECT_TRUE(r.status == 429 || r.status == 202 || r.status == 409) << r.status << r.body;
    return r.status == 429;
  };
  // Each buyer asks gw1 twice, then gw2 and gw3: a winner buys (202), then is told he bought
  // (409); a loser is shed (429) every time.
  const int buyers = 300;
  int winners = 0;
  for (int b = 0; b < buyers; ++b) {
    bool first = shed(*clients[0], b);
    ASSERT_EQ(shed(*clients[0], b), first) << "buyer " << b << " asked gw1 again";
    for (std::size_t g = 1; g < clients.size(); ++g)
      ASSERT_EQ(shed(*clients[g], b), first) << "buyer " << b << " at " << gateways_[g].name;
    winners += first ? 0 : 1;
  }
  std::cout << "[          ] " << winners << " of " << buyers << " buyers won at K=4\n";
  EXPECT_GT(winners, buyers / 8);
  EXPECT_LT(winners, buyers * 3 / 8);
}

}  // namespace

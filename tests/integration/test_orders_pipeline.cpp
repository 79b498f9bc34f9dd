// The writer pipeline end to end on the real services: purchases published straight to RabbitMQ
// (as a gateway would after admitting them), flashsale-writer processes, PostgreSQL. Checks what
// an operator relies on: exactly the stock is sold, I1-I3 hold in the main and the hot database,
// every message is acknowledged exactly once (garbage is dead-lettered and counted), and a writer
// killed with SIGKILL mid-stream loses and doubles nothing once restarted. Each test uses its own
// databases (flashsale_pipe_<pid>, ..._hot_<product>) and queues (flashsale.pipe.<pid>.<n>).

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/product_report.hpp"
#include "adapters/db/schema_admin.hpp"
#include "common/sale_definition.hpp"
#include "messages/codec.hpp"
#include "tests/support/amqp_tools.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/service_accounts.hpp"

namespace {

using namespace flashsale;
using flashsale::testing::child_process;
using flashsale::testing::outgoing_message;
using flashsale::testing::scratch_database;
using clock_type = std::chrono::steady_clock;

/// The counters a writer logs ("writer stats: delivered=... acked=..."), from its last such line.
using writer_stats = std::map<std::string, std::int64_t>;

writer_stats last_stats(const std::string& log_path, bool final_only) {
  std::ifstream in(log_path);
  std::string line;
  std::string last;
  while (std::getline(in, line)) {
    bool final_line = line.find("writer stats at shutdown: ") != std::string::npos;
    if (final_line || (!final_only && line.find("writer stats: ") != std::string::npos))
      last = line;
  }
  writer_stats stats;
  static const std::regex pair("([a-z_]+)=([0-9]+)");
  for (std::sregex_iterator it(last.begin(), last.end(), pair), end; it != end; ++it)
    stats[(*it)[1].str()] = std::stoll((*it)[2].str());
  return stats;
}

/// A sale in its own databases and queues, and the writer processes working on it.
class orders_pipeline : public ::testing::Test {
 protected:
  /// Creates the databases of `sale_text` (main plus one per hot product) and its products.
  void set_up_sale(const std::string& sale_text) {
    static int counter = 0;
    auto id = std::to_string(::getpid()) + "_" + std::to_string(++counter);
    dir_ = std::filesystem::temp_directory_path() / ("flashsale-pipe-" + id);
    std::filesystem::create_directories(dir_);
    sale_file_ = (dir_ / "sale.ini").string();
    std::ofstream(sale_file_) << sale_text;
    main_db_ = "flashsale_pipe_" + id;
    sale_ = load_sale_file(sale_file_, main_db_);
    databases_.push_back(
        std::make_unique<scratch_database>(main_db_, scratch_database::exact_name{}));
    for (const auto& p : sale_.products) {
      if (p.hot) {
        databases_.push_back(
            std::make_unique<scratch_database>(p.database, scratch_database::exact_name{}));
        route_.hot_products.push_back(p.id);
      }
      db::schema_admin::connect(server_.with_dbname(p.database))->define_product(p);
    }
    route_.queue = "flashsale.pipe." + id;
    route_.dead_letter_queue = route_.queue + ".dead";
    queues_ = route_.queues();
    queues_.push_back(route_.dead_letter_queue);
    flashsale::testing::delete_queues(amqp_, queues_);
    // As flashsale-admin amqp declare does: the writers' user may only consume.
    ASSERT_NO_THROW(amqp::amqp_connection{amqp_}.declare(route_));
  }

  void TearDown() override {
    writers_.clear();
    try {
      if (!queues_.empty())
        flashsale::testing::delete_queues(amqp_, queues_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot delete the test queues: " << e.what();
    }
    admins_.clear();
    databases_.clear();
    if (!dir_.empty())
      std::filesystem::remove_all(dir_);
  }

  /// Starts writer process number `n` (log: writer-<n>.log).
  child_process& start_writer(int n) {
    auto log = log_of(n);
    std::vector<std::string> args{
        "--config-file=config/writer-1.ini",
        "--writer.name=pw" + std::to_string(n),
        "--writer.sale-file=" + sale_file_,
        "--writer.stats-interval-s=1",
        "--db.host=" + server_.host,
        "--db.port=" + std::to_string(server_.port),
        "--db.database=" + main_db_,
        "--amqp.host=" + amqp_.host,
        "--amqp.port=" + std::to_string(amqp_.port),
        "--amqp.queue=" + route_.queue,
        "--amqp.dead-letter-queue=" + route_.dead_letter_queue,
        "--zookeeper.hosts=\"\""};  // no gateways here: nothing to send back, no registration
    for (auto& arg : flashsale::testing::writer_credential_args())
      args.push_back(std::move(arg));
    writers_[n] = std::make_unique<child_process>(FLASHSALE_WRITER_BIN, args, log);
    return *writers_[n];
  }

  std::string log_of(int n) const {
    return (dir_ / ("writer-" + std::to_string(n) + ".log")).string();
  }

  /// Stops writer `n` with SIGTERM; returns its final counters (empty if it did not exit cleanly).
  writer_stats stop_writer(int n) {
    auto& w = *writers_.at(n);
    w.signal(SIGTERM);
    int status = w.wait(15000);
    EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "writer " << n << " status " << status << "\n"
        << w.log_tail();
    return last_stats(log_of(n), true);
  }

  /// Orders of `product` in its database, read with the invariants.
  db::product_report report_of(const std::string& product) {
    const auto* p = sale_.find(product);
    EXPECT_NE(p, nullptr) << product;
    auto& admin = admins_[p->database];
    if (admin == nullptr)
      admin = db::schema_admin::connect(server_.with_dbname(p->database));
    auto r = admin->report(product);
    EXPECT_TRUE(r.has_value()) << product;
    return r.value_or(db::product_report{});
  }

  std::int64_t ready_in(const std::string& queue) {
    return flashsale::testing::queue_state_of(amqp_, queue).messages;
  }

  static purchase purchase_of(const std::string& request_id, const std::string& product,
                              const std::string& user) {
    purchase p;
    p.request_id = request_id;
    p.product = product;
    p.user = user;
    p.gateway = "gw-test";
    p.ticket = request_id;
    return p;
  }

  /// The purchases of each product as gateways publish them: several per message, here in
  /// messages of 1, 7, 50 and 100 purchases in turn. Appends to `messages`; returns how many.
  std::size_t add_messages(const std::map<std::string, std::vector<purchase>>& by_product,
                           std::vector<outgoing_message>& messages) const {
    static const std::size_t sizes[] = {1, 7, 50, 100};
    std::size_t added = 0;
    for (const auto& [product, purchases] : by_product) {
      for (std::size_t i = 0, turn = 0; i < purchases.size(); ++turn) {
        auto n = std::min(sizes[turn % 4], purchases.size() - i);
        std::vector<purchase> batch(purchases.begin() + static_cast<std::ptrdiff_t>(i),
                                    purchases.begin() + static_cast<std::ptrdiff_t>(i + n));
        messages.push_back({route_.queue_of(product), encode_purchases(batch)});
        i += n;
        ++added;
      }
    }
    return added;
  }

  db::connection_params server_ = db::connection_params::from_env();
  amqp::connection_params amqp_ = amqp::connection_params::from_env();
  std::filesystem::path dir_;
  std::string sale_file_;
  std::string main_db_;
  sale_definition sale_;
  amqp::topology route_;
  std::vector<std::string> queues_;
  std::vector<std::unique_ptr<scratch_database>> databases_;
  std::map<std::string, std::unique_ptr<db::schema_admin>> admins_;  // by database
  std::map<int, std::unique_ptr<child_process>> writers_;
};

// 4 writer processes, 200,000 purchases of 3 products with 1,000 units each (H hot: its own
// database and queue), 20,000 users buying repeatedly, every 10th purchase a retry of an earlier
// request id, and a few undecodable messages on both queues.
TEST_F(orders_pipeline, four_writers_sell_exactly_the_stock_and_ack_every_message_once) {
  set_up_sale(R"(
[sale]
name = pipe
[product.H]
stock = 1000
slots = 4
hot = true
[product.A]
stock = 1000
slots = 4
per_user_limit = 2
[product.B]
stock = 1000
slots = 4
)");
  constexpr int purchases = 200000;
  constexpr int users = 20000;
  std::map<std::string, std::vector<purchase>> by_product;
  for (int i = 0; i < purchases; ++i) {
    // Half of the purchases are for the hot product; i and i - 4 are the same product.
    const char* product = i % 4 < 2 ? "H" : i % 4 == 2 ? "A" : "B";
    int source = i % 10 == 9 ? i - 4 : i;  // a client retry: same request id, same user
    auto user = "u-" + std::to_string((static_cast<std::int64_t>(source) * 7919) % users);
    by_product[product].push_back(purchase_of("r-" + std::to_string(source), product, user));
  }
  std::vector<outgoing_message> messages;
  const auto purchase_messages = static_cast<std::int64_t>(add_messages(by_product, messages));
  for (const auto& queue : {route_.queue, route_.queue_of("H")}) {  // garbage in both queues
    messages.push_back({queue, "not a purchase"});
    messages.push_back({queue, std::string("\x01\x02", 2)});
    messages.push_back({queue, encode_purchases({})});
  }
  const std::int64_t garbage = static_cast<std::int64_t>(messages.size()) - purchase_messages;
  ASSERT_GT(garbage, 0);

  // The queues fill first (a backlog as in a sale's first seconds), then 4 writers compete for it.
  auto started = clock_type::now();
  auto published =
      flashsale::testing::publish_all(amqp_, route_, messages, std::chrono::seconds{120});
  ASSERT_FALSE(published.timed_out);
  ASSERT_EQ(published.confirmed, messages.size());
  auto publish_s = std::chrono::duration<double>(clock_type::now() - started).count();
  started = clock_type::now();
  for (int n = 1; n <= 4; ++n)
    start_writer(n);

  // Every message is settled once the writers' counters add up (logged every second).
  auto total = static_cast<std::int64_t>(messages.size());
  auto deadline = clock_type::now() + std::chrono::seconds{120};
  std::int64_t settled = 0;
  while (clock_type::now() < deadline) {
    settled = 0;
    for (int n = 1; n <= 4; ++n) {
      auto s = last_stats(log_of(n), false);
      settled += s["acked"] + s["dead_lettered"];
    }
    if (settled >= total)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  ASSERT_EQ(settled, total) << writers_[1]->log_tail();
  auto drain_s = std::chrono::duration<double>(clock_type::now() - started).count();

  writer_stats sum;
  for (int n = 1; n <= 4; ++n) {
    auto s = stop_writer(n);
    ASSERT_FALSE(s.empty()) << "writer " << n << " logged no final counters";
    EXPECT_EQ(s["delivered"], s["acked"] + s["dead_lettered"]) << "writer " << n;
    EXPECT_GT(s["delivered"], 0) << "writer " << n << " did nothing";
    for (const auto& [key, value] : s)
      sum[key] += value;
  }
  std::cout << "[          ] " << total << " messages published in " << publish_s
            << " s, all settled " << drain_s << " s after the writers started; acks in "
            << sum["ack_frames"] << " frames\n";
  // Acked exactly once: every message of purchases acked once all its purchases were written, the
  // garbage dead-lettered, nothing requeued; a result for every purchase.
  EXPECT_EQ(sum["acked"], purchase_messages);
  EXPECT_EQ(sum["dead_lettered"], garbage);
  EXPECT_EQ(sum["requeued"], 0);
  EXPECT_EQ(sum["delivered"], total);  // no redelivery
  EXPECT_EQ(sum["confirmed"], 3000);
  EXPECT_EQ(sum["confirmed"] + sum["duplicate_request"] + sum["user_limit"] + sum["sold_out"],
            purchases);
  EXPECT_EQ(sum["unknown_product"], 0);
  EXPECT_GT(sum["duplicate_request"], 0);
  EXPECT_GT(sum["user_limit"], 0);
  // With every writer gone, nothing came back to the queues (no unacked delivery); the dead-letter
  // queue holds exactly the garbage.
  for (const auto& q : route_.queues())
    EXPECT_EQ(ready_in(q), 0) << q;
  EXPECT_EQ(ready_in(route_.dead_letter_queue), garbage);

  // Exactly the stock sold, each product in its own database; I1-I3 hold everywhere.
  for (const char* product : {"H", "A", "B"}) {
    auto r = report_of(product);
    EXPECT_EQ(r.made_available, 1000) << product;
    EXPECT_EQ(r.sold, 1000) << product;
    EXPECT_EQ(r.remaining, 0) << product;
    EXPECT_TRUE(r.ok()) << product << ": negative slots " << r.negative_slots
                        << ", duplicate requests " << r.duplicate_requests << ", users over limit "
                        << r.users_over_limit;
  }
  auto main_products = db::schema_admin::connect(server_.with_dbname(main_db_))->report();
  ASSERT_EQ(main_products.size(), 2u);  // A and B; H lives in its own database only
  EXPECT_EQ(main_products[0].product, "A");
  EXPECT_EQ(main_products[1].product, "B");
  auto hot_products =
      db::schema_admin::connect(server_.with_dbname(sale_.find("H")->database))->report();
  ASSERT_EQ(hot_products.size(), 1u);
  EXPECT_EQ(hot_products[0].product, "H");
}

// kill -9 of the only writer in the middle of a stream of batches, then a restart: every
// purchase becomes exactly one order (the redelivered ones are absorbed by their request ids).
TEST_F(orders_pipeline, a_killed_writer_loses_and_doubles_nothing) {
  set_up_sale(R"(
[sale]
name = fault
[product.F]
stock = 100000
slots = 8
hot = true
[product.G]
stock = 100000
slots = 4
)");
  constexpr int purchases = 40000;
  std::map<std::string, std::set<std::string>> expected;  // product -> request ids
  std::map<std::string, std::vector<purchase>> by_product;
  for (int i = 0; i < purchases; ++i) {
    const char* product = i % 3 == 0 ? "G" : "F";
    int source = i % 20 == 19 ? i - 3 : i;  // a few retries (same product: 3 | 3)
    auto request_id = "f-" + std::to_string(source);
    expected[product].insert(request_id);
    by_product[product].push_back(
        purchase_of(request_id, product, "user-" + std::to_string(source)));
  }
  std::vector<outgoing_message> messages;
  add_messages(by_product, messages);
  std::int64_t distinct = expected["F"].size() + expected["G"].size();
  auto orders = [&] { return report_of("F").sold + report_of("G").sold; };

  auto published =
      flashsale::testing::publish_all(amqp_, route_, messages, std::chrono::seconds{60});
  ASSERT_EQ(published.confirmed, messages.size());

  // Kill the writer while it works through the queues: some orders are in, many are not.
  start_writer(1);
  auto deadline = clock_type::now() + std::chrono::seconds{30};
  while (orders() < distinct / 4 && clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  writers_[1]->signal(SIGKILL);
  int status = writers_[1]->wait(10000);
  ASSERT_TRUE(status != -1 && WIFSIGNALED(status)) << status;
  // Its connections are gone once the count stops moving (aborted or committed, nothing pending).
  std::int64_t at_kill = orders();
  for (auto until = clock_type::now() + std::chrono::seconds{10}; clock_type::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    auto now = orders();
    if (now == at_kill)
      break;
    at_kill = now;
  }
  ASSERT_GE(at_kill, distinct / 4);
  ASSERT_LT(at_kill, distinct) << "the writer finished before it was killed";
  std::cout << "[          ] killed with " << at_kill << " of " << distinct << " orders written\n";

  // The restarted writer gets the unacked deliveries again and finishes the stream.
  start_writer(2);
  deadline = clock_type::now() + std::chrono::seconds{120};
  writer_stats s;
  while (clock_type::now() < deadline) {
    s = last_stats(log_of(2), false);
    if (orders() == distinct && s["delivered"] > 0 && s["delivered"] == s["acked"] &&
        ready_in(route_.queue) == 0 && ready_in(route_.queue_of("F")) == 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  s = stop_writer(2);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s["delivered"], s["acked"]);
  EXPECT_EQ(s["requeued"], 0);
  // Everything the first writer did not commit, the second one did; the rest it absorbed.
  EXPECT_EQ(s["confirmed"], distinct - at_kill);
  EXPECT_EQ(s["user_limit"] + s["sold_out"] + s["unknown_product"], 0);
  std::cout << "[          ] the restarted writer confirmed " << s["confirmed"] << " and absorbed "
            << s["duplicate_request"] << " duplicates\n";
  for (const auto& q : route_.queues())
    EXPECT_EQ(ready_in(q), 0) << q;

  for (const char* product : {"F", "G"}) {
    auto r = report_of(product);
    EXPECT_EQ(r.sold, static_cast<std::int64_t>(expected[product].size())) << product;
    EXPECT_EQ(r.duplicate_requests, 0) << product;
    EXPECT_TRUE(r.conserved()) << product;
    EXPECT_TRUE(r.ok()) << product;
  }
}

// While the database refuses the writer (here: its right to buy is revoked), every batch fails:
// nothing is acknowledged, the deliveries go back to the queue and are written once it recovers.
TEST_F(orders_pipeline, a_failing_database_gets_its_purchases_again_once_it_recovers) {
  set_up_sale(R"(
[sale]
name = dbfail
[product.D]
stock = 10000
slots = 4
)");
  auto admin = db::schema_admin::connect(server_.with_dbname(main_db_));
  const std::string function = "purchase_batch_fenced(text, text[], text[], text[], bigint[])";
  admin->execute("REVOKE EXECUTE ON FUNCTION " + function + " FROM flashsale_writer");
  constexpr int purchases = 500;
  std::map<std::string, std::vector<purchase>> by_product;
  for (int i = 0; i < purchases; ++i)
    by_product["D"].push_back(
        purchase_of("d-" + std::to_string(i), "D", "user-" + std::to_string(i)));
  std::vector<outgoing_message> messages;
  const auto count = static_cast<std::int64_t>(add_messages(by_product, messages));
  start_writer(1);
  auto published =
      flashsale::testing::publish_all(amqp_, route_, messages, std::chrono::seconds{60});
  ASSERT_EQ(published.confirmed, messages.size());

  // Failures are requeued (and retried after a backoff); nothing is written or acked.
  auto deadline = clock_type::now() + std::chrono::seconds{30};
  writer_stats s;
  while (clock_type::now() < deadline) {
    s = last_stats(log_of(1), false);
    if (s["requeued"] + s["returned"] >= count)  // rejected, or handed back by a pause
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  ASSERT_GE(s["requeued"] + s["returned"], count) << writers_[1]->log_tail();
  EXPECT_EQ(s["acked"], 0);
  EXPECT_EQ(report_of("D").sold, 0);

  admin->execute("GRANT EXECUTE ON FUNCTION " + function + " TO flashsale_writer");
  deadline = clock_type::now() + std::chrono::seconds{60};
  while (clock_type::now() < deadline) {
    s = last_stats(log_of(1), false);
    if (report_of("D").sold == purchases && s["acked"] == count)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  s = stop_writer(1);
  EXPECT_EQ(s["acked"], count);
  EXPECT_EQ(s["confirmed"], purchases);
  // A pause after a failed batch closes the connection: what it held unsettled goes back too.
  EXPECT_EQ(s["delivered"], s["acked"] + s["requeued"] + s["returned"]);
  EXPECT_EQ(ready_in(route_.queue), 0);
  auto r = report_of("D");
  EXPECT_EQ(r.sold, purchases);
  EXPECT_TRUE(r.ok());
}

// Out-of-range writer settings stop the node with a message naming the key.
// A purchase the database could never store (here: a user id that is not UTF-8) must neither
// block its message forever nor take the other purchases of the message with it: they are
// written, and the whole message goes to the dead-letter queue where the operator finds the bad
// one (the good ones in it are absorbed by their request ids if it is ever replayed).
TEST_F(orders_pipeline,
       an_unstorable_purchase_dead_letters_its_message_after_the_others_are_written) {
  set_up_sale(R"(
[sale]
name = unstorable
[product.U]
stock = 100
slots = 2
)");
  std::vector<outgoing_message> messages{
      {route_.queue, encode_purchases({purchase_of("u-1", "U", "user-1"),
                                       purchase_of("u-2", "U", std::string("user-\xff", 6)),
                                       purchase_of("u-3", "U", "user-3")})},
      {route_.queue, encode_purchases({purchase_of("u-4", "U", "user-4")})}};
  auto published =
      flashsale::testing::publish_all(amqp_, route_, messages, std::chrono::seconds{60});
  ASSERT_EQ(published.confirmed, messages.size());
  start_writer(1);
  auto deadline = clock_type::now() + std::chrono::seconds{30};
  writer_stats s;
  while (clock_type::now() < deadline) {
    s = last_stats(log_of(1), false);
    if (s["acked"] + s["dead_lettered"] >= 2)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  s = stop_writer(1);
  EXPECT_EQ(s["acked"], 1);
  EXPECT_EQ(s["dead_lettered"], 1);
  EXPECT_EQ(s["requeued"], 0);
  EXPECT_EQ(s["confirmed"], 3);  // u-1, u-3, u-4
  EXPECT_EQ(ready_in(route_.queue), 0);
  EXPECT_EQ(ready_in(route_.dead_letter_queue), 1);
  auto r = report_of("U");
  EXPECT_EQ(r.sold, 3);
  EXPECT_TRUE(r.ok());
}

TEST_F(orders_pipeline, writer_refuses_bad_batch_settings) {
  for (std::string bad : {"--writer.batch-size=0", "--writer.batch-size=100000",
                          "--writer.linger-ms=-1", "--writer.stats-interval-s=-5"}) {
    auto log = (std::filesystem::temp_directory_path() /
                ("flashsale-pipe-bad-" + std::to_string(::getpid()) + ".log"))
                   .string();
    child_process w{FLASHSALE_WRITER_BIN, {"--config-file=config/writer-1.ini", bad}, log};
    int status = w.wait(10000);
    EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 2)
        << bad << ": " << status;
    auto key = bad.substr(2, bad.find('=') - 2);
    EXPECT_NE(w.log_tail().find("'" + key + "' must be in"), std::string::npos) << bad << "\n"
                                                                                << w.log_tail();
    std::filesystem::remove(log);
  }
}

}  // namespace

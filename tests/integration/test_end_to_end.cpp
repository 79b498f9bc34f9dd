// One purchase through every real component: HTTP -> gateway node (its quota from ZooKeeper) ->
// RabbitMQ (confirmed) -> writer node -> PostgreSQL stored function -> order row. Needs the private
// services (scripts/services). Each test gets its own database, queue and ZooKeeper root, and
// starts its own gateway and writer processes.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <unistd.h>

#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/db/product_report.hpp"
#include "adapters/db/schema_admin.hpp"
#include "common/sale_definition.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/scratch_zookeeper.hpp"
#include "tests/support/service_accounts.hpp"

namespace {

using namespace flashsale;
using flashsale::testing::child_process;
using flashsale::testing::http_client;

constexpr const char* sale_text = R"(
[sale]
name = e2e
[product.TV]
stock = 3
slots = 2
[product.Phone]
stock = 1000
slots = 4
)";

class end_to_end : public ::testing::Test {
 protected:
  void SetUp() override {
    auto id = std::to_string(::getpid());
    dir_ = std::filesystem::temp_directory_path() / ("flashsale-e2e-" + id);
    std::filesystem::create_directories(dir_);
    sale_file_ = (dir_ / "sale.ini").string();
    std::ofstream(sale_file_) << sale_text;
    queue_ = "flashsale.e2e." + id;
    database_ = std::make_unique<flashsale::testing::scratch_database>("flashsale_e2e");
    const auto& server = database_->admin();
    admin_ = db::schema_admin::connect(server);
    for (const auto& p : load_sale_file(sale_file_, server.dbname).products)
      admin_->define_product(p);

    // The sale's ZooKeeper tree (flashsale-admin zk init does the same): the gateway gets its
    // quota from there.
    zk_ = std::make_unique<flashsale::testing::scratch_zookeeper>("flashsale-e2e");
    auto sale = load_sale_file(sale_file_, server.dbname);
    quota::layout paths{zk_->root(), sale.name};
    quota::init_sale_tree(zk_->session(), paths, sale);

    // The queues, as flashsale-admin amqp declare makes them (the nodes may only check them).
    auto amqp = amqp::connection_params::from_env();
    ASSERT_NO_THROW(amqp::amqp_connection{amqp}.declare(
        amqp::topology{"flashsale", queue_, "flashsale.dead", 1000000, {}}));
    http_port_ = flashsale::testing::free_port();
    std::vector<std::string> writer_args{"--config-file=config/writer-1.ini",
                                         "--writer.sale-file=" + sale_file_,
                                         "--db.host=" + server.host,
                                         "--db.port=" + std::to_string(server.port),
                                         "--db.database=" + server.dbname,
                                         "--amqp.port=" + std::to_string(amqp.port),
                                         "--amqp.queue=" + queue_,
                                         "--zookeeper.hosts=" + zk_->hosts(),
                                         "--zookeeper.root=" + zk_->root(),
                                         "--zookeeper.poll-interval-ms=200"};
    for (auto& arg : flashsale::testing::writer_credential_args())
      writer_args.push_back(std::move(arg));
    writer_ = std::make_unique<child_process>(FLASHSALE_WRITER_BIN, writer_args,
                                              (dir_ / "writer.log").string());
    ASSERT_NO_FATAL_FAILURE(start_gateway());
    // The only gateway gets the whole stock at the first split.
    for (const auto& p : sale.products)
      ASSERT_TRUE(flashsale::testing::wait_until_granted(zk_->session(), paths, "gw1", p.id, 10000))
          << p.id << gateway_->log_tail();
  }

  /// Starts the gateway (again, with `extra` options) and waits until it is ready.
  void start_gateway(const std::vector<std::string>& extra = {}) {
    const auto& server = database_->admin();
    auto amqp = amqp::connection_params::from_env();
    std::vector<std::string> args{"--config-file=config/gateway-1.ini",
                                  "--gateway.sale-file=" + sale_file_,
                                  "--gateway.keep-one-in=1",
                                  "--auth.mode=off",  // buyer tokens are tested in test_gateway
                                  "--http.port=" + std::to_string(http_port_),
                                  "--amqp.port=" + std::to_string(amqp.port),
                                  "--amqp.queue=" + queue_,
                                  "--zookeeper.hosts=" + zk_->hosts(),
                                  "--zookeeper.root=" + zk_->root(),
                                  "--db.host=" + server.host,
                                  "--db.port=" + std::to_string(server.port),
                                  "--db.database=" + server.dbname};
    for (auto& arg : flashsale::testing::gateway_credential_args())
      args.push_back(std::move(arg));
    args.insert(args.end(), extra.begin(), extra.end());
    gateway_ = std::make_unique<child_process>(FLASHSALE_GATEWAY_BIN, std::move(args),
                                               (dir_ / "gateway.log").string());
    ASSERT_TRUE(flashsale::testing::wait_until_healthy(http_port_, 20000)) << gateway_->log_tail();
  }

  void TearDown() override {
    gateway_.reset();
    writer_.reset();
    zk_.reset();
    admin_.reset();
    database_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string purchase_body(const std::string& user) { return "{\"user\":\"" + user + "\"}"; }

  /// Polls the database until `product` has `sold` orders or 30 s pass; returns the last figures.
  db::product_report wait_for_sold(const std::string& product, std::int64_t sold) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    db::product_report r;
    while (std::chrono::steady_clock::now() < deadline) {
      r = admin_->report(product).value();
      if (r.sold >= sold)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return r;
  }

  /// Polls the writer's log until it says it reached the gateway (the result router found its
  /// registration in ZooKeeper and connected through CAF), at most 15 s.
  /// Times the writer logged that it connected to gw1 (once per gateway process it reached).
  std::size_t writer_connections_to_gateway() const {
    const std::string needle = "connected to gateway gw1";
    auto log = writer_->log_tail(1000);
    std::size_t n = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1))
      ++n;
    return n;
  }

  /// Waits (15 s at most) until the writer connected to gw1 more than `before` times: to the
  /// gateway running now, not to one that was stopped.
  bool wait_for_writer_to_reach_gateway(std::size_t before = 0) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
    while (std::chrono::steady_clock::now() < deadline) {
      if (writer_connections_to_gateway() > before)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return false;
  }

  /// Polls GET `target` until its body contains `needle`, at most 15 s; returns the last body.
  std::string wait_for_body(http_client& client, const std::string& target,
                            const std::string& needle) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
    std::string body;
    while (std::chrono::steady_clock::now() < deadline) {
      body = client.request("GET", target).body;
      if (body.find(needle) != std::string::npos)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return body;
  }

  std::int64_t total_orders() {
    std::int64_t n = 0;
    for (const auto& r : admin_->report())
      n += r.sold;
    return n;
  }

  std::filesystem::path dir_;
  std::string sale_file_;
  std::unique_ptr<flashsale::testing::scratch_database> database_;
  std::unique_ptr<flashsale::testing::scratch_zookeeper> zk_;
  std::string queue_;
  std::unique_ptr<db::schema_admin> admin_;
  int http_port_ = 0;
  std::unique_ptr<child_process> writer_;
  std::unique_ptr<child_process> gateway_;
};

TEST_F(end_to_end, an_accepted_purchase_becomes_an_order_row) {
  http_client client{http_port_};
  auto reply = client.request("POST", "/v1/products/Phone/purchase", purchase_body("alice"));
  ASSERT_EQ(reply.status, 202) << reply.body << gateway_->log_tail();
  EXPECT_NE(reply.body.find("\"status\":\"queued\""), std::string::npos) << reply.body;
  auto location = reply.headers["location"];
  ASSERT_EQ(location.rfind("/v1/orders/", 0), 0u) << location;

  auto report = wait_for_sold("Phone", 1);
  EXPECT_EQ(report.sold, 1) << writer_->log_tail();
  EXPECT_EQ(report.remaining, 999);
  EXPECT_TRUE(report.ok());

  auto ticket = client.request("GET", location);
  EXPECT_EQ(ticket.status, 200);
  EXPECT_NE(ticket.body.find("\"user\":\"alice\""), std::string::npos) << ticket.body;
  EXPECT_EQ(client.request("GET", "/v1/orders/no-such-ticket").status, 404);
}

TEST_F(end_to_end, unknown_product_is_404_and_writes_nothing) {
  http_client client{http_port_};
  auto reply = client.request("POST", "/v1/products/Toaster/purchase", purchase_body("bob"));
  EXPECT_EQ(reply.status, 404) << reply.body;
  // A valid purchase behind it proves the pipeline ran; it must be the only order written.
  ASSERT_EQ(client.request("POST", "/v1/products/Phone/purchase", purchase_body("carol")).status,
            202);
  EXPECT_EQ(wait_for_sold("Phone", 1).sold, 1) << writer_->log_tail();
  EXPECT_EQ(total_orders(), 1);
}

TEST_F(end_to_end, malformed_json_is_400_and_writes_nothing) {
  for (const char* body : {"{\"user\":", "[]", "{\"user\": 42}", "{\"user\": \"\"}", "not json"}) {
    http_client client{http_port_};
    auto reply = client.request("POST", "/v1/products/Phone/purchase", body);
    EXPECT_EQ(reply.status, 400) << body << " -> " << reply.body;
    EXPECT_NE(reply.body.find("\"error\""), std::string::npos) << reply.body;
  }
  http_client client{http_port_};
  ASSERT_EQ(client.request("POST", "/v1/products/Phone/purchase", purchase_body("dave")).status,
            202);
  EXPECT_EQ(wait_for_sold("Phone", 1).sold, 1) << writer_->log_tail();
  EXPECT_EQ(total_orders(), 1);
}

TEST_F(end_to_end, stock_sells_out_exactly_and_repeat_buyers_are_refused) {
  http_client client{http_port_};
  EXPECT_EQ(client.request("POST", "/v1/products/TV/purchase", purchase_body("u1")).status, 202);
  EXPECT_EQ(client.request("POST", "/v1/products/TV/purchase", purchase_body("u1")).status, 409);
  EXPECT_EQ(client.request("POST", "/v1/products/TV/purchase", purchase_body("u2")).status, 202);
  EXPECT_EQ(client.request("POST", "/v1/products/TV/purchase", purchase_body("u3")).status, 202);
  EXPECT_EQ(client.request("POST", "/v1/products/TV/purchase", purchase_body("u4")).status, 410);
  auto report = wait_for_sold("TV", 3);
  EXPECT_EQ(report.sold, 3) << writer_->log_tail();
  EXPECT_EQ(report.remaining, 0);
  EXPECT_TRUE(report.ok());
}

TEST_F(end_to_end, a_ticket_shows_its_order_from_the_database_also_after_a_gateway_restart) {
  http_client client{http_port_};
  auto reply = client.request("POST", "/v1/products/Phone/purchase", purchase_body("erin"));
  ASSERT_EQ(reply.status, 202) << reply.body;
  auto location = reply.headers["location"];
  ASSERT_EQ(wait_for_sold("Phone", 1).sold, 1) << writer_->log_tail();

  // The writers do not report back yet: the gateway asks the product's database.
  auto before = client.request("GET", location);
  EXPECT_EQ(before.status, 200);
  EXPECT_NE(before.body.find("\"status\":\"confirmed\""), std::string::npos) << before.body;
  EXPECT_NE(before.body.find("\"order_id\":"), std::string::npos) << before.body;

  // A restarted gateway remembers nothing, and still finds the order.
  gateway_.reset();
  ASSERT_NO_FATAL_FAILURE(start_gateway());
  http_client again{http_port_};
  auto after = again.request("GET", location);
  EXPECT_EQ(after.status, 200) << after.body << gateway_->log_tail();
  EXPECT_NE(after.body.find("\"status\":\"confirmed\""), std::string::npos) << after.body;
  EXPECT_NE(after.body.find("\"user\":\"erin\""), std::string::npos) << after.body;
  EXPECT_NE(after.body.find("\"product\":\"Phone\""), std::string::npos) << after.body;
  // A ticket no database holds stays unknown.
  EXPECT_EQ(again.request("GET", "/v1/orders/gw1-zzz-1").status, 404);
}

TEST_F(end_to_end, the_writer_tells_the_gateway_how_each_purchase_ended) {
  // A gateway that cannot ask the database learns the fate of its purchases from the writer alone
  // (CAF middleman: the writer finds the gateway's endpoint in ZooKeeper).
  // The writer must reach the new gateway before the purchase: results for a gateway it is not
  // connected to are dropped (best effort; the database is the truth).
  ASSERT_TRUE(wait_for_writer_to_reach_gateway()) << writer_->log_tail();
  auto reached_before = writer_connections_to_gateway();
  gateway_.reset();
  ASSERT_NO_FATAL_FAILURE(start_gateway({"--db.database=flashsale_no_such_database"}));
  ASSERT_TRUE(wait_for_writer_to_reach_gateway(reached_before)) << writer_->log_tail();
  http_client client{http_port_};
  auto reply = client.request("POST", "/v1/products/Phone/purchase", purchase_body("gina"));
  ASSERT_EQ(reply.status, 202) << reply.body;
  auto body = wait_for_body(client, reply.headers["location"], "\"status\":\"confirmed\"");
  EXPECT_NE(body.find("\"status\":\"confirmed\""), std::string::npos)
      << body << writer_->log_tail() << gateway_->log_tail();
  EXPECT_NE(body.find("\"order_id\":"), std::string::npos) << body;
}

TEST_F(end_to_end, a_product_sold_out_in_the_database_is_refused_by_the_gateway_at_once) {
  // The database has fewer TV units than the gateway's quota (1 instead of 3): the second buyer's
  // purchase is refused by the database, the writer tells the gateway, and the gateway stops
  // admitting TVs although its quota is not used up.
  ASSERT_TRUE(wait_for_writer_to_reach_gateway()) << writer_->log_tail();
  admin_->adjust_stock("TV", -2, "test: fewer units in the database than in ZooKeeper");
  http_client client{http_port_};
  auto first = client.request("POST", "/v1/products/TV/purchase", purchase_body("v1"));
  ASSERT_EQ(first.status, 202) << first.body;
  ASSERT_EQ(wait_for_sold("TV", 1).sold, 1) << writer_->log_tail();
  auto second = client.request("POST", "/v1/products/TV/purchase", purchase_body("v2"));
  ASSERT_EQ(second.status, 202) << second.body;  // the gateway still had quota

  auto state = wait_for_body(client, "/v1/products/TV", "\"sold_out\":true");
  EXPECT_NE(state.find("\"sold_out\":true"), std::string::npos)
      << state << writer_->log_tail() << gateway_->log_tail();
  EXPECT_NE(state.find("\"quota_left\":0"), std::string::npos) << state;
  auto third = client.request("POST", "/v1/products/TV/purchase", purchase_body("v3"));
  EXPECT_EQ(third.status, 410) << third.body;
  auto fate = wait_for_body(client, second.headers["location"], "\"status\":\"sold_out\"");
  EXPECT_NE(fate.find("\"status\":\"sold_out\""), std::string::npos) << fate;
  auto report = admin_->report("TV").value();
  EXPECT_EQ(report.sold, 1);
  EXPECT_TRUE(report.ok());
}

}  // namespace

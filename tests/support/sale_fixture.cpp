#include "tests/support/sale_fixture.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <libpq-fe.h>
#include <unistd.h>

#include "tests/support/gateway_fixture.hpp"
#include "tests/support/queue_probe.hpp"

namespace flashsale::testing {

void sale_fixture::create_sale(const std::string& kind, const std::string& sale_text,
                               bool with_database, std::int64_t queue_max_length) {
  static std::atomic<int> counter{0};
  auto id = std::to_string(::getpid()) + "-" + std::to_string(++counter);
  dir_ = (std::filesystem::temp_directory_path() / ("flashsale-" + kind + "-" + id)).string();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  sale_file_ = path_in_dir("sale.ini");
  std::ofstream(sale_file_) << sale_text;
  queue_ = "flashsale." + kind + "." + id;
  dead_letter_queue_ = queue_ + ".dead";
  delete_queue(amqp_, queue_);  // a leftover of a crashed run with our pid
  delete_queue(amqp_, dead_letter_queue_);
  amqp::topology route{"flashsale", queue_, dead_letter_queue_, queue_max_length, {}};
  route.type = amqp::default_queue_type(amqp_);  // replicated services: replicated queues
  ASSERT_NO_THROW(amqp::amqp_connection{amqp_}.declare(route));

  std::string main_db = "flashsale";
  if (with_database) {
    database_ = std::make_unique<scratch_database>("flashsale_" + kind);
    main_db = database_->admin().dbname;
  }
  sale_ = load_sale_file(sale_file_, main_db);
  for (const auto& p : sale_.products)
    ASSERT_FALSE(p.hot) << "test sales have no hot-product queues or databases";
  if (with_database) {
    admin_ = db::schema_admin::connect(database_->admin());
    for (const auto& p : sale_.products)
      admin_->define_product(p);
  }

  zk_ = std::make_unique<scratch_zookeeper>("flashsale-" + kind);
  paths_ = std::make_unique<quota::layout>(zk_->root(), sale_.name);
  quota::init_sale_tree(zk_->session(), *paths_, sale_);
}

void sale_fixture::release_sale(bool keep_dir) {
  if (!queue_.empty()) {
    if (!delete_queue(amqp_, queue_) && queued() >= 0)
      ADD_FAILURE() << "cannot delete queue " << queue_;
    delete_queue(amqp_, dead_letter_queue_);
  }
  paths_.reset();
  zk_.reset();
  admin_.reset();
  database_.reset();
  if (dir_.empty())
    return;
  if (keep_dir)
    std::cout << "[          ] logs kept in " << dir_ << "\n";
  else
    std::filesystem::remove_all(dir_);
}

std::int64_t sale_fixture::queued() {
  return queue_messages(amqp_, queue_);
}

int sale_fixture::run_admin(const std::vector<std::string>& args, std::string* output) {
  return run_tool(FLASHSALE_ADMIN_BIN, args, path_in_dir("admin.log"), std::chrono::seconds{30},
                  output);
}

bool sale_fixture::read_orders(std::map<std::string, std::string>& products,
                               std::map<std::string, int>& counts, std::string* error) {
  products.clear();
  counts.clear();
  if (database_ == nullptr) {
    if (error != nullptr)
      *error = "this sale has no database";
    return false;
  }
  const auto& p = database_->admin();
  PGconn* conn = PQconnectdb(p.conninfo().c_str());
  bool ok = false;
  if (PQstatus(conn) != CONNECTION_OK) {
    if (error != nullptr)
      *error = "cannot connect to " + p.endpoint() + ": " + PQerrorMessage(conn);
  } else {
    PGresult* res = PQexec(conn, "SELECT request_id, product FROM purchase_order");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      if (error != nullptr)
        *error = std::string("cannot read the orders: ") + PQerrorMessage(conn);
    } else {
      for (int i = 0, rows = PQntuples(res); i < rows; ++i) {
        std::string id = PQgetvalue(res, i, 0);
        products[id] = PQgetvalue(res, i, 1);
        ++counts[id];
      }
      ok = true;
    }
    PQclear(res);
  }
  PQfinish(conn);
  return ok;
}

int sale_fixture::services(const std::string& verb, const std::string& service,
                           std::chrono::milliseconds timeout, std::string* output) {
  if (verb != "start-one" && !service.empty())
    services_down_.insert(service);  // until it is known to be up again
  std::vector<std::string> args{verb};
  if (!service.empty())
    args.push_back(service);
  int rc = run_tool(std::string(FLASHSALE_SOURCE_DIR) + "/scripts/services", args,
                    path_in_dir("services-" + verb + "-" + service + ".log"), timeout, output);
  if (rc == 0 && verb != "stop-one")
    services_down_.erase(service);
  return rc;
}

void sale_fixture::restore_services() {
  for (const auto& svc : std::set<std::string>(services_down_)) {
    std::string output;
    int rc = services("start-one", svc, std::chrono::seconds{180}, &output);
    if (rc != 0)
      ADD_FAILURE() << "cannot start " << svc << " again (exit " << rc << ")\n" << output;
    else
      std::cout << "[          ] TearDown started " << svc << " again\n";
  }
}

}  // namespace flashsale::testing

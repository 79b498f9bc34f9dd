// flashsale-admin: database side of a sale (migrate, define the products, check the invariants),
// its ZooKeeper tree (live quotas), live stock and settings changes, the cluster's status and the
// reconcile after a crash. This file reads the command line and dispatches; the commands are in
// commands.cpp, cluster_status.cpp and reconcile.cpp.

#include <chrono>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "adapters/db/connection.hpp"
#include "common/sale_definition.hpp"
#include "quota/znodes.hpp"
#include "tools/admin/admin_options.hpp"
#include "tools/admin/cluster_status.hpp"
#include "tools/admin/commands.hpp"
#include "tools/admin/reconcile.hpp"
#include "tools/admin/tokens.hpp"

namespace {

using namespace flashsale;
using namespace flashsale::admin;

enum class command {
  migrate,
  sale_create,
  sale_settings,
  report,
  amqp_declare,
  zk_init,
  zk_status,
  zk_reconcile,
  zk_drop,
  stock,
};

/// What the positional words ask for: the command, its arguments and its sale file.
struct command_line {
  command cmd = command::report;
  std::string sale_file;
  std::string verb;           ///< sale open|close|schedule|shed, stock set|add|remove
  std::int64_t number = 0;    ///< sale shed K, stock ... N
  std::string stock_product;  ///< stock ... PRODUCT
};

/// A command line with no number and no product.
command_line make_command(command cmd, std::string sale_file = {}, std::string verb = {}) {
  command_line c;
  c.cmd = cmd;
  c.sale_file = std::move(sale_file);
  c.verb = std::move(verb);
  return c;
}

/// `sale open|close|schedule`, `sale shed K`, `sale draw-window S`.
command_line parse_sale_settings(const options& o, const std::vector<std::string>& words) {
  bool shed = words[1] == "shed";
  bool window = words[1] == "draw-window";
  bool with_number = shed || window;
  if (words.size() != (with_number ? 3u : 2u))
    throw usage_error(shed     ? "expected: sale shed K --sale FILE --zk HOSTS"
                      : window ? "expected: sale draw-window SECONDS --sale FILE --zk HOSTS"
                               : "expected: sale " + words[1] + " --sale FILE --zk HOSTS");
  if (!o.sale_file || !o.zk_hosts)
    throw usage_error("sale " + words[1] + " needs --sale FILE and --zk HOSTS");
  auto c = make_command(command::sale_settings, *o.sale_file, words[1]);
  if (shed)
    c.number = parse_int_option("K", words[2], 1, 1000000);
  if (window)
    c.number = parse_int_option("SECONDS", words[2], 0, static_cast<int>(quota::max_draw_window_s));
  return c;
}

/// `sale create [FILE]`.
command_line parse_sale_create(const options& o, const std::vector<std::string>& words) {
  if (words.size() < 2 || words[1] != "create")
    throw usage_error("unknown sale subcommand" +
                      (words.size() < 2 ? std::string() : " '" + words[1] + "'") +
                      " (expected: sale create FILE, sale open|close|schedule, sale shed K, "
                      "sale draw-window S)");
  if (words.size() > 3)
    throw usage_error("unexpected argument '" + words[3] + "' after sale create FILE");
  if (words.size() == 3 && o.sale_file && *o.sale_file != words[2])
    throw usage_error("two sale files given");
  auto c = make_command(command::sale_create);
  if (words.size() == 3)
    c.sale_file = words[2];
  else if (o.sale_file)
    c.sale_file = *o.sale_file;
  else
    throw usage_error("sale create needs a sale FILE");
  return c;
}

/// Every command but status. Throws usage_error.
command_line parse_command(const options& o) {
  const auto& words = o.command;
  if (words[0] == "migrate" || words[0] == "report") {
    if (words.size() > 1)
      throw usage_error("unexpected argument '" + words[1] + "' after " + words[0]);
    if (!o.sale_file)
      throw usage_error(words[0] + " needs --sale FILE");
    return make_command(words[0] == "migrate" ? command::migrate : command::report, *o.sale_file);
  }
  if (words[0] == "sale" && words.size() >= 2 &&
      (words[1] == "open" || words[1] == "close" || words[1] == "schedule" || words[1] == "shed" ||
       words[1] == "draw-window"))
    return parse_sale_settings(o, words);
  if (words[0] == "sale")
    return parse_sale_create(o, words);
  if (words[0] == "amqp") {
    if (words.size() != 2 || words[1] != "declare")
      throw usage_error("expected: amqp declare --sale FILE");
    if (!o.sale_file)
      throw usage_error("amqp declare needs --sale FILE");
    return make_command(command::amqp_declare, *o.sale_file);
  }
  if (words[0] == "zk") {
    if (words.size() != 2 || (words[1] != "init" && words[1] != "status" && words[1] != "drop" &&
                              words[1] != "reconcile"))
      throw usage_error("expected: zk init|status|reconcile|drop --sale FILE --zk HOSTS");
    if (!o.sale_file || !o.zk_hosts)
      throw usage_error("zk " + words[1] + " needs --sale FILE and --zk HOSTS");
    auto cmd = words[1] == "init"        ? command::zk_init
               : words[1] == "status"    ? command::zk_status
               : words[1] == "reconcile" ? command::zk_reconcile
                                         : command::zk_drop;
    return make_command(cmd, *o.sale_file);
  }
  if (words[0] == "stock") {
    if (words.size() != 4 || (words[1] != "set" && words[1] != "add" && words[1] != "remove"))
      throw usage_error("expected: stock set|add|remove PRODUCT N --sale FILE [--zk HOSTS]");
    if (!o.sale_file)
      throw usage_error("stock needs --sale FILE");
    auto c = make_command(command::stock, *o.sale_file, words[1]);
    c.number = parse_int_option("N", words[3], 0, 1000000000);
    c.stock_product = words[2];
    return c;
  }
  throw usage_error(
      "unknown command '" + words[0] +
      "' (migrate, sale create, report, amqp declare, zk init, stock, status, token)");
}

/// `status`: needs no sale file, it shows whatever nodes are registered.
int run_status(const options& o) {
  if (o.command.size() > 1)
    throw usage_error("unexpected argument '" + o.command[1] + "' after status");
  if (!o.zk_hosts)
    throw usage_error("status needs --zk HOSTS");
  try {
    auto rc = print_cluster_status(*o.zk_hosts, o.zk_root, o.zk_login, std::chrono::seconds{3},
                                   std::cout);
    return rc == 0 ? exit_ok : exit_node_unreachable;
  } catch (const std::exception& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    return exit_zookeeper;
  }
}

int run_reconcile(const options& o, const sale_definition& sale) {
  reconcile_options r;
  r.zk_hosts = *o.zk_hosts;
  r.zk_root = o.zk_root;
  r.zk_login = o.zk_login;
  r.db = o.db;
  r.amqp = o.amqp;
  r.route = sale_route(o, sale);
  r.settle = std::chrono::seconds{o.settle_s};
  try {
    auto rc = reconcile_gone_gateways(r, sale, std::cout);
    return rc == 0 ? exit_ok : exit_not_idle;
  } catch (const db::db_error&) {
    throw;
  } catch (const std::exception& e) {
    throw zookeeper_failure(e.what());  // ZooKeeper or RabbitMQ: the cluster, not the data
  }
}

/// Runs a parsed command on its sale. Throws db::db_error and zookeeper_failure.
int dispatch(const options& o, const command_line& c, const sale_definition& sale) {
  switch (c.cmd) {
    case command::migrate:
      return run_migrate(o, sale);
    case command::sale_create: {
      auto rc = run_sale_create(o, sale);
      return rc == exit_ok && o.zk_hosts ? run_zk_init(o, sale) : rc;
    }
    case command::sale_settings:
      return run_settings(o, sale, c.verb, c.number);
    case command::amqp_declare:
      try {
        return run_amqp_declare(o, sale);
      } catch (const amqp::amqp_error& e) {
        std::cerr << "flashsale-admin: " << e.what() << '\n';
        return exit_broker;
      }
    case command::zk_init:
      return run_zk_init(o, sale);
    case command::zk_status:
      return run_zk_status(o, sale);
    case command::zk_reconcile:
      return run_reconcile(o, sale);
    case command::zk_drop:
      return run_zk_drop(o, sale);
    case command::stock:
      return run_stock(o, sale, c.verb, c.stock_product, c.number);
    case command::report:
      return run_report(o, sale);
  }
  return exit_ok;
}

int fail_usage(const std::string& what) {
  std::cerr << "flashsale-admin: " << what << "\n(flashsale-admin --help for usage)\n";
  return exit_usage;
}

int run(int argc, char** argv) {
  options o;
  command_line c;
  try {
    o = parse_options(argc, argv);
    if (o.help) {
      std::cout << usage_text;
      return exit_ok;
    }
    auto logger = spdlog::stderr_color_mt("flashsale-admin");
    spdlog::set_default_logger(logger);
    spdlog::set_level(o.verbose ? spdlog::level::debug : spdlog::level::warn);
    if (o.command.empty())
      return fail_usage(
          "no command given (migrate, sale create, report, zk init, stock, status, token)");
    if (o.command[0] == "status")
      return run_status(o);
    if (o.command[0] == "token")
      return run_token(o);
    c = parse_command(o);
  } catch (const usage_error& e) {
    return fail_usage(e.what());
  }

  sale_definition sale;
  try {
    sale = load_sale_file(c.sale_file, o.db.dbname);
  } catch (const sale_file_error& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    return exit_usage;
  }
  try {
    return dispatch(o, c, sale);
  } catch (const zookeeper_failure& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    return exit_zookeeper;
  } catch (const db::db_error& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    std::string what = e.what();
    bool not_migrated =
        e.sqlstate() == "3D000" || e.sqlstate() == "42883" || e.sqlstate() == "42P01" ||
        (c.cmd != command::migrate && what.find("does not exist") != std::string::npos);
    if (not_migrated)
      std::cerr << "flashsale-admin: is the database migrated? run: flashsale-admin migrate --sale "
                << c.sale_file << '\n';
    return exit_database;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    return exit_database;
  }
}

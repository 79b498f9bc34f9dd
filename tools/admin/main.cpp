// flashsale-admin: database side of a sale (migrate, define the products, check the invariants),
// its ZooKeeper tree (live quotas) and live stock changes (database and ZooKeeper together).
#include <chrono>
#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "quota/sale_tree.hpp"
#include "quota/znodes.hpp"
#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/schema_admin.hpp"
#include "adapters/zookeeper/blocking_session.hpp"
#include "common/parse_integer.hpp"
#include "common/sale_definition.hpp"
#include "tools/admin/cluster_status.hpp"
#include "tools/admin/reconcile.hpp"

namespace {

using namespace flashsale;

// Exit codes (documented in usage()).
constexpr int exit_ok = 0;
constexpr int exit_invariant_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_database = 3;
constexpr int exit_zookeeper = 4;
constexpr int exit_node_unreachable = 5;
constexpr int exit_not_idle = 6;

constexpr const char* usage_text = R"(usage: flashsale-admin [options] <command>

commands:
  migrate --sale FILE   create (if missing) and migrate the main database and the database of
                        every hot product of the sale (applies sql/*.sql not yet applied)
  sale create FILE      define every product of the sale in its database (idempotent; a product
                        already defined differently is an error)
  sale open|close|schedule --sale FILE --zk HOSTS
                        open the sale now, close it now, or follow the opens_at / closes_at of
                        the sale file again (the default); every gateway follows within a second
  sale shed K --sale FILE --zk HOSTS
                        keep 1 purchase attempt in K at every gateway (lottery), live
  report --sale FILE    per product: stock made available, sold, remaining, and the invariants
                        I1 no-oversell, I2 conservation, I3 no-duplicates (OK or FAIL)
  zk init --sale FILE --zk HOSTS
                        create the sale's ZooKeeper tree for live quotas (idempotent; the
                        stock of a product znode that exists is left as it is). `sale create
                        FILE --zk HOSTS` does the same after the database step
  zk status --sale FILE --zk HOSTS
                        per product: stock, and per gateway its grant, reported consumption and
                        whether it is registered; the quota leader
  zk reconcile --sale FILE --zk HOSTS [--amqp-queue Q] [--settle-s S]
                        give the live gateways what a gateway that died mid-sale had claimed but
                        not sold: once no message is queued and every writer is idle (checked
                        twice, S seconds apart, default 3), lower each gone gateway's grant to
                        its orders in the database; the quota leader re-grants the rest. Only for
                        gateways whose process is gone (not frozen). Exit 6: not idle, try later
  zk drop --sale FILE --zk HOSTS
                        delete the sale's tree (grants, reports, stock) to start over; stop the
                        sale's gateways first
  stock set|add|remove PRODUCT N --sale FILE [--zk HOSTS]
                        change the stock made available to N / by +N / by -N: in the database
                        (stock ledger; a removal takes at most what is left) and, with --zk, in
                        the product's znode, which every gateway of the live sale follows
  status --zk HOSTS     ask every gateway and writer registered in ZooKeeper for its stats (CAF,
                        3 s per node) and print one table: role, uptime, queue lag, batches,
                        rate, connected peers, quota left, requests by outcome / orders by result

options (also FLASHSALE_PG_* from build/run/endpoints.env, then the defaults):
  --db-host HOST        PostgreSQL host            (FLASHSALE_PG_HOST, 127.0.0.1)
  --db-port PORT        PostgreSQL port            (FLASHSALE_PG_PORT, 54329)
  --db-user USER        admin user                 (FLASHSALE_PG_ADMIN_USER, flashsale)
  --db-password PW      admin password             (FLASHSALE_PG_ADMIN_PASSWORD, flashsale)
  --db-name NAME        main database; hot products use NAME_hot_<id>   (FLASHSALE_PG_DB, flashsale)
  --db-connect-timeout S  connect timeout in seconds (5)
  --sql-dir DIR         migration files            (FLASHSALE_SQL_DIR, the source tree's sql/)
  --zk HOSTS            ZooKeeper connect string, e.g. 127.0.0.1:21810 (no default: without it
                        `stock` changes the database only)
  --zk-root ROOT        root znode of the flash-sale tree (/flashsale)
  --amqp-host H --amqp-port P --amqp-user U --amqp-password W
                        RabbitMQ, for zk reconcile (FLASHSALE_AMQP_*, then 127.0.0.1:56729)
  --amqp-queue Q        the sale's order queue (flashsale.orders; hot products: Q.<product>)
  --settle-s S          zk reconcile: seconds between its two checks (3)
  -v, --verbose         log what is done (to stderr)
  -h, --help            this text

exit status: 0 success, 1 an invariant FAILed (report), 2 bad usage or sale file, 3 database error,
             4 ZooKeeper error, 5 a registered node did not answer (status), 6 the sale is not
             idle (zk reconcile; nothing changed)
)";

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct options {
  db::connection_params db;
  std::string sql_dir;
  std::vector<std::string> command;  // positional words
  std::optional<std::string> sale_file;
  std::optional<std::string> zk_hosts;
  std::string zk_root = "/flashsale";
  amqp::connection_params amqp = amqp::connection_params::from_env();
  std::string amqp_queue = "flashsale.orders";
  int settle_s = 3;
  bool verbose = false;
  bool help = false;
};

int parse_int_option(const std::string& name, const std::string& value, int min, int max) {
  auto n = parse_integer(value);
  if (!n || *n < min || *n > max)
    throw usage_error(name + " must be an integer in [" + std::to_string(min) + ", " +
                      std::to_string(max) + "], got '" + value + "'");
  return static_cast<int>(*n);
}

options parse_options(int argc, char** argv) {
  options o;
  try {
    o.db = db::connection_params::from_env();
  } catch (const db::db_error& e) {
    throw usage_error(e.what());
  }
  const char* sql_env = std::getenv("FLASHSALE_SQL_DIR");
  o.sql_dir = sql_env != nullptr && *sql_env != '\0' ? sql_env : FLASHSALE_DEFAULT_SQL_DIR;

  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      continue;
    }
    if (arg == "-v" || arg == "--verbose") {
      o.verbose = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      o.command.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    static const std::set<std::string> with_value{
        "--db-host",     "--db-port",       "--db-user",
        "--db-password", "--db-name",       "--db-connect-timeout",
        "--sql-dir",     "--sale",          "--zk",
        "--zk-root",     "--amqp-host",     "--amqp-port",
        "--amqp-user",   "--amqp-password", "--amqp-queue",
        "--settle-s"};
    if (with_value.count(name) == 0)
      throw usage_error("unknown option '" + name + "'");
    if (!value) {
      if (i + 1 >= args.size())
        throw usage_error("option " + name + " needs a value");
      value = args[++i];
    }
    if (name == "--db-host")
      o.db.host = *value;
    else if (name == "--db-port")
      o.db.port = parse_int_option(name, *value, 1, 65535);
    else if (name == "--db-user")
      o.db.user = *value;
    else if (name == "--db-password")
      o.db.password = *value;
    else if (name == "--db-name")
      o.db.dbname = *value;
    else if (name == "--db-connect-timeout")
      o.db.connect_timeout_s = parse_int_option(name, *value, 1, 3600);
    else if (name == "--sql-dir")
      o.sql_dir = *value;
    else if (name == "--sale")
      o.sale_file = *value;
    else if (name == "--zk")
      o.zk_hosts = *value;
    else if (name == "--zk-root")
      o.zk_root = *value;
    else if (name == "--amqp-host")
      o.amqp.host = *value;
    else if (name == "--amqp-port")
      o.amqp.port = parse_int_option(name, *value, 1, 65535);
    else if (name == "--amqp-user")
      o.amqp.user = *value;
    else if (name == "--amqp-password")
      o.amqp.password = *value;
    else if (name == "--amqp-queue")
      o.amqp_queue = *value;
    else if (name == "--settle-s")
      o.settle_s = parse_int_option(name, *value, 1, 600);
  }
  if (o.amqp.host.empty() || o.amqp_queue.empty())
    throw usage_error("--amqp-host and --amqp-queue must not be empty");
  if (o.db.host.empty() || o.db.dbname.empty() || o.db.user.empty())
    throw usage_error("--db-host, --db-user and --db-name must not be empty");
  if (o.zk_hosts && o.zk_hosts->empty())
    throw usage_error("--zk must not be empty");
  if (!quota::valid_root(o.zk_root))
    throw usage_error("--zk-root must be an absolute znode path like /flashsale, got '" +
                      o.zk_root + "'");
  return o;
}

int run_migrate(const options& o, const sale_definition& sale) {
  for (const auto& name : sale.databases()) {
    bool created = db::schema_admin::ensure_database(o.db, name);
    auto admin = db::schema_admin::connect(o.db.with_dbname(name));
    auto applied = admin->migrate(o.sql_dir);
    std::cout << name << ": " << (created ? "created, " : "");
    if (applied.empty()) {
      std::cout << "up to date\n";
    } else {
      std::cout << "applied";
      for (const auto& f : applied)
        std::cout << ' ' << f;
      std::cout << '\n';
    }
  }
  return exit_ok;
}

int run_sale_create(const options& o, const sale_definition& sale) {
  std::map<std::string, std::unique_ptr<db::schema_admin>> admins;
  for (const auto& p : sale.products) {
    auto& admin = admins[p.database];
    if (!admin)
      admin = db::schema_admin::connect(o.db.with_dbname(p.database));
    auto status = admin->define_product(p);
    std::cout << p.id << ": " << db::to_string(status) << " in " << p.database << " (stock "
              << p.stock << ", slots " << p.slots << ", per_user_limit " << p.per_user_limit
              << (p.hot ? ", hot" : "") << ")\n";
  }
  return exit_ok;
}

std::string pad(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

int run_report(const options& o, const sale_definition& sale) {
  std::map<std::string, std::unique_ptr<db::schema_admin>> admins;
  std::vector<std::optional<db::product_report>> rows;
  std::size_t id_width = 7;
  std::size_t db_width = 8;
  for (const auto& p : sale.products) {
    auto& admin = admins[p.database];
    if (!admin)
      admin = db::schema_admin::connect(o.db.with_dbname(p.database));
    rows.push_back(admin->report(p.id));
    id_width = std::max(id_width, p.id.size());
    db_width = std::max(db_width, p.database.size());
  }

  std::cout << "sale " << sale.name << " on " << o.db.host << ':' << o.db.port << ", "
            << sale.products.size() << " products\n\n";
  std::cout << pad("product", id_width) << "  " << pad("database", db_width) << "  "
            << std::setw(10) << "available"
            << "  " << std::setw(10) << "sold"
            << "  " << std::setw(10) << "remaining" << '\n';
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& p = sale.products[i];
    std::cout << pad(p.id, id_width) << "  " << pad(p.database, db_width) << "  ";
    if (rows[i])
      std::cout << std::setw(10) << rows[i]->made_available << "  " << std::setw(10)
                << rows[i]->sold << "  " << std::setw(10) << rows[i]->remaining << '\n';
    else
      std::cout << "not defined (run: flashsale-admin sale create FILE)\n";
  }
  std::cout << '\n';

  int checks = 0;
  int failed = 0;
  auto line = [&](const char* invariant, const std::string& id, bool ok,
                  const std::string& detail) {
    ++checks;
    failed += ok ? 0 : 1;
    std::cout << pad(invariant, 19) << ' ' << pad(id, id_width) << "  " << (ok ? "OK  " : "FAIL")
              << "  " << detail << '\n';
  };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& id = sale.products[i].id;
    if (!rows[i]) {
      std::string missing = "not defined in database " + sale.products[i].database;
      line("I1 no-oversell", id, false, missing);
      line("I2 conservation", id, false, missing);
      line("I3 no-duplicates", id, false, missing);
      continue;
    }
    const auto& r = *rows[i];
    std::ostringstream i1, i2, i3;
    i1 << "sold " << r.sold << (r.sold <= r.made_available ? " <= " : " > ") << "available "
       << r.made_available << ", negative slots " << r.negative_slots;
    i2 << "available " << r.made_available << (r.conserved() ? " = " : " != ") << "remaining "
       << r.remaining << " + sold " << r.sold;
    i3 << "duplicate request ids " << r.duplicate_requests << ", users over limit "
       << r.users_over_limit << " (per-user limit " << r.per_user_limit << ")";
    line("I1 no-oversell", id, r.no_oversell(), i1.str());
    line("I2 conservation", id, r.conserved(), i2.str());
    line("I3 no-duplicates", id, r.no_duplicates(), i3.str());
  }
  std::cout << '\n';
  if (failed == 0) {
    std::cout << "result: OK (" << checks << " checks passed)\n";
    return exit_ok;
  }
  std::cout << "result: FAIL (" << failed << " of " << checks << " checks failed)\n";
  return exit_invariant_failed;
}

/// Thrown for ZooKeeper failures (exit_zookeeper).
struct zookeeper_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::unique_ptr<zk::blocking_session> connect_zookeeper(const std::string& hosts) {
  zk::options zo;
  zo.hosts = hosts;
  zo.session_timeout = std::chrono::seconds{10};
  zo.op_timeout = std::chrono::seconds{5};
  try {
    return std::make_unique<zk::blocking_session>(zo, std::chrono::seconds{10});
  } catch (const std::exception& e) {
    throw zookeeper_failure(e.what());
  }
}

int run_zk_init(const options& o, const sale_definition& sale) {
  auto zk = connect_zookeeper(*o.zk_hosts);
  quota::layout paths{o.zk_root, sale.name};
  std::vector<quota::product_init> done;
  try {
    done = quota::init_sale_tree(*zk, paths, sale);
  } catch (const std::runtime_error& e) {
    throw zookeeper_failure(e.what());
  }
  for (const auto& p : done)
    std::cout << p.product << ": " << (p.created ? "created " : "exists ")
              << paths.product(p.product) << " (stock " << p.stock << ")\n";
  return exit_ok;
}

int run_zk_status(const options& o, const sale_definition& sale) {
  auto zk = connect_zookeeper(*o.zk_hosts);
  quota::layout paths{o.zk_root, sale.name};
  auto check = [](const zk::result& r, const std::string& path) {
    if (!r.ok() && r.rc != zk::code::no_node)
      throw zookeeper_failure("cannot read " + path + ": " + zk::to_string(r.rc));
  };
  auto members = zk->get_children(paths.members());
  check(members, paths.members());
  auto nodes = zk->get_children(paths.grants());
  check(nodes, paths.grants());
  if (nodes.rc == zk::code::no_node)
    throw zookeeper_failure(paths.grants() + " does not exist (run: flashsale-admin zk init)");
  std::sort(nodes.children.begin(), nodes.children.end());
  auto leader = zk->get(paths.leader());
  auto announced = leader.ok() ? quota::decode_leader(leader.data) : std::nullopt;
  std::cout << "sale " << sale.name << " under " << o.zk_root << ", leader "
            << (announced ? announced->node : std::string("(none)")) << '\n';
  for (const auto& p : sale.products) {
    auto product = zk->get(paths.product(p.id));
    check(product, paths.product(p.id));
    auto stock = product.ok() ? quota::decode_product(product.data) : std::nullopt;
    std::cout << p.id << ": stock " << (stock ? std::to_string(stock->stock) : "?") << '\n';
    std::int64_t granted = 0;
    std::int64_t consumed = 0;
    for (const auto& n : nodes.children) {
      auto g = zk->get(paths.grant(n, p.id));
      auto c = zk->get(paths.consumed(n, p.id));
      std::string grant_text = "?";
      std::string consumed_text = "?";
      bool releasing = false;
      if (auto grant = g.ok() ? quota::decode_grant(g.data) : std::nullopt) {
        granted += grant->grant;
        grant_text = std::to_string(grant->grant);
        releasing = grant->release;
      }
      if (auto report = c.ok() ? quota::decode_report(c.data) : std::nullopt) {
        consumed += report->consumed;
        consumed_text = std::to_string(report->consumed);
      }
      bool live =
          std::find(members.children.begin(), members.children.end(), n) != members.children.end();
      std::cout << "  " << pad(n, 16) << " grant " << std::setw(8) << grant_text << "  consumed "
                << std::setw(8) << consumed_text << "  " << (live ? "registered" : "gone")
                << (releasing ? ", releasing" : "") << '\n';
    }
    std::cout << "  " << pad("total", 16) << " grant " << std::setw(8) << granted << "  consumed "
              << std::setw(8) << consumed << '\n';
  }
  return exit_ok;
}

int run_zk_drop(const options& o, const sale_definition& sale) {
  auto zk = connect_zookeeper(*o.zk_hosts);
  auto path = quota::layout{o.zk_root, sale.name}.sale();
  auto rc = zk->remove_all(path);
  if (rc != zk::code::ok)
    throw zookeeper_failure("cannot delete " + path + ": " + zk::to_string(rc));
  std::cout << "deleted " << path << '\n';
  return exit_ok;
}

/// `stock set|add|remove PRODUCT N`: the database first (it says what was applied: a removal
/// takes at most what is left), then the product's znode takes the database's figure, with a
/// versioned write retried on conflicts (never forced).
int run_stock(const options& o, const sale_definition& sale, const std::string& verb,
              const std::string& id, std::int64_t n) {
  const auto* product = sale.find(id);
  if (product == nullptr) {
    std::cerr << "flashsale-admin: product '" << id << "' is not in sale " << sale.name << '\n';
    return exit_usage;
  }
  auto admin = db::schema_admin::connect(o.db.with_dbname(product->database));
  auto before = admin->report(id);
  if (!before) {
    std::cerr << "flashsale-admin: " << id << " is not defined in " << product->database
              << " (run: flashsale-admin sale create FILE)\n";
    return exit_database;
  }
  std::int64_t delta = verb == "set" ? n - before->made_available : verb == "add" ? n : -n;
  auto change =
      admin->adjust_stock(id, delta, "flashsale-admin stock " + verb + " " + std::to_string(n));
  auto after = admin->report(id);
  auto available = after ? after->made_available : before->made_available + change.applied;
  std::cout << id << ": database stock made available " << before->made_available << " -> "
            << available << " (applied " << std::showpos << change.applied << " of "
            << change.requested << std::noshowpos << ", " << change.remaining << " left)\n";
  if (!o.zk_hosts) {
    std::cout << id << ": database only (no --zk): running gateways keep their quotas\n";
    return exit_ok;
  }
  auto zk = connect_zookeeper(*o.zk_hosts);
  auto path = quota::layout{o.zk_root, sale.name}.product(id);
  for (int attempt = 1;; ++attempt) {
    auto current = zk->get(path);
    if (current.rc == zk::code::no_node)
      throw zookeeper_failure(path + " does not exist (run: flashsale-admin zk init)");
    if (!current.ok())
      throw zookeeper_failure("cannot read " + path + ": " + zk::to_string(current.rc));
    auto stock = quota::decode_product(current.data);
    auto written = zk->set(path, encode(quota::product_znode{available}), current.stat.version);
    if (written.ok()) {
      std::cout << id << ": ZooKeeper " << path << " stock "
                << (stock ? std::to_string(stock->stock) : "'" + current.data + "'") << " -> "
                << available << '\n';
      return exit_ok;
    }
    if (written.rc != zk::code::bad_version || attempt == 10)
      throw zookeeper_failure("cannot write " + path + ": " + zk::to_string(written.rc));
  }
}

/// `sale open|close|schedule` and `sale shed K`: changes one key of the sale's settings znode
/// (the others are kept) with a versioned write, retried on conflicts; every gateway of the sale
/// follows within about a second.
int run_settings(const options& o, const sale_definition& sale, const std::string& verb,
                 std::int64_t keep_one_in) {
  auto zk = connect_zookeeper(*o.zk_hosts);
  quota::layout paths{o.zk_root, sale.name};
  auto path = paths.settings();
  if (!zk->exists(paths.sale()).ok())
    throw zookeeper_failure(paths.sale() + " does not exist (run: flashsale-admin zk init)");
  for (int attempt = 1;; ++attempt) {
    auto current = zk->get(path);
    if (!current.ok() && current.rc != zk::code::no_node)
      throw zookeeper_failure("cannot read " + path + ": " + zk::to_string(current.rc));
    quota::sale_settings settings;
    if (current.ok()) {
      auto decoded = quota::decode_settings(current.data);
      if (!decoded)
        throw zookeeper_failure(path + " holds invalid settings ('" + current.data +
                                "'); fix or delete it with zkCli.sh");
      settings = *decoded;
    }
    if (verb == "shed")
      settings.keep_one_in = static_cast<std::uint32_t>(keep_one_in);
    else
      settings.window = verb == "open"    ? window_mode::open
                        : verb == "close" ? window_mode::closed
                                          : window_mode::scheduled;
    auto data = encode(settings);
    auto written =
        current.ok() ? zk->set(path, data, current.stat.version) : zk->create(path, data);
    if (written.ok()) {
      std::cout << "sale " << sale.name << ": " << path << " = " << data << '\n';
      return exit_ok;
    }
    bool raced = written.rc == zk::code::bad_version || written.rc == zk::code::node_exists;
    if (!raced || attempt == 10)
      throw zookeeper_failure("cannot write " + path + ": " + zk::to_string(written.rc));
  }
}

int run(int argc, char** argv) {
  options o;
  try {
    o = parse_options(argc, argv);
  } catch (const usage_error& e) {
    std::cerr << "flashsale-admin: " << e.what() << "\n(flashsale-admin --help for usage)\n";
    return exit_usage;
  }
  if (o.help) {
    std::cout << usage_text;
    return exit_ok;
  }
  auto logger = spdlog::stderr_color_mt("flashsale-admin");
  spdlog::set_default_logger(logger);
  spdlog::set_level(o.verbose ? spdlog::level::debug : spdlog::level::warn);

  // The command and where its sale file comes from.
  enum class command {
    migrate,
    sale_create,
    sale_settings,
    report,
    zk_init,
    zk_status,
    zk_reconcile,
    zk_drop,
    stock
  } cmd;
  std::string settings_verb;
  std::int64_t keep_one_in = 0;
  std::string sale_file;
  std::string stock_verb, stock_product;
  std::int64_t stock_units = 0;
  const auto& words = o.command;
  auto fail_usage = [](const std::string& what) {
    std::cerr << "flashsale-admin: " << what << "\n(flashsale-admin --help for usage)\n";
    return exit_usage;
  };
  if (words.empty())
    return fail_usage("no command given (migrate, sale create, report, zk init, stock, status)");
  if (words[0] == "status") {
    // Needs no sale file: it shows whatever nodes are registered.
    if (words.size() > 1)
      return fail_usage("unexpected argument '" + words[1] + "' after status");
    if (!o.zk_hosts)
      return fail_usage("status needs --zk HOSTS");
    try {
      auto rc =
          admin::print_cluster_status(*o.zk_hosts, o.zk_root, std::chrono::seconds{3}, std::cout);
      return rc == 0 ? exit_ok : exit_node_unreachable;
    } catch (const std::exception& e) {
      std::cerr << "flashsale-admin: " << e.what() << '\n';
      return exit_zookeeper;
    }
  }
  if (words[0] == "migrate" || words[0] == "report") {
    cmd = words[0] == "migrate" ? command::migrate : command::report;
    if (words.size() > 1)
      return fail_usage("unexpected argument '" + words[1] + "' after " + words[0]);
    if (!o.sale_file)
      return fail_usage(words[0] + " needs --sale FILE");
    sale_file = *o.sale_file;
  } else if (words[0] == "sale" && words.size() >= 2 &&
             (words[1] == "open" || words[1] == "close" || words[1] == "schedule" ||
              words[1] == "shed")) {
    bool shed = words[1] == "shed";
    if (words.size() != (shed ? 3u : 2u))
      return fail_usage(shed ? "expected: sale shed K --sale FILE --zk HOSTS"
                             : "expected: sale " + words[1] + " --sale FILE --zk HOSTS");
    if (!o.sale_file || !o.zk_hosts)
      return fail_usage("sale " + words[1] + " needs --sale FILE and --zk HOSTS");
    if (shed) {
      try {
        keep_one_in = parse_int_option("K", words[2], 1, 1000000);
      } catch (const usage_error& e) {
        return fail_usage(e.what());
      }
    }
    cmd = command::sale_settings;
    settings_verb = words[1];
    sale_file = *o.sale_file;
  } else if (words[0] == "sale") {
    if (words.size() < 2 || words[1] != "create")
      return fail_usage("unknown sale subcommand" +
                        (words.size() < 2 ? std::string() : " '" + words[1] + "'") +
                        " (expected: sale create FILE, sale open|close|schedule, sale shed K)");
    cmd = command::sale_create;
    if (words.size() > 3)
      return fail_usage("unexpected argument '" + words[3] + "' after sale create FILE");
    if (words.size() == 3 && o.sale_file && *o.sale_file != words[2])
      return fail_usage("two sale files given");
    if (words.size() == 3)
      sale_file = words[2];
    else if (o.sale_file)
      sale_file = *o.sale_file;
    else
      return fail_usage("sale create needs a sale FILE");
  } else if (words[0] == "zk") {
    if (words.size() != 2 || (words[1] != "init" && words[1] != "status" && words[1] != "drop" &&
                              words[1] != "reconcile"))
      return fail_usage("expected: zk init|status|reconcile|drop --sale FILE --zk HOSTS");
    if (!o.sale_file || !o.zk_hosts)
      return fail_usage("zk " + words[1] + " needs --sale FILE and --zk HOSTS");
    cmd = words[1] == "init"        ? command::zk_init
          : words[1] == "status"    ? command::zk_status
          : words[1] == "reconcile" ? command::zk_reconcile
                                    : command::zk_drop;
    sale_file = *o.sale_file;
  } else if (words[0] == "stock") {
    if (words.size() != 4 || (words[1] != "set" && words[1] != "add" && words[1] != "remove"))
      return fail_usage("expected: stock set|add|remove PRODUCT N --sale FILE [--zk HOSTS]");
    if (!o.sale_file)
      return fail_usage("stock needs --sale FILE");
    try {
      stock_units = parse_int_option("N", words[3], 0, 1000000000);
    } catch (const usage_error& e) {
      return fail_usage(e.what());
    }
    cmd = command::stock;
    stock_verb = words[1];
    stock_product = words[2];
    sale_file = *o.sale_file;
  } else {
    return fail_usage("unknown command '" + words[0] +
                      "' (migrate, sale create, report, zk init, stock, status)");
  }

  sale_definition sale;
  try {
    sale = load_sale_file(sale_file, o.db.dbname);
  } catch (const sale_file_error& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    return exit_usage;
  }

  try {
    switch (cmd) {
      case command::migrate:
        return run_migrate(o, sale);
      case command::sale_create: {
        auto rc = run_sale_create(o, sale);
        return rc == exit_ok && o.zk_hosts ? run_zk_init(o, sale) : rc;
      }
      case command::sale_settings:
        return run_settings(o, sale, settings_verb, keep_one_in);
      case command::zk_init:
        return run_zk_init(o, sale);
      case command::zk_status:
        return run_zk_status(o, sale);
      case command::zk_reconcile: {
        admin::reconcile_options r;
        r.zk_hosts = *o.zk_hosts;
        r.zk_root = o.zk_root;
        r.db = o.db;
        r.amqp = o.amqp;
        r.route.queue = o.amqp_queue;
        for (const auto& p : sale.products)
          if (p.hot)
            r.route.hot_products.push_back(p.id);
        r.settle = std::chrono::seconds{o.settle_s};
        try {
          auto rc = admin::reconcile_gone_gateways(r, sale, std::cout);
          return rc == 0 ? exit_ok : exit_not_idle;
        } catch (const db::db_error&) {
          throw;
        } catch (const std::exception& e) {
          throw zookeeper_failure(e.what());  // ZooKeeper or RabbitMQ: the cluster, not the data
        }
      }
      case command::zk_drop:
        return run_zk_drop(o, sale);
      case command::stock:
        return run_stock(o, sale, stock_verb, stock_product, stock_units);
      case command::report:
        return run_report(o, sale);
    }
  } catch (const zookeeper_failure& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    return exit_zookeeper;
  } catch (const db::db_error& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    std::string what = e.what();
    bool not_migrated =
        e.sqlstate() == "3D000" || e.sqlstate() == "42883" || e.sqlstate() == "42P01" ||
        (cmd != command::migrate && what.find("does not exist") != std::string::npos);
    if (not_migrated)
      std::cerr << "flashsale-admin: is the database migrated? run: flashsale-admin migrate --sale "
                << sale_file << '\n';
    return exit_database;
  }
  return exit_ok;
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

#include "tools/admin/commands.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "adapters/db/schema_admin.hpp"
#include "adapters/zookeeper/blocking_session.hpp"
#include "quota/sale_tree.hpp"
#include "quota/znodes.hpp"

namespace flashsale::admin {

namespace {

std::string pad(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

}  // namespace

amqp::topology sale_route(const options& o, const sale_definition& sale) {
  amqp::topology t{o.amqp_exchange, o.amqp_queue, o.amqp_dead_letter_queue, o.amqp_max_length, {}};
  t.type = o.amqp_queue_type.value_or(amqp::default_queue_type(o.amqp));
  for (const auto& p : sale.products)
    if (p.hot)
      t.hot_products.push_back(p.id);
  return t;
}

int run_amqp_declare(const options& o, const sale_definition& sale) {
  auto t = sale_route(o, sale);
  amqp::amqp_connection{o.amqp}.declare(t);
  std::cout << "vhost " << o.amqp.vhost << ": exchange " << t.exchange << ", " << to_string(t.type)
            << " order queues";
  for (const auto& q : t.queues())
    std::cout << ' ' << q;
  std::cout << " (at most " << t.max_length << " messages each), dead-letter queue "
            << t.dead_letter_queue << '\n';
  return exit_ok;
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

  std::cout << "sale " << sale.name << " on " << host_list_text(o.db.candidates()) << ", "
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

std::unique_ptr<zk::blocking_session> connect_zookeeper(const options& o) {
  zk::options zo;
  zo.hosts = *o.zk_hosts;
  zo.login = o.zk_login;
  zo.session_timeout = std::chrono::seconds{10};
  zo.op_timeout = std::chrono::seconds{5};
  try {
    return std::make_unique<zk::blocking_session>(zo, std::chrono::seconds{10});
  } catch (const std::exception& e) {
    throw zookeeper_failure(e.what());
  }
}

int run_zk_init(const options& o, const sale_definition& sale) {
  auto zk = connect_zookeeper(o);
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
  auto zk = connect_zookeeper(o);
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
  auto zk = connect_zookeeper(o);
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
  auto zk = connect_zookeeper(o);
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

/// `sale open|close|schedule`, `sale shed K` and `sale draw-window S`: changes one key of the
/// sale's settings znode
/// (the others are kept) with a versioned write, retried on conflicts; every gateway of the sale
/// follows within about a second.
int run_settings(const options& o, const sale_definition& sale, const std::string& verb,
                 std::int64_t number) {
  auto zk = connect_zookeeper(o);
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
        throw zookeeper_failure(path +
                                " holds invalid settings (not shown: they may hold the "
                                "draw secret); fix or delete it with zkCli.sh");
      settings = *decoded;
    }
    if (verb == "shed")
      settings.keep_one_in = static_cast<std::uint32_t>(number);
    else if (verb == "draw-window")
      settings.draw_window_s = number;
    else
      settings.window = verb == "open"    ? window_mode::open
                        : verb == "close" ? window_mode::closed
                                          : window_mode::scheduled;
    auto data = encode(settings);
    auto written =
        current.ok() ? zk->set(path, data, current.stat.version) : zk->create(path, data);
    if (written.ok()) {
      auto shown = settings;
      if (shown.draw_secret)
        shown.draw_secret = "(secret)";
      std::cout << "sale " << sale.name << ": " << path << " = " << encode(shown) << '\n';
      return exit_ok;
    }
    bool raced = written.rc == zk::code::bad_version || written.rc == zk::code::node_exists;
    if (!raced || attempt == 10)
      throw zookeeper_failure("cannot write " + path + ": " + zk::to_string(written.rc));
  }
}

}  // namespace flashsale::admin

#include "tools/admin/admin_options.hpp"

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <system_error>

#include "common/parse_integer.hpp"
#include "common/secret_file.hpp"
#include "quota/tree_acl.hpp"
#include "quota/znodes.hpp"
#include "tools/admin/tokens.hpp"

namespace flashsale::admin {

const char* const usage_text = R"(usage: flashsale-admin [options] <command>

commands:
  migrate --sale FILE   create (if missing) and migrate the main database and the database of
                        every hot product of the sale (applies sql/*.sql not yet applied)
  sale create FILE      define every product of the sale in its database (idempotent; a product
                        already defined differently is an error)
  sale open|close|schedule --sale FILE --zk HOSTS
                        open the sale now, close it now, or follow the opens_at / closes_at of
                        the sale file again (the default); every gateway follows within a second
  sale shed K --sale FILE --zk HOSTS
                        keep 1 buyer in K at every gateway (the fair lottery), live
  sale draw-window S --sale FILE --zk HOSTS
                        a buyer's draw holds for S seconds, then he may draw again; 0 (the
                        default): one draw per buyer for the whole sale
  report --sale FILE    per product: stock made available, sold, remaining, and the invariants
                        I1 no-oversell, I2 conservation, I3 no-duplicates (OK or FAIL)
  amqp declare --sale FILE [--amqp-queue Q ...]
                        declare the sale's exchange, order queues (one per hot product too,
                        bounded by --amqp-max-length) and dead-letter queue; the gateways and
                        writers only check they exist (their users may not declare). Idempotent;
                        a queue that exists with other arguments or of the other type is an error
  zk init --sale FILE --zk HOSTS
                        create the sale's ZooKeeper tree for live quotas and its lottery's
                        random draw secret (idempotent; the stock of a product znode that
                        exists and a secret once written are left as they are). `sale create
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
  token keygen --out FILE
                        write a new random buyer-token signing key (64 hex digits, mode 0600;
                        never overwrites) for the gateways' auth.key-file and the login service
  token issue --user U --sale FILE --key-file KEY [--ttl 10m] [--count N]
                        print a buyer token (HS256 JWT: sub U, aud the sale's name, exp, iat) for
                        tests and rehearsals; --ttl from 1s to 30d (default 10m). With --count N:
                        a line "U<i> <token>" for each of the users U0 .. U<N-1>
  status --zk HOSTS     ask every gateway and writer registered in ZooKeeper for its stats (CAF,
                        3 s per node) and print one table: role, uptime, queue lag, batches,
                        rate, connected peers, quota left, requests by outcome / orders by result

options (also FLASHSALE_PG_* from build/run/endpoints.env, then the defaults):
  --db-host HOST        PostgreSQL host            (FLASHSALE_PG_HOST, 127.0.0.1)
  --db-port PORT        PostgreSQL port            (FLASHSALE_PG_PORT, 54329)
  --db-hosts H1:P1,H2:P2,...  a primary and its standbys: the one that accepts writes is used
                        (FLASHSALE_PG_HOSTS); a later --db-host or --db-port names one server
  --db-user USER        admin user                 (FLASHSALE_PG_ADMIN_USER, flashsale)
  --db-password-file F  file (mode 0600) with the admin password (FLASHSALE_PG_ADMIN_PASSWORD_FILE)
  --db-name NAME        main database; hot products use NAME_hot_<id>   (FLASHSALE_PG_DB, flashsale)
  --db-connect-timeout S  connect timeout in seconds (5)
  --sql-dir DIR         migration files            (FLASHSALE_SQL_DIR; installed: share/flashsale/sql)
  --zk HOSTS            ZooKeeper connect string, e.g. 127.0.0.1:21810 (no default: without it
                        `stock` changes the database only)
  --zk-root ROOT        root znode of the flash-sale tree (/flashsale)
  --zk-password-file F  with --zk: the password of the ZooKeeper superuser 'admin'
                        (FLASHSALE_ZK_PASSWORD_FILE)
  --zk-identities-file F  with --zk: the gateway and writer digests the ACL of every znode
                        made names (FLASHSALE_ZK_IDENTITIES_FILE; scripts/services makes both)
  --amqp-host H --amqp-port P --amqp-vhost V --amqp-user U --amqp-password-file F
                        RabbitMQ, for amqp declare and zk reconcile: a user that may declare
                        (FLASHSALE_AMQP_*, FLASHSALE_AMQP_PASSWORD_FILE; 127.0.0.1:56729,
                        vhost flashsale)
  --amqp-hosts H1:P1,H2:P2,...  the nodes of a RabbitMQ cluster, tried in turn
                        (FLASHSALE_AMQP_HOSTS); a later --amqp-host or --amqp-port names one node
  --amqp-exchange E     the order exchange (flashsale)
  --amqp-queue Q        the sale's order queue (flashsale.orders; hot products: Q.<product>)
  --amqp-dead-letter-queue D   where undecodable messages go (flashsale.dead)
  --amqp-max-length N   amqp declare: messages per order queue, beyond it publishes are
                        refused and buyers get 503 (1000000)
  --amqp-queue-type quorum|classic  amqp declare: replicated over the cluster's nodes (quorum)
                        or on one broker (classic); default quorum with several --amqp-hosts
  --settle-s S          zk reconcile: seconds between its two checks (3)
  --out FILE, --key-file KEY, --user U, --ttl DURATION, --count N
                        token keygen / token issue (above)
  -v, --verbose         log what is done (to stderr)
  -h, --help            this text

exit status: 0 success, 1 an invariant FAILed (report), 2 bad usage or sale file, 3 database error,
             4 ZooKeeper error, 5 a registered node did not answer (status), 6 the sale is not
             idle (zk reconcile; nothing changed), 7 RabbitMQ error (amqp declare)
)";

int parse_int_option(const std::string& name, const std::string& value, int min, int max) {
  auto n = parse_integer(value);
  if (!n || *n < min || *n > max)
    throw usage_error(name + " must be an integer in [" + std::to_string(min) + ", " +
                      std::to_string(max) + "], got '" + value + "'");
  return static_cast<int>(*n);
}

namespace {

/// `parse(value)`, a server list; its error (amqp_error, db_error) as a usage_error naming `name`.
template <class Parse>
std::vector<host_port> parse_list_option(const std::string& name, const std::string& value,
                                         Parse parse) {
  try {
    return parse(value);
  } catch (const std::runtime_error& e) {
    throw usage_error(name + ": " + e.what());
  }
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string read_password_file(const std::string& name, const std::string& path) {
  try {
    return read_secret_file(path, name);
  } catch (const secret_file_error& e) {
    throw usage_error(e.what());
  }
}

/// The superuser's login and the tree's ACL policy, from the two files (or their variables).
zk::credentials zookeeper_login(const options& o) {
  auto password_file =
      o.zk_password_file.empty() ? env_or_empty("FLASHSALE_ZK_PASSWORD_FILE") : o.zk_password_file;
  auto identities_file = o.zk_identities_file.empty() ? env_or_empty("FLASHSALE_ZK_IDENTITIES_FILE")
                                                      : o.zk_identities_file;
  if (password_file.empty() || identities_file.empty())
    throw usage_error(
        "--zk needs --zk-password-file and --zk-identities-file (or "
        "FLASHSALE_ZK_PASSWORD_FILE and FLASHSALE_ZK_IDENTITIES_FILE, as in "
        "build/run/endpoints.env)");
  try {
    return quota::tree_login(quota::admin_user,
                             read_password_file("--zk-password-file", password_file), o.zk_root,
                             quota::read_identities_file(identities_file));
  } catch (const usage_error&) {
    throw;
  } catch (const std::exception& e) {
    throw usage_error(e.what());
  }
}

using option_setter = std::function<void(options&, const std::string& name, const std::string&)>;

/// Every option that takes a value, named once, with what it sets.
const std::map<std::string, option_setter>& option_setters() {
  static const std::map<std::string, option_setter> table{
      {"--db-host",
       [](options& o, auto&, auto& v) {
         o.db.host = v;
         o.db.servers.clear();
       }},
      {"--db-hosts",
       [](options& o, auto& n, auto& v) {
         o.db.servers = parse_list_option(n, v, db::parse_server_list);
       }},
      {"--db-port",
       [](options& o, auto& n, auto& v) {
         o.db.port = parse_int_option(n, v, 1, 65535);
         o.db.servers.clear();
       }},
      {"--db-user", [](options& o, auto&, auto& v) { o.db.user = v; }},
      {"--db-password-file",
       [](options& o, auto& n, auto& v) { o.db.password = read_password_file(n, v); }},
      {"--db-name", [](options& o, auto&, auto& v) { o.db.dbname = v; }},
      {"--db-connect-timeout",
       [](options& o, auto& n, auto& v) {
         o.db.connect_timeout_s = parse_int_option(n, v, 1, 3600);
       }},
      {"--sql-dir", [](options& o, auto&, auto& v) { o.sql_dir = v; }},
      {"--sale", [](options& o, auto&, auto& v) { o.sale_file = v; }},
      {"--zk", [](options& o, auto&, auto& v) { o.zk_hosts = v; }},
      {"--zk-root", [](options& o, auto&, auto& v) { o.zk_root = v; }},
      {"--zk-password-file", [](options& o, auto&, auto& v) { o.zk_password_file = v; }},
      {"--zk-identities-file", [](options& o, auto&, auto& v) { o.zk_identities_file = v; }},
      {"--amqp-host",
       [](options& o, auto&, auto& v) {
         o.amqp.host = v;
         o.amqp.brokers.clear();
       }},
      {"--amqp-port",
       [](options& o, auto& n, auto& v) {
         o.amqp.port = parse_int_option(n, v, 1, 65535);
         o.amqp.brokers.clear();
       }},
      {"--amqp-hosts",
       [](options& o, auto& n, auto& v) {
         o.amqp.brokers = parse_list_option(n, v, amqp::parse_broker_list);
       }},
      {"--amqp-queue-type",
       [](options& o, auto& n, auto& v) {
         if (v == "quorum")
           o.amqp_queue_type = amqp::queue_type::quorum;
         else if (v == "classic")
           o.amqp_queue_type = amqp::queue_type::classic;
         else
           throw usage_error(n + " must be 'quorum' or 'classic', got '" + v + "'");
       }},
      {"--amqp-user", [](options& o, auto&, auto& v) { o.amqp.user = v; }},
      {"--amqp-password-file",
       [](options& o, auto& n, auto& v) { o.amqp.password = read_password_file(n, v); }},
      {"--amqp-vhost", [](options& o, auto&, auto& v) { o.amqp.vhost = v; }},
      {"--amqp-exchange", [](options& o, auto&, auto& v) { o.amqp_exchange = v; }},
      {"--amqp-queue", [](options& o, auto&, auto& v) { o.amqp_queue = v; }},
      {"--amqp-dead-letter-queue",
       [](options& o, auto&, auto& v) { o.amqp_dead_letter_queue = v; }},
      {"--amqp-max-length",
       [](options& o, auto& n, auto& v) {
         o.amqp_max_length = parse_int_option(n, v, 1, 100000000);
       }},
      {"--settle-s",
       [](options& o, auto& n, auto& v) { o.settle_s = parse_int_option(n, v, 1, 600); }},
      {"--out", [](options& o, auto&, auto& v) { o.out_file = v; }},
      {"--key-file", [](options& o, auto&, auto& v) { o.key_file = v; }},
      {"--user", [](options& o, auto&, auto& v) { o.user = v; }},
      {"--ttl", [](options& o, auto& n, auto& v) { o.ttl_s = parse_duration_s(n, v); }},
      {"--count",
       [](options& o, auto& n, auto& v) { o.count = parse_int_option(n, v, 1, 10000000); }},
  };
  return table;
}

/// Installed (cmake --install, the Debian package): <prefix>/share/flashsale/sql beside
/// <prefix>/bin; run from the build tree: the source tree's sql/.
std::string default_sql_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto installed = exe.parent_path().parent_path() / "share" / "flashsale" / "sql";
    if (std::filesystem::is_directory(installed, ec))
      return installed.string();
  }
  return FLASHSALE_DEFAULT_SQL_DIR;
}

}  // namespace

options parse_options(int argc, char** argv) {
  options o;
  try {
    o.db = db::connection_params::from_env();
    o.amqp = amqp::connection_params::from_env();
  } catch (const std::runtime_error& e) {  // a password file that cannot be used
    throw usage_error(e.what());
  }
  const char* sql_env = std::getenv("FLASHSALE_SQL_DIR");
  o.sql_dir = sql_env != nullptr && *sql_env != '\0' ? sql_env : default_sql_dir();

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
    auto setter = option_setters().find(name);
    if (setter == option_setters().end())
      throw usage_error("unknown option '" + name + "'");
    if (!value) {
      if (i + 1 >= args.size())
        throw usage_error("option " + name + " needs a value");
      value = args[++i];
    }
    setter->second(o, name, *value);
  }
  for (const auto* s :
       {&o.amqp.host, &o.amqp.vhost, &o.amqp_exchange, &o.amqp_queue, &o.amqp_dead_letter_queue})
    if (s->empty() || s->size() > 255)
      throw usage_error(
          "--amqp-host, --amqp-vhost, --amqp-exchange, --amqp-queue and "
          "--amqp-dead-letter-queue must have 1 to 255 characters");
  if (o.db.host.empty() || o.db.dbname.empty() || o.db.user.empty())
    throw usage_error("--db-host, --db-user and --db-name must not be empty");
  if (o.zk_hosts && o.zk_hosts->empty())
    throw usage_error("--zk must not be empty");
  if (!quota::valid_root(o.zk_root))
    throw usage_error("--zk-root must be an absolute znode path like /flashsale, got '" +
                      o.zk_root + "'");
  if (o.zk_hosts)
    o.zk_login = zookeeper_login(o);
  return o;
}

}  // namespace flashsale::admin

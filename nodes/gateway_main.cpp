// flashsale-gateway: the HTTP front of a sale. Wires the HTTP server, the gateway actor, one
// product counter per product, the RabbitMQ publisher bridge and the quota keeper (ZooKeeper) from
// configuration (config/gateway-*.ini).

#include <atomic>
#include <chrono>
#include <map>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/gateway.hpp"
#include "actors/order_finder.hpp"
#include "actors/product_counter.hpp"
#include "actors/publisher_bridge.hpp"
#include "actors/quota_keeper.hpp"
#include "actors/writer_watch.hpp"
#include "adapters/http/server.hpp"
#include "adapters/crypto/key_file.hpp"
#include "adapters/crypto/keyed_hash.hpp"
#include "admission/admission_front.hpp"
#include "admission/buyer_auth.hpp"
#include "admission/rate_limiter.hpp"
#include "api/gateway_controller.hpp"
#include "cluster/peer_roster.hpp"
#include "common/sale_definition.hpp"
#include "messages/codec.hpp"
#include "nodes/node_config.hpp"
#include "quota/znodes.hpp"

namespace {

using namespace flashsale;

class gateway_config : public node_config {
 public:
  std::string name = "gw1";
  std::string sale_file = "config/sale-demo.ini";
  int keep_one_in = 10;
  std::string http_address = "127.0.0.1";
  int http_port = 8080;
  int io_threads = 2;
  int max_header_bytes = 8192;
  int max_body_bytes = 4096;
  int header_deadline_ms = 5000;
  int idle_timeout_ms = 30000;
  int max_connections = 10000;
  int max_connections_per_address = 0;
  int per_address_rate = 0;
  int per_address_burst = 100;
  int per_user_rate = 5;
  int per_user_burst = 20;
  amqp_settings amqp;
  int confirm_timeout_ms = 5000;
  int purchases_per_message = 100;
  db_settings db{db::gateway_role, db::gateway_default_password};
  std::string cluster_address = "127.0.0.1";
  int cluster_port = 0;
  std::string zk_hosts = "127.0.0.1:21810";
  std::string zk_root = "/flashsale";
  int zk_session_timeout_ms = 6000;
  int zk_op_timeout_ms = 3000;
  int zk_report_interval_ms = 200;
  int zk_idle_release_ms = 2000;
  int zk_expected_gateways = 1;
  int zk_split_wait_ms = 10000;
  std::string auth_mode = "token";
  std::string auth_key_file;
  std::string auth_previous_key_file;
  sale_definition sale;
  std::vector<crypto::secret_key> auth_keys;  ///< read from the key files: current, previous

  gateway_config() {
    opt_group{custom_options_, "gateway"}
        .add(name, "name", "node name; prefixes tickets and request ids ([A-Za-z0-9_-])")
        .add(sale_file, "sale-file", "sale definition (products, stock)")
        .add(keep_one_in, "keep-one-in",
             "lottery: keep 1 buyer in K (1 keeps all) until the sale's settings say otherwise");
    opt_group{custom_options_, "http"}
        .add(http_address, "address", "listen address")
        .add(http_port, "port", "listen port")
        .add(io_threads, "io-threads", "HTTP I/O threads")
        .add(max_header_bytes, "max-header-bytes", "request header cap (431 beyond)")
        .add(max_body_bytes, "max-body-bytes", "request body cap (413 beyond)")
        .add(header_deadline_ms, "header-deadline-ms", "whole header must arrive within (408)")
        .add(idle_timeout_ms, "idle-timeout-ms", "idle keep-alive connections close after")
        .add(max_connections, "max-connections", "open connections cap (503 beyond)")
        .add(max_connections_per_address, "max-connections-per-address",
             "open connections from one address (429 beyond; 0: no cap)");
    opt_group{custom_options_, "limits"}
        .add(per_address_rate, "per-address-rate",
             "purchases per second from one client address (429 beyond; 0: no limit)")
        .add(per_address_burst, "per-address-burst", "... of which at most this many at once")
        .add(per_user_rate, "per-user-rate",
             "purchases per second of one buyer (429 beyond; 0: no limit)")
        .add(per_user_burst, "per-user-burst", "... of which at most this many at once");
    amqp.add_options(custom_options_)
        .add(confirm_timeout_ms, "confirm-timeout-ms", "broker confirm deadline")
        .add(purchases_per_message, "purchases-per-message",
             "purchases admitted together travel as one message of at most this many");
    db.add_options(custom_options_,
                   "database role for order look-ups (may only EXECUTE find_order)");
    opt_group{custom_options_, "cluster"}
        .add(cluster_address, "address", "where writers reach this gateway's actors (CAF)")
        .add(cluster_port, "port", "port for them (0: any free port; registered in ZooKeeper)");
    opt_group{custom_options_, "zookeeper"}
        .add(zk_hosts, "hosts", "ZooKeeper connect string (host:port,...)")
        .add(zk_root, "root", "root znode of the flash-sale tree")
        .add(zk_session_timeout_ms, "session-timeout-ms", "session timeout asked for")
        .add(zk_op_timeout_ms, "op-timeout-ms", "deadline of each ZooKeeper operation")
        .add(zk_report_interval_ms, "report-interval-ms",
             "consumption reports, lease renewal, leader re-check")
        .add(zk_idle_release_ms, "idle-release-ms",
             "no purchase attempt for this long: idle (gives back unused quota when asked)")
        .add(zk_expected_gateways, "expected-gateways",
             "the first split waits for this many gateways ...")
        .add(zk_split_wait_ms, "split-wait-ms", "... or this long after the leader's election");
    opt_group{custom_options_, "auth"}
        .add(auth_mode, "mode",
             "token: purchases need a buyer token; off: the body names the user (rehearsals)")
        .add(auth_key_file, "key-file", "the token signing key (64 hex digits, mode 0600)")
        .add(auth_previous_key_file, "previous-key-file",
             "during a key rotation: the previous key, accepted too");
  }

 protected:
  void check(std::vector<std::string>& problems) const override {
    if (!valid_product_id(name))
      problems.push_back("'gateway.name' must be 1-64 of [A-Za-z0-9_-], got '" + name + "'");
    require_range(problems, "gateway.keep-one-in", keep_one_in, 1, 1000000);
    require_range(problems, "http.port", http_port, 0, 65535);
    require_range(problems, "http.io-threads", io_threads, 1, 64);
    require_range(problems, "http.max-header-bytes", max_header_bytes, 512, 1 << 20);
    require_range(problems, "http.max-body-bytes", max_body_bytes, 64, 1 << 20);
    require_range(problems, "http.header-deadline-ms", header_deadline_ms, 100, 600000);
    require_range(problems, "http.idle-timeout-ms", idle_timeout_ms, 100, 3600000);
    require_range(problems, "http.max-connections", max_connections, 1, 1000000);
    require_range(problems, "http.max-connections-per-address", max_connections_per_address, 0,
                  1000000);
    require_range(problems, "limits.per-address-rate", per_address_rate, 0, 10000000);
    require_range(problems, "limits.per-address-burst", per_address_burst, 1, 10000000);
    require_range(problems, "limits.per-user-rate", per_user_rate, 0, 10000000);
    require_range(problems, "limits.per-user-burst", per_user_burst, 1, 10000000);
    amqp.check(problems);
    require_range(problems, "amqp.confirm-timeout-ms", confirm_timeout_ms, 100, 600000);
    require_range(problems, "amqp.purchases-per-message", purchases_per_message, 1,
                  static_cast<int>(max_purchases_per_message));
    db.check(problems);
    require_range(problems, "cluster.port", cluster_port, 0, 65535);
    if (cluster_address.empty())
      problems.push_back("'cluster.address' must not be empty");
    if (zk_hosts.empty())
      problems.push_back("'zookeeper.hosts' must not be empty (the gateway needs ZooKeeper)");
    if (!quota::valid_root(zk_root))
      problems.push_back("'zookeeper.root' must be an absolute znode path like /flashsale, got '" +
                         zk_root + "'");
    require_range(problems, "zookeeper.session-timeout-ms", zk_session_timeout_ms, 1000, 600000);
    require_range(problems, "zookeeper.op-timeout-ms", zk_op_timeout_ms, 100, 600000);
    require_range(problems, "zookeeper.report-interval-ms", zk_report_interval_ms, 10, 60000);
    require_range(problems, "zookeeper.idle-release-ms", zk_idle_release_ms, 100, 86400000);
    require_range(problems, "zookeeper.expected-gateways", zk_expected_gateways, 1, 10000);
    require_range(problems, "zookeeper.split-wait-ms", zk_split_wait_ms, 0, 86400000);
    // The lease (half the session timeout) must be renewed several times before it runs out.
    if (zk_report_interval_ms * 4 > zk_session_timeout_ms)
      problems.push_back("'zookeeper.report-interval-ms' (" +
                         std::to_string(zk_report_interval_ms) +
                         ") must be at most a quarter of 'zookeeper.session-timeout-ms' (" +
                         std::to_string(zk_session_timeout_ms) + ")");
  }

  void resolve(std::vector<std::string>& problems) override {
    try {
      sale = load_sale_file(sale_file, db.database);
    } catch (const sale_file_error& e) {
      problems.push_back(e.what());
    }
    if (auth_mode != "token" && auth_mode != "off")
      problems.push_back("'auth.mode' must be \"token\" or \"off\", got '" + auth_mode + "'");
    if (auth_mode == "token" && auth_key_file.empty())
      problems.push_back("'auth.key-file' is required with auth.mode = \"token\"");
    for (const auto* path : {&auth_key_file, &auth_previous_key_file}) {
      if (path->empty() || auth_mode != "token")  // off: the key files are not read
        continue;
      try {
        auth_keys.push_back(crypto::read_key_file(*path));
      } catch (const crypto::key_file_error& e) {
        problems.push_back(std::string("'auth.") +
                           (path == &auth_key_file ? "key-file" : "previous-key-file") +
                           "': " + e.what());
      }
    }
    if (!auth_previous_key_file.empty() && auth_key_file.empty())
      problems.push_back("'auth.previous-key-file' needs 'auth.key-file'");
  }
};

/// Counters start with nothing: the quota keeper feeds them grants, claims and a lease.
std::map<std::string, counter_actor> spawn_counters(caf::actor_system& sys,
                                                    const sale_definition& sale,
                                                    const std::shared_ptr<admission_front>& front) {
  std::map<std::string, counter_actor> counters;
  for (const auto& p : sale.products) {
    counter_options opts{0, true, {}};
    opts.on_change = [front, gauges = front->gauges(p.id)](std::int64_t left, bool sold_out) {
      gauges->quota_left.set(left);
      gauges->sold_out.store(sold_out, std::memory_order_relaxed);
    };
    counters.emplace(p.id, spawn_product_counter(sys, p.id, std::move(opts)));
  }
  return counters;
}

http::server_options http_options(const gateway_config& cfg) {
  http::server_options o;
  o.address = cfg.http_address;
  o.port = static_cast<std::uint16_t>(cfg.http_port);
  o.io_threads = cfg.io_threads;
  o.max_header_bytes = static_cast<std::size_t>(cfg.max_header_bytes);
  o.max_body_bytes = static_cast<std::size_t>(cfg.max_body_bytes);
  o.header_deadline = std::chrono::milliseconds{cfg.header_deadline_ms};
  o.idle_timeout = std::chrono::milliseconds{cfg.idle_timeout_ms};
  o.max_connections = static_cast<std::size_t>(cfg.max_connections);
  o.max_connections_per_address = static_cast<std::size_t>(cfg.max_connections_per_address);
  return o;
}

quota_keeper_options keeper_options(const gateway_config& cfg, std::string http_endpoint,
                                    std::string actor_endpoint,
                                    std::shared_ptr<std::atomic<bool>> ready) {
  quota_keeper_options o;
  o.node = cfg.name;
  o.http_endpoint = std::move(http_endpoint);
  o.actor_endpoint = std::move(actor_endpoint);
  o.hosts = cfg.zk_hosts;
  o.root = cfg.zk_root;
  o.session_timeout = std::chrono::milliseconds{cfg.zk_session_timeout_ms};
  o.op_timeout = std::chrono::milliseconds{cfg.zk_op_timeout_ms};
  o.report_interval = std::chrono::milliseconds{cfg.zk_report_interval_ms};
  o.idle_release = std::chrono::milliseconds{cfg.zk_idle_release_ms};
  o.expected_gateways = static_cast<std::size_t>(cfg.zk_expected_gateways);
  o.split_wait = std::chrono::milliseconds{cfg.zk_split_wait_ms};
  o.ready = std::move(ready);
  return o;
}

/// Checks buyer tokens with the configured keys; none when authentication is off (said loudly).
std::shared_ptr<const buyer_authenticator> authenticator(const gateway_config& cfg) {
  if (cfg.auth_mode == "off") {
    spdlog::warn(
        "AUTHENTICATION IS OFF (auth.mode = off): any client may buy as any user it names. "
        "Only for a closed rehearsal, never for a public sale");
    return nullptr;
  }
  std::string keys = crypto::key_fingerprint(cfg.auth_keys.front());
  if (cfg.auth_keys.size() > 1)
    keys += ", previous " + crypto::key_fingerprint(cfg.auth_keys.back());
  spdlog::info("buyer tokens required: HS256 for sale {}, key {}", cfg.sale.name, keys);
  return std::make_shared<const buyer_authenticator>(cfg.sale.name, cfg.auth_keys);
}

/// The actors of a gateway node, wired from its configuration.
struct gateway_actors {
  std::shared_ptr<admission_front> front;
  std::shared_ptr<std::atomic<bool>> broker_up;
  publisher_actor publisher;
  std::map<std::string, counter_actor> counters;
  std::map<std::string, order_finder_actor> finders;
  std::shared_ptr<peer_roster> writers;  ///< the writers connected now (the watch fills it)
  gateway_actor gateway;

  gateway_actors(caf::actor_system& sys, const gateway_config& cfg) {
    // Until the keeper reads the sale's draw secret from ZooKeeper, the node draws with its own.
    front = std::make_shared<admission_front>(cfg.sale, static_cast<std::uint32_t>(cfg.keep_one_in),
                                              crypto::random_key());
    amqp::publisher::options pub_opts;
    pub_opts.route = cfg.amqp.route(cfg.sale);
    pub_opts.confirm_timeout = std::chrono::milliseconds{cfg.confirm_timeout_ms};
    broker_up = pub_opts.connected;
    publisher_bridge_options bridge_opts;
    bridge_opts.route = pub_opts.route;
    bridge_opts.outlet = amqp_outlet(cfg.amqp.params(), pub_opts);
    bridge_opts.purchases_per_message = static_cast<std::size_t>(cfg.purchases_per_message);
    bridge_opts.on_in_doubt = [f = front](std::int64_t purchases) {
      f->publish_in_doubt(purchases);
    };
    publisher = spawn_publisher_bridge(sys, std::move(bridge_opts));
    counters = spawn_counters(sys, cfg.sale, front);
    gateway_options gw_opts;
    gw_opts.name = cfg.name;
    gw_opts.front = front;
    // GET /v1/orders falls back to the databases of the sale (connected on first use).
    for (const auto& database : cfg.sale.databases())
      gw_opts.finders.emplace(database, spawn_order_finder(sys, cfg.db.params(database)));
    finders = gw_opts.finders;
    gw_opts.publish_timeout = std::chrono::milliseconds{cfg.confirm_timeout_ms + 3000};
    gw_opts.writers = std::make_shared<peer_roster>();
    writers = gw_opts.writers;
    gateway = spawn_gateway(sys, gw_opts, cfg.sale, counters, publisher);
  }

  void stop() {
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(publisher, caf::exit_reason::user_shutdown);
    for (auto& [id, c] : counters)
      caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
    for (auto& [database, finder] : finders)
      caf::anon_send_exit(finder, caf::exit_reason::user_shutdown);
  }
};

}  // namespace

int main(int argc, char** argv) {
  block_stop_signals();
  gateway_config cfg;
  cfg.add_message_types<caf::id_block::flashsale>();
  if (!cfg.load(argc, argv))
    return cfg.failure_exit_code();
  init_logging(cfg.name);

  caf::actor_system sys{cfg};
  gateway_actors actors{sys, cfg};
  auto quota_ready = std::make_shared<std::atomic<bool>>(false);
  // Requests are answered on the HTTP I/O threads; what goes on reaches the gateway actor here.
  api::controller_links links;
  links.front = actors.front;
  links.auth = authenticator(cfg);
  links.per_address = std::make_shared<rate_limiter>(rate_limit{
      static_cast<double>(cfg.per_address_rate), static_cast<double>(cfg.per_address_burst)});
  links.per_user = std::make_shared<rate_limiter>(
      rate_limit{static_cast<double>(cfg.per_user_rate), static_cast<double>(cfg.per_user_burst)});
  links.purchase = [gw = actors.gateway](purchase_call call) {
    caf::anon_send(gw, std::move(call));
  };
  links.ticket = [gw = actors.gateway](ticket_query q) { caf::anon_send(gw, std::move(q)); };
  links.broker_up = actors.broker_up;
  links.quota_ready = quota_ready;
  api::gateway_controller controller{std::move(links)};
  http::server server{http_options(cfg), controller.handler()};
  controller.observe(&server);
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start the HTTP server: {}", e.what());
    actors.stop();
    return 1;
  }
  // Writers send purchases' fates and sold-out products to this actor (CAF middleman); its
  // endpoint goes into the gateway's registration in ZooKeeper, where writers find it.
  auto published = sys.middleman().publish(gateway_peer_actor{actors.gateway},
                                           static_cast<std::uint16_t>(cfg.cluster_port),
                                           cfg.cluster_address.c_str(), true);
  if (!published) {
    spdlog::critical("cannot publish the gateway's actors on {}:{}: {}", cfg.cluster_address,
                     cfg.cluster_port, sys.render(published.error()));
    server.stop();
    actors.stop();
    return 1;
  }
  auto keeper_opts =
      keeper_options(cfg, cfg.http_address + ":" + std::to_string(server.port()),
                     cfg.cluster_address + ":" + std::to_string(*published), quota_ready);
  auto keeper = spawn_quota_keeper(sys, keeper_opts, cfg.sale, actors.counters, actors.gateway);
  writer_watch_options watch_opts;
  watch_opts.node = cfg.name;
  watch_opts.cluster.zk_hosts = cfg.zk_hosts;
  watch_opts.cluster.zk_root = cfg.zk_root;
  watch_opts.cluster.op_timeout = std::chrono::milliseconds{cfg.zk_op_timeout_ms};
  watch_opts.roster = actors.writers;
  auto watch = spawn_writer_watch(sys, watch_opts);
  spdlog::info(
      "gateway {} listening on {}:{} (sale {}, {} products, keep 1 in {}, amqp {}, zookeeper {}{}, "
      "actors {})",
      cfg.name, cfg.http_address, server.port(), cfg.sale.name, cfg.sale.products.size(),
      cfg.keep_one_in, cfg.amqp.params().endpoint(), cfg.zk_hosts, cfg.zk_root,
      keeper_opts.actor_endpoint);

  int sig = wait_for_stop_signal();
  spdlog::info("signal {}: stopping", sig);
  server.stop();
  caf::anon_send_exit(keeper, caf::exit_reason::user_shutdown);  // closes the session
  caf::anon_send_exit(watch, caf::exit_reason::user_shutdown);
  actors.stop();
  return 0;
}

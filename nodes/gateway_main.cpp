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
#include "common/open_files.hpp"
#include "common/sale_definition.hpp"
#include "nodes/gateway_config.hpp"

namespace {

using namespace flashsale;

/// Counters start with nothing: the quota keeper feeds them grants, claims and a lease.
std::map<std::string, product_counter> spawn_counters(
    caf::actor_system& sys, const sale_definition& sale,
    const std::shared_ptr<admission_front>& front) {
  std::map<std::string, product_counter> counters;
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
  o.login = cfg.zk_login;
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
  std::map<std::string, product_counter> counters;
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

  /// The counters' actors (what the quota keeper talks to).
  std::map<std::string, counter_actor> counter_actors() const {
    std::map<std::string, counter_actor> out;
    for (const auto& [id, c] : counters)
      out.emplace(id, c.actor);
    return out;
  }

  void stop() {
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(publisher, caf::exit_reason::user_shutdown);
    for (auto& [id, c] : counters)
      caf::anon_send_exit(c.actor, caf::exit_reason::user_shutdown);
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
  // Every connection is a file: the cap, the connections over it being answered 503 (each held
  // up to a second), and the node's own files and sockets (broker, ZooKeeper, databases, peers).
  auto cap = static_cast<std::uint64_t>(cfg.max_connections);
  if (auto problem =
          ensure_open_files(cap + cap / 4 + 512, "http.max-connections = " + std::to_string(cap));
      !problem.empty()) {
    spdlog::critical("cannot start: {}", problem);
    return 1;
  }

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
  auto keeper =
      spawn_quota_keeper(sys, keeper_opts, cfg.sale, actors.counter_actors(), actors.gateway);
  writer_watch_options watch_opts;
  watch_opts.node = cfg.name;
  watch_opts.cluster.zk_hosts = cfg.zk_hosts;
  watch_opts.cluster.zk_root = cfg.zk_root;
  watch_opts.cluster.zk_login = cfg.zk_login;
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

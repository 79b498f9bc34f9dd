// flashsale-gateway: the HTTP front of a sale. Wires the HTTP server, the gateway actor, one
// product counter per product, the RabbitMQ publisher bridge and the quota keeper (ZooKeeper) from
// configuration (config/gateway-*.ini).

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/admission_front.hpp"
#include "actors/gateway.hpp"
#include "actors/order_finder.hpp"
#include "actors/peer_links.hpp"
#include "actors/product_counter.hpp"
#include "actors/queue_bridge.hpp"
#include "actors/quota_keeper.hpp"
#include "actors/quota_znodes.hpp"
#include "actors/writer_watch.hpp"
#include "adapters/http/server.hpp"
#include "api/http_api.hpp"
#include "common/sale_definition.hpp"
#include "common/utc_time.hpp"
#include "messages/codec.hpp"
#include "nodes/node_config.hpp"

namespace {

using namespace flashsale;

class gateway_config : public node_config {
 public:
  std::string name = "gw1";
  std::string sale_file = "config/sale-demo.ini";
  int keep_one_in = 10;
  int seed = 1;
  std::string http_address = "127.0.0.1";
  int http_port = 8080;
  int io_threads = 2;
  int max_header_bytes = 8192;
  int max_body_bytes = 4096;
  int header_deadline_ms = 5000;
  int idle_timeout_ms = 30000;
  int max_connections = 10000;
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
  sale_definition sale;

  gateway_config() {
    opt_group{custom_options_, "gateway"}
        .add(name, "name", "node name; prefixes tickets and request ids ([A-Za-z0-9_-])")
        .add(sale_file, "sale-file", "sale definition (products, stock)")
        .add(keep_one_in, "keep-one-in", "lottery: keep 1 request in K (1 keeps all)")
        .add(seed, "seed", "lottery RNG seed (per node)");
    opt_group{custom_options_, "http"}
        .add(http_address, "address", "listen address")
        .add(http_port, "port", "listen port")
        .add(io_threads, "io-threads", "HTTP I/O threads")
        .add(max_header_bytes, "max-header-bytes", "request header cap (431 beyond)")
        .add(max_body_bytes, "max-body-bytes", "request body cap (413 beyond)")
        .add(header_deadline_ms, "header-deadline-ms", "whole header must arrive within (408)")
        .add(idle_timeout_ms, "idle-timeout-ms", "idle keep-alive connections close after")
        .add(max_connections, "max-connections", "open connections cap (503 beyond)");
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
    try {
      const_cast<gateway_config*>(this)->sale = load_sale_file(sale_file, db.database);
    } catch (const sale_file_error& e) {
      problems.push_back(e.what());
    }
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
  auto amqp_params = cfg.amqp.params();
  amqp::publisher::options pub_opts;
  pub_opts.route = cfg.amqp.route();
  for (const auto& p : cfg.sale.products)
    if (p.hot)
      pub_opts.route.hot_products.push_back(p.id);  // a queue of their own
  pub_opts.confirm_timeout = std::chrono::milliseconds{cfg.confirm_timeout_ms};
  auto broker_up = pub_opts.connected;
  auto front = std::make_shared<admission_front>(
      cfg.sale, static_cast<std::uint32_t>(cfg.keep_one_in), static_cast<std::uint64_t>(cfg.seed));
  auto publisher = spawn_publisher_bridge(
      sys, amqp_params, pub_opts, static_cast<std::size_t>(cfg.purchases_per_message),
      [front](std::int64_t purchases) { front->publish_in_doubt(purchases); });

  // Counters start with nothing: the quota keeper feeds them grants and a lease from ZooKeeper.
  std::map<std::string, counter_actor> counters;
  for (const auto& p : cfg.sale.products) {
    counter_options c_opts{0, true, {}};
    c_opts.on_change = [front, gauges = front->gauges(p.id)](std::int64_t left, bool sold_out) {
      gauges->quota_left.set(left);
      gauges->sold_out.store(sold_out, std::memory_order_relaxed);
    };
    counters.emplace(p.id, spawn_product_counter(sys, p.id, std::move(c_opts)));
  }
  auto quota_ready = std::make_shared<std::atomic<bool>>(false);

  gateway_options gw_opts;
  gw_opts.name = cfg.name;
  gw_opts.seed = static_cast<std::uint64_t>(cfg.seed);
  gw_opts.front = front;
  // GET /v1/orders falls back to the databases of the sale (connected on first use).
  std::set<std::string> databases{cfg.db.database};
  for (const auto& p : cfg.sale.products)
    databases.insert(p.database);
  for (const auto& database : databases)
    gw_opts.finders.emplace(database, spawn_order_finder(sys, cfg.db.params(database)));
  gw_opts.publish_timeout = std::chrono::milliseconds{cfg.confirm_timeout_ms + 3000};
  auto writers = std::make_shared<peer_roster>();
  gw_opts.writers = writers;
  auto gateway = spawn_gateway(sys, gw_opts, cfg.sale, counters, publisher);

  http::server_options http_opts;
  http_opts.address = cfg.http_address;
  http_opts.port = static_cast<std::uint16_t>(cfg.http_port);
  http_opts.io_threads = cfg.io_threads;
  http_opts.max_header_bytes = static_cast<std::size_t>(cfg.max_header_bytes);
  http_opts.max_body_bytes = static_cast<std::size_t>(cfg.max_body_bytes);
  http_opts.header_deadline = std::chrono::milliseconds{cfg.header_deadline_ms};
  http_opts.idle_timeout = std::chrono::milliseconds{cfg.idle_timeout_ms};
  http_opts.max_connections = static_cast<std::size_t>(cfg.max_connections);

  auto stop_actors = [&] {
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(publisher, caf::exit_reason::user_shutdown);
    for (auto& [id, c] : counters)
      caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
    for (auto& [database, finder] : gw_opts.finders)
      caf::anon_send_exit(finder, caf::exit_reason::user_shutdown);
  };

  // The handler runs on an HTTP I/O thread: what the front decides is answered right there; the
  // rest goes to the gateway actor, which answers through the responder from its own thread.
  http::server* server_ptr = nullptr;
  http::server server{
      http_opts, [gateway, front, broker_up, quota_ready, &server_ptr](
                     http::request&& req, std::shared_ptr<http::responder> reply) {
        auto r = api::match(req.method, req.target);
        switch (r.kind) {
          case api::route_kind::purchase: {
            auto start = std::chrono::steady_clock::now();
            auto opens_at = front->sale().opens_at_ms;
            auto finish = [front, start, opens_at](http::responder& out, std::size_t outcome,
                                                   const purchase_reply& decision,
                                                   bool was_in_flight) {
              front->finished(outcome, std::chrono::steady_clock::now() - start, was_in_flight);
              out.send(api::purchase_response(decision, opens_at));
            };
            std::string error;
            auto user = api::parse_purchase_body(req.body, error);
            if (!user) {
              front->finished(bad_request_outcome, std::chrono::steady_clock::now() - start, false);
              reply->send(api::error_response(400, error));
              return;
            }
            if (auto early = front->screen(r.product, utc_now_ms())) {
              finish(*reply, static_cast<std::size_t>(*early), purchase_reply{*early, {}}, false);
              return;
            }
            front->started();
            caf::anon_send(
                gateway, purchase_call{std::move(r.product), std::move(*user),
                                       std::move(req.idempotency_key),
                                       [reply, finish](const purchase_reply& decision) {
                                         finish(*reply, static_cast<std::size_t>(decision.outcome),
                                                decision, true);
                                       }});
            return;
          }
          case api::route_kind::order:
            caf::anon_send(gateway, ticket_query{std::move(r.ticket),
                                                 [reply](const std::optional<ticket_view>& view) {
                                                   reply->send(api::ticket_response(view));
                                                 }});
            return;
          case api::route_kind::product:
            reply->send(api::product_response(*front, r.product, utc_now_ms()));
            return;
          case api::route_kind::metrics:
            reply->send(api::metrics_response(
                *front, server_ptr != nullptr ? server_ptr->stats() : http::server_stats{}));
            return;
          case api::route_kind::healthz:
            // Ready means purchases can be confirmed (the broker connection is up) and admitted
            // (registered in ZooKeeper, the counters' quota lease is valid).
            if (!broker_up->load())
              reply->send(http::response{
                  503, "{\"status\":\"broker unreachable\"}", "application/json", {}});
            else if (!quota_ready->load())
              reply->send(
                  http::response{503, "{\"status\":\"no quota session\"}", "application/json", {}});
            else
              reply->send(http::response{200, "{\"status\":\"ok\"}", "application/json", {}});
            return;
          case api::route_kind::method_not_allowed:
            reply->send(api::error_response(405, "method not allowed"));
            return;
          case api::route_kind::not_found:
            reply->send(api::error_response(404, "no such resource"));
            return;
        }
      }};
  server_ptr = &server;
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start the HTTP server: {}", e.what());
    stop_actors();
    return 1;
  }
  // Writers send purchases' fates and sold-out products to this actor (CAF middleman); its
  // endpoint goes into the gateway's registration in ZooKeeper, where writers find it.
  auto published = sys.middleman().publish(caf::actor_cast<gateway_peer_actor>(gateway),
                                           static_cast<std::uint16_t>(cfg.cluster_port),
                                           cfg.cluster_address.c_str(), true);
  if (!published) {
    spdlog::critical("cannot publish the gateway's actors on {}:{}: {}", cfg.cluster_address,
                     cfg.cluster_port, sys.render(published.error()));
    server.stop();
    stop_actors();
    return 1;
  }
  quota_keeper_options keeper_opts;
  keeper_opts.actor_endpoint = cfg.cluster_address + ":" + std::to_string(*published);
  keeper_opts.node = cfg.name;
  keeper_opts.http_endpoint = cfg.http_address + ":" + std::to_string(server.port());
  keeper_opts.hosts = cfg.zk_hosts;
  keeper_opts.root = cfg.zk_root;
  keeper_opts.session_timeout = std::chrono::milliseconds{cfg.zk_session_timeout_ms};
  keeper_opts.op_timeout = std::chrono::milliseconds{cfg.zk_op_timeout_ms};
  keeper_opts.report_interval = std::chrono::milliseconds{cfg.zk_report_interval_ms};
  keeper_opts.idle_release = std::chrono::milliseconds{cfg.zk_idle_release_ms};
  keeper_opts.expected_gateways = static_cast<std::size_t>(cfg.zk_expected_gateways);
  keeper_opts.split_wait = std::chrono::milliseconds{cfg.zk_split_wait_ms};
  keeper_opts.ready = quota_ready;
  auto keeper = spawn_quota_keeper(sys, keeper_opts, cfg.sale, counters, gateway);
  writer_watch_options watch_opts;
  watch_opts.node = cfg.name;
  watch_opts.cluster.zk_hosts = cfg.zk_hosts;
  watch_opts.cluster.zk_root = cfg.zk_root;
  watch_opts.cluster.op_timeout = std::chrono::milliseconds{cfg.zk_op_timeout_ms};
  watch_opts.roster = writers;
  auto watch = spawn_writer_watch(sys, watch_opts);
  spdlog::info(
      "gateway {} listening on {}:{} (sale {}, {} products, keep 1 in {}, amqp {}, zookeeper {}{}, "
      "actors {})",
      cfg.name, cfg.http_address, server.port(), cfg.sale.name, cfg.sale.products.size(),
      cfg.keep_one_in, amqp_params.endpoint(), cfg.zk_hosts, cfg.zk_root,
      keeper_opts.actor_endpoint);

  int sig = wait_for_stop_signal();
  spdlog::info("signal {}: stopping", sig);
  server.stop();
  caf::anon_send_exit(keeper, caf::exit_reason::user_shutdown);  // closes the session
  caf::anon_send_exit(watch, caf::exit_reason::user_shutdown);
  stop_actors();
  return 0;
}

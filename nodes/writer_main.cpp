// flashsale-writer: turns queued purchases into orders. Wires the RabbitMQ consumer bridge (the
// main order queue and one queue per hot product) and the slot writers (a pool per database: the
// main one and one per hot product), the result router (purchases' fates back to the gateways that
// accepted them; the writer's registration in ZooKeeper) and the writer's published actor (stats,
// liveness) from configuration (config/writer-*.ini).

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/consumer_bridge.hpp"
#include "actors/result_router.hpp"
#include "actors/sell_through.hpp"
#include "actors/slot_writer_pool.hpp"
#include "actors/writer_peer.hpp"
#include "cluster/peer_roster.hpp"
#include "common/sale_definition.hpp"
#include "nodes/node_config.hpp"
#include "quota/tree_acl.hpp"
#include "quota/znodes.hpp"

namespace {

using namespace flashsale;

class writer_config : public node_config {
 public:
  std::string name = "w1";
  std::string sale_file = "config/sale-demo.ini";
  int connections_per_database = 2;
  int batch_size = 100;
  int linger_ms = 2;
  int stats_interval_s = 10;
  db_settings db{db::writer_role};
  amqp_settings amqp{"flashsale-writer"};
  std::string zk_hosts = "127.0.0.1:21810";
  std::string zk_root = "/flashsale";
  std::string zk_password_file;    // the identity "writer"'s ZooKeeper password
  std::string zk_identities_file;  // the digests every created znode's ACL names
  zk::credentials zk_login;        // read from the two files
  int zk_poll_interval_ms = 1000;
  std::string cluster_address = "127.0.0.1";
  int cluster_port = 0;
  int prefetch = 200;
  int max_batch = 200;
  int settle_ms = 1000;
  sale_definition sale;

  writer_config() {
    opt_group{custom_options_, "writer"}
        .add(name, "name", "node name ([A-Za-z0-9_-])")
        .add(sale_file, "sale-file", "sale definition (which products are hot)")
        .add(connections_per_database, "connections-per-database", "slot writers per database")
        .add(batch_size, "batch-size", "purchases of one product per database transaction, at most")
        .add(linger_ms, "linger-ms", "how long a partial batch waits for more purchases")
        .add(stats_interval_s, "stats-interval-s", "log the counts this often (0: only at exit)")
        .add(settle_ms, "settle-ms",
             "sell-through: the queues and writers must stay drained this long before a gone "
             "gateway is fenced and its unsold claim given back");
    db.add_options(custom_options_, "database role (may only EXECUTE the purchase functions)");
    amqp.add_options(custom_options_)
        .add(prefetch, "prefetch", "unacked messages in flight, per queue")
        .add(max_batch, "max-batch", "deliveries handed over at once");
    opt_group{custom_options_, "zookeeper"}
        .add(zk_hosts, "hosts",
             "where the gateways register (results go back to them); empty: send none")
        .add(zk_root, "root", "root znode of the flash-sale tree")
        .add(zk_poll_interval_ms, "poll-interval-ms", "re-read the gateways' registrations")
        .add(zk_password_file, "password-file",
             "file (mode 0600) with the password of the ZooKeeper identity 'writer'")
        .add(zk_identities_file, "identities-file",
             "file (mode 0600) with the gateway and writer digests for the tree's ACLs");
    opt_group{custom_options_, "cluster"}
        .add(cluster_address, "address",
             "where gateways and flashsale-admin reach this writer (CAF)")
        .add(cluster_port, "port", "port for them (0: any free port; registered in ZooKeeper)");
  }

 protected:
  void check(std::vector<std::string>& problems) const override {
    if (!valid_product_id(name))
      problems.push_back("'writer.name' must be 1-64 of [A-Za-z0-9_-], got '" + name + "'");
    require_range(problems, "writer.connections-per-database", connections_per_database, 1, 256);
    require_range(problems, "writer.batch-size", batch_size, 1, 5000);
    require_range(problems, "writer.linger-ms", linger_ms, 0, 1000);
    require_range(problems, "writer.stats-interval-s", stats_interval_s, 0, 86400);
    require_range(problems, "writer.settle-ms", settle_ms, 100, 600000);
    db.check(problems);
    amqp.check(problems);
    require_range(problems, "amqp.prefetch", prefetch, 1, 65535);
    require_range(problems, "amqp.max-batch", max_batch, 1, 10000);
    if (!quota::valid_root(zk_root))
      problems.push_back("'zookeeper.root' must be an absolute znode path like /flashsale, got '" +
                         zk_root + "'");
    require_range(problems, "zookeeper.poll-interval-ms", zk_poll_interval_ms, 50, 600000);
    if (!zk_hosts.empty())  // without ZooKeeper the writer neither registers nor reads
      credential_checks::require_zookeeper_files(problems, zk_password_file, zk_identities_file);
    require_range(problems, "cluster.port", cluster_port, 0, 65535);
    if (cluster_address.empty())
      problems.push_back("'cluster.address' must not be empty");
  }

  void resolve(std::vector<std::string>& problems) override {
    try {
      sale = load_sale_file(sale_file, db.database);
    } catch (const sale_file_error& e) {
      problems.push_back(e.what());
    }
    db.resolve(problems);
    amqp.resolve(problems);
    if (!zk_hosts.empty())
      zk_login = credential_checks::zookeeper_login(problems, quota::writer_user, zk_password_file,
                                                    zk_identities_file, zk_root);
  }
};

}  // namespace

int main(int argc, char** argv) {
  block_stop_signals();
  writer_config cfg;
  cfg.add_message_types<caf::id_block::flashsale>();
  if (!cfg.load(argc, argv))
    return cfg.failure_exit_code();
  init_logging(cfg.name);

  caf::actor_system sys{cfg};
  writer_routing routing;
  routing.default_database = cfg.sale.main_database;
  for (const auto& p : cfg.sale.products)
    routing.database_of_product[p.id] = p.database;
  auto databases = cfg.sale.databases();
  for (const auto& database : databases) {
    slot_writer_pool_options pool_opts;
    pool_opts.params = cfg.db.params(database);
    pool_opts.writers = cfg.connections_per_database;
    pool_opts.batch_size = static_cast<std::size_t>(cfg.batch_size);
    pool_opts.linger = std::chrono::milliseconds{cfg.linger_ms};
    routing.pools_by_database[database] = spawn_slot_writer_pool(sys, pool_opts);
  }
  auto route = cfg.amqp.route(cfg.sale);

  auto amqp_params = cfg.amqp.params();
  amqp::consumer::options con_opts;
  con_opts.route = route;
  con_opts.prefetch = static_cast<std::uint16_t>(cfg.prefetch);
  con_opts.max_batch = static_cast<std::size_t>(cfg.max_batch);
  auto gateways = std::make_shared<peer_roster>();
  result_router_options router_opts;
  router_opts.node = cfg.name;
  router_opts.cluster.zk_hosts = cfg.zk_hosts;
  router_opts.cluster.zk_root = cfg.zk_root;
  router_opts.cluster.zk_login = cfg.zk_login;
  router_opts.cluster.poll_interval = std::chrono::milliseconds{cfg.zk_poll_interval_ms};
  router_opts.roster = gateways;
  auto router = spawn_result_router(sys, router_opts);
  consumer_bridge_options bridge_opts;
  bridge_opts.node = cfg.name;
  bridge_opts.consumer = con_opts;
  bridge_opts.routing = routing;
  bridge_opts.stats_interval = std::chrono::seconds{cfg.stats_interval_s};
  bridge_opts.results = router;
  bridge_opts.gateways = gateways;
  auto consumer = spawn_consumer_bridge(sys, amqp_params, std::move(bridge_opts));
  // Gateways (which monitor writers) and flashsale-admin (stats) reach this actor through CAF's
  // middleman; the router registers its endpoint in ZooKeeper.
  auto peer = spawn_writer_peer(sys, consumer);
  auto published = sys.middleman().publish(peer, static_cast<std::uint16_t>(cfg.cluster_port),
                                           cfg.cluster_address.c_str(), true);
  std::string endpoint;
  if (published) {
    endpoint = cfg.cluster_address + ":" + std::to_string(*published);
    caf::anon_send(router, register_atom_v, endpoint);
  } else {
    // Orders are still written; only the cluster's view of this writer is missing.
    spdlog::error(
        "cannot publish the writer's actors on {}:{}: {}; gateways and flashsale-admin "
        "will not see this writer",
        cfg.cluster_address, cfg.cluster_port, sys.render(published.error()));
  }
  // Sell-through: the first writer by name settles gone gateways (needs ZooKeeper).
  sell_through_actor settler;
  if (!cfg.zk_hosts.empty()) {
    sell_through_actor_options st_opts;
    st_opts.round.zk_hosts = cfg.zk_hosts;
    st_opts.round.zk_root = cfg.zk_root;
    st_opts.round.zk_login = cfg.zk_login;
    for (const auto& database : databases)
      st_opts.round.databases[database] = cfg.db.params(database);
    st_opts.round.amqp = amqp_params;
    st_opts.round.route = route;
    st_opts.round.settle = std::chrono::milliseconds{cfg.settle_ms};
    st_opts.round.by = cfg.name;
    st_opts.round.only_first_writer = true;
    st_opts.interval = std::chrono::milliseconds{cfg.zk_poll_interval_ms};
    settler = spawn_sell_through(sys, std::move(st_opts), cfg.sale);
  }
  spdlog::info(
      "writer {} consuming {} queue(s) at {} into {} database(s): {} connection(s) each, "
      "batches of up to {}, linger {} ms, prefetch {}; actors {}",
      cfg.name, route.queues().size(), amqp_params.endpoint(), databases.size(),
      cfg.connections_per_database, cfg.batch_size, cfg.linger_ms, cfg.prefetch,
      endpoint.empty() ? "not published" : endpoint);

  int sig = wait_for_stop_signal();
  spdlog::info("signal {}: stopping", sig);
  caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
  if (settler)
    caf::anon_send_exit(settler, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(consumer, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  for (auto& [database, pool] : routing.pools_by_database)
    caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
  routing.pools_by_database.clear();
  return 0;
}

#include "nodes/gateway_config.hpp"

#include <caf/config_option_adder.hpp>

#include "messages/codec.hpp"
#include "quota/tree_acl.hpp"
#include "quota/znodes.hpp"

namespace flashsale {

gateway_config::gateway_config() {
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
  db.add_options(custom_options_, "database role for order look-ups (may only EXECUTE find_order)");
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
      .add(zk_split_wait_ms, "split-wait-ms", "... or this long after the leader's election")
      .add(zk_password_file, "password-file",
           "file (mode 0600) with the password of the ZooKeeper identity 'gateway'")
      .add(zk_identities_file, "identities-file",
           "file (mode 0600) with the gateway and writer digests for the tree's ACLs");
  opt_group{custom_options_, "auth"}
      .add(auth_mode, "mode",
           "token: purchases need a buyer token; off: the body names the user (rehearsals)")
      .add(auth_key_file, "key-file", "the token signing key (64 hex digits, mode 0600)")
      .add(auth_previous_key_file, "previous-key-file",
           "during a key rotation: the previous key, accepted too");
}

void gateway_config::check(std::vector<std::string>& problems) const {
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
  if (auth_mode != "token" && auth_mode != "off")
    problems.push_back("'auth.mode' must be \"token\" or \"off\", got '" + auth_mode + "'");
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
  credential_checks::require_zookeeper_files(problems, zk_password_file, zk_identities_file);
  // The lease (half the session timeout) must be renewed several times before it runs out.
  if (zk_report_interval_ms * 4 > zk_session_timeout_ms)
    problems.push_back("'zookeeper.report-interval-ms' (" + std::to_string(zk_report_interval_ms) +
                       ") must be at most a quarter of 'zookeeper.session-timeout-ms' (" +
                       std::to_string(zk_session_timeout_ms) + ")");
}

void gateway_config::resolve(std::vector<std::string>& problems) {
  try {
    sale = load_sale_file(sale_file, db.database);
  } catch (const sale_file_error& e) {
    problems.push_back(e.what());
  }
  amqp.resolve(problems);
  db.resolve(problems);
  zk_login = credential_checks::zookeeper_login(problems, quota::gateway_user, zk_password_file,
                                                zk_identities_file, zk_root);
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

}  // namespace flashsale

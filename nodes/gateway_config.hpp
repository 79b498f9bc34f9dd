#pragma once

// The gateway node's configuration: every option of config/gateway-*.ini
// (docs/configuration.md), its checks and what its values name (the sale file, the token keys).
// Includes CAF's actor_system_config: for the gateway's main() and the fuzz target only.

#include <string>
#include <vector>

#include "adapters/crypto/key_file.hpp"
#include "common/sale_definition.hpp"
#include "nodes/node_config.hpp"

namespace flashsale {

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
  amqp_settings amqp{"flashsale-gateway"};
  int confirm_timeout_ms = 5000;
  int purchases_per_message = 100;
  db_settings db{db::gateway_role};
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
  std::string zk_password_file;    ///< the identity "gateway"'s ZooKeeper password
  std::string zk_identities_file;  ///< the digests every created znode's ACL names
  zk::credentials zk_login;        ///< read from the two files
  std::string auth_mode = "token";
  std::string auth_key_file;
  std::string auth_previous_key_file;
  sale_definition sale;
  std::vector<crypto::secret_key> auth_keys;  ///< read from the key files: current, previous

  /// Registers every option with its default.
  gateway_config();

 protected:
  void check(std::vector<std::string>& problems) const override;
  /// Loads the sale file, the password and identities files and, with auth.mode = token, the key
  /// files.
  void resolve(std::vector<std::string>& problems) override;
};

}  // namespace flashsale

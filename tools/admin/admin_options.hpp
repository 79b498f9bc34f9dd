#pragma once

// flashsale-admin's command line: the options, the usage text and the exit codes. No CAF.

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/zookeeper/session.hpp"

namespace flashsale::admin {

// Exit codes (documented in the usage text).
constexpr int exit_ok = 0;
constexpr int exit_invariant_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_database = 3;
constexpr int exit_zookeeper = 4;
constexpr int exit_node_unreachable = 5;
constexpr int exit_not_idle = 6;
constexpr int exit_broker = 7;

/// The text of --help: every command, option and exit status.
extern const char* const usage_text;

/// A command line that cannot be run (exit_usage).
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Options and positional words, with the environment's defaults (FLASHSALE_PG_*,
/// FLASHSALE_AMQP_*, FLASHSALE_SQL_DIR).
struct options {
  db::connection_params db;
  std::string sql_dir;
  std::vector<std::string> command;  // positional words
  std::optional<std::string> sale_file;
  std::optional<std::string> zk_hosts;
  std::string zk_root = "/flashsale";
  std::string zk_password_file;    ///< the ZooKeeper superuser "admin"'s password
  std::string zk_identities_file;  ///< the gateway and writer digests (quota/tree_acl.hpp)
  zk::credentials zk_login;        ///< from the two files, once --zk is given
  amqp::connection_params amqp;
  std::string amqp_exchange = "flashsale";
  std::string amqp_queue = "flashsale.orders";
  std::string amqp_dead_letter_queue = "flashsale.dead";
  int amqp_max_length = 1000000;
  /// amqp declare: the order queues' type; unset: quorum when amqp names several brokers.
  std::optional<amqp::queue_type> amqp_queue_type;
  int settle_s = 3;
  std::string out_file;   ///< token keygen --out
  std::string key_file;   ///< token issue --key-file
  std::string user;       ///< token issue --user
  long long ttl_s = 600;  ///< token issue --ttl
  int count = 0;          ///< token issue --count (0: one token for --user itself)
  bool verbose = false;
  bool help = false;
};

/// An integer option in [min, max]; throws usage_error naming the option otherwise.
int parse_int_option(const std::string& name, const std::string& value, int min, int max);

/// Parses argv. Throws usage_error for an unknown option, a missing or bad value.
options parse_options(int argc, char** argv);

}  // namespace flashsale::admin

#pragma once

// Shared start-up of node processes: CAF configuration parsing with strict validation (CAF itself
// silently ignores unknown INI keys), logging, and waiting for a stop signal.

#include <iosfwd>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>

#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/zookeeper/session.hpp"
#include "common/sale_definition.hpp"

namespace flashsale {

/// Value checks shared by the configuration pieces.
struct node_config_checks {
  /// Appends a problem unless lo <= value <= hi.
  static void require_range(std::vector<std::string>& problems, const std::string& key,
                            long long value, long long lo, long long hi);
};

/// Checks shared by the credential keys of every section: `<section>.password-file` names a secret
/// file (common/secret_file.hpp). (load() refuses a `<section>.password` key with a pointer to it.)
struct credential_checks {
  /// Appends a problem when `file` is empty.
  static void require_password_file(std::vector<std::string>& problems, const std::string& section,
                                    const std::string& file);
  /// The password in `file`; appends a problem (naming `section`) and returns "" when it cannot
  /// be used.
  static std::string read_password(std::vector<std::string>& problems, const std::string& section,
                                   const std::string& file);
  /// Appends a problem when `password_file` or `identities_file` (of [zookeeper]) is empty.
  static void require_zookeeper_files(std::vector<std::string>& problems,
                                      const std::string& password_file,
                                      const std::string& identities_file);
  /// The ZooKeeper login as `user` (quota/tree_acl.hpp) with the password and the identities read
  /// from the files, for the tree under `root`; appends a problem when a file cannot be used.
  static zk::credentials zookeeper_login(std::vector<std::string>& problems,
                                         const std::string& user, const std::string& password_file,
                                         const std::string& identities_file,
                                         const std::string& root);
};

/// Section [amqp], shared by every node that talks to RabbitMQ. The topology (exchange, queues,
/// their bounds) is declared by `flashsale-admin amqp declare`; a node only checks it exists (its
/// user may not declare anything).
struct amqp_settings {
  std::string host = "127.0.0.1";
  int port = 56729;
  /// The nodes of a RabbitMQ cluster, "h1:p1,h2:p2,...": when set, host and port are not used;
  /// on a connection loss a node moves on to the next one.
  std::string hosts;
  std::string vhost = "flashsale";
  std::string user;           ///< the node's own RabbitMQ user
  std::string password_file;  ///< secret file with that user's password
  std::string exchange = "flashsale";
  std::string queue = "flashsale.orders";
  std::string dead_letter_queue = "flashsale.dead";

  explicit amqp_settings(std::string node_user) : user(std::move(node_user)) {}

  /// Registers the keys above under [amqp] (plus whatever the caller adds to the returned group).
  caf::config_option_adder add_options(caf::config_option_set& options);
  /// Appends one message per invalid value.
  void check(std::vector<std::string>& problems) const;
  /// Reads the password file (after check()); appends a problem when it cannot be used.
  void resolve(std::vector<std::string>& problems);
  amqp::connection_params params() const;
  /// The order queues of `sale`: the main queue, and one of its own for each hot product.
  amqp::topology route(const sale_definition& sale) const;

 private:
  std::string password_;
};

/// Section [db], shared by every node that talks to PostgreSQL. Each node connects as its own
/// least-privileged role (the default of user) with the password in password_file.
struct db_settings {
  std::string host = "127.0.0.1";
  int port = 54329;
  /// A primary and its standbys, "h1:p1,h2:p2,...": when set, host and port are not used; every
  /// connection goes to whichever of them accepts writes (after a promotion: the new primary).
  std::string hosts;
  std::string user;
  std::string password_file;  ///< secret file with the role's password
  std::string database = "flashsale";
  int connect_timeout_s = 5;

  explicit db_settings(std::string role) : user(std::move(role)) {}

  /// Registers the keys above under [db]; `role_help` says what the role may do.
  caf::config_option_adder add_options(caf::config_option_set& options, const char* role_help);
  /// Appends one message per invalid value.
  void check(std::vector<std::string>& problems) const;
  /// Reads the password file (after check()); appends a problem when it cannot be used.
  void resolve(std::vector<std::string>& problems);
  /// Where and as whom to connect, for `dbname` (the main database or a hot product's).
  db::connection_params params(const std::string& dbname) const;

 private:
  std::string password_;
};

/// Base of every node's configuration: CAF's own options plus the node's opt_groups.
class node_config : public caf::actor_system_config, protected node_config_checks {
 public:
  /// Loads CAF's middleman: every node talks to others through it.
  node_config();

  /// Parses command line and INI file (--config-file=...). On any problem - a parse error, an
  /// unknown section or key, or a value check() rejects - prints every problem to stderr and
  /// returns false. Also false after --help (nothing to run; the configuration is still checked).
  bool load(int argc, char** argv);
  /// As load(argc, argv), with the INI text read from `ini` and command-line style `args`
  /// ("--http.port=8081", ...; no program name): for tests and fuzzing.
  bool load(const std::vector<std::string>& args, std::istream& ini);

  /// Exit code main() should return when load() returned false: 0 after --help with a valid
  /// configuration, 2 otherwise.
  int failure_exit_code() const { return help_printed_ ? 0 : 2; }

 protected:
  /// Node-specific value checks; appends one message per problem.
  virtual void check(std::vector<std::string>& problems) const = 0;

  /// Loads what the values name (the sale file) into the configuration, after check(); appends
  /// one message per problem. Nothing by default.
  virtual void resolve(std::vector<std::string>& problems) { (void)problems; }

 private:
  /// What both load()s do after CAF's parse.
  bool validate(const caf::error& parsed);

  bool help_printed_ = false;
};

/// Sets up spdlog: stderr, with the node's name in every line.
void init_logging(const std::string& node_name);

/// Blocks SIGINT and SIGTERM in the calling thread (call first in main(), before any thread starts,
/// so all threads inherit the mask), then later wait_for_stop_signal() returns the signal received.
void block_stop_signals();
int wait_for_stop_signal();

}  // namespace flashsale

#pragma once

// Connection parameters and errors of the PostgreSQL adapter. Part of the adapter's public
// interface: no ODB include, and the text stays valid C++14 because the adapter's ODB side (C++14)
// includes it too.

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/host_list.hpp"

namespace flashsale {
namespace db {

/// The role the writers connect as (sql/003_roles.sql): it may only execute purchase_one. The
/// migration creates it without a password: it logs in once an operator has set one.
constexpr const char writer_role[] = "flashsale_writer";
/// The role the gateways connect as (sql/005_order_lookup.sql): it may only execute find_order.
/// Created without a password, as the writer role.
constexpr const char gateway_role[] = "flashsale_gateway";

/// The servers of `list`, "host:port[,host:port...]", as parse_host_list() reads it. Throws
/// db_error naming the entry when one is empty, has no port, or a port outside 1-65535.
std::vector<host_port> parse_server_list(const std::string& list);

/// Where and as whom to connect.
struct connection_params {
  std::string host = "127.0.0.1";  ///< the server, when `servers` is empty
  int port = 54329;
  /// A primary and its standbys, in the order libpq tries them; when not empty, host and port are
  /// not used. Whichever accepts writes is used (target_session_attrs=read-write), so after a
  /// standby's promotion new connections reach the new primary.
  std::vector<host_port> servers;
  std::string user;
  std::string password;
  std::string dbname = "flashsale";
  int connect_timeout_s = 5;  ///< libpq connect_timeout; <= 0 means wait forever
  /// A server that acknowledges nothing this long (a cut link, a dead host) fails the call in
  /// progress instead of leaving it waiting for the kernel's retransmissions (a quarter of an
  /// hour): libpq's tcp_user_timeout, and keepalives that probe a connection waiting for an
  /// answer. <= 0 leaves both to the kernel.
  int silence_timeout_s = 10;

  /// Reads FLASHSALE_PG_HOST, FLASHSALE_PG_PORT, FLASHSALE_PG_HOSTS (a server list),
  /// FLASHSALE_PG_ADMIN_USER, FLASHSALE_PG_DB and the
  /// password from the secret file FLASHSALE_PG_ADMIN_PASSWORD_FILE names
  /// (build/run/endpoints.env); unset variables keep the defaults above, the user defaults to
  /// "flashsale", the password to none. Throws db_error when FLASHSALE_PG_PORT is not a port
  /// number, FLASHSALE_PG_HOSTS not a server list or the password file cannot be used.
  static connection_params from_env();

  /// The same server and database as another user (e.g. writer_role).
  connection_params as_user(const std::string& user_name, const std::string& user_password) const;

  /// The same server and user, another database.
  connection_params with_dbname(const std::string& name) const;

  /// The servers to try, in order: `servers`, or host:port alone.
  std::vector<host_port> candidates() const;

  /// "host:port[,host:port...]/dbname" for messages.
  std::string endpoint() const;

  /// The libpq connection string of these parameters (password included: never log it): every
  /// candidate, target_session_attrs=read-write, connect_timeout when > 0, tcp_user_timeout and
  /// keepalives from silence_timeout_s when > 0, plus `extra`
  /// ("key=value ..."). Values are quoted as libpq wants.
  std::string conninfo(const std::string& extra = "") const;
};

/// Any failure to connect or to run SQL; what() names the endpoint, the operation and the server's
/// message.
class db_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;

  /// An error reported by the server with its SQLSTATE (e.g. "42501" for permission denied).
  db_error(const std::string& what, std::string sqlstate)
      : std::runtime_error(what), sqlstate_(std::move(sqlstate)) {}

  /// The server's SQLSTATE, or "" when the error did not come from the server (cannot connect,
  /// lost connection, unexpected answer).
  const std::string& sqlstate() const noexcept { return sqlstate_; }

 private:
  std::string sqlstate_;
};

}  // namespace db
}  // namespace flashsale

#include "adapters/db/connection.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "common/secret_file.hpp"

namespace flashsale::db {

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

/// `value` quoted for a libpq connection string.
std::string quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'')
      out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

std::vector<host_port> parse_server_list(const std::string& list) {
  try {
    return parse_host_list(list, "server list");
  } catch (const std::invalid_argument& e) {
    throw db_error(e.what());
  }
}

connection_params connection_params::from_env() {
  connection_params p;
  p.host = env_or("FLASHSALE_PG_HOST", p.host);
  auto port = env_or("FLASHSALE_PG_PORT", std::to_string(p.port));
  std::size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(port, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != port.size() || n < 1 || n > 65535)
    throw db_error("FLASHSALE_PG_PORT must be a port number (1-65535), got '" + port + "'");
  p.port = n;
  auto hosts = env_or("FLASHSALE_PG_HOSTS", "");
  if (!hosts.empty())
    p.servers = parse_server_list(hosts);
  p.user = env_or("FLASHSALE_PG_ADMIN_USER", "flashsale");
  try {
    p.password = read_secret_file_from_env("FLASHSALE_PG_ADMIN_PASSWORD_FILE");
  } catch (const secret_file_error& e) {
    throw db_error(e.what());
  }
  p.dbname = env_or("FLASHSALE_PG_DB", p.dbname);
  return p;
}

connection_params connection_params::as_user(const std::string& user_name,
                                             const std::string& user_password) const {
  connection_params p = *this;
  p.user = user_name;
  p.password = user_password;
  return p;
}

connection_params connection_params::with_dbname(const std::string& name) const {
  connection_params p = *this;
  p.dbname = name;
  return p;
}

std::vector<host_port> connection_params::candidates() const {
  if (!servers.empty())
    return servers;
  return {host_port{host, port}};
}

std::string connection_params::endpoint() const {
  return host_list_text(candidates()) + "/" + dbname;
}

std::string connection_params::conninfo(const std::string& extra) const {
  std::string hosts, ports;
  for (const auto& s : candidates()) {
    hosts += (hosts.empty() ? "" : ",") + s.host;
    ports += (ports.empty() ? "" : ",") + std::to_string(s.port);
  }
  std::string out = "host=" + quoted(hosts) + " port=" + quoted(ports) +
                    " dbname=" + quoted(dbname) + " target_session_attrs=read-write";
  if (!user.empty())
    out += " user=" + quoted(user);
  if (!password.empty())
    out += " password=" + quoted(password);
  if (connect_timeout_s > 0)
    out += " connect_timeout=" + std::to_string(connect_timeout_s);
  if (silence_timeout_s > 0) {  // probes from half the timeout on, 3 of them within it
    int idle = std::max(1, silence_timeout_s / 2);
    int interval = std::max(1, (silence_timeout_s - idle) / 4);
    out += " tcp_user_timeout=" + std::to_string(silence_timeout_s * 1000) +
           " keepalives=1 keepalives_idle=" + std::to_string(idle) +
           " keepalives_interval=" + std::to_string(interval) + " keepalives_count=3";
  }
  if (!extra.empty())
    out += " " + extra;
  return out;
}

}  // namespace flashsale::db

#include "adapters/db/connection.hpp"

#include <cstdlib>
#include <string>

#include "common/secret_file.hpp"

namespace flashsale::db {

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

}  // namespace

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

std::string connection_params::endpoint() const {
  return host + ":" + std::to_string(port) + "/" + dbname;
}

}  // namespace flashsale::db

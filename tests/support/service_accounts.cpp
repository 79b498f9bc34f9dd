#include "tests/support/service_accounts.hpp"

#include <cstdlib>
#include <stdexcept>

#include "common/secret_file.hpp"

namespace flashsale::testing {

std::string password_file(const std::string& account) {
  const char* dir = std::getenv("FLASHSALE_SECRETS_DIR");
  if (dir == nullptr || *dir == '\0')
    throw std::runtime_error(
        "FLASHSALE_SECRETS_DIR is not set (scripts/services start, then export the variables of "
        "build/run/endpoints.env)");
  return std::string(dir) + "/" + account + ".password";
}

std::string password_of(const std::string& account) {
  return read_secret_file(password_file(account), "password file");
}

std::vector<std::string> gateway_credential_args() {
  return {"--db.password-file=" + password_file("pg-gateway"),
          "--amqp.password-file=" + password_file("amqp-gateway")};
}

std::vector<std::string> writer_credential_args() {
  return {"--db.password-file=" + password_file("pg-writer"),
          "--amqp.password-file=" + password_file("amqp-writer")};
}

}  // namespace flashsale::testing

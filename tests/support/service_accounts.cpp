#include "tests/support/service_accounts.hpp"

#include <cstdlib>
#include <stdexcept>

#include "common/secret_file.hpp"
#include "quota/tree_acl.hpp"

namespace flashsale::testing {

namespace {

std::string secrets_dir() {
  const char* dir = std::getenv("FLASHSALE_SECRETS_DIR");
  if (dir == nullptr || *dir == '\0')
    throw std::runtime_error(
        "FLASHSALE_SECRETS_DIR is not set (scripts/services start, then export the variables of "
        "build/run/endpoints.env)");
  return dir;
}

}  // namespace

std::string password_file(const std::string& account) {
  return secrets_dir() + "/" + account + ".password";
}

std::string password_of(const std::string& account) {
  return read_secret_file(password_file(account), "password file");
}

std::string zookeeper_identities_file() {
  return secrets_dir() + "/zk-identities";
}

zk::credentials zookeeper_login(const std::string& user, const std::string& account,
                                const std::string& root) {
  return quota::tree_login(user, password_of(account), root,
                           quota::read_identities_file(zookeeper_identities_file()));
}

zk::credentials admin_zookeeper_login(const std::string& root) {
  return zookeeper_login(quota::admin_user, "zk-admin", root);
}

std::vector<std::string> gateway_credential_args() {
  return {"--db.password-file=" + password_file("pg-gateway"),
          "--amqp.password-file=" + password_file("amqp-gateway"),
          "--zookeeper.password-file=" + password_file("zk-gateway"),
          "--zookeeper.identities-file=" + zookeeper_identities_file()};
}

std::vector<std::string> writer_credential_args() {
  return {"--db.password-file=" + password_file("pg-writer"),
          "--amqp.password-file=" + password_file("amqp-writer"),
          "--zookeeper.password-file=" + password_file("zk-writer"),
          "--zookeeper.identities-file=" + zookeeper_identities_file()};
}

}  // namespace flashsale::testing

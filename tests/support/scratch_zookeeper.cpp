#include "tests/support/scratch_zookeeper.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/support/service_accounts.hpp"

namespace flashsale::testing {

std::string zookeeper_hosts_from_env() {
  const char* hosts = std::getenv("FLASHSALE_ZK");
  if (hosts == nullptr || *hosts == '\0')
    throw std::runtime_error(
        "FLASHSALE_ZK is not set (scripts/services start, then export the variables of "
        "build/run/endpoints.env)");
  return hosts;
}

scratch_zookeeper::scratch_zookeeper(const std::string& prefix)
    : hosts_(zookeeper_hosts_from_env()) {
  static std::atomic<int> counter{0};
  root_ = "/" + prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  zk::options o;
  o.hosts = hosts_;
  o.session_timeout = std::chrono::seconds{10};
  o.op_timeout = std::chrono::seconds{5};
  o.login = admin_zookeeper_login(root_);
  try {
    session_ = std::make_unique<zk::blocking_session>(o, std::chrono::seconds{10});
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + " (is ZooKeeper up? scripts/services start)");
  }
  auto rc = session_->remove_all(root_);
  if (rc != zk::code::ok)
    throw std::runtime_error("cannot clear " + root_ + ": " + zk::to_string(rc));
}

scratch_zookeeper::~scratch_zookeeper() {
  auto rc = session_->remove_all(root_);
  if (rc != zk::code::ok)
    ADD_FAILURE() << "cannot remove " << root_ << ": " << zk::to_string(rc);
}

std::optional<quota::grant_znode> read_grant(zk::blocking_session& zk, const quota::layout& paths,
                                             const std::string& node, const std::string& product) {
  auto r = zk.get(paths.grant(node, product));
  if (!r.ok())
    return std::nullopt;
  return quota::decode_grant(r.data);
}

bool set_keep_one_in(zk::blocking_session& zk, const quota::layout& paths, std::uint32_t k) {
  auto current = zk.get(paths.settings());
  if (!current.ok())
    return false;
  auto settings = quota::decode_settings(current.data);
  if (!settings)
    return false;
  settings->keep_one_in = k;
  return zk.set(paths.settings(), quota::encode(*settings), current.stat.version).ok();
}

std::optional<quota::consumption_report> read_report(zk::blocking_session& zk,
                                                     const quota::layout& paths,
                                                     const std::string& node,
                                                     const std::string& product) {
  auto r = zk.get(paths.consumed(node, product));
  if (!r.ok())
    return std::nullopt;
  return quota::decode_report(r.data);
}

bool wait_until_granted(zk::blocking_session& zk, const quota::layout& paths,
                        const std::string& node, const std::string& product, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms};
  for (;;) {
    auto grant = zk.get(paths.grant(node, product));
    auto report = read_report(zk, paths, node, product);
    if (grant.ok() && report) {
      auto g = quota::decode_grant(grant.data);
      if (g && g->grant > 0 && report->grant == g->grant && report->version == grant.stat.mzxid)
        return true;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

}  // namespace flashsale::testing

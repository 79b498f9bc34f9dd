// scripts/cluster, the rehearsal cluster an operator starts by hand: `up` puts the services, the
// writers and the gateways on hosts of their own and creates the sale, the load it prints sells
// through every gateway, `flashsale-admin report` audits it, `status` names every node, `down`
// leaves no host behind; bad arguments are refused before anything starts. Needs root.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/host_network.hpp"

namespace {

const std::string top = FLASHSALE_SOURCE_DIR;
const std::string build = FLASHSALE_BUILD_DIR;

/// Runs `command` with sh, stdout and stderr together; its exit code (-1: it did not exit).
int run(const std::string& command, std::string& output) {
  output.clear();
  auto* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return -1;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;)
    output.append(buf, n);
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// The text after `key` up to the end of its line ("" when absent).
std::string after(const std::string& text, const std::string& key) {
  auto at = text.find(key);
  if (at == std::string::npos)
    return {};
  at += key.size();
  return text.substr(at, text.find('\n', at) - at);
}

class cluster_script : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "network namespaces need root (CI runs as root)";
    run_ = "k" + std::to_string(::getpid() % 1000000);
    script_ = "FLASHSALE_BUILD_DIR=" + build + " " + top + "/scripts/cluster";
  }
  void TearDown() override {
    std::string out;
    if (!run_.empty() && ::geteuid() == 0) {
      run(script_ + " down --run " + run_, out);
      std::filesystem::remove_all(build + "/cluster-" + run_);
    }
  }
  std::string run_;
  std::string script_;
};

TEST_F(cluster_script, bad_arguments_are_refused_before_anything_starts) {
  std::string out;
  EXPECT_EQ(run(script_ + " up --run " + run_ + " --gateways 9", out), 1);
  EXPECT_NE(out.find("--gateways must be 1 to 8"), std::string::npos) << out;
  EXPECT_EQ(run(script_ + " up --run " + run_ + " --writers 0", out), 1);
  EXPECT_NE(out.find("--writers must be 1 to 4"), std::string::npos) << out;
  EXPECT_EQ(run(script_ + " up --run BAD", out), 1);
  EXPECT_NE(out.find("1-8 of [a-z0-9]"), std::string::npos) << out;
  EXPECT_EQ(run(script_ + " up --run " + run_ + " --sale /nonexistent.ini", out), 1);
  EXPECT_NE(out.find("no such file"), std::string::npos) << out;
  EXPECT_EQ(run(script_ + " status --run " + run_, out), 1);
  EXPECT_NE(out.find("is not up"), std::string::npos) << out;
  EXPECT_EQ(run(script_ + " rollout", out), 2) << out;
  EXPECT_FALSE(std::filesystem::exists("/run/flashsale-hosts/" + run_));
}

TEST_F(cluster_script, up_sells_the_sale_through_every_gateway_and_down_leaves_no_host) {
  std::string out;
  ASSERT_EQ(run(script_ + " up --run " + run_ + " --gateways 2 --writers 2", out), 0) << out;
  auto gateways = after(out, "--gateways ");
  gateways = gateways.substr(0, gateways.find(' '));
  ASSERT_EQ(std::count(gateways.begin(), gateways.end(), ','), 1) << out;
  EXPECT_EQ(run(script_ + " up --run " + run_, out), 1);
  EXPECT_NE(out.find("is up already"), std::string::npos) << out;

  // The load and the audit exactly as `up` printed them (fewer requests; users as many).
  const std::string env =
      "set -a; . " + build + "/cluster-" + run_ + "/services/endpoints.env; set +a; ";
  auto dir = build + "/cluster-" + run_;
  ASSERT_EQ(run(env + build + "/tools/load/flashsale-load --gateways " + gateways +
                    " --requests 60000 --users 60000 --connections 16 --products TV,Phone,Clothes"
                    " --token-key " +
                    dir + "/buyer-token.key --sale demo --timeout-ms 20000",
                out),
            0)
      << out;
  EXPECT_EQ(after(out, "errors "), "0") << out;
  EXPECT_NE(after(out, "status 202 "), "") << "nothing was sold\n" << out;
  std::string report;
  EXPECT_EQ(run(env + build + "/tools/admin/flashsale-admin report --sale " + top +
                    "/config/sale-demo.ini --db-name flashsale_" + run_,
                report),
            0)
      << report;
  EXPECT_NE(report.find("result: OK"), std::string::npos) << report;

  ASSERT_EQ(run(script_ + " status --run " + run_, out), 0) << out;
  for (const char* node : {"gw1: running", "gw2: running", "w1: running", "w2: running"})
    EXPECT_NE(out.find(node), std::string::npos) << node << "\n" << out;
  EXPECT_NE(out.find("accepted="), std::string::npos) << "the gateways' stats\n" << out;

  ASSERT_EQ(run(script_ + " down --run " + run_, out), 0) << out;
  EXPECT_FALSE(std::filesystem::exists("/run/flashsale-hosts/" + run_));
  EXPECT_TRUE(std::filesystem::exists(dir + "/logs/gw1.log"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/services"));
  std::string namespaces;
  run("ip netns list", namespaces);
  EXPECT_EQ(namespaces.find("fs-" + run_ + "-"), std::string::npos) << namespaces;
  EXPECT_EQ(run(script_ + " down --run " + run_, out), 0) << "a second down is harmless\n" << out;
}

}  // namespace

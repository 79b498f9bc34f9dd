// Node configuration is validated: unknown sections or keys (which CAF alone would ignore), bad
// values and unreadable files stop the node with exit code 2 and a message naming the problem.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include "adapters/zookeeper/session.hpp"
#include "tests/support/child_process.hpp"

namespace {

using flashsale::testing::child_process;

struct outcome {
  int exit_code = -1;
  std::string output;
};

outcome run(const std::string& program, const std::vector<std::string>& args) {
  auto log = std::filesystem::temp_directory_path() /
             ("flashsale-config-" + std::to_string(::getpid()) + ".log");
  outcome out;
  {
    child_process p{program, args, log.string()};
    int status = p.wait(20000);
    EXPECT_NE(status, -1) << "the node did not stop by itself";
    out.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  out.output = ss.str();
  std::filesystem::remove(log);
  return out;
}

std::string write_ini(const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("flashsale-config-" + std::to_string(::getpid()) + ".ini");
  std::ofstream(path) << text;
  return path.string();
}

TEST(node_config, unknown_ini_keys_and_sections_stop_the_gateway) {
  auto ini = write_ini("[gateway]\nname=\"gw1\"\nkeep-one-inn=3\n[htp]\nport=1\n");
  auto r = run(FLASHSALE_GATEWAY_BIN, {"--config-file=" + ini});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown key 'keep-one-inn' in section [gateway]"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("unknown key 'port' in section [htp]"), std::string::npos) << r.output;
  std::filesystem::remove(ini);
}

TEST(node_config, out_of_range_values_stop_the_gateway) {
  auto r = run(FLASHSALE_GATEWAY_BIN, {"--config-file=config/gateway-1.ini", "--http.port=70000",
                                       "--gateway.keep-one-in=0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("'http.port' must be in [0, 65535], got 70000"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("'gateway.keep-one-in' must be in [1, 1000000], got 0"),
            std::string::npos)
      << r.output;
}

TEST(node_config, a_malformed_broker_list_stops_the_writer_and_the_gateway) {
  for (const char* bin : {FLASHSALE_WRITER_BIN, FLASHSALE_GATEWAY_BIN}) {
    auto r =
        run(bin, {std::string("--config-file=config/") +
                      (bin == std::string(FLASHSALE_WRITER_BIN) ? "writer-1.ini" : "gateway-1.ini"),
                  "--amqp.hosts=127.0.0.1:47141,,127.0.0.1:x"});
    EXPECT_EQ(r.exit_code, 2) << bin;
    EXPECT_NE(r.output.find("'amqp.hosts': broker list '127.0.0.1:47141,,127.0.0.1:x': entry 2 "
                            "('') is empty"),
              std::string::npos)
        << r.output;
  }
}

TEST(node_config, a_malformed_database_server_list_stops_the_writer_and_the_gateway) {
  for (const char* bin : {FLASHSALE_WRITER_BIN, FLASHSALE_GATEWAY_BIN}) {
    auto r =
        run(bin, {std::string("--config-file=config/") +
                      (bin == std::string(FLASHSALE_WRITER_BIN) ? "writer-1.ini" : "gateway-1.ini"),
                  "--db.hosts=127.0.0.1:47100,127.0.0.1:0"});
    EXPECT_EQ(r.exit_code, 2) << bin;
    EXPECT_NE(r.output.find("'db.hosts': server list '127.0.0.1:47100,127.0.0.1:0': entry 2 "
                            "('127.0.0.1:0') has no port from 1 to 65535"),
              std::string::npos)
        << r.output;
  }
}

TEST(node_config, unknown_command_line_options_stop_the_writer) {
  auto r = run(FLASHSALE_WRITER_BIN, {"--config-file=config/writer-1.ini", "--db.databse=x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--db.databse=x"), std::string::npos) << r.output;
}

TEST(node_config, a_missing_sale_file_stops_the_writer) {
  auto r = run(FLASHSALE_WRITER_BIN,
               {"--config-file=config/writer-1.ini", "--writer.sale-file=/nonexistent/sale.ini"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("/nonexistent/sale.ini: cannot open sale file"), std::string::npos)
      << r.output;
}

/// A buyer-token key file of the test's own with `mode` (64 hex digits).
std::string write_key(const std::string& name, std::filesystem::perms mode) {
  auto path = std::filesystem::temp_directory_path() /
              ("flashsale-config-" + std::to_string(::getpid()) + "-" + name + ".key");
  std::ofstream(path) << std::string(64, 'a') << '\n';
  std::filesystem::permissions(path, mode);
  return path.string();
}

/// Password files for every service (the key file's 64 digits make a password as good as any)
/// and a ZooKeeper identities file with the digests of that password.
std::vector<std::string> password_args(const std::string& file) {
  auto identities = std::filesystem::temp_directory_path() /
                    ("flashsale-config-" + std::to_string(::getpid()) + "-identities");
  std::string password;
  std::getline(std::ifstream(file), password);
  std::ofstream(identities) << flashsale::zk::digest_id("gateway", password) << ","
                            << flashsale::zk::digest_id("writer", password) << "\n";
  std::filesystem::permissions(
      identities, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return {"--db.password-file=" + file, "--amqp.password-file=" + file,
          "--zookeeper.password-file=" + file,
          "--zookeeper.identities-file=" + identities.string()};
}

TEST(node_config, the_shipped_configs_are_valid) {
  // --help after a successful parse prints the options and exits 0: proves the files parse. The
  // key and password files live in the run directory (scripts/services and scripts/demo make
  // them): here one of the test's.
  auto key = write_key("shipped", std::filesystem::perms::owner_read);
  for (auto [bin, ini] : {std::pair{FLASHSALE_GATEWAY_BIN, "config/gateway-1.ini"},
                          std::pair{FLASHSALE_GATEWAY_BIN, "config/gateway-2.ini"},
                          std::pair{FLASHSALE_GATEWAY_BIN, "config/gateway-3.ini"},
                          std::pair{FLASHSALE_GATEWAY_BIN, "config/gateway-4.ini"},
                          std::pair{FLASHSALE_WRITER_BIN, "config/writer-1.ini"},
                          std::pair{FLASHSALE_WRITER_BIN, "config/writer-2.ini"}}) {
    std::vector<std::string> args{std::string("--config-file=") + ini, "--help"};
    if (std::string(bin) == FLASHSALE_GATEWAY_BIN)
      args.push_back("--auth.key-file=" + key);
    for (auto& arg : password_args(key))
      args.push_back(arg);
    auto r = run(bin, args);
    EXPECT_EQ(r.exit_code, 0) << ini << ": " << r.output;
  }
  std::filesystem::remove(key);
}

TEST(node_config, a_gateway_without_a_usable_token_key_does_not_start) {
  auto open_key =
      write_key("open", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                            std::filesystem::perms::others_read);
  auto open = run(FLASHSALE_GATEWAY_BIN,
                  {"--config-file=config/gateway-1.ini", "--auth.key-file=" + open_key});
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_NE(open.output.find("'auth.key-file': key file " + open_key + ": mode 604"),
            std::string::npos)
      << open.output;
  auto missing = run(FLASHSALE_GATEWAY_BIN, {"--config-file=config/gateway-1.ini",
                                             "--auth.key-file=/nonexistent/buyer-token.key"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("/nonexistent/buyer-token.key: No such file or directory"),
            std::string::npos)
      << missing.output;
  auto keyless = write_ini("[auth]\nmode = \"token\"\n");
  auto none = run(FLASHSALE_GATEWAY_BIN, {"--config-file=" + keyless});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.output.find("'auth.key-file' is required with auth.mode = \"token\""),
            std::string::npos)
      << none.output;
  auto typo = run(FLASHSALE_GATEWAY_BIN, {"--config-file=" + keyless, "--auth.mode=of"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.output.find("'auth.mode' must be \"token\" or \"off\", got 'of'"),
            std::string::npos)
      << typo.output;
  // Switched off (a closed rehearsal), the gateway needs no key.
  auto private_file = write_key("private", std::filesystem::perms::owner_read);
  std::vector<std::string> off_args{"--config-file=" + keyless, "--auth.mode=off", "--help"};
  for (auto& arg : password_args(private_file))
    off_args.push_back(arg);
  auto off = run(FLASHSALE_GATEWAY_BIN, off_args);
  EXPECT_EQ(off.exit_code, 0) << off.output;
  std::filesystem::remove(keyless);
  std::filesystem::remove(open_key);
  std::filesystem::remove(private_file);
}

TEST(node_config, a_password_in_the_configuration_stops_the_writer) {
  auto ini = write_ini("[db]\npassword = \"secret\"\n[amqp]\npassword = \"secret\"\n");
  auto r = run(FLASHSALE_WRITER_BIN, {"--config-file=" + ini});
  EXPECT_EQ(r.exit_code, 2);
  for (const char* section : {"db", "amqp"})
    EXPECT_NE(r.output.find(std::string("'") + section + ".password' is not accepted: secrets " +
                            "stay out of configuration; put it in a file of mode 0600 and name " +
                            "that file in '" + section + ".password-file'"),
              std::string::npos)
        << r.output;
  EXPECT_NE(r.output.find("'db.password-file' is required"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'amqp.password-file' is required"), std::string::npos) << r.output;
  std::filesystem::remove(ini);
}

TEST(node_config, a_password_file_others_may_read_stops_the_gateway) {
  auto readable = write_key(
      "readable", std::filesystem::perms::owner_read | std::filesystem::perms::group_read);
  auto r = run(FLASHSALE_GATEWAY_BIN, {"--config-file=config/gateway-1.ini", "--auth.mode=off",
                                       "--db.password-file=" + readable,
                                       "--amqp.password-file=/nonexistent/amqp.password"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("'db.password-file' " + readable + ": mode 440 lets others read or " +
                          "change it; chmod 600 it"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("'amqp.password-file' /nonexistent/amqp.password: No such file"),
            std::string::npos)
      << r.output;
  std::filesystem::remove(readable);
}

}  // namespace

#include "nodes/node_config.hpp"

#include <cctype>
#include <cstring>
#include <csignal>
#include <iostream>

#include <caf/config_option_adder.hpp>
#include <caf/config_option_set.hpp>
#include <caf/io/middleman.hpp>
#include <caf/settings.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/secret_file.hpp"
#include "quota/tree_acl.hpp"

namespace flashsale {

bool node_config::load(int argc, char** argv) {
  return validate(parse(argc, argv));
}

bool node_config::load(const std::vector<std::string>& args, std::istream& ini) {
  return validate(parse(args, ini));
}

bool node_config::validate(const caf::error& parsed) {
  if (parsed) {
    std::cerr << "configuration error: " << caf::to_string(parsed) << "\n";
    return false;
  }
  std::vector<std::string> problems;
  if (!remainder.empty()) {
    for (const auto& arg : remainder)
      problems.push_back("unknown command-line argument '" + arg + "'");
  }
  const auto& options = custom_options_;
  for (const auto& [category, value] : content) {
    if (const auto* section = caf::get_if<caf::settings>(&value)) {
      for (const auto& [key, ignored] : *section) {
        if (options.qualified_name_lookup(category, key) != nullptr)
          continue;
        if (key == "password")
          problems.push_back("'" + category + ".password' is not accepted: secrets stay out of " +
                             "configuration; put it in a file of mode 0600 and name that file " +
                             "in '" + category + ".password-file'");
        else
          problems.push_back("unknown key '" + key + "' in section [" + category + "]");
      }
    } else if (options.qualified_name_lookup("global", category) == nullptr) {
      problems.push_back("unknown top-level key '" + category + "'");
    }
  }
  check(problems);
  resolve(problems);
  for (const auto& p : problems)
    std::cerr << "configuration error: " << p << "\n";
  if (!problems.empty()) {
    std::cerr << "(config file: " << config_file_path << "; see docs/configuration.md for every option)\n";
    return false;
  }
  // --help printed the options; the configuration was still checked above (exit 0 means valid).
  help_printed_ = cli_helptext_printed;
  return !help_printed_;
}

node_config::node_config() {
  actor_system_config::load<caf::io::middleman>();
}

void node_config_checks::require_range(std::vector<std::string>& problems, const std::string& key,
                                       long long value, long long lo, long long hi) {
  if (value < lo || value > hi)
    problems.push_back("'" + key + "' must be in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "], got " + std::to_string(value));
}

void credential_checks::require_password_file(std::vector<std::string>& problems,
                                              const std::string& section, const std::string& file) {
  if (file.empty())
    problems.push_back("'" + section + ".password-file' is required: the file (mode 0600) that " +
                       "holds the password of '" + section + ".user'");
}

std::string credential_checks::read_password(std::vector<std::string>& problems,
                                             const std::string& section, const std::string& file) {
  if (file.empty())
    return {};
  try {
    return read_secret_file(file, "'" + section + ".password-file'");
  } catch (const secret_file_error& e) {
    problems.push_back(e.what());
    return {};
  }
}

void credential_checks::require_zookeeper_files(std::vector<std::string>& problems,
                                                const std::string& password_file,
                                                const std::string& identities_file) {
  if (password_file.empty())
    problems.push_back(
        "'zookeeper.password-file' is required: the file (mode 0600) that holds "
        "this node's ZooKeeper password");
  if (identities_file.empty())
    problems.push_back(
        "'zookeeper.identities-file' is required: the file (mode 0600) with the "
        "gateway and writer digests every created znode's ACL names");
}

zk::credentials credential_checks::zookeeper_login(std::vector<std::string>& problems,
                                                   const std::string& user,
                                                   const std::string& password_file,
                                                   const std::string& identities_file,
                                                   const std::string& root) {
  auto password = read_password(problems, "zookeeper", password_file);
  if (identities_file.empty())
    return {};
  try {
    return quota::tree_login(user, password, root, quota::read_identities_file(identities_file));
  } catch (const std::exception& e) {
    problems.push_back(std::string("'zookeeper.identities-file': ") + e.what());
    return {};
  }
}

caf::config_option_adder amqp_settings::add_options(caf::config_option_set& options) {
  caf::config_option_adder group{options, "amqp"};
  group.add(host, "host", "RabbitMQ host")
      .add(port, "port", "RabbitMQ port")
      .add(hosts, "hosts", "the nodes of a RabbitMQ cluster, h1:p1,h2:p2,... (over host and port)")
      .add(vhost, "vhost", "the platform's virtual host")
      .add(user, "user", "this node's RabbitMQ user")
      .add(password_file, "password-file", "file (mode 0600) holding that user's password")
      .add(exchange, "exchange", "durable exchange")
      .add(queue, "queue", "durable order queue")
      .add(dead_letter_queue, "dead-letter-queue", "queue for undecodable messages");
  return group;
}

void amqp_settings::check(std::vector<std::string>& problems) const {
  node_config_checks::require_range(problems, "amqp.port", port, 1, 65535);
  if (!hosts.empty()) {
    try {
      amqp::parse_broker_list(hosts);
    } catch (const amqp::amqp_error& e) {
      problems.push_back(std::string("'amqp.hosts': ") + e.what());
    }
  }
  for (const auto& [key, value] :
       {std::pair{"amqp.exchange", &exchange}, std::pair{"amqp.queue", &queue},
        std::pair{"amqp.dead-letter-queue", &dead_letter_queue}, std::pair{"amqp.vhost", &vhost},
        std::pair{"amqp.user", &user}})
    if (value->empty() || value->size() > 255)
      problems.push_back(std::string("'") + key + "' must have 1 to 255 characters");
  credential_checks::require_password_file(problems, "amqp", password_file);
}

void amqp_settings::resolve(std::vector<std::string>& problems) {
  password_ = credential_checks::read_password(problems, "amqp", password_file);
}

amqp::connection_params amqp_settings::params() const {
  amqp::connection_params p;
  p.host = host;
  p.port = port;
  if (!hosts.empty())
    p.brokers = amqp::parse_broker_list(hosts);  // valid: check() said so
  p.vhost = vhost;
  p.user = user;
  p.password = password_;
  return p;
}

amqp::topology amqp_settings::route(const sale_definition& sale) const {
  amqp::topology t{exchange, queue, dead_letter_queue, amqp::topology{}.max_length, {}};
  for (const auto& p : sale.products)
    if (p.hot)
      t.hot_products.push_back(p.id);
  return t;
}

caf::config_option_adder db_settings::add_options(caf::config_option_set& options,
                                                  const char* role_help) {
  caf::config_option_adder group{options, "db"};
  group.add(host, "host", "PostgreSQL host")
      .add(port, "port", "PostgreSQL port")
      .add(hosts, "hosts", "a primary and its standbys, h1:p1,h2:p2,... (over host and port)")
      .add(user, "user", caf::string_view{role_help, std::strlen(role_help)})
      .add(password_file, "password-file", "file (mode 0600) holding that role's password")
      .add(database, "database", "main database; hot products use <database>_hot_<product>")
      .add(connect_timeout_s, "connect-timeout-s", "connect timeout");
  return group;
}

void db_settings::check(std::vector<std::string>& problems) const {
  node_config_checks::require_range(problems, "db.port", port, 1, 65535);
  node_config_checks::require_range(problems, "db.connect-timeout-s", connect_timeout_s, 1, 300);
  if (!hosts.empty()) {
    try {
      db::parse_server_list(hosts);
    } catch (const db::db_error& e) {
      problems.push_back(std::string("'db.hosts': ") + e.what());
    }
  }
  bool valid_name = !database.empty() && database.size() <= 64;
  for (unsigned char c : database)
    valid_name = valid_name && (std::isalnum(c) || c == '_' || c == '-');
  if (!valid_name)
    problems.push_back("'db.database' must be 1-64 of [A-Za-z0-9_-], got '" + database + "'");
  credential_checks::require_password_file(problems, "db", password_file);
}

void db_settings::resolve(std::vector<std::string>& problems) {
  password_ = credential_checks::read_password(problems, "db", password_file);
}

db::connection_params db_settings::params(const std::string& dbname) const {
  db::connection_params p;
  p.host = host;
  p.port = port;
  if (!hosts.empty())
    p.servers = db::parse_server_list(hosts);  // valid: check() said so
  p.user = user;
  p.password = password_;
  p.dbname = dbname;
  p.connect_timeout_s = connect_timeout_s;
  return p;
}

void init_logging(const std::string& node_name) {
  auto logger = spdlog::stderr_color_mt(node_name);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %n %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds{1});
}

namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void block_stop_signals() {
  auto set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_stop_signal() {
  auto set = stop_signals();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace flashsale

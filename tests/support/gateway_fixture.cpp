#include "tests/support/gateway_fixture.hpp"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "adapters/crypto/key_file.hpp"
#include "admission/buyer_auth.hpp"
#include "common/utc_time.hpp"
#include "tests/support/amqp_tools.hpp"
#include "tests/support/queue_probe.hpp"
#include "tests/support/service_accounts.hpp"

namespace flashsale::testing {

using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

/// Exit code of a waitpid status; -1 when it timed out (-1) or died of a signal.
int exit_code_of(int status) {
  if (status == -1 || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

/// Parses `{a="x",b="y"}` (the text between the braces) into labels; false when malformed.
bool parse_labels(const std::string& text, std::map<std::string, std::string>& labels) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ','))
      ++i;
    if (i >= text.size())
      break;
    auto eq = text.find('=', i);
    if (eq == std::string::npos || eq + 1 >= text.size() || text[eq + 1] != '"')
      return false;
    auto name = trim(text.substr(i, eq - i));
    std::string value;
    std::size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value += text[j] == 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    if (j >= text.size())
      return false;
    labels[name] = value;
    i = j + 1;
  }
  return true;
}

}  // namespace

// --- metrics_page -------------------------------------------------------------------------------

metrics_page metrics_page::parse(const std::string& text) {
  metrics_page page;
  page.text_ = text;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty())
      continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name, type;
      words >> hash >> kind >> name >> type;
      if (kind == "TYPE")
        page.types_[name] = type;
      continue;
    }
    sample s;
    std::string rest;
    auto brace = line.find('{');
    auto space = line.find(' ');
    if (brace != std::string::npos && (space == std::string::npos || brace < space)) {
      auto close = line.find('}', brace);
      if (close == std::string::npos ||
          !parse_labels(line.substr(brace + 1, close - brace - 1), s.labels)) {
        page.problems_.push_back(line);
        continue;
      }
      s.name = line.substr(0, brace);
      rest = line.substr(close + 1);
    } else if (space != std::string::npos) {
      s.name = line.substr(0, space);
      rest = line.substr(space);
    } else {
      page.problems_.push_back(line);
      continue;
    }
    std::istringstream values(rest);
    std::string value;
    values >> value;
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size()) {
      page.problems_.push_back(line);
      continue;
    }
    page.samples_.push_back(std::move(s));
  }
  return page;
}

std::optional<double> metrics_page::get(const std::string& name,
                                        const std::map<std::string, std::string>& labels) const {
  for (const auto& s : samples_)
    if (s.name == name && s.labels == labels)
      return s.value;
  return std::nullopt;
}

double metrics_page::value(const std::string& name,
                           const std::map<std::string, std::string>& labels) const {
  return get(name, labels).value_or(-1);
}

std::vector<std::pair<std::map<std::string, std::string>, double>> metrics_page::all(
    const std::string& name) const {
  std::vector<std::pair<std::map<std::string, std::string>, double>> out;
  for (const auto& s : samples_)
    if (s.name == name)
      out.emplace_back(s.labels, s.value);
  return out;
}

std::string metrics_page::type_of(const std::string& name) const {
  auto i = types_.find(name);
  return i == types_.end() ? std::string{} : i->second;
}

// --- flashsale-load -----------------------------------------------------------------------------

std::uint64_t load_result::statuses_total() const {
  std::uint64_t n = 0;
  for (const auto& [code, count] : statuses)
    n += count;
  return n;
}

background_load::background_load(std::vector<std::string> args, std::string log_path)
    : log_path_(std::move(log_path)) {
  process_ = std::make_unique<child_process>(FLASHSALE_LOAD_BIN, args, log_path_);
}

bool background_load::trickle_until(const std::function<bool()>& done,
                                    std::chrono::milliseconds timeout) {
  using namespace std::chrono_literals;
  struct run_free {  // however this is left
    child_process& p;
    ~run_free() { p.signal(SIGCONT); }
  } guard{*process_};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    process_->signal(SIGCONT);
    std::this_thread::sleep_for(10ms);
    process_->signal(SIGSTOP);
    auto paused = std::chrono::steady_clock::now();
    if (done())
      return true;
    if (paused >= deadline)
      return false;
    std::this_thread::sleep_until(paused + 90ms);
  }
}

load_result background_load::finish(std::chrono::milliseconds timeout) {
  process_->signal(SIGCONT);
  load_result r;
  int status = process_->wait(static_cast<int>(timeout.count()));
  if (status == -1) {
    process_->signal(SIGKILL);
    process_->wait(10000);
  }
  r.exit_code = exit_code_of(status);
  r.output = read_file(log_path_);
  std::istringstream in(r.output);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "status") {
      int code = 0;
      std::uint64_t n = 0;
      if (words >> code >> n)
        r.statuses[code] = n;
    } else if (key == "requests") {
      words >> r.requests;
    } else if (key == "answered") {
      words >> r.answered;
    } else if (key == "errors") {
      words >> r.errors;
    } else if (key == "tickets") {
      words >> r.tickets;
    } else if (key == "key_prefix") {
      words >> r.key_prefix;
    }
  }
  return r;
}

int run_tool(const std::string& binary, const std::vector<std::string>& args,
             const std::string& log, std::chrono::milliseconds timeout, std::string* output) {
  child_process tool{binary, args, log};
  int status = tool.wait(static_cast<int>(timeout.count()));
  if (status == -1) {
    tool.signal(SIGKILL);
    tool.wait(10000);
  }
  if (output != nullptr)
    *output = read_file(log);
  return exit_code_of(status);
}

bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds period) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (done())
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(period);
  }
}

// --- gateway_fixture ----------------------------------------------------------------------------

void gateway_fixture::start(const gateway_setup& setup) {
  ASSERT_NO_FATAL_FAILURE(create_sale("gw", setup.sale_text, setup.writer, setup.queue_max_length));

  auto amqp_port = std::to_string(amqp_.port);
  if (setup.writer) {
    const auto& server = database_->admin();
    std::vector<std::string> writer_args{"--config-file=config/writer-1.ini",
                                         "--writer.sale-file=" + sale_file_,
                                         "--writer.stats-interval-s=1",
                                         "--db.host=" + server.host,
                                         "--db.port=" + std::to_string(server.port),
                                         "--db.database=" + server.dbname,
                                         "--amqp.host=" + amqp_.host,
                                         "--amqp.port=" + amqp_port,
                                         "--amqp.queue=" + queue_,
                                         "--amqp.dead-letter-queue=" + dead_letter_queue_,
                                         "--zookeeper.hosts=" + zk_->hosts(),
                                         "--zookeeper.root=" + zk_->root()};
    for (auto& arg : writer_credential_args())
      writer_args.push_back(std::move(arg));
    writer_ = std::make_unique<child_process>(FLASHSALE_WRITER_BIN, writer_args,
                                              path_in_dir("writer.log"));
  }
  http_port_ = free_port();
  std::vector<std::string> args{"--config-file=config/gateway-1.ini",
                                "--gateway.sale-file=" + sale_file_,
                                "--gateway.keep-one-in=" + std::to_string(setup.keep_one_in),
                                "--http.port=" + std::to_string(http_port_),
                                "--amqp.host=" + amqp_.host,
                                "--amqp.port=" + amqp_port,
                                "--amqp.queue=" + queue_,
                                "--amqp.dead-letter-queue=" + dead_letter_queue_,
                                "--zookeeper.hosts=" + zk_->hosts(),
                                "--zookeeper.root=" + zk_->root()};
  if (database_) {  // GET /v1/orders looks purchases up in the sale's database
    const auto& server = database_->admin();
    args.insert(args.end(), {"--db.host=" + server.host, "--db.port=" + std::to_string(server.port),
                             "--db.database=" + server.dbname});
  }
  for (auto& arg : gateway_credential_args())
    args.push_back(std::move(arg));
  if (setup.tokens) {
    key_file_ = path_in_dir("buyer-token.key");
    token_key_ = crypto::write_new_key_file(key_file_);
    args.push_back("--auth.key-file=" + key_file_);
  } else {
    args.push_back("--auth.mode=off");
  }
  args.insert(args.end(), setup.gateway_args.begin(), setup.gateway_args.end());
  gateway_ =
      std::make_unique<child_process>(FLASHSALE_GATEWAY_BIN, args, path_in_dir("gateway.log"));
  ASSERT_TRUE(wait_until_healthy(http_port_, 20000)) << gateway_log();
  if (writer_) {
    // The writer consumes the order queue.
    bool consuming = poll_until(
        [&] {
          try {
            return writer_->running() && queue_state_of(amqp_, queue_).consumers >= 1;
          } catch (const amqp::amqp_error&) {
            return false;
          }
        },
        std::chrono::seconds{20});
    ASSERT_TRUE(consuming) << "the writer does not consume " << queue_ << "\n" << writer_log();
  }
  // The only gateway gets the whole stock at the first split.
  for (const auto& p : sale_.products)
    ASSERT_TRUE(wait_until_granted(zk_->session(), *paths_, "gw1", p.id, 10000)) << p.id << "\n"
                                                                                 << gateway_log();
}

void gateway_fixture::TearDown() {
  restore_services();
  gateway_.reset();
  writer_.reset();
  release_sale(HasFailure());
}

http_reply gateway_fixture::request(const std::string& method, const std::string& target,
                                    const std::string& body,
                                    const std::map<std::string, std::string>& headers) {
  try {
    http_client client{http_port_};
    return client.request(method, target, body, headers);
  } catch (const std::exception&) {
    return {};
  }
}

http_reply gateway_fixture::purchase(const std::string& product, const std::string& user) {
  std::map<std::string, std::string> headers;
  if (!key_file_.empty())
    headers["Authorization"] = bearer(user);
  return request("POST", "/v1/products/" + product + "/purchase", "{\"user\":\"" + user + "\"}",
                 headers);
}

std::string gateway_fixture::bearer(const std::string& user, std::int64_t ttl_s) const {
  EXPECT_FALSE(key_file_.empty()) << "bearer() needs a setup with tokens";
  return "Bearer " + issue_buyer_token(token_key_, sale_.name, user, utc_now_ms() / 1000, ttl_s);
}

nlohmann::json gateway_fixture::json_of(const http_reply& reply) {
  return object_of(reply.body);
}

nlohmann::json gateway_fixture::object_of(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::string gateway_fixture::status_of(const http_reply& reply) {
  auto j = json_of(reply);
  if (j.is_object() && j.contains("status") && j["status"].is_string())
    return j["status"].get<std::string>();
  return {};
}

nlohmann::json gateway_fixture::product_state(const std::string& product) {
  auto reply = request("GET", "/v1/products/" + product);
  auto j = json_of(reply);
  EXPECT_EQ(reply.status, 200) << "GET /v1/products/" << product << " -> " << reply.body;
  EXPECT_FALSE(j.empty()) << "GET /v1/products/" << product << " -> " << reply.body;
  return reply.status == 200 ? j : nlohmann::json::object();
}

std::int64_t gateway_fixture::quota_left(const std::string& product) {
  auto j = product_state(product);
  if (!j.contains("quota_left") || !j["quota_left"].is_number_integer()) {
    ADD_FAILURE() << "no integer quota_left in " << j.dump();
    return -1;
  }
  return j["quota_left"].get<std::int64_t>();
}

metrics_page gateway_fixture::scrape() {
  auto reply = request("GET", "/metrics");
  EXPECT_EQ(reply.status, 200) << reply.body;
  auto type = reply.headers["content-type"];
  EXPECT_NE(type.find("text/plain"), std::string::npos) << "Content-Type: " << type;
  EXPECT_NE(type.find("version=0.0.4"), std::string::npos) << "Content-Type: " << type;
  auto page = metrics_page::parse(reply.body);
  EXPECT_TRUE(page.problems().empty()) << "malformed sample lines, the first: "
                                       << (page.problems().empty() ? "" : page.problems()[0]);
  return page;
}

bool gateway_fixture::wait_for_state(const std::string& product, const std::string& state,
                                     std::chrono::milliseconds timeout) {
  return poll_until(
      [&] {
        auto reply = request("GET", "/v1/products/" + product);
        auto j = json_of(reply);
        return reply.status == 200 && j.value("state", "") == state;
      },
      timeout, std::chrono::milliseconds{20});
}

int gateway_fixture::sale_window(const std::string& verb, std::string* output) {
  return run_admin(
      {"sale", verb, "--sale", sale_file_, "--zk", zk_->hosts(), "--zk-root", zk_->root()}, output);
}

load_result gateway_fixture::run_load(const std::vector<std::string>& args,
                                      std::chrono::milliseconds timeout) {
  return start_load(args, "load")->finish(timeout);
}

std::unique_ptr<background_load> gateway_fixture::start_load(const std::vector<std::string>& args,
                                                             const std::string& name) {
  std::vector<std::string> all{"--port", std::to_string(http_port_)};
  if (!key_file_.empty())
    all.insert(all.end(), {"--token-key", key_file_, "--sale", sale_.name});
  all.insert(all.end(), args.begin(), args.end());
  return std::make_unique<background_load>(all, path_in_dir(name + ".log"));
}

std::vector<load_ticket> read_tickets(const std::string& path) {
  std::vector<load_ticket> tickets;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    load_ticket t;
    if (words >> t.ticket >> t.product >> t.user >> t.idempotency_key)
      tickets.push_back(std::move(t));
    else
      ADD_FAILURE() << "unreadable ticket line in " << path << ": " << line;
  }
  return tickets;
}

std::int64_t gateway_fixture::queued_purchases() {
  return flashsale::testing::queued_purchases(amqp_, queue_);
}

std::vector<std::string> gateway_fixture::order_request_ids(const std::string& product) {
  std::vector<std::string> ids;
  std::map<std::string, std::string> products;
  std::map<std::string, int> counts;
  std::string error;
  if (!read_orders(products, counts, &error)) {
    ADD_FAILURE() << "order_request_ids: " << error;
    return ids;
  }
  for (const auto& [id, p] : products)
    if (p == product)
      ids.insert(ids.end(), static_cast<std::size_t>(counts[id]), id);  // a doubled order twice
  return ids;
}

std::optional<std::string> gateway_fixture::settings_znode() {
  auto r = zk_->session().get(paths_->settings());
  if (!r.ok())
    return std::nullopt;
  return r.data;
}

}  // namespace flashsale::testing

// flashsale-load: option parsing, histogram, response scanning, and a short end-to-end run of the
// binary against flashsale::http::server.

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/crypto/key_file.hpp"
#include "adapters/http/server.hpp"
#include "admission/buyer_auth.hpp"
#include "common/utc_time.hpp"
#include "tools/load/load_options.hpp"
#include "tools/load/load_stats.hpp"

namespace {

using namespace flashsale::load;

load_options parse(std::vector<const char*> args) {
  args.insert(args.begin(), "flashsale-load");
  return parse_options(static_cast<int>(args.size()), args.data());
}

TEST(load_options, defaults) {
  auto o = parse({});
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.ports, std::vector<std::uint16_t>{8080});
  EXPECT_EQ(o.requests, 1000u);
  EXPECT_EQ(o.users, 1000u);  // one user per request
  EXPECT_EQ(o.connections, 64);
  EXPECT_EQ(o.threads, 1);
  EXPECT_EQ(o.products, (std::vector<std::string>{"TV", "Phone", "Clothes"}));
  EXPECT_FALSE(o.seed);
  EXPECT_EQ(o.timeout.count(), 10000);
}

TEST(load_options, all_options) {
  auto o = parse({"--host",
                  "10.0.0.1",
                  "--ports",
                  "8080,8081",
                  "--requests",
                  "500",
                  "--users=7",
                  "--connections",
                  "8",
                  "--threads",
                  "2",
                  "--products",
                  "A,B",
                  "--seed",
                  "42",
                  "--tickets-out",
                  "/tmp/x",
                  "--timeout-ms",
                  "250",
                  "--progress",
                  "--key-prefix",
                  "run1"});
  EXPECT_EQ(o.host, "10.0.0.1");
  EXPECT_EQ(o.ports, (std::vector<std::uint16_t>{8080, 8081}));
  EXPECT_EQ(o.requests, 500u);
  EXPECT_EQ(o.users, 7u);
  EXPECT_EQ(o.connections, 8);
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.products, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(o.seed, 42u);
  EXPECT_EQ(o.tickets_out, "/tmp/x");
  EXPECT_EQ(o.timeout.count(), 250);
  EXPECT_TRUE(o.progress);
  EXPECT_EQ(o.key_prefix, "run1");
}

TEST(load_options, gateways_on_several_hosts_give_each_port_its_host) {
  auto o = parse({"--gateways", "10.1.2.10:8080,10.1.2.11:8081"});
  EXPECT_EQ(o.ports, (std::vector<std::uint16_t>{8080, 8081}));
  EXPECT_EQ(o.port_hosts, (std::vector<std::string>{"10.1.2.10", "10.1.2.11"}));
  auto later = parse({"--gateways", "10.1.2.10:8080", "--ports", "9000,9001"});
  EXPECT_TRUE(later.port_hosts.empty()) << "--ports after --gateways names ports on --host";
  EXPECT_THROW(parse({"--gateways", "10.1.2.10:8080,10.1.2.11"}), usage_error);
  EXPECT_THROW(parse({"--gateways", "10.1.2.10:0"}), usage_error);
}

TEST(load_options, bad_command_lines_are_usage_errors) {
  EXPECT_THROW(parse({"--requests", "abc"}), usage_error);
  EXPECT_THROW(parse({"--requests", "0"}), usage_error);
  EXPECT_THROW(parse({"--requests"}), usage_error);
  EXPECT_THROW(parse({"--port", "70000"}), usage_error);
  EXPECT_THROW(parse({"--ports", "8080,,8081"}), usage_error);
  EXPECT_THROW(parse({"--products", "TV,bad/name"}), usage_error);
  EXPECT_THROW(parse({"--connections", "2", "--threads", "4"}), usage_error);
  EXPECT_THROW(parse({"--frobnicate"}), usage_error);
  EXPECT_THROW(parse({"--progress=yes"}), usage_error);
  EXPECT_THROW(parse({"--token-key", "k"}), usage_error) << "a token key needs its sale";
  EXPECT_THROW(parse({"--sale", "s"}), usage_error);
  EXPECT_THROW(parse({"--token-key", "k", "--sale", "s", "--users", "10000001"}), usage_error);
}

TEST(latency_histogram, quantiles_are_close) {
  latency_histogram h;
  for (std::uint64_t v = 1; v <= 10000; ++v)
    h.record(v);
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_EQ(h.max(), 10000u);
  EXPECT_NEAR(h.quantile(0.5), 5000, 5000 * 0.07);
  EXPECT_NEAR(h.quantile(0.99), 9900, 9900 * 0.07);
  EXPECT_LE(h.quantile(1.0), 10000);
  latency_histogram small;
  small.record(3);
  small.merge(h);
  EXPECT_EQ(small.count(), 10001u);
  EXPECT_EQ(latency_histogram().quantile(0.5), 0);
}

TEST(scan_response, complete_incomplete_and_malformed) {
  std::string body = R"({"ticket":"t-9","status":"queued"})";
  std::string one = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\ncontent-length: " +
                    std::to_string(body.size()) + "\r\nConnection: keep-alive\r\n\r\n" + body;
  std::string two = one + "HTTP/1.1 200 OK\r\n";  // r.body points into it
  auto r = scan_response(two);
  ASSERT_EQ(r.result, scanned_response::state::complete);
  EXPECT_EQ(r.status, 202);
  EXPECT_FALSE(r.close);
  EXPECT_EQ(r.total_bytes, one.size());
  EXPECT_EQ(find_ticket(r.body), "t-9");

  EXPECT_EQ(scan_response(one.substr(0, one.size() - 1)).result,
            scanned_response::state::incomplete);
  EXPECT_EQ(scan_response("HTTP/1.1 200 OK\r\nContent-").result,
            scanned_response::state::incomplete);

  auto closing = scan_response("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(closing.result, scanned_response::state::complete);
  EXPECT_TRUE(closing.close);
  EXPECT_EQ(closing.status, 503);
  EXPECT_TRUE(scan_response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").close);

  EXPECT_EQ(scan_response("SMTP 220 hello\r\n\r\n").result, scanned_response::state::malformed);
  EXPECT_EQ(scan_response("HTTP/1.1 2x0 OK\r\n\r\n").result, scanned_response::state::malformed);
  EXPECT_EQ(scan_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").result,
            scanned_response::state::malformed);
  EXPECT_EQ(find_ticket(R"({"status":"queued"})"), "");
  EXPECT_EQ(find_ticket(R"({ "ticket" : "abc" })"), "abc");
}

// ---- the binary against a real server ------------------------------------------------------

struct run_result {
  int exit_code = -1;
  std::map<std::string, std::string> lines;  // first word -> rest ("status 202" -> count)
};

run_result run_load(const std::string& args) {
  std::string command = std::string(FLASHSALE_LOAD_BINARY) + " " + args + " 2>/dev/null";
  run_result result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe)
    return result;
  std::string output;
  char chunk[4096];
  while (auto n = std::fread(chunk, 1, sizeof chunk, pipe))
    output.append(chunk, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    auto space = line.find(' ');
    auto key = line.substr(0, space);
    auto rest = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "status" || key == "error") {  // "status 202 100" -> "status 202" : "100"
      auto second = rest.find(' ');
      key += " " + rest.substr(0, second);
      rest = rest.substr(second + 1);
    }
    result.lines[key] = rest;
  }
  return result;
}

TEST(flashsale_load, counts_every_status_and_writes_tickets) {
  using namespace flashsale::http;
  server srv(server_options{"127.0.0.1", 0}, [](request&& req, std::shared_ptr<responder> reply) {
    response r;
    if (req.target == "/v1/products/TV/purchase") {
      r.status = 202;
      r.body = "{\"ticket\":\"T-" + req.idempotency_key + "\",\"status\":\"queued\"}";
    } else if (req.target == "/v1/products/Phone/purchase") {
      r.status = 429;
      r.body = R"({"error":"shed"})";
    } else {
      r.status = 410;
      r.body = R"({"error":"sold out"})";
    }
    if (req.body.rfind("{\"user\":\"u", 0) != 0 || req.idempotency_key.empty())
      r.status = 400;
    reply->send(std::move(r));
  });
  srv.start();
  std::string tickets = ::testing::TempDir() + "flashsale_load_tickets.txt";
  auto result = run_load("--port " + std::to_string(srv.port()) +
                         " --requests 300 --users 50 --connections 4 --threads 2 --key-prefix k"
                         " --tickets-out " +
                         tickets);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.lines["requests"], "300");
  EXPECT_EQ(result.lines["answered"], "300");
  EXPECT_EQ(result.lines["status 202"], "100");
  EXPECT_EQ(result.lines["status 429"], "100");
  EXPECT_EQ(result.lines["status 410"], "100");
  EXPECT_EQ(result.lines.count("status 400"), 0u);
  EXPECT_EQ(result.lines["errors"], "0");
  EXPECT_EQ(result.lines["tickets"], "100");
  EXPECT_EQ(srv.stats().requests, 300u);

  std::ifstream in(tickets);
  std::string ticket, product, user, key;
  int lines = 0;
  while (in >> ticket >> product >> user >> key) {
    ++lines;
    EXPECT_EQ(product, "TV");
    EXPECT_EQ(ticket, "T-" + key);
    EXPECT_EQ(user.rfind('u', 0), 0u);
    EXPECT_LT(std::stoi(user.substr(1)), 50);
  }
  EXPECT_EQ(lines, 100);
}

TEST(flashsale_load, with_a_token_key_every_request_carries_its_users_token) {
  using namespace flashsale::http;
  std::string key_file = ::testing::TempDir() + "flashsale_load_token.key";
  std::remove(key_file.c_str());
  auto key = flashsale::crypto::write_new_key_file(key_file);
  flashsale::buyer_authenticator auth{"s", {key}};
  server srv(server_options{"127.0.0.1", 0}, [&](request&& req, std::shared_ptr<responder> reply) {
    // 202 only when the token verifies and names the user the body names.
    auto verdict = auth.verify(req.authorization, flashsale::utc_now_ms() / 1000);
    bool agrees = !verdict.refusal && req.body == "{\"user\":\"" + verdict.user + "\"}";
    reply->send(response{
        agrees ? 202 : 401, R"({"ticket":"t","status":"queued"})", "application/json", {}});
  });
  srv.start();
  auto result =
      run_load("--port " + std::to_string(srv.port()) +
               " --requests 200 --users 30 --connections 4 --token-key " + key_file + " --sale s");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.lines["status 202"], "200");
  EXPECT_EQ(result.lines.count("status 401"), 0u);
  auto other_sale = run_load("--port " + std::to_string(srv.port()) +
                             " --requests 10 --token-key " + key_file + " --sale other");
  EXPECT_EQ(other_sale.lines["status 401"], "10") << "the tokens name the sale given";
  std::remove(key_file.c_str());
}

TEST(flashsale_load, unreachable_server_counts_errors_and_exits_1) {
  // Bind a port, then close it: nothing listens there.
  std::uint16_t port;
  {
    using namespace flashsale::http;
    server srv(server_options{"127.0.0.1", 0}, [](request&&, std::shared_ptr<responder>) {});
    srv.start();
    port = srv.port();
  }
  auto result = run_load("--port " + std::to_string(port) + " --requests 20 --connections 2");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.lines["answered"], "0");
  EXPECT_EQ(result.lines["errors"], "20");
  EXPECT_EQ(result.lines["error connect"], "20");
}

TEST(flashsale_load, unanswered_requests_time_out_and_exit_1) {
  using namespace flashsale::http;
  std::mutex mutex;
  std::vector<std::shared_ptr<responder>> held;  // never answered while the tool waits
  server srv(server_options{"127.0.0.1", 0}, [&](request&&, std::shared_ptr<responder> reply) {
    std::lock_guard<std::mutex> lock(mutex);
    held.push_back(std::move(reply));
  });
  srv.start();
  auto result = run_load("--port " + std::to_string(srv.port()) +
                         " --requests 6 --connections 3 --timeout-ms 200");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.lines["answered"], "0");
  EXPECT_EQ(result.lines["error timeout"], "6");
  srv.stop();
  std::lock_guard<std::mutex> lock(mutex);
  held.clear();
}

TEST(flashsale_load, ports_spread_connections_over_gateways) {
  using namespace flashsale::http;
  auto answer = [](request&&, std::shared_ptr<responder> reply) {
    reply->send(response{429, R"({"error":"shed"})", "application/json", {}});
  };
  server a(server_options{"127.0.0.1", 0}, answer);
  server b(server_options{"127.0.0.1", 0}, answer);
  a.start();
  b.start();
  auto result = run_load("--ports " + std::to_string(a.port()) + "," + std::to_string(b.port()) +
                         " --requests 200 --connections 4");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.lines["status 429"], "200");
  EXPECT_EQ(a.stats().connections_accepted, 2u);
  EXPECT_EQ(b.stats().connections_accepted, 2u);
  EXPECT_EQ(a.stats().requests + b.stats().requests, 200u);
  EXPECT_GT(a.stats().requests, 0u);
  EXPECT_GT(b.stats().requests, 0u);
}

TEST(flashsale_load, bad_option_exits_2) {
  EXPECT_EQ(run_load("--requests nope").exit_code, 2);
}

}  // namespace

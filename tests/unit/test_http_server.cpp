// flashsale::http::server over raw TCP sockets: keep-alive, pipelining, limits, deadlines,
// dropped responders, connection cap.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include <gtest/gtest.h>

#include "adapters/http/server.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::http::request;
using flashsale::http::responder;
using flashsale::http::response;
using flashsale::http::server;
using flashsale::http::server_options;

/// Runs tasks on one thread after a delay, like an actor answering later.
class delayed_runner {
 public:
  delayed_runner() : thread_([this] { run(); }) {}
  ~delayed_runner() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void later(std::chrono::milliseconds delay, std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back({std::chrono::steady_clock::now() + delay, std::move(task)});
    }
    cv_.notify_all();
  }

 private:
  struct item {
    std::chrono::steady_clock::time_point at;
    std::function<void()> task;
  };
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return done_ || !tasks_.empty(); });
      if (tasks_.empty())
        return;
      auto next = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      std::this_thread::sleep_until(next.at);
      next.task();
      next.task = nullptr;  // drop captures (responders) on this thread
      lock.lock();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<item> tasks_;
  bool done_ = false;
  std::thread thread_;
};

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Blocking TCP client with a receive timeout.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port, std::chrono::milliseconds timeout = 3000ms) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0)
      throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::system_error(errno, std::generic_category(), "connect");
    set_timeout(timeout);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~raw_client() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  void set_timeout(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  /// Sends everything; false if the peer is gone.
  bool send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      auto n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// Reads one response (Content-Length framed); nullopt on EOF/timeout before it is complete.
  std::optional<http_reply> read_reply() {
    for (;;) {
      auto end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        http_reply reply;
        std::string head = buffer_.substr(0, end);
        auto line_end = head.find("\r\n");
        std::string status_line = head.substr(0, line_end);
        if (status_line.size() < 12 || status_line.compare(0, 9, "HTTP/1.1 ") != 0)
          throw std::runtime_error("bad status line: " + status_line);
        reply.status = std::stoi(status_line.substr(9, 3));
        std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
          auto next = head.find("\r\n", pos);
          if (next == std::string::npos)
            next = head.size();
          auto line = head.substr(pos, next - pos);
          auto colon = line.find(':');
          std::string value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ')
            value.erase(0, 1);
          reply.headers[lower(line.substr(0, colon))] = value;
          pos = next + 2;
        }
        std::size_t length = 0;
        auto cl = reply.headers.find("content-length");
        if (cl != reply.headers.end())
          length = std::stoul(cl->second);
        if (buffer_.size() >= end + 4 + length) {
          reply.body = buffer_.substr(end + 4, length);
          buffer_.erase(0, end + 4 + length);
          return reply;
        }
      }
      if (!fill())
        return std::nullopt;
    }
  }

  /// True if the peer closes (orderly or reset) with no further bytes within the timeout.
  bool closed_without_data() {
    if (!buffer_.empty())
      return false;
    char c;
    auto n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  std::size_t buffered() const { return buffer_.size(); }

 private:
  bool fill() {
    char chunk[4096];
    auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0)
      return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buffer_;
};

std::string post(const std::string& target, const std::string& body,
                 const std::string& extra_headers = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// Server on port 0 with a handler that answers from another thread after a short delay:
///   /echo          -> 200, body echoed, X-Key = Idempotency-Key, X-Method = method
///   /now           -> 200 "now", answered inside the handler
///   /drop          -> responder dropped in the handler -> 500
///   /drop-later    -> responder dropped on the other thread -> 500
///   /hold          -> responder kept in `held` (never answered by the handler)
class http_server_test : public ::testing::Test {
 protected:
  void start(server_options options = {}) {
    options.port = 0;
    srv_ =
        std::make_unique<server>(options, [this](request&& req, std::shared_ptr<responder> reply) {
          handle(std::move(req), std::move(reply));
        });
    srv_->start();
  }
  void TearDown() override {
    if (srv_)
      srv_->stop();
  }

  void handle(request&& req, std::shared_ptr<responder> reply) {
    if (req.target == "/now")
      return reply->send(response{200, "now", "text/plain", {}});
    if (req.target == "/drop")
      return;
    if (req.target == "/drop-later") {
      runner_.later(5ms, [r = std::move(reply)] {});
      return;
    }
    if (req.target == "/hold") {
      std::lock_guard<std::mutex> lock(held_mutex_);
      held_ = std::move(reply);
      return;
    }
    runner_.later(5ms, [reply = std::move(reply), req = std::move(req)]() mutable {
      response r;
      r.body = req.body;
      r.content_type = req.content_type;
      r.headers.emplace_back("X-Key", req.idempotency_key);
      r.headers.emplace_back("X-Method", req.method);
      reply->send(std::move(r));
    });
  }

  std::uint16_t port() const { return srv_->port(); }

  delayed_runner runner_;  // declared before srv_: destroyed after the server
  std::mutex held_mutex_;
  std::shared_ptr<responder> held_;
  std::unique_ptr<server> srv_;
};

TEST_F(http_server_test, keep_alive_serves_two_requests_on_one_connection) {
  start();
  raw_client c(port());
  ASSERT_TRUE(c.send(post("/echo", R"({"user":"u1"})", "Idempotency-Key: k-1\r\n")));
  auto first = c.read_reply();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, R"({"user":"u1"})");
  EXPECT_EQ(first->header("x-key"), "k-1");
  EXPECT_EQ(first->header("x-method"), "POST");
  EXPECT_EQ(first->header("content-type"), "application/json");
  EXPECT_EQ(lower(first->header("connection")), "keep-alive");

  ASSERT_TRUE(c.send(post("/echo", R"({"user":"u2"})", "Idempotency-Key: k-2\r\n")));
  auto second = c.read_reply();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->body, R"({"user":"u2"})");
  EXPECT_EQ(second->header("x-key"), "k-2");

  auto stats = srv_->stats();
  EXPECT_EQ(stats.connections_accepted, 1u);
  EXPECT_EQ(stats.requests, 2u);
}

TEST_F(http_server_test, pipelined_requests_are_answered_in_order) {
  start();
  raw_client c(port());
  ASSERT_TRUE(c.send(post("/echo", "one") + "GET /now HTTP/1.1\r\nHost: t\r\n\r\n" +
                     post("/echo", "three")));
  auto a = c.read_reply();
  auto b = c.read_reply();
  auto d = c.read_reply();
  ASSERT_TRUE(a && b && d);
  EXPECT_EQ(a->body, "one");
  EXPECT_EQ(b->body, "now");
  EXPECT_EQ(d->body, "three");
}

TEST_F(http_server_test, connection_close_is_honoured) {
  start();
  raw_client c(port());
  ASSERT_TRUE(c.send("GET /now HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(lower(r->header("connection")), "close");
  EXPECT_TRUE(c.closed_without_data());
}

TEST_F(http_server_test, http10_without_keep_alive_closes) {
  start();
  raw_client c(port());
  ASSERT_TRUE(c.send("GET /now HTTP/1.0\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(lower(r->header("connection")), "close");
  EXPECT_TRUE(c.closed_without_data());
}

TEST_F(http_server_test, chunked_body_is_decoded) {
  start();
  raw_client c(port());
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello world");
}

TEST_F(http_server_test, expect_continue_gets_100_then_the_answer) {
  start();
  raw_client c(port());
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
             "Content-Length: 4\r\n\r\n"));
  auto interim = c.read_reply();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("data"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "data");
}

TEST_F(http_server_test, malformed_request_line_gets_400_and_close) {
  start();
  raw_client c(port());
  ASSERT_TRUE(c.send("THIS IS NOT HTTP\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(lower(r->header("connection")), "close");
  EXPECT_EQ(r->body.rfind("{\"error\":\"", 0), 0u) << r->body;
  EXPECT_TRUE(c.closed_without_data());
  EXPECT_EQ(srv_->stats().bad_requests, 1u);
}

TEST_F(http_server_test, header_over_limit_gets_431) {
  start();  // max_header_bytes 8192
  raw_client c(port());
  std::string big(9 * 1024, 'a');
  ASSERT_TRUE(c.send("GET /now HTTP/1.1\r\nHost: t\r\nX-Big: " + big + "\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(lower(r->header("connection")), "close");
  EXPECT_NE(r->body.find("header"), std::string::npos);
  EXPECT_TRUE(c.closed_without_data());
}

TEST_F(http_server_test, body_over_limit_by_content_length_gets_413) {
  start();  // max_body_bytes 4096
  raw_client c(port());
  ASSERT_TRUE(c.send(post("/echo", std::string(5000, 'x'))));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(lower(r->header("connection")), "close");
  EXPECT_TRUE(c.closed_without_data());
  EXPECT_EQ(srv_->stats().bodies_too_large, 1u);
}

TEST_F(http_server_test, body_over_limit_when_chunked_gets_413) {
  start();
  raw_client c(port());
  std::string chunk(3000, 'y');
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "bb8\r\n" +
             chunk + "\r\nbb8\r\n" + chunk + "\r\n0\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c.closed_without_data());
}

TEST_F(http_server_test, slow_header_gets_408) {
  server_options options;
  options.header_deadline = 300ms;
  start(options);
  raw_client c(port());
  auto begin = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\n"));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(c.send("X-Slow: 1\r\n"));  // still trickling, never finishes the header
  auto r = c.read_reply();
  auto elapsed = std::chrono::steady_clock::now() - begin;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(lower(r->header("connection")), "close");
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2000ms);
  EXPECT_TRUE(c.closed_without_data());
  EXPECT_EQ(srv_->stats().timeouts, 1u);
}

TEST_F(http_server_test, slow_body_gets_408) {
  server_options options;
  options.header_deadline = 300ms;
  start(options);
  raw_client c(port());
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
}

TEST_F(http_server_test, silent_new_connection_is_closed_without_answer) {
  server_options options;
  options.header_deadline = 200ms;
  start(options);
  raw_client c(port());
  EXPECT_TRUE(c.closed_without_data());
}

TEST_F(http_server_test, idle_keep_alive_connection_is_closed_silently) {
  server_options options;
  options.idle_timeout = 200ms;
  start(options);
  raw_client c(port());
  ASSERT_TRUE(c.send("GET /now HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(lower(r->header("connection")), "keep-alive");
  auto begin = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_without_data());
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 150ms);
}

TEST_F(http_server_test, dropped_responder_answers_500) {
  start();
  raw_client c(port());
  ASSERT_TRUE(c.send("GET /drop HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(lower(r->header("connection")), "keep-alive");

  ASSERT_TRUE(c.send("GET /drop-later HTTP/1.1\r\nHost: t\r\n\r\n"));
  r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(srv_->stats().responders_dropped, 2u);

  ASSERT_TRUE(c.send("GET /now HTTP/1.1\r\nHost: t\r\n\r\n"));  // still usable
  r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(http_server_test, connections_beyond_the_cap_get_503) {
  server_options options;
  options.max_connections = 2;
  start(options);
  auto a = std::make_unique<raw_client>(port());
  raw_client b(port());
  for (auto* c : {a.get(), &b}) {  // both accepted and counted
    ASSERT_TRUE(c->send("GET /now HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(c->read_reply());
  }
  {
    raw_client extra(port());
    auto r = extra.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(lower(r->header("connection")), "close");
    EXPECT_NE(r->body.find("error"), std::string::npos);
    EXPECT_TRUE(extra.closed_without_data());
  }
  EXPECT_EQ(srv_->stats().connections_rejected, 1u);

  a.reset();  // a slot frees up once the server notices the close
  for (int i = 0; i < 100 && srv_->stats().connections_open > 1; ++i)
    std::this_thread::sleep_for(10ms);
  raw_client again(port());
  ASSERT_TRUE(again.send("GET /now HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = again.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(http_server_test, head_response_has_length_but_no_body) {
  start();
  raw_client c(port());
  ASSERT_TRUE(c.send("HEAD /now HTTP/1.1\r\nHost: t\r\n\r\nGET /now HTTP/1.1\r\nHost: t\r\n\r\n"));
  // The HEAD answer says Content-Length: 3 but carries no body, so the 3 "body" bytes this
  // reader takes are the start of the GET answer that follows it.
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"), "3");
  EXPECT_EQ(r->body, "HTT");
}

TEST_F(http_server_test, port_in_use_throws_system_error) {
  start();
  server_options options;
  options.port = port();
  server second(options, [](request&&, std::shared_ptr<responder>) {});
  try {
    second.start();
    FAIL() << "start() on a taken port must throw";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(port())), std::string::npos) << e.what();
  }
}

TEST_F(http_server_test, responder_outliving_the_server_is_harmless) {
  start();
  {
    raw_client c(port());
    ASSERT_TRUE(c.send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"));
    for (int i = 0; i < 200; ++i) {
      std::lock_guard<std::mutex> lock(held_mutex_);
      if (held_)
        break;
      std::this_thread::sleep_for(5ms);
    }
  }
  srv_->stop();
  srv_.reset();
  std::lock_guard<std::mutex> lock(held_mutex_);
  ASSERT_TRUE(held_);
  held_->send(response{});  // no crash, no effect
  held_.reset();
}

TEST(http_server_options, invalid_options_are_refused) {
  server_options options;
  options.io_threads = 0;
  EXPECT_THROW(server(options, [](request&&, std::shared_ptr<responder>) {}),
               std::invalid_argument);
  EXPECT_THROW(server(server_options{}, nullptr), std::invalid_argument);
}

}  // namespace

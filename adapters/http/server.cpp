#include "adapters/http/server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <spdlog/spdlog.h>

namespace flashsale::http {

responder::~responder() = default;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using error_code = boost::system::error_code;
/// Sockets and timers bound to the concrete io_context executor (no type-erased executor).
using socket_type = tcp::socket::rebind_executor<asio::io_context::executor_type>::other;
using timer_type =
    asio::basic_waitable_timer<steady, asio::wait_traits<steady>, asio::io_context::executor_type>;

/// Bytes asked from the socket per read.
constexpr std::size_t read_chunk = 8192;
/// How long a connection we are closing keeps draining input so that our last response is not
/// destroyed by a TCP reset (closing with unread input sends RST).
constexpr std::chrono::milliseconds linger_time{1000};
/// Connections being answered 503 at once; beyond this they are closed without an answer.
constexpr std::size_t max_rejecting = 1024;

constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";

// ---------------------------------------------------------------------------------------------
// Request parser: keeps only the fields the handler needs (no per-field allocation as in
// beast::http::fields). One instance per request; constructing it allocates nothing.

class request_parser final : public bhttp::basic_parser<true> {
 public:
  request_parser(std::size_t max_header, std::size_t max_body) {
    header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(max_header, std::numeric_limits<std::uint32_t>::max())));
    body_limit(static_cast<std::uint64_t>(max_body));
    eager(true);
  }

  request& message() { return req_; }
  bool expects_continue() const { return expect_continue_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target,
                       int version, error_code&) override {
    req_.method.assign(method.data(), method.size());
    req_.target.assign(target.data(), target.size());
    version_ = version;
  }

  void on_response_impl(int, beast::string_view, int, error_code& ec) override {
    ec = bhttp::error::bad_version;  // never called for a request parser
  }

  void on_field_impl(bhttp::field name, beast::string_view name_string, beast::string_view value,
                     error_code&) override {
    switch (name) {
      case bhttp::field::content_type:
        if (req_.content_type.empty())
          req_.content_type.assign(value.data(), value.size());
        break;
      case bhttp::field::expect:
        expect_continue_ = version_ >= 11 && beast::iequals(value, "100-continue");
        break;
      case bhttp::field::unknown:
        if (req_.idempotency_key.empty() && beast::iequals(name_string, "idempotency-key"))
          req_.idempotency_key.assign(value.data(), value.size());
        break;
      default:
        break;
    }
  }

  void on_header_impl(error_code&) override {}

  void on_body_init_impl(boost::optional<std::uint64_t> const& length, error_code&) override {
    if (length)
      req_.body.reserve(static_cast<std::size_t>(*length));  // <= body limit here
  }

  std::size_t on_body_impl(beast::string_view part, error_code&) override {
    req_.body.append(part.data(), part.size());
    return part.size();
  }

  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view part, error_code&) override {
    req_.body.append(part.data(), part.size());
    return part.size();
  }

  void on_finish_impl(error_code&) override {}

  request req_;
  int version_ = 11;
  bool expect_continue_ = false;
};

// ---------------------------------------------------------------------------------------------
// Shared pieces.

struct counters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> rejecting{0};  // 503 answers in progress
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> bodies_too_large{0};
  std::atomic<std::uint64_t> headers_too_large{0};
  std::atomic<std::uint64_t> responders_dropped{0};
};

/// What every connection of one server shares. Immutable after start() except the atomics.
struct shared_state {
  server_options options;
  handler on_request;
  counters stats;
  std::atomic<bool> stopping{false};
};

class connection;

/// One I/O thread with its own io_context: everything of a connection runs on its worker's
/// thread, which is the connection's strand.
struct worker : std::enable_shared_from_this<worker> {
  asio::io_context ctx{1};
  /// Open connections of this worker; touched only on this worker's thread.
  std::vector<std::shared_ptr<connection>> connections;
  std::thread thread;
};

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

std::string_view reason_phrase(int status) {
  auto text = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  if (text.empty() || text.front() == '<')
    return "Unknown";
  return {text.data(), text.size()};
}

bool valid_field_name(const std::string& name) {
  if (name.empty())
    return false;
  for (unsigned char c : name)
    if (c <= 32 || c >= 127 || c == ':')
      return false;
  return true;
}

bool valid_field_value(const std::string& value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

std::string error_body(std::string_view message) {
  std::string body;
  body.reserve(message.size() + 12);
  body += "{\"error\":\"";
  body += message;
  body += "\"}";
  return body;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// ---------------------------------------------------------------------------------------------
// connection: one accepted socket. All members are used on the worker's thread only.

class connection final : public std::enable_shared_from_this<connection> {
 public:
  connection(socket_type socket, worker& owner, std::shared_ptr<shared_state> state, bool reject)
      : socket_(std::move(socket)),
        timer_(owner.ctx),
        owner_(owner),
        state_(std::move(state)),
        buffer_(state_->options.max_header_bytes + state_->options.max_body_bytes + read_chunk),
        rejecting_(reject) {
    error_code ec;
    peer_ = socket_.remote_endpoint(ec);
  }

  /// Registers with the worker and starts reading (or answers 503 when rejecting). Worker thread.
  void start() {
    owner_.connections.push_back(shared_from_this());
    registry_index_ = owner_.connections.size() - 1;
    if (state_->stopping.load())
      return close();
    timer_.expires_at(steady::time_point::max());
    if (rejecting_) {
      spdlog::debug("http: {} rejected with 503, max_connections {} reached", endpoint_text(peer_),
                    state_->options.max_connections);
      return send_error(503, "too many connections");
    }
    phase_ = phase::awaiting;
    set_deadline(steady::now() + state_->options.header_deadline);
    read_more();
  }

  /// Closes the socket at once. Idempotent. Worker thread.
  void close() {
    if (phase_ == phase::closed)
      return;
    phase_ = phase::closed;
    error_code ec;
    socket_.close(ec);
    timer_.cancel();
    if (rejecting_)
      state_->stats.rejecting.fetch_sub(1, std::memory_order_relaxed);
    else
      state_->stats.open.fetch_sub(1, std::memory_order_relaxed);
    auto& list = owner_.connections;
    if (registry_index_ < list.size() && list[registry_index_].get() == this) {
      auto self = std::move(list[registry_index_]);  // keeps *this alive to the end of close()
      if (registry_index_ + 1 != list.size()) {
        list[registry_index_] = std::move(list.back());
        list[registry_index_]->registry_index_ = registry_index_;
      }
      list.pop_back();
    }
  }

  /// Writes the answer to request number `seq` (from a responder). Worker thread.
  void on_response(std::uint64_t seq, response&& r, bool dropped) {
    if (phase_ != phase::handling || seq != seq_)
      return;  // closed meanwhile: nothing to do
    if (dropped) {
      state_->stats.responders_dropped.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("http: responder for {} {} from {} dropped without send(): answered 500",
                    method_, target_, endpoint_text(peer_));
    }
    if (r.status < 200 || r.status > 599) {
      spdlog::error("http: handler answered invalid status {} to {} {}: answered 500", r.status,
                    method_, target_);
      r = response{500, error_body("internal error"), "application/json", {}};
    }
    bool close_after = !keep_alive_ || state_->stopping.load(std::memory_order_relaxed);
    serialize(r, close_after);
    body_ = std::move(r.body);
    bool no_body = is_head_ || r.status == 204 || r.status == 304;
    write_response(close_after, no_body);
  }

 private:
  enum class phase { awaiting, header, body, handling, writing, lingering, closed };

  // -- reading --------------------------------------------------------------------------------

  void read_more() {
    std::size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0)
      return send_error(431, "request header too large");  // defensive
    socket_.async_read_some(
        buffer_.prepare(std::min(room, read_chunk)),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(error_code ec, std::size_t n) {
    if (phase_ == phase::closed)
      return;
    if (timed_out_)
      return answer_timeout();
    if (ec) {
      if (phase_ == phase::header || phase_ == phase::body)
        spdlog::debug("http: {} gone in the middle of a request: {}", endpoint_text(peer_),
                      ec.message());
      return close();
    }
    buffer_.commit(n);
    process();
  }

  /// Parses what the buffer holds; dispatches a complete request or reads more.
  void process() {
    while (buffer_.size() > 0) {
      if (!parser_)
        parser_.emplace(state_->options.max_header_bytes, state_->options.max_body_bytes);
      error_code ec;
      std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more)
        break;
      if (ec)
        return answer_parse_error(ec);
      if (parser_->is_done())
        return dispatch_request();
      if (used == 0)
        break;
    }
    auto now = steady::now();
    if (phase_ == phase::awaiting && parser_ && parser_->got_some()) {
      phase_ = phase::header;  // the first request keeps its deadline counted from the accept
      if (!first_request_)
        set_deadline(now + state_->options.header_deadline);
    }
    if (phase_ == phase::header && parser_ && parser_->is_header_done()) {
      phase_ = phase::body;
      set_deadline(now + state_->options.header_deadline);
    }
    if (phase_ == phase::body && parser_->expects_continue() && !continue_sent_) {
      continue_sent_ = true;
      asio::async_write(socket_, asio::buffer(continue_100.data(), continue_100.size()),
                        [self = shared_from_this()](error_code ec, std::size_t) {
                          if (self->phase_ == phase::closed)
                            return;
                          if (self->timed_out_)
                            return self->answer_timeout();
                          if (ec)
                            return self->close();
                          self->read_more();
                        });
      return;
    }
    read_more();
  }

  void dispatch_request() {
    keep_alive_ = parser_->keep_alive();
    request req = std::move(parser_->message());
    parser_.reset();
    is_head_ = req.method == "HEAD";
    method_.assign(req.method);
    target_.assign(req.target);
    first_request_ = false;
    continue_sent_ = false;
    phase_ = phase::handling;
    deadline_ = steady::time_point::max();  // the application answers; no read deadline now
    ++seq_;
    state_->stats.requests.fetch_add(1, std::memory_order_relaxed);
    auto reply =
        std::make_shared<connection_responder>(owner_.weak_from_this(), weak_from_this(), seq_);
    try {
      state_->on_request(std::move(req), std::move(reply));
    } catch (const std::exception& e) {
      spdlog::error("http: handler threw on {} {}: {}", method_, target_, e.what());
    } catch (...) {
      spdlog::error("http: handler threw a non-exception on {} {}", method_, target_);
    }
  }

  void answer_parse_error(error_code ec) {
    if (ec == bhttp::error::header_limit) {
      state_->stats.headers_too_large.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("http: {}: header over {} bytes: 431", endpoint_text(peer_),
                    state_->options.max_header_bytes);
      return send_error(431, "request header too large");
    }
    if (ec == bhttp::error::body_limit) {
      state_->stats.bodies_too_large.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("http: {}: body over {} bytes: 413", endpoint_text(peer_),
                    state_->options.max_body_bytes);
      return send_error(413, "request body too large");
    }
    state_->stats.bad_requests.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("http: {}: malformed request: {}: 400", endpoint_text(peer_), ec.message());
    send_error(400, "malformed request: " + ec.message());
  }

  void answer_timeout() {
    timed_out_ = false;
    state_->stats.timeouts.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("http: {}: request not received within {} ms: 408", endpoint_text(peer_),
                  state_->options.header_deadline.count());
    send_error(408, "request timeout");
  }

  // -- writing --------------------------------------------------------------------------------

  /// Answers with a server-made error and closes. Called only when no read or write is pending.
  void send_error(int status, std::string message) {
    keep_alive_ = false;
    is_head_ = false;
    response r{status, error_body(message), "application/json", {}};
    bool close_after = true;
    serialize(r, close_after);
    body_ = std::move(r.body);
    write_response(true, false);
  }

  void serialize(const response& r, bool& close_after) {
    head_.clear();
    head_ += "HTTP/1.1 ";
    append_number(head_, static_cast<std::uint64_t>(r.status));
    head_ += ' ';
    head_ += reason_phrase(r.status);
    head_ += "\r\n";
    if (!r.content_type.empty() && valid_field_value(r.content_type)) {
      head_ += "Content-Type: ";
      head_ += r.content_type;
      head_ += "\r\n";
    }
    for (const auto& [name, value] : r.headers) {
      if (!valid_field_name(name) || !valid_field_value(value)) {
        spdlog::error("http: dropped invalid response header '{}' for {} {}", name, method_,
                      target_);
        continue;
      }
      if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding"))
        continue;
      if (beast::iequals(name, "connection")) {
        if (beast::iequals(value, "close"))
          close_after = true;
        continue;
      }
      head_ += name;
      head_ += ": ";
      head_ += value;
      head_ += "\r\n";
    }
    if (r.status != 204 && r.status != 304) {
      head_ += "Content-Length: ";
      append_number(head_, r.body.size());
      head_ += "\r\n";
    }
    head_ += close_after ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
  }

  void write_response(bool close_after, bool no_body) {
    phase_ = phase::writing;
    set_deadline(steady::now() + (rejecting_ ? linger_time : state_->options.idle_timeout));
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_),
                                              no_body ? asio::const_buffer() : asio::buffer(body_)};
    asio::async_write(socket_, buffers,
                      [self = shared_from_this(), close_after](error_code ec, std::size_t) {
                        self->on_written(ec, close_after);
                      });
  }

  void on_written(error_code ec, bool close_after) {
    if (phase_ == phase::closed)
      return;
    if (ec) {
      spdlog::debug("http: {}: writing the response failed: {}", endpoint_text(peer_),
                    ec.message());
      return close();
    }
    if (close_after)
      return linger_close();
    body_.clear();
    phase_ = phase::awaiting;
    set_deadline(steady::now() + state_->options.idle_timeout);
    if (buffer_.size() > 0)
      return process();  // a pipelined request is already here
    read_more();
  }

  /// Half-closes, then drains input until the peer closes or linger_time passes.
  void linger_close() {
    phase_ = phase::lingering;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec)
      return close();
    buffer_.clear();
    set_deadline(steady::now() + linger_time);
    drain();
  }

  void drain() {
    socket_.async_read_some(buffer_.prepare(read_chunk),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (self->phase_ == phase::closed)
                                return;
                              if (ec)
                                return self->close();
                              self->drain();
                            });
  }

  // -- deadline -------------------------------------------------------------------------------
  // One timer per connection, moved lazily: a later deadline only updates deadline_ (the timer
  // re-arms itself when it fires early), an earlier one re-arms the timer.

  void set_deadline(steady::time_point when) {
    deadline_ = when;
    if (when < timer_.expiry()) {
      timer_.expires_at(when);
      arm_timer();
    }
  }

  void arm_timer() {
    timer_.async_wait([self = shared_from_this()](error_code ec) { self->on_timer(ec); });
  }

  void on_timer(error_code ec) {
    if (ec == asio::error::operation_aborted || phase_ == phase::closed)
      return;
    if (steady::now() < deadline_) {
      timer_.expires_at(deadline_);
      arm_timer();
      return;
    }
    switch (phase_) {
      case phase::awaiting:  // idle keep-alive, or a new connection that never sent a byte
        spdlog::debug("http: {}: idle, closed", endpoint_text(peer_));
        return close();
      case phase::header:
      case phase::body: {  // the pending read completes with operation_aborted and answers 408
        timed_out_ = true;
        error_code ignored;
        socket_.cancel(ignored);
        return;
      }
      case phase::writing:
        spdlog::debug("http: {}: client does not read the response, closed", endpoint_text(peer_));
        return close();
      case phase::lingering:
        return close();
      case phase::handling:
      case phase::closed:
        return;
    }
  }

  // -- responder ------------------------------------------------------------------------------

  /// Posts the response to the connection's worker. Holds only weak references, so it may
  /// outlive the connection and the server.
  class connection_responder final : public responder {
   public:
    connection_responder(std::weak_ptr<worker> owner, std::weak_ptr<connection> conn,
                         std::uint64_t seq)
        : owner_(std::move(owner)), conn_(std::move(conn)), seq_(seq) {}

    ~connection_responder() override {
      if (done_.load(std::memory_order_relaxed))
        return;
      try {
        deliver(
            response{500, error_body("internal error: request dropped"), "application/json", {}},
            true);
      } catch (const std::exception& e) {
        spdlog::error("http: answering a dropped request failed: {}", e.what());
      }
    }

    void send(response r) override {
      if (done_.exchange(true)) {
        spdlog::error("http: responder::send() called twice (status {}): ignored", r.status);
        return;
      }
      deliver(std::move(r), false);
    }

   private:
    void deliver(response&& r, bool dropped) {
      auto owner = owner_.lock();
      if (!owner)
        return;  // the server is gone
      asio::dispatch(owner->ctx.get_executor(),
                     [conn = conn_, seq = seq_, r = std::move(r), dropped]() mutable {
                       if (auto c = conn.lock())
                         c->on_response(seq, std::move(r), dropped);
                     });
    }

    std::weak_ptr<worker> owner_;
    std::weak_ptr<connection> conn_;
    std::uint64_t seq_;
    std::atomic<bool> done_{false};
  };

  socket_type socket_;
  timer_type timer_;
  worker& owner_;
  std::shared_ptr<shared_state> state_;
  tcp::endpoint peer_;
  beast::flat_buffer buffer_;             // reused for every request of the connection
  std::optional<request_parser> parser_;  // the request being parsed
  std::string head_;                      // serialized response header, reused
  std::string body_;                      // response body being written
  std::string method_;                    // of the request being handled, for logs
  std::string target_;
  steady::time_point deadline_{};
  std::size_t registry_index_ = 0;
  std::uint64_t seq_ = 0;
  phase phase_ = phase::awaiting;
  bool rejecting_;
  bool first_request_ = true;
  bool keep_alive_ = true;
  bool is_head_ = false;
  bool timed_out_ = false;
  bool continue_sent_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// server

struct server::impl : std::enable_shared_from_this<server::impl> {
  std::shared_ptr<shared_state> state;
  std::vector<std::shared_ptr<worker>> workers;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::optional<tcp::acceptor> acceptor;           // used on workers[0]'s thread
  std::optional<asio::steady_timer> accept_retry;  // after EMFILE and the like
  std::size_t next_worker = 0;                     // acceptor thread only
  std::atomic<std::uint16_t> bound_port{0};
  bool started = false;
  bool stopped = false;

  void do_accept() {
    auto& target = *workers[next_worker];
    next_worker = (next_worker + 1) % workers.size();
    acceptor->async_accept(target.ctx,
                           [self = shared_from_this(), &target](error_code ec, socket_type socket) {
                             self->on_accept(ec, std::move(socket), target);
                           });
  }

  void on_accept(error_code ec, socket_type socket, worker& target) {
    if (state->stopping.load())
      return;
    if (ec) {
      if (ec == asio::error::operation_aborted)
        return;
      bool resources = ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
                       ec == asio::error::no_memory || ec.value() == ENFILE;
      spdlog::error("http: accept failed: {}{}", ec.message(),
                    resources ? " (retrying in 50 ms)" : "");
      if (!resources)
        return do_accept();
      accept_retry->expires_after(std::chrono::milliseconds(50));
      accept_retry->async_wait([self = shared_from_this()](error_code wait_ec) {
        if (!wait_ec && !self->state->stopping.load())
          self->do_accept();
      });
      return;
    }
    auto& stats = state->stats;
    stats.accepted.fetch_add(1, std::memory_order_relaxed);
    bool reject = stats.open.load(std::memory_order_relaxed) >= state->options.max_connections;
    if (reject) {
      auto n = stats.rejected.fetch_add(1, std::memory_order_relaxed);
      if (n % 1000 == 0)
        spdlog::warn("http: max_connections {} reached: answering 503 ({} so far)",
                     state->options.max_connections, n + 1);
      if (stats.rejecting.load(std::memory_order_relaxed) >= max_rejecting) {
        error_code ignored;
        socket.close(ignored);  // too many 503s in flight: close without an answer
        return do_accept();
      }
      stats.rejecting.fetch_add(1, std::memory_order_relaxed);
    } else {
      stats.open.fetch_add(1, std::memory_order_relaxed);
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
    }
    auto conn = std::make_shared<connection>(std::move(socket), target, state, reject);
    asio::post(target.ctx, [conn] { conn->start(); });
    do_accept();
  }
};

server::server(server_options options, handler on_request) : impl_(std::make_shared<impl>()) {
  if (!on_request)
    throw std::invalid_argument("flashsale::http::server: empty handler");
  if (options.io_threads < 1 || options.io_threads > 256)
    throw std::invalid_argument("flashsale::http::server: io_threads must be 1..256");
  if (options.max_header_bytes < 64 || options.max_header_bytes > (1u << 24))
    throw std::invalid_argument("flashsale::http::server: max_header_bytes must be 64..16 MiB");
  if (options.max_body_bytes > (std::size_t{1} << 30))
    throw std::invalid_argument("flashsale::http::server: max_body_bytes must be <= 1 GiB");
  if (options.max_connections < 1)
    throw std::invalid_argument("flashsale::http::server: max_connections must be >= 1");
  if (options.header_deadline.count() <= 0 || options.idle_timeout.count() <= 0)
    throw std::invalid_argument("flashsale::http::server: deadlines must be positive");
  impl_->state = std::make_shared<shared_state>();
  impl_->state->options = std::move(options);
  impl_->state->on_request = std::move(on_request);
}

server::~server() {
  try {
    stop();
  } catch (const std::exception& e) {
    spdlog::error("http: stopping the server in its destructor failed: {}", e.what());
  }
}

void server::start() {
  auto& d = *impl_;
  if (d.started)
    throw std::logic_error("flashsale::http::server::start() called twice");
  const auto& opt = d.state->options;
  std::string where = opt.address + ":" + std::to_string(opt.port);
  error_code ec;
  auto address = asio::ip::make_address(opt.address, ec);
  if (ec)
    throw std::system_error(ec, "flashsale::http: bad listen address '" + opt.address + "'");

  for (int i = 0; i < opt.io_threads; ++i)
    d.workers.push_back(std::make_shared<worker>());
  auto& first = d.workers.front()->ctx;
  d.acceptor.emplace(first);
  d.accept_retry.emplace(first);
  tcp::endpoint endpoint(address, opt.port);
  auto fail = [&](const char* step) {
    error_code ignored;
    d.acceptor->close(ignored);
    d.acceptor.reset();
    d.accept_retry.reset();
    d.workers.clear();
    spdlog::error("http: cannot listen on {}: {} failed: {}", where, step, ec.message());
    throw std::system_error(ec, "flashsale::http: cannot listen on " + where + " (" + step + ")");
  };
  d.acceptor->open(endpoint.protocol(), ec);
  if (ec)
    fail("open");
  d.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (ec)
    fail("setsockopt");
  d.acceptor->bind(endpoint, ec);
  if (ec)
    fail("bind");
  d.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    fail("listen");
  d.bound_port = d.acceptor->local_endpoint(ec).port();

  d.started = true;
  for (auto& w : d.workers)
    d.guards.push_back(asio::make_work_guard(w->ctx));
  asio::post(first, [self = impl_] { self->do_accept(); });
  for (auto& w : d.workers) {
    w->thread = std::thread([w = w.get()] {
      for (;;) {
        try {
          w->ctx.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: I/O thread caught an exception: {}", e.what());
        }
      }
    });
  }
  spdlog::info("http: listening on {}:{} with {} I/O threads", opt.address, d.bound_port.load(),
               opt.io_threads);
}

std::uint16_t server::port() const {
  return impl_->bound_port.load();
}

void server::stop() {
  auto& d = *impl_;
  if (!d.started || d.stopped)
    return;
  for (auto& w : d.workers)
    if (w->thread.get_id() == std::this_thread::get_id())
      throw std::logic_error("flashsale::http::server::stop() called from an I/O thread");
  d.stopped = true;
  d.state->stopping.store(true);
  asio::post(d.workers.front()->ctx, [self = impl_] {
    error_code ignored;
    self->acceptor->close(ignored);
    self->accept_retry->cancel();
  });
  for (auto& w : d.workers) {
    asio::post(w->ctx, [w = w.get()] {
      auto open = std::move(w->connections);  // close() unregisters; keep them alive here
      w->connections.clear();
      for (auto& c : open)
        c->close();
    });
  }
  d.guards.clear();
  for (auto& w : d.workers)
    if (w->thread.joinable())
      w->thread.join();
  d.acceptor.reset();
  d.accept_retry.reset();
  spdlog::info("http: server on port {} stopped", d.bound_port.load());
}

server_stats server::stats() const {
  const auto& c = impl_->state->stats;
  auto get = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  server_stats s;
  s.connections_accepted = get(c.accepted);
  s.connections_open = get(c.open);
  s.connections_rejected = get(c.rejected);
  s.requests = get(c.requests);
  s.bad_requests = get(c.bad_requests);
  s.timeouts = get(c.timeouts);
  s.bodies_too_large = get(c.bodies_too_large);
  s.headers_too_large = get(c.headers_too_large);
  s.responders_dropped = get(c.responders_dropped);
  return s;
}

}  // namespace flashsale::http

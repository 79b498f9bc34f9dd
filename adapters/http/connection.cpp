#include "adapters/http/connection.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <string_view>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <spdlog/spdlog.h>

namespace flashsale::http::detail {

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

/// Bytes asked from the socket per read.
constexpr std::size_t read_chunk = 8192;
/// How long a connection we are closing keeps draining input so that our last response is not
/// destroyed by a TCP reset (closing with unread input sends RST).
constexpr std::chrono::milliseconds linger_time{1000};

constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";

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
      deliver(response{500, error_body("internal error: request dropped"), "application/json", {}},
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

}  // namespace

bool address_slots::try_take(const std::string& address, std::size_t cap) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& n = open_[address];
  if (n >= cap)
    return false;
  ++n;
  return true;
}

void address_slots::give_back(const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = open_.find(address);
  if (it != open_.end() && --it->second == 0)
    open_.erase(it);
}

connection::connection(socket_type socket, worker& owner, std::shared_ptr<shared_state> state,
                       refusal reject, tcp::endpoint peer, std::string address,
                       bool holds_address_slot)
    : socket_(std::move(socket)),
      timer_(owner.ctx),
      owner_(owner),
      state_(std::move(state)),
      peer_(std::move(peer)),
      address_(std::move(address)),
      buffer_(state_->options.max_header_bytes + state_->options.max_body_bytes + read_chunk),
      rejecting_(reject),
      holds_address_slot_(holds_address_slot) {}

/// Registers with the worker and starts reading (or answers 503 when rejecting). Worker thread.
void connection::start() {
  owner_.connections.push_back(shared_from_this());
  registry_index_ = owner_.connections.size() - 1;
  if (state_->stopping.load())
    return close();
  timer_.expires_at(steady::time_point::max());
  if (rejecting_ == refusal::server_full) {
    spdlog::debug("http: {} rejected with 503, max_connections {} reached", endpoint_text(peer_),
                  state_->options.max_connections);
    return send_error(503, "too many connections");
  }
  if (rejecting_ == refusal::address_full) {
    spdlog::debug("http: {} rejected with 429, max_connections_per_address {} reached",
                  endpoint_text(peer_), state_->options.max_connections_per_address);
    return send_error(429, "too many connections from this address");
  }
  phase_ = phase::awaiting;
  set_deadline(steady::now() + state_->options.header_deadline);
  read_more();
}

/// Closes the socket at once. Idempotent. Worker thread.
void connection::close() {
  if (phase_ == phase::closed)
    return;
  phase_ = phase::closed;
  error_code ec;
  socket_.close(ec);
  timer_.cancel();
  if (rejecting_ != refusal::none)
    state_->stats.rejecting.fetch_sub(1, std::memory_order_relaxed);
  else
    state_->stats.open.fetch_sub(1, std::memory_order_relaxed);
  if (holds_address_slot_)
    state_->per_address.give_back(address_);
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
void connection::on_response(std::uint64_t seq, response&& r, bool dropped) {
  if (phase_ != phase::handling || seq != seq_)
    return;  // closed meanwhile: nothing to do
  if (dropped) {
    state_->stats.responders_dropped.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("http: responder for {} {} from {} dropped without send(): answered 500", method_,
                  target_, endpoint_text(peer_));
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

// -- reading --------------------------------------------------------------------------------

void connection::read_more() {
  std::size_t room = buffer_.max_size() - buffer_.size();
  if (room == 0)
    return send_error(431, "request header too large");  // defensive
  socket_.async_read_some(
      buffer_.prepare(std::min(room, read_chunk)),
      [self = shared_from_this()](error_code ec, std::size_t n) { self->on_read(ec, n); });
}

void connection::on_read(error_code ec, std::size_t n) {
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
void connection::process() {
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

void connection::dispatch_request() {
  keep_alive_ = parser_->keep_alive();
  request req = std::move(parser_->message());
  req.peer = address_;
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

void connection::answer_parse_error(error_code ec) {
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

void connection::answer_timeout() {
  timed_out_ = false;
  state_->stats.timeouts.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("http: {}: request not received within {} ms: 408", endpoint_text(peer_),
                state_->options.header_deadline.count());
  send_error(408, "request timeout");
}

// -- writing --------------------------------------------------------------------------------

/// Answers with a server-made error and closes. Called only when no read or write is pending.
void connection::send_error(int status, std::string message) {
  keep_alive_ = false;
  is_head_ = false;
  response r{status, error_body(message), "application/json", {}};
  bool close_after = true;
  serialize(r, close_after);
  body_ = std::move(r.body);
  write_response(true, false);
}

void connection::serialize(const response& r, bool& close_after) {
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
      spdlog::error("http: dropped invalid response header '{}' for {} {}", name, method_, target_);
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

void connection::write_response(bool close_after, bool no_body) {
  phase_ = phase::writing;
  set_deadline(steady::now() +
               (rejecting_ != refusal::none ? linger_time : state_->options.idle_timeout));
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head_),
                                            no_body ? asio::const_buffer() : asio::buffer(body_)};
  asio::async_write(socket_, buffers,
                    [self = shared_from_this(), close_after](error_code ec, std::size_t) {
                      self->on_written(ec, close_after);
                    });
}

void connection::on_written(error_code ec, bool close_after) {
  if (phase_ == phase::closed)
    return;
  if (ec) {
    spdlog::debug("http: {}: writing the response failed: {}", endpoint_text(peer_), ec.message());
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
void connection::linger_close() {
  phase_ = phase::lingering;
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec)
    return close();
  buffer_.clear();
  set_deadline(steady::now() + linger_time);
  drain();
}

void connection::drain() {
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

void connection::set_deadline(steady::time_point when) {
  deadline_ = when;
  if (when < timer_.expiry()) {
    timer_.expires_at(when);
    arm_timer();
  }
}

void connection::arm_timer() {
  timer_.async_wait([self = shared_from_this()](error_code ec) { self->on_timer(ec); });
}

void connection::on_timer(error_code ec) {
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

}  // namespace flashsale::http::detail

#include "adapters/http/server.hpp"

#include <atomic>
#include <cerrno>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "adapters/http/connection.hpp"

namespace flashsale::http {

responder::~responder() = default;

namespace asio = boost::asio;
using detail::connection;
using detail::error_code;
using detail::shared_state;
using detail::socket_type;
using detail::tcp;
using detail::worker;

namespace {

/// Connections being answered 503 at once; beyond this they are closed without an answer.
constexpr std::size_t max_rejecting = 1024;

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
    error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    auto address = peer.address().to_string();
    auto reject = detail::refusal::none;
    bool slot = false;
    const auto& opts = state->options;
    if (stats.open.load(std::memory_order_relaxed) >= opts.max_connections) {
      reject = detail::refusal::server_full;
      auto n = stats.rejected.fetch_add(1, std::memory_order_relaxed);
      if (n % 1000 == 0)
        spdlog::warn("http: max_connections {} reached: answering 503 ({} so far)",
                     opts.max_connections, n + 1);
    } else if (opts.max_connections_per_address > 0) {
      slot = state->per_address.try_take(address, opts.max_connections_per_address);
      if (!slot) {
        reject = detail::refusal::address_full;
        auto n = stats.rejected_per_address.fetch_add(1, std::memory_order_relaxed);
        if (n % 1000 == 0)
          spdlog::warn(
              "http: {} has max_connections_per_address {} open: answering 429 ({} so far)",
              address, opts.max_connections_per_address, n + 1);
      }
    }
    if (reject != detail::refusal::none) {
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
    auto conn = std::make_shared<connection>(std::move(socket), target, state, reject, peer,
                                             std::move(address), slot);
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
  s.connections_rejected_per_address = get(c.rejected_per_address);
  s.requests = get(c.requests);
  s.bad_requests = get(c.bad_requests);
  s.timeouts = get(c.timeouts);
  s.bodies_too_large = get(c.bodies_too_large);
  s.headers_too_large = get(c.headers_too_large);
  s.responders_dropped = get(c.responders_dropped);
  return s;
}

}  // namespace flashsale::http

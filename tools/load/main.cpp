// flashsale-load: closed-loop HTTP load generator for the gateway's purchase API.
// Each thread runs its own io_context with its share of the connections; each connection sends
// one request, reads the answer, and takes the next request index from a shared counter.

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "adapters/http/io_types.hpp"
#include "common/open_files.hpp"
#include "common/utc_time.hpp"
#include "tools/load/load_options.hpp"
#include "tools/load/load_stats.hpp"
#include "tools/load/token_table.hpp"

namespace flashsale::load {
namespace {

using namespace flashsale::http::io;  // asio, tcp, steady, error_code, socket_type, timer_type

enum class error_kind { connect, timeout, transport, protocol };
constexpr std::array<const char*, 4> error_names{"connect", "timeout", "transport", "protocol"};
constexpr int max_status = 1000;

/// State shared by all threads. Counters are relaxed atomics (read by the progress line).
struct run_state {
  explicit run_state(load_options o) : options(std::move(o)) {}

  load_options options;
  std::vector<tcp::endpoint> endpoints;  // one per port
  std::vector<std::string>
      request_heads;  // [product * ports + port]: up to "Idempotency-Key: <prefix>-"
  std::string key_prefix;
  std::unique_ptr<token_table> tokens;  ///< none: no Authorization header
  std::atomic<std::uint64_t> next_request{0};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> answered{0};
  std::atomic<std::int64_t> last_accepted_ms{0};  // wall clock of the latest 202 (ms since epoch)
  std::int64_t started_ms = 0;                    // wall clock when the first request went out
  std::array<std::atomic<std::uint64_t>, max_status> status{};
  std::array<std::atomic<std::uint64_t>, 4> errors{};
  std::array<std::atomic<bool>, 4> error_logged{};

  std::size_t product_of(std::uint64_t i) const {
    auto n = options.products.size();
    if (!options.seed)
      return static_cast<std::size_t>(i % n);
    std::uint64_t z = *options.seed + (i + 1) * 0x9e3779b97f4a7c15ULL;  // splitmix64
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<std::size_t>(z % n);
  }
  std::uint64_t user_of(std::uint64_t i) const { return i % options.users; }

  void count_error(error_kind kind, std::uint64_t request, const std::string& detail) {
    auto k = static_cast<std::size_t>(kind);
    errors[k].fetch_add(1, std::memory_order_relaxed);
    if (!error_logged[k].exchange(true))  // the first of each kind with its context; all counted
      spdlog::warn("load: first {} error (request {}): {}", error_names[k], request, detail);
  }
};

void append_number(std::string& out, std::uint64_t v) {
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, r.ptr);
}

class thread_runner;

/// One keep-alive connection: at most one request in flight. Runs on its runner's thread.
class client_connection {
 public:
  client_connection(thread_runner& runner, run_state& run, std::size_t port_index);
  void start() { next_request(); }
  /// Called by the runner's periodic scan: aborts the request in flight if it is overdue.
  void check_timeout(steady::time_point now);
  bool finished() const { return finished_; }

 private:
  void next_request();
  void connect();
  void send();
  void read();
  void on_read(error_code ec, std::size_t n);
  void fail(error_kind kind, const std::string& detail);
  void record(const scanned_response& r);

  thread_runner& runner_;
  run_state& run_;
  std::size_t port_index_;
  socket_type socket_;
  std::string out_;       // request bytes, rebuilt in place
  std::vector<char> in_;  // response bytes
  std::size_t in_len_ = 0;
  std::uint64_t current_ = 0;
  steady::time_point sent_at_{};
  bool in_flight_ = false;
  bool timed_out_ = false;
  bool finished_ = false;
};

/// One thread: an io_context, its connections, its histogram and tickets.
class thread_runner {
 public:
  thread_runner(run_state& run, std::vector<std::size_t> port_indexes)
      : run_(run), scan_timer_(ctx_) {
    for (auto p : port_indexes)
      connections_.push_back(std::make_unique<client_connection>(*this, run, p));
  }

  void run() {
    active_ = connections_.size();
    if (active_ == 0)
      return;
    for (auto& c : connections_)
      c->start();
    arm_scan();
    ctx_.run();
  }

  asio::io_context& context() { return ctx_; }
  latency_histogram& histogram() { return histogram_; }
  std::vector<std::string>& tickets() { return tickets_; }
  std::uint64_t unparsed_tickets = 0;

  void connection_finished() {
    if (--active_ == 0)
      scan_timer_.cancel();
  }

 private:
  void arm_scan() {
    auto period = std::clamp<std::chrono::milliseconds>(
        run_.options.timeout / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(100));
    scan_timer_.expires_after(period);
    scan_timer_.async_wait([this](error_code ec) {
      if (ec || active_ == 0)
        return;
      auto now = steady::now();
      for (auto& c : connections_)
        c->check_timeout(now);
      arm_scan();
    });
  }

  run_state& run_;
  asio::io_context ctx_{1};
  timer_type scan_timer_;
  std::vector<std::unique_ptr<client_connection>> connections_;
  std::size_t active_ = 0;
  latency_histogram histogram_;
  std::vector<std::string> tickets_;
};

client_connection::client_connection(thread_runner& runner, run_state& run, std::size_t port_index)
    : runner_(runner), run_(run), port_index_(port_index), socket_(runner.context()) {
  out_.reserve(512);
  in_.resize(16 * 1024);
}

void client_connection::check_timeout(steady::time_point now) {
  if (!in_flight_ || timed_out_ || now - sent_at_ < run_.options.timeout)
    return;
  timed_out_ = true;  // the pending operation completes with operation_aborted
  error_code ignored;
  socket_.close(ignored);
}

void client_connection::next_request() {
  auto i = run_.next_request.fetch_add(1, std::memory_order_relaxed);
  if (i >= run_.options.requests) {
    finished_ = true;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    runner_.connection_finished();
    return;
  }
  current_ = i;
  in_flight_ = true;
  sent_at_ = steady::now();
  if (!socket_.is_open())
    return connect();
  send();
}

void client_connection::connect() {
  in_len_ = 0;
  socket_.async_connect(run_.endpoints[port_index_], [this](error_code ec) {
    if (timed_out_)
      return fail(error_kind::timeout, "connect timed out");
    if (ec) {
      auto& ep = run_.endpoints[port_index_];
      return fail(error_kind::connect, fmt::format("connect to {}:{}: {}", ep.address().to_string(),
                                                   ep.port(), ec.message()));
    }
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    send();
  });
}

void client_connection::send() {
  auto i = current_;
  auto product = run_.product_of(i);
  out_.clear();
  out_ += run_.request_heads[product * run_.endpoints.size() + port_index_];
  append_number(out_, i);
  auto user = run_.user_of(i);
  out_ += "\r\n";
  if (run_.tokens)
    out_ += run_.tokens->header(user);
  out_ += "Content-Length: ";
  char digits[24];
  auto user_end = std::to_chars(digits, digits + sizeof digits, user).ptr;
  std::size_t body_len = 12 + static_cast<std::size_t>(user_end - digits);  // {"user":"u"}
  append_number(out_, body_len);
  out_ += "\r\n\r\n{\"user\":\"u";
  out_.append(digits, user_end);
  out_ += "\"}";
  sent_at_ = steady::now();
  run_.sent.fetch_add(1, std::memory_order_relaxed);
  asio::async_write(socket_, asio::buffer(out_), [this](error_code ec, std::size_t) {
    if (timed_out_)
      return fail(error_kind::timeout, "no answer in time (while sending)");
    if (ec)
      return fail(error_kind::transport, "send: " + ec.message());
    read();
  });
}

void client_connection::read() {
  if (in_len_ == in_.size())
    in_.resize(in_.size() * 2);
  socket_.async_read_some(asio::buffer(in_.data() + in_len_, in_.size() - in_len_),
                          [this](error_code ec, std::size_t n) { on_read(ec, n); });
}

void client_connection::on_read(error_code ec, std::size_t n) {
  if (timed_out_)
    return fail(error_kind::timeout, "no answer in time");
  if (ec) {
    return fail(error_kind::transport, ec == asio::error::eof
                                           ? std::string("connection closed before the answer")
                                           : "receive: " + ec.message());
  }
  in_len_ += n;
  auto r = scan_response(std::string_view(in_.data(), in_len_));
  if (r.result == scanned_response::state::malformed)
    return fail(error_kind::protocol, r.problem);
  if (r.result == scanned_response::state::incomplete)
    return read();
  if (r.status < 200) {  // interim answer (100 Continue): drop it, keep reading
    std::copy(in_.begin() + static_cast<std::ptrdiff_t>(r.total_bytes),
              in_.begin() + static_cast<std::ptrdiff_t>(in_len_), in_.begin());
    in_len_ -= r.total_bytes;
    return on_read({}, 0);
  }
  record(r);
  bool extra = in_len_ > r.total_bytes;  // bytes nobody asked for: resynchronise
  in_len_ = 0;
  in_flight_ = false;
  if (r.close || extra) {
    error_code ignored;
    socket_.close(ignored);
  }
  next_request();
}

void client_connection::record(const scanned_response& r) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - sent_at_);
  runner_.histogram().record(static_cast<std::uint64_t>(std::max<std::int64_t>(micros.count(), 0)));
  run_.answered.fetch_add(1, std::memory_order_relaxed);
  run_.status[static_cast<std::size_t>(std::clamp(r.status, 0, max_status - 1))].fetch_add(
      1, std::memory_order_relaxed);
  if (r.status == 202) {
    auto now_ms = utc_now_ms();
    auto seen = run_.last_accepted_ms.load(std::memory_order_relaxed);
    while (seen < now_ms && !run_.last_accepted_ms.compare_exchange_weak(seen, now_ms))
      ;
  }
  if (r.status != 202 || run_.options.tickets_out.empty())
    return;
  auto ticket = find_ticket(r.body);
  if (ticket.empty()) {
    ++runner_.unparsed_tickets;
    return;
  }
  std::string line;
  line.reserve(ticket.size() + 64);
  line.append(ticket);
  line += ' ';
  line += run_.options.products[run_.product_of(current_)];
  line += " u";
  append_number(line, run_.user_of(current_));
  line += ' ';
  line += run_.key_prefix;
  line += '-';
  append_number(line, current_);
  runner_.tickets().push_back(std::move(line));
}

void client_connection::fail(error_kind kind, const std::string& detail) {
  run_.count_error(kind, current_, detail);
  in_flight_ = false;
  timed_out_ = false;
  in_len_ = 0;
  error_code ignored;
  socket_.close(ignored);
  next_request();
}

std::string random_prefix() {
  std::random_device device;
  std::uint64_t bits = (static_cast<std::uint64_t>(device()) << 32) ^ device() ^
                       static_cast<std::uint64_t>(steady::now().time_since_epoch().count());
  return fmt::format("load{:012x}", bits & 0xffffffffffffULL);
}

std::string status_summary(const run_state& run) {
  std::string s;
  for (int code = 0; code < max_status; ++code) {
    auto n = run.status[static_cast<std::size_t>(code)].load(std::memory_order_relaxed);
    if (n)
      s += fmt::format(" {}:{}", code, n);
  }
  return s;
}

/// While client threads run: a progress line on stderr every second (with --progress).
void watch_progress(run_state& run, const std::atomic<int>& running, steady::time_point begin) {
  const auto& options = run.options;
  auto last_tick = begin;
  std::uint64_t last_answered = 0;
  while (running.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto now = steady::now();
    if (!options.progress || now - last_tick < std::chrono::seconds(1))
      continue;
    auto answered = run.answered.load(std::memory_order_relaxed);
    double dt = std::chrono::duration<double>(now - last_tick).count();
    std::uint64_t errors = 0;
    for (auto& e : run.errors)
      errors += e.load(std::memory_order_relaxed);
    fmt::print(stderr,
               "progress {:.0f}s sent {} answered {} errors {} rate {:.0f} req/s status{}\n",
               std::chrono::duration<double>(now - begin).count(),
               run.sent.load(std::memory_order_relaxed), answered, errors,
               static_cast<double>(answered - last_answered) / dt, status_summary(run));
    last_tick = now;
    last_answered = answered;
  }
}

/// Writes the tickets (--tickets-out) and prints the report on stdout; returns the answers.
std::uint64_t report(run_state& run, const std::vector<std::unique_ptr<thread_runner>>& runners,
                     double elapsed, std::ofstream& tickets_file) {
  const auto& options = run.options;
  latency_histogram all;
  std::uint64_t tickets = 0;
  std::uint64_t unparsed = 0;
  for (auto& r : runners) {
    all.merge(r->histogram());
    unparsed += r->unparsed_tickets;
    for (auto& line : r->tickets())
      tickets_file << line << '\n';
    tickets += r->tickets().size();
  }
  if (tickets_file.is_open()) {
    tickets_file.flush();
    if (!tickets_file)
      spdlog::error("load: writing '{}' failed", options.tickets_out);
  }

  auto answered = run.answered.load();
  std::uint64_t errors = 0;
  for (auto& e : run.errors)
    errors += e.load();
  std::string out;
  out += fmt::format("requests {}\nsent {}\nanswered {}\n", options.requests, run.sent.load(),
                     answered);
  for (int code = 0; code < max_status; ++code)
    if (auto n = run.status[static_cast<std::size_t>(code)].load())
      out += fmt::format("status {} {}\n", code, n);
  out += fmt::format("errors {}\n", errors);
  for (std::size_t k = 0; k < error_names.size(); ++k)
    out += fmt::format("error {} {}\n", error_names[k], run.errors[k].load());
  out += fmt::format("elapsed_s {:.3f}\n", elapsed);
  out += fmt::format("throughput {:.0f} req/s\n", elapsed > 0 ? answered / elapsed : 0.0);
  out += fmt::format("latency_ms p50 {:.3f} p90 {:.3f} p99 {:.3f} max {:.3f}\n",
                     all.quantile(0.50) / 1000, all.quantile(0.90) / 1000,
                     all.quantile(0.99) / 1000, static_cast<double>(all.max()) / 1000);
  out += fmt::format("tickets {}\n", tickets);
  out += fmt::format("started_ms {}\n", run.started_ms);
  out += fmt::format("last_accepted_ms {}\n", run.last_accepted_ms.load());
  if (unparsed)
    out += fmt::format("tickets_unparsed {}\n", unparsed);
  out += fmt::format("key_prefix {}\n", run.key_prefix);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return answered;
}

int run_load(const load_options& options) {
  run_state run(options);
  run.key_prefix = options.key_prefix.empty() ? random_prefix() : options.key_prefix;

  // The host of each entry of options.ports, resolved once.
  auto host_of = [&](std::size_t i) -> const std::string& {
    return options.port_hosts.empty() ? options.host : options.port_hosts[i];
  };
  for (std::size_t i = 0; i < options.ports.size(); ++i) {
    error_code ec;
    auto address = asio::ip::make_address(host_of(i), ec);
    if (ec) {  // a host name
      asio::io_context resolver_ctx;
      tcp::resolver resolver(resolver_ctx);
      auto results = resolver.resolve(host_of(i), "", ec);
      if (ec || results.empty()) {
        fmt::print(stderr, "flashsale-load: cannot resolve host '{}': {}\n", host_of(i),
                   ec ? ec.message() : "no address");
        return 2;
      }
      address = results.begin()->endpoint().address();
    }
    run.endpoints.emplace_back(address, options.ports[i]);
  }
  for (const auto& product : options.products) {
    for (std::size_t i = 0; i < options.ports.size(); ++i) {
      run.request_heads.push_back(
          fmt::format("POST /v1/products/{}/purchase HTTP/1.1\r\nHost: {}:{}\r\n"
                      "Content-Type: application/json\r\nIdempotency-Key: {}-",
                      product, host_of(i), options.ports[i], run.key_prefix));
    }
  }

  if (!options.token_key.empty()) {
    auto minting = steady::now();
    crypto::secret_key key;
    try {
      key = crypto::read_key_file(options.token_key);
    } catch (const crypto::key_file_error& e) {
      fmt::print(stderr, "flashsale-load: --token-key: {}\n", e.what());
      return 2;
    }
    run.tokens = std::make_unique<token_table>(
        key, options.sale, options.users, static_cast<int>(std::thread::hardware_concurrency()),
        24 * 3600);
    fmt::print(stderr, "flashsale-load: {} buyer tokens for sale {} minted in {:.1f} s\n",
               options.users, options.sale,
               std::chrono::duration<double>(steady::now() - minting).count());
  }

  std::ofstream tickets_file;
  if (!options.tickets_out.empty()) {
    tickets_file.open(options.tickets_out, std::ios::out | std::ios::trunc);
    if (!tickets_file) {
      fmt::print(stderr, "flashsale-load: cannot write --tickets-out '{}'\n", options.tickets_out);
      return 2;
    }
  }

  if (auto problem = ensure_open_files(static_cast<std::uint64_t>(options.connections) + 64,
                                       "--connections " + std::to_string(options.connections));
      !problem.empty()) {
    fmt::print(stderr, "flashsale-load: {}\n", problem);
    return 2;
  }

  // Connection c goes to port c % P and to thread c % T.
  std::vector<std::vector<std::size_t>> ports_per_thread(static_cast<std::size_t>(options.threads));
  for (int c = 0; c < options.connections; ++c)
    ports_per_thread[static_cast<std::size_t>(c % options.threads)].push_back(
        static_cast<std::size_t>(c) % options.ports.size());
  std::vector<std::unique_ptr<thread_runner>> runners;
  for (auto& ports : ports_per_thread)
    runners.push_back(std::make_unique<thread_runner>(run, std::move(ports)));

  std::atomic<int> running{options.threads};
  auto begin = steady::now();
  run.started_ms = utc_now_ms();
  std::vector<std::thread> threads;
  for (auto& r : runners) {
    threads.emplace_back([&running, runner = r.get()] {
      try {
        runner->run();
      } catch (const std::exception& e) {
        spdlog::error("load: client thread stopped: {}", e.what());
      }
      running.fetch_sub(1);
    });
  }

  watch_progress(run, running, begin);
  for (auto& t : threads)
    t.join();
  double elapsed = std::chrono::duration<double>(steady::now() - begin).count();

  return report(run, runners, elapsed, tickets_file) == options.requests ? 0 : 1;
}

}  // namespace
}  // namespace flashsale::load

int main(int argc, char** argv) {
  using namespace flashsale::load;
  load_options options;
  try {
    options = parse_options(argc, argv);
  } catch (const usage_error& e) {
    fmt::print(stderr, "flashsale-load: {}\n", e.what());
    return 2;
  }
  if (options.help) {
    fmt::print("{}", usage_text());
    return 0;
  }
  try {
    return run_load(options);
  } catch (const std::exception& e) {
    spdlog::error("load: {}", e.what());
    return 1;
  }
}

#pragma once

// Internal to adapters/http (included by server.cpp and connection.cpp only): the pieces every
// connection of one server shares, and the connection itself. Boost.Asio and Beast live here so
// that server.hpp stays free of them.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

#include "adapters/http/io_types.hpp"
#include "adapters/http/request_parser.hpp"
#include "adapters/http/server.hpp"

namespace flashsale::http::detail {

using namespace flashsale::http::io;  // asio, tcp, steady, error_code, socket_type, timer_type

/// The server's counters, updated with relaxed atomics from every I/O thread.
struct counters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> rejected_per_address{0};
  std::atomic<std::uint64_t> rejecting{0};  // 503 and 429 answers in progress
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> bodies_too_large{0};
  std::atomic<std::uint64_t> headers_too_large{0};
  std::atomic<std::uint64_t> responders_dropped{0};
};

/// Open connections per client address (max_connections_per_address). Thread-safe: taken on
/// the acceptor's thread, given back on the connections' worker threads.
class address_slots {
 public:
  /// Counts one more connection of `address` unless it has `cap` already (then false).
  bool try_take(const std::string& address, std::size_t cap);
  void give_back(const std::string& address);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> open_;
};

/// What every connection of one server shares. Immutable after start() except the atomics and
/// the address slots.
struct shared_state {
  server_options options;
  handler on_request;
  counters stats;
  address_slots per_address;
  std::atomic<bool> stopping{false};
};

/// Why a new connection is answered with an error and closed at once.
enum class refusal { none, server_full, address_full };

class connection;

/// One I/O thread with its own io_context: everything of a connection runs on its worker's
/// thread, which is the connection's strand.
struct worker : std::enable_shared_from_this<worker> {
  asio::io_context ctx{1};
  /// Open connections of this worker; touched only on this worker's thread.
  std::vector<std::shared_ptr<connection>> connections;
  std::thread thread;
};

/// One accepted socket: reads requests, hands each to the handler, writes the answers in order,
/// enforces the deadlines and limits of server_options. Every member function runs on the
/// owning worker's thread; the connection keeps itself alive through its pending operations and
/// its worker's list, and responders hold it only weakly.
class connection final : public std::enable_shared_from_this<connection> {
 public:
  /// `reject`: answer 503 (the server is at max_connections) or 429 (the client's address is at
  /// max_connections_per_address) and close. `peer`: the client's endpoint, `address` its
  /// address as text; `holds_address_slot`: the connection gives its slot in state->per_address
  /// back when it closes.
  connection(socket_type socket, worker& owner, std::shared_ptr<shared_state> state, refusal reject,
             tcp::endpoint peer, std::string address, bool holds_address_slot);

  /// Registers with the worker and starts reading (or answers 503 when rejecting). Worker thread.
  void start();

  /// Closes the socket at once. Idempotent. Worker thread.
  void close();

  /// Writes the answer to request number `seq` (from a responder). Worker thread.
  void on_response(std::uint64_t seq, response&& r, bool dropped);

 private:
  enum class phase { awaiting, header, body, handling, writing, lingering, closed };

  void read_more();
  void on_read(error_code ec, std::size_t n);
  /// Parses what the buffer holds; dispatches a complete request or reads more.
  void process();
  void dispatch_request();
  void answer_parse_error(error_code ec);
  void answer_timeout();
  /// Answers with a server-made error and closes. Called only when no read or write is pending.
  void send_error(int status, std::string message);
  void serialize(const response& r, bool& close_after);
  void write_response(bool close_after, bool no_body);
  void on_written(error_code ec, bool close_after);
  /// Half-closes, then drains input until the peer closes or linger_time passes.
  void linger_close();
  void drain();
  void set_deadline(steady::time_point when);
  void arm_timer();
  void on_timer(error_code ec);

  socket_type socket_;
  timer_type timer_;
  worker& owner_;
  std::shared_ptr<shared_state> state_;
  tcp::endpoint peer_;
  std::string address_;                   // peer_'s address as text, handed to every request
  boost::beast::flat_buffer buffer_;      // reused for every request of the connection
  std::optional<request_parser> parser_;  // the request being parsed
  std::string head_;                      // serialized response header, reused
  std::string body_;                      // response body being written
  std::string method_;                    // of the request being handled, for logs
  std::string target_;
  steady::time_point deadline_{};
  std::size_t registry_index_ = 0;
  std::uint64_t seq_ = 0;
  phase phase_ = phase::awaiting;
  refusal rejecting_;
  bool holds_address_slot_;
  bool first_request_ = true;
  bool keep_alive_ = true;
  bool is_head_ = false;
  bool timed_out_ = false;
  bool continue_sent_ = false;
};

}  // namespace flashsale::http::detail

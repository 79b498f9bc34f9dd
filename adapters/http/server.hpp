#pragma once

// HTTP/1.1 server adapter. Boost.Beast stays behind the pimpl so that actor code including this
// header does not pay for it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace flashsale::http {

/// Listener settings. The limits protect the gateway from slow, oversized and excess clients.
struct server_options {
  std::string address = "127.0.0.1";    ///< IPv4 or IPv6 literal to bind
  std::uint16_t port = 8080;            ///< 0 picks a free port (see server::port())
  int io_threads = 2;                   ///< >= 1; each thread runs its own io_context
  std::size_t max_header_bytes = 8192;  ///< request line + fields; larger -> 431, close
  /// Decoded body (Content-Length or chunked); larger -> 413, close.
  std::size_t max_body_bytes = 4096;
  /// The whole header must arrive within this after its first byte (for the first request on a
  /// connection: after the accept), and the body within this after the header; else 408, close.
  /// A new connection that sends nothing at all within it is closed silently.
  std::chrono::milliseconds header_deadline{5000};
  /// A keep-alive connection with no new request byte for this long is closed silently; also the
  /// limit for writing one response to a client that does not read.
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_connections = 10000;  ///< open connections beyond this get 503 and are closed
  /// Open connections from one client address beyond this get 429 and are closed (0: no cap).
  std::size_t max_connections_per_address = 0;
};

/// One complete request, handed to the handler by value (the handler owns it).
struct request {
  std::string method;           ///< as received, e.g. "POST"
  std::string target;           ///< origin-form target with the query, e.g. "/v1/orders/t1?x=1"
  std::string body;             ///< decoded body (chunked framing removed), <= max_body_bytes
  std::string idempotency_key;  ///< value of Idempotency-Key, empty if absent
  std::string content_type;     ///< value of Content-Type, empty if absent
  std::string authorization;    ///< value of Authorization, empty if absent
  std::string peer;             ///< the client's IP address, e.g. "10.0.0.7" or "::1"
};

/// What the handler answers. The server adds Content-Length and Connection itself.
struct response {
  int status = 200;  ///< 200..599; anything else is logged and answered as 500
  std::string body;
  std::string content_type = "application/json";  ///< omitted when empty
  /// Extra fields, e.g. {"Location", "/v1/orders/t1"}. Content-Length and Transfer-Encoding are
  /// ignored; "Connection: close" closes the connection after this response. Names or values
  /// containing CR, LF or NUL are dropped (and logged).
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Completes one request. Exactly one call to send(); callable from any thread; cheap to hold
/// (a shared_ptr copy). send() hands the response to the connection's I/O thread and returns at
/// once. A second send() is ignored and logged. Destroying the last reference without send()
/// answers 500 (and logs it), so a client is never left hanging. Sending after the connection
/// closed, or after server::stop(), is a harmless no-op. It is safe to hold a responder beyond
/// the server's lifetime.
class responder {
 public:
  virtual ~responder();
  virtual void send(response r) = 0;
};

/// Called on an I/O thread for each complete request, one request at a time per connection. It
/// must not block; it typically forwards the request and the responder to an actor. Exceptions
/// are caught and logged; a request whose responder is then dropped unsent is answered 500.
using handler = std::function<void(request&& req, std::shared_ptr<responder> reply)>;

/// Counters since start(), for /metrics. Read with relaxed atomics: a consistent-enough snapshot.
struct server_stats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t connections_rejected = 0;  ///< answered 503 (max_connections)
  /// Answered 429 (max_connections_per_address).
  std::uint64_t connections_rejected_per_address = 0;
  std::uint64_t requests = 0;            ///< complete requests handed to the handler
  std::uint64_t bad_requests = 0;        ///< 400
  std::uint64_t timeouts = 0;            ///< 408
  std::uint64_t bodies_too_large = 0;    ///< 413
  std::uint64_t headers_too_large = 0;   ///< 431
  std::uint64_t responders_dropped = 0;  ///< 500 because no send() happened
};

/// HTTP/1.1 listener with keep-alive. Owns its I/O threads. Every response carries
/// Content-Length (except 204 and 304, which have no body) and "Connection: keep-alive" or
/// "Connection: close"; answers to HEAD carry no body. Pipelined requests are answered in order,
/// one at a time. Errors answered by the server itself (400, 408, 413, 429, 431, 503) have a JSON
/// body {"error":"..."} and close the connection after draining the client's input for up to 1 s.
/// Client errors are logged at debug level (they are counted in stats()); server-side problems
/// (dropped responders, invalid responses, accept failures) at error level.
/// Thread use: construct, start(), stop() and destroy from one controlling thread that is not an
/// I/O thread; port() and stats() from any thread.
class server {
 public:
  /// Validates the options (throws std::invalid_argument). Does not bind yet.
  server(server_options options, handler on_request);
  /// Calls stop().
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and listens, then starts the I/O threads. Throws std::system_error naming the address
  /// and port when it cannot listen (e.g. the port is taken), std::logic_error if called twice.
  void start();

  /// The bound port (the real one when options.port was 0); 0 before start().
  std::uint16_t port() const;

  /// Closes the listener and every connection (requests awaiting a responder are dropped without
  /// an answer), then joins the I/O threads. Idempotent. Must not be called from an I/O thread
  /// (i.e. not from the handler).
  void stop();

  /// Counter snapshot.
  server_stats stats() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace flashsale::http

#pragma once

// A minimal blocking HTTP/1.1 client over one keep-alive TCP connection, for tests. Every call has
// a deadline (SO_RCVTIMEO/SO_SNDTIMEO); a missing answer is a failure, never a hang.

#include <map>
#include <string>

namespace flashsale::testing {

struct http_reply {
  int status = 0;                              ///< 0 when no answer arrived
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
};

class http_client {
 public:
  /// Connects to 127.0.0.1:port; throws std::runtime_error on failure.
  explicit http_client(int port, int timeout_ms = 10000);
  /// Connects to address:port (an IPv4 address); throws std::runtime_error on failure.
  http_client(const std::string& address, int port, int timeout_ms = 10000);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Sends a request and reads the whole answer.
  http_reply request(const std::string& method, const std::string& target,
                     const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {});

  /// Sends raw bytes as they are (for malformed requests), then reads one answer.
  http_reply raw(const std::string& bytes);

 private:
  http_reply read_reply();
  int fd_ = -1;
  std::string host_;  ///< the Host header
  std::string buffer_;
};

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
int free_port();

/// Tries to connect and GET /healthz until it answers 200 or `timeout_ms` passes.
bool wait_until_healthy(int port, int timeout_ms);
/// The same on address:port.
bool wait_until_healthy(const std::string& address, int port, int timeout_ms);

}  // namespace flashsale::testing

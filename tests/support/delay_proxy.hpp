#pragma once

// A TCP relay that delays every byte by a fixed time in each direction: the harness's stand-in for
// `tc netem delay`, which this kernel lacks (no qdisc at all). Nodes on hosts are pointed at the
// relay instead of a service, so each of their links to it gets `delay` more each way (order and
// content kept; no loss, no reordering). Test support only.

#include <chrono>
#include <memory>
#include <string>

namespace flashsale::testing {

class delay_proxy {
 public:
  /// Listens on `listen_address` (any free port) and relays every connection to
  /// target_host:target_port, each chunk read sent on `delay` later. Throws std::runtime_error
  /// when it cannot listen. Runs on a thread of its own until destroyed.
  delay_proxy(const std::string& listen_address, const std::string& target_host, int target_port,
              std::chrono::milliseconds delay);
  ~delay_proxy();
  delay_proxy(const delay_proxy&) = delete;
  delay_proxy& operator=(const delay_proxy&) = delete;

  int port() const;
  /// "listen_address:port".
  std::string endpoint() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace flashsale::testing

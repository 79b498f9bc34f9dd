#pragma once

// Command line of flashsale-load (the gateway's load generator).

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace flashsale::load {

/// Everything the command line sets. Defaults are the documented ones.
struct load_options {
  std::string host = "127.0.0.1";
  std::vector<std::uint16_t> ports{8080};  ///< connection c goes to ports[c % ports.size()]
  /// With --gateways: the host of each entry of ports (same size); empty: `host` for all.
  std::vector<std::string> port_hosts;
  std::uint64_t requests = 1000;
  std::uint64_t users = 0;  ///< distinct users; 0 means one per request (== requests)
  int connections = 64;     ///< keep-alive connections, spread over the threads
  int threads = 1;
  std::vector<std::string> products{"TV", "Phone", "Clothes"};
  std::optional<std::uint64_t>
      seed;                 ///< set: products picked at random (reproducibly); else round-robin
  std::string tickets_out;  ///< empty: tickets are not written
  std::chrono::milliseconds timeout{10000};  ///< per request, connect included
  bool progress = false;
  std::string key_prefix;  ///< Idempotency-Key is "<key_prefix>-<i>"; empty: random per run
  std::string token_key;   ///< buyer-token key file; empty: no Authorization header
  std::string sale;        ///< the sale the tokens are for (with token_key)
  bool help = false;
};

/// --users at most this with --token-key (the tokens are minted into memory before the run).
constexpr std::uint64_t max_token_users = 10000000;

/// A bad command line; what() says what is wrong.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses argv (argv[0] is skipped). Throws usage_error. Pure: no I/O.
load_options parse_options(int argc, const char* const* argv);

/// The --help text.
std::string usage_text();

}  // namespace flashsale::load

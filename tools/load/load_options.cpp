#include "tools/load/load_options.hpp"

#include <charconv>
#include <stdexcept>
#include <limits>
#include <string_view>

#include "common/host_list.hpp"

namespace flashsale::load {

namespace {

std::uint64_t parse_unsigned(std::string_view option, std::string_view text, std::uint64_t min,
                             std::uint64_t max) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    throw usage_error(std::string(option) + ": '" + std::string(text) + "' is not a number");
  if (value < min || value > max)
    throw usage_error(std::string(option) + ": " + std::string(text) + " is outside " +
                      std::to_string(min) + ".." + std::to_string(max));
  return value;
}

std::vector<std::string> split_list(std::string_view option, std::string_view text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  for (;;) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (item.empty())
      throw usage_error(std::string(option) + ": empty item in '" + std::string(text) + "'");
    items.emplace_back(item);
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  return items;
}

bool valid_product(const std::string& p) {
  if (p.empty() || p.size() > 64)
    return false;
  for (unsigned char c : p)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

bool valid_token(const std::string& s) {
  for (unsigned char c : s)
    if (c <= 32 || c >= 127)
      return false;
  return true;
}

}  // namespace

load_options parse_options(int argc, const char* const* argv) {
  load_options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_inline = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    auto take = [&]() -> std::string_view {
      if (has_inline)
        return value;
      if (i + 1 >= argc)
        throw usage_error(std::string(arg) + " needs a value");
      return argv[++i];
    };
    auto no_value = [&] {
      if (has_inline)
        throw usage_error(std::string(arg) + " takes no value");
    };
    constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();
    if (arg == "--help" || arg == "-h") {
      no_value();
      o.help = true;
    } else if (arg == "--host") {
      o.host = std::string(take());
      if (o.host.empty())
        throw usage_error("--host: empty");
      o.port_hosts.clear();
    } else if (arg == "--port") {
      o.ports = {static_cast<std::uint16_t>(parse_unsigned(arg, take(), 1, 65535))};
      o.port_hosts.clear();
    } else if (arg == "--gateways") {
      std::vector<host_port> gateways;
      try {
        gateways = parse_host_list(std::string(take()), "--gateways");
      } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
      }
      o.ports.clear();
      o.port_hosts.clear();
      for (const auto& g : gateways) {
        o.ports.push_back(static_cast<std::uint16_t>(g.port));
        o.port_hosts.push_back(g.host);
      }
    } else if (arg == "--ports") {
      o.port_hosts.clear();
      o.ports.clear();
      for (auto& p : split_list(arg, take()))
        o.ports.push_back(static_cast<std::uint16_t>(parse_unsigned(arg, p, 1, 65535)));
    } else if (arg == "--requests") {
      o.requests = parse_unsigned(arg, take(), 1, u64_max / 2);
    } else if (arg == "--users") {
      o.users = parse_unsigned(arg, take(), 1, u64_max / 2);
    } else if (arg == "--connections") {
      o.connections = static_cast<int>(parse_unsigned(arg, take(), 1, 100000));
    } else if (arg == "--threads") {
      o.threads = static_cast<int>(parse_unsigned(arg, take(), 1, 256));
    } else if (arg == "--products") {
      o.products = split_list(arg, take());
      for (auto& p : o.products)
        if (!valid_product(p))
          throw usage_error("--products: '" + p + "' is not a product id ([A-Za-z0-9_-]{1,64})");
    } else if (arg == "--seed") {
      o.seed = parse_unsigned(arg, take(), 0, u64_max);
    } else if (arg == "--tickets-out") {
      o.tickets_out = std::string(take());
      if (o.tickets_out.empty())
        throw usage_error("--tickets-out: empty file name");
    } else if (arg == "--timeout-ms") {
      o.timeout = std::chrono::milliseconds(parse_unsigned(arg, take(), 1, 3600 * 1000));
    } else if (arg == "--progress") {
      no_value();
      o.progress = true;
    } else if (arg == "--key-prefix") {
      o.key_prefix = std::string(take());
      if (o.key_prefix.empty() || o.key_prefix.size() > 64 || !valid_token(o.key_prefix))
        throw usage_error("--key-prefix: 1..64 printable characters without spaces");
    } else if (arg == "--token-key") {
      o.token_key = std::string(take());
      if (o.token_key.empty())
        throw usage_error("--token-key: empty file name");
    } else if (arg == "--sale") {
      o.sale = std::string(take());
      if (o.sale.empty())
        throw usage_error("--sale: empty sale name");
    } else {
      throw usage_error("unknown option '" + std::string(arg) + "' (see --help)");
    }
  }
  if (o.users == 0)
    o.users = o.requests;
  if (o.token_key.empty() != o.sale.empty())
    throw usage_error("--token-key and --sale go together (the tokens name the sale)");
  if (!o.token_key.empty() && o.users > max_token_users)
    throw usage_error("--users: at most " + std::to_string(max_token_users) +
                      " with --token-key (each user's token is kept in memory)");
  if (o.connections < o.threads)
    throw usage_error("--connections (" + std::to_string(o.connections) +
                      ") must be >= --threads (" + std::to_string(o.threads) + ")");
  return o;
}

std::string usage_text() {
  return R"(flashsale-load: drives POST /v1/products/{product}/purchase on one or more gateways.

Usage: flashsale-load [options]
  --host H            gateway address (default 127.0.0.1)
  --port P            gateway port (default 8080)
  --ports P1,P2,...   spread the connections over several gateways (overrides --port)
  --gateways H1:P1,H2:P2,...
                      the same over gateways on several hosts (overrides --host and --ports)
  --requests N        purchase requests to send (default 1000)
  --users M           distinct users; request i is user u<i mod M> (default: N, one per request)
  --connections C     keep-alive connections (default 64), one request in flight on each
  --threads T         client threads, each with its own event loop (default 1)
  --products A,B,...  products (default TV,Phone,Clothes), taken round-robin
  --seed S            pick the product at random instead, reproducibly from S
  --key-prefix X      Idempotency-Key is X-<i> (default: a random prefix per run)
  --tickets-out FILE  write "ticket product user idempotency-key" for every 202
  --token-key FILE    sign a buyer token for each user with this key (flashsale-admin token
  --sale NAME         keygen) for sale NAME, before the clock starts, and send it in
                      Authorization: Bearer (at most 10,000,000 users; ~200 bytes each)
  --timeout-ms MS     per request, connect included (default 10000)
  --progress          one progress line per second on stderr
  --help              this text

Body: {"user":"u<n>"}. Summary on stdout, one "key value..." line each:
  requests, sent, answered, status <code> <count>, errors, error <kind> <count>,
  elapsed_s, throughput <x> req/s, latency_ms p50 .. p90 .. p99 .. max .., tickets,
  started_ms (wall clock when the clock started: after token minting, before the first request),
  last_accepted_ms (wall clock of the last 202 answer, ms since the epoch; 0: none).
Exit: 0 when every request got an HTTP answer, 1 otherwise, 2 for a bad command line.
)";
}

}  // namespace flashsale::load

// flashsale-publish: publishes purchases of one product straight to the order queues (the
// product's own queue when it is hot), with publisher confirms, the way a gateway would after
// admitting them. For bench/orders and manual runs; tests use the adapter directly.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "adapters/amqp/publisher.hpp"
#include "common/parse_integer.hpp"
#include "common/secret_file.hpp"
#include "common/sale_definition.hpp"
#include "messages/codec.hpp"
#include "common/utc_time.hpp"

namespace {

using namespace flashsale;
using clock_type = std::chrono::steady_clock;

constexpr const char* usage_text = R"(usage: flashsale-publish --product P [options]

Publishes N purchases of product P as persistent messages with publisher confirms, and waits for
every confirm. Purchase i looks like one a gateway admitted: request id and ticket PREFIX<i in base
36> (PREFIX defaults to the gateway's ticket prefix, GATEWAY-<ms since the epoch in base 36>-), user
USER<i mod M>. Like a gateway under load, it puts up to --per-message purchases in one message.

options:
  --product P          product id (required)
  --count N            purchases to publish (10000)
  --per-message B      purchases per message, at most (100, a gateway's default; 1..1000)
  --first I            index of the first purchase (0)
  --hot                P is hot: publish to its own queue, QUEUE.P
  --fresh              first delete the queues (QUEUE, QUEUE.P, the dead-letter queue) and what
                       they hold; with --count 0 only that
  --request-prefix S   request id prefix (GATEWAY-<ms in base 36>-)
  --user-prefix S      user id prefix ("u", as flashsale-load)
  --users M            distinct users (as many as purchases)
  --gateway NAME       gateway name in the purchases ("gw1")
  --garbage K          also publish K undecodable messages (the writers dead-letter them) (0)
  --window W           unconfirmed messages in flight, at most (2000)
  --timeout-s S        give up when not every confirm arrived within S seconds (300)
  --exchange E --queue Q --dead-letter-queue D --max-length L
                       topology, declared as flashsale-admin amqp declare does (flashsale,
                       flashsale.orders, flashsale.dead, 1000000)
  --queue-type quorum|classic  of the queues declared: quorum (replicated) by default when
                       FLASHSALE_AMQP_HOSTS names several brokers, classic otherwise
  --amqp-host H --amqp-port P --amqp-user U --amqp-password-file F
                       broker, as a user that may declare (FLASHSALE_AMQP_* from
                       build/run/endpoints.env: flashsale-admin; then 127.0.0.1:56729)
  -h, --help           this text

exit status: 0 every message confirmed, 1 some refused (queue full) or lost, 2 bad usage,
3 the broker refused the topology or did not confirm in time
)";

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::int64_t parse_number(const std::string& name, const std::string& value, std::int64_t min,
                          std::int64_t max) {
  auto n = parse_integer(value);
  if (!n || *n < min || *n > max)
    throw usage_error(name + " must be an integer in [" + std::to_string(min) + ", " +
                      std::to_string(max) + "], got '" + value + "'");
  return static_cast<std::int64_t>(*n);
}

struct options {
  std::string product;
  std::int64_t count = 10000;
  std::int64_t per_message = 100;
  std::int64_t first = 0;
  bool hot = false;
  bool fresh = false;
  std::string request_prefix;  // empty: the gateway's ticket prefix
  std::string user_prefix = "u";
  std::int64_t users = 0;  // 0: as many as purchases
  std::string gateway = "gw1";
  std::int64_t garbage = 0;
  std::int64_t window = 2000;
  std::int64_t timeout_s = 300;
  amqp::topology route;
  amqp::connection_params broker;
  bool help = false;
};

options parse_options(int argc, char** argv) {
  options o;
  std::string queue_type;  // empty: amqp::default_queue_type
  o.broker = amqp::connection_params::from_env();
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& name = args[i];
    if (name == "-h" || name == "--help") {
      o.help = true;
      continue;
    }
    if (name == "--hot") {
      o.hot = true;
      continue;
    }
    if (name == "--fresh") {
      o.fresh = true;
      continue;
    }
    if (i + 1 >= args.size())
      throw usage_error(name.rfind("--", 0) == 0 ? "option " + name + " needs a value"
                                                 : "unexpected argument '" + name + "'");
    const auto& value = args[++i];
    if (name == "--product")
      o.product = value;
    else if (name == "--count")
      o.count = parse_number(name, value, 0, 100000000);
    else if (name == "--per-message")
      o.per_message =
          parse_number(name, value, 1, static_cast<std::int64_t>(max_purchases_per_message));
    else if (name == "--first")
      o.first = parse_number(name, value, 0, 9999999999);
    else if (name == "--request-prefix")
      o.request_prefix = value;
    else if (name == "--user-prefix")
      o.user_prefix = value;
    else if (name == "--users")
      o.users = parse_number(name, value, 1, 100000000);
    else if (name == "--gateway")
      o.gateway = value;
    else if (name == "--garbage")
      o.garbage = parse_number(name, value, 0, 1000000);
    else if (name == "--window")
      o.window = parse_number(name, value, 1, 1000000);
    else if (name == "--timeout-s")
      o.timeout_s = parse_number(name, value, 1, 86400);
    else if (name == "--exchange")
      o.route.exchange = value;
    else if (name == "--queue")
      o.route.queue = value;
    else if (name == "--dead-letter-queue")
      o.route.dead_letter_queue = value;
    else if (name == "--max-length")
      o.route.max_length = parse_number(name, value, 1, 100000000);
    else if (name == "--queue-type") {
      if (value != "quorum" && value != "classic")
        throw usage_error("--queue-type must be quorum or classic, got '" + value + "'");
      queue_type = value;
    } else if (name == "--amqp-host")
      o.broker.host = value;
    else if (name == "--amqp-port")
      o.broker.port = static_cast<int>(parse_number(name, value, 1, 65535));
    else if (name == "--amqp-user")
      o.broker.user = value;
    else if (name == "--amqp-password-file")
      o.broker.password = read_secret_file(value, "--amqp-password-file");
    else
      throw usage_error("unknown option '" + name + "'");
  }
  if (!o.help && !valid_product_id(o.product))
    throw usage_error("--product must be 1-64 of [A-Za-z0-9_-], got '" + o.product + "'");
  if (o.gateway.empty() || o.user_prefix.empty())
    throw usage_error("--gateway and --user-prefix must not be empty");
  if (o.request_prefix.empty())
    o.request_prefix = o.gateway + "-" + base36(static_cast<std::uint64_t>(utc_now_ms())) + "-";
  if (o.hot)
    o.route.hot_products.push_back(o.product);
  o.route.type = queue_type.empty()       ? amqp::default_queue_type(o.broker)
                 : queue_type == "quorum" ? amqp::queue_type::quorum
                                          : amqp::queue_type::classic;
  return o;
}

/// Confirms counted by the publisher's callback.
/// Confirms counted by the publisher's callback, and the messages of unknown fate (sent, the
/// connection lost before the confirm) to send again, as a gateway does.
struct tally {
  std::mutex mtx;
  std::condition_variable cv;
  std::uint64_t acked = 0;
  std::uint64_t refused = 0;
  std::uint64_t resent = 0;
  std::map<std::uint64_t, std::string> unsettled;  ///< id -> body, until confirmed or refused
  std::vector<std::uint64_t> unknown;              ///< ids to send again
};

int run(const options& o) {
  if (o.fresh) {
    try {
      amqp::amqp_connection conn{o.broker};
      auto queues = o.route.queues();
      queues.push_back(o.route.dead_letter_queue);
      if (!o.hot)
        queues.push_back(o.route.queue + "." + o.product);
      for (const auto& q : queues)
        conn.delete_queue(q);
    } catch (const amqp::amqp_error& e) {
      std::cerr << "flashsale-publish: " << e.what() << '\n';
      return 3;
    }
    if (o.count == 0 && o.garbage == 0)
      return 0;
  }
  try {  // as flashsale-admin amqp declare does: the publisher itself only checks the topology
    amqp::amqp_connection{o.broker}.declare(o.route);
  } catch (const amqp::amqp_error& e) {
    std::cerr << "flashsale-publish: " << e.what() << '\n';
    return 3;
  }
  tally t;
  amqp::publisher::options pub_opts;
  pub_opts.route = o.route;
  // A busy broker confirms late; a channel the broker stopped serving never does (the publisher
  // then reconnects and this tool sends those messages again).
  pub_opts.confirm_timeout = std::min<std::chrono::milliseconds>(std::chrono::seconds{o.timeout_s},
                                                                 std::chrono::seconds{10});
  amqp::publisher pub{
      o.broker, pub_opts, [&t](std::vector<std::uint64_t> ids, amqp::publisher::fate f) {
        std::lock_guard<std::mutex> guard{t.mtx};
        if (f == amqp::publisher::fate::unknown) {
          t.unknown.insert(t.unknown.end(), ids.begin(), ids.end());
        } else {
          (f == amqp::publisher::fate::confirmed ? t.acked : t.refused) += ids.size();
          for (auto id : ids)
            t.unsettled.erase(id);
        }
        t.cv.notify_all();
      }};
  auto started = clock_type::now();
  auto deadline = started + std::chrono::seconds{o.timeout_s};
  while (!pub.connected()) {
    if (clock_type::now() >= deadline) {
      std::cerr << "flashsale-publish: no broker connection to " << o.broker.endpoint()
                << " within " << o.timeout_s << " s\n";
      return 3;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  auto queue = o.route.queue_of(o.product);
  auto count = static_cast<std::uint64_t>(o.count);
  auto per_message = static_cast<std::uint64_t>(o.per_message);
  // Messages: the purchases in groups of per_message, then the garbage, one message each.
  auto total = (count + per_message - 1) / per_message + static_cast<std::uint64_t>(o.garbage);
  auto settled = [&] { return t.acked + t.refused; };
  std::uint64_t body_bytes = 0;
  std::uint64_t next_purchase = 0;
  // Sends again what the publisher reported of unknown fate (the writers absorb a copy by its
  // request ids); false when the deadline passed first.
  // A message published while the publisher reconnects is refused at once: wait for it first.
  auto wait_connected = [&] {
    while (!pub.connected() && clock_type::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
  };
  auto wait_and_resend = [&](const std::function<bool()>& done) {
    for (;;) {
      std::vector<std::pair<std::uint64_t, std::string>> again;
      {
        std::unique_lock<std::mutex> lock{t.mtx};
        if (!t.cv.wait_until(lock, deadline, [&] { return done() || !t.unknown.empty(); }))
          return false;
        if (t.unknown.empty())
          return true;
        for (auto id : std::exchange(t.unknown, {}))
          again.emplace_back(id, t.unsettled.at(id));
        t.resent += again.size();
      }
      wait_connected();  // publish() may call back on this thread: never under t.mtx
      for (auto& [id, body] : again)
        pub.publish(id, std::move(body), queue);
    }
  };
  for (std::uint64_t n = 0; n < total; ++n) {
    if (!wait_and_resend([&] { return n - settled() < static_cast<std::uint64_t>(o.window); })) {
      std::lock_guard<std::mutex> lock{t.mtx};
      std::cerr << "flashsale-publish: confirms stopped after " << settled() << " of " << n
                << " messages published (deadline " << o.timeout_s << " s)\n";
      return 3;
    }
    std::string body;
    if (next_purchase < count) {
      std::vector<purchase> batch;
      for (; next_purchase < count && batch.size() < per_message; ++next_purchase) {
        auto i = o.first + static_cast<std::int64_t>(next_purchase);
        purchase p;
        p.request_id = o.request_prefix + base36(static_cast<std::uint64_t>(i));
        p.product = o.product;
        p.user = o.user_prefix + std::to_string(o.users > 0 ? i % o.users : i);
        p.gateway = o.gateway;
        p.ticket = p.request_id;
        p.accepted_at_ms = utc_now_ms();
        batch.push_back(std::move(p));
      }
      body = encode_purchases(batch);
    } else {
      body = "not a purchase #" + std::to_string(n);
    }
    body_bytes += body.size();
    {
      std::lock_guard<std::mutex> lock{t.mtx};
      t.unsettled.emplace(n, body);
    }
    wait_connected();
    pub.publish(n, std::move(body), queue);
  }
  if (!wait_and_resend([&] { return settled() >= total; })) {
    std::lock_guard<std::mutex> lock{t.mtx};
    std::cerr << "flashsale-publish: " << settled() << " of " << total << " confirms within "
              << o.timeout_s << " s\n";
    return 3;
  }
  if (t.resent > 0)
    std::cerr << "flashsale-publish: " << t.resent
              << " messages of unknown fate (connection lost before their confirm) sent again\n";
  auto seconds = std::chrono::duration<double>(clock_type::now() - started).count();
  std::printf(
      "published %lld purchases of %s in messages of up to %lld (+%lld undecodable) to %s: %llu "
      "of %llu messages confirmed, %llu refused, in %.2f s (%.0f purchases/s; message bodies of "
      "%.0f bytes on average)\n",
      static_cast<long long>(o.count), o.product.c_str(), static_cast<long long>(o.per_message),
      static_cast<long long>(o.garbage), queue.c_str(), static_cast<unsigned long long>(t.acked),
      static_cast<unsigned long long>(total), static_cast<unsigned long long>(t.refused), seconds,
      static_cast<double>(o.count) / seconds,
      total > 0 ? static_cast<double>(body_bytes) / static_cast<double>(total) : 0.0);
  return t.refused == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse_options(argc, argv);
  } catch (const std::runtime_error& e) {  // bad usage, or a password file that cannot be used
    std::cerr << "flashsale-publish: " << e.what() << "\n(flashsale-publish --help for usage)\n";
    return 2;
  }
  if (o.help) {
    std::cout << usage_text;
    return 0;
  }
  spdlog::set_level(spdlog::level::warn);
  return run(o);
}

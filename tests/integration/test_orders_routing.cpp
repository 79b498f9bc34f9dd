// The gateway's side of hot-product isolation: its publisher bridge puts a hot product's purchases
// on the product's own queue (<queue>.<product>) and every other purchase on the main queue, each
// confirmed by the real broker (FLASHSALE_AMQP_*); purchases that arrive together travel together
// in one message. Queues flashsale.route.<pid>, deleted at the end.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include "actors/queue_bridge.hpp"
#include "adapters/amqp/consumer.hpp"
#include "messages/codec.hpp"
#include "tests/support/amqp_tools.hpp"

namespace {

using namespace flashsale;

TEST(orders_routing, a_hot_product_is_published_to_its_own_queue) {
  auto params = amqp::connection_params::from_env();
  amqp::publisher::options opts;
  opts.route.queue = "flashsale.route." + std::to_string(::getpid());
  opts.route.dead_letter_queue = opts.route.queue + ".dead";
  opts.route.hot_products = {"Hot"};
  auto queues = opts.route.queues();
  queues.push_back(opts.route.dead_letter_queue);
  flashsale::testing::delete_queues(params, queues);
  auto connected = opts.connected;

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::flashsale>();
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  auto bridge = spawn_publisher_bridge(sys, params, opts, 1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  while (!connected->load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  ASSERT_TRUE(connected->load()) << "no broker connection";

  caf::scoped_actor self{sys};
  auto publish = [&](const std::string& product, const std::string& id) {
    purchase p;
    p.request_id = id;
    p.product = product;
    p.user = "user-" + id;
    p.gateway = "gw-route";
    p.ticket = id;
    bool confirmed = false;
    self->request(bridge, std::chrono::seconds{15}, publish_atom_v, p)
        .receive(
            [&](publish_outcome outcome) { confirmed = outcome == publish_outcome::confirmed; },
            [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
    return confirmed;
  };
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(publish("Hot", "h-" + std::to_string(i)));
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(publish("Cold", "c-" + std::to_string(i)));
  caf::anon_send_exit(bridge, caf::exit_reason::user_shutdown);

  // A confirm means the broker stored the message in the queue its routing key named.
  EXPECT_EQ(flashsale::testing::queue_state_of(params, opts.route.queue + ".Hot").messages, 3u);
  EXPECT_EQ(flashsale::testing::queue_state_of(params, opts.route.queue).messages, 2u);
  flashsale::testing::delete_queues(params, queues);
}

// A burst of purchases (a sale's first second) costs the broker far fewer messages than
// purchases: what waits in the bridge's mailbox goes out together, at most the configured number
// per message, and each purchase is answered with its message's confirm.
TEST(orders_routing, purchases_that_arrive_together_share_a_message) {
  auto params = amqp::connection_params::from_env();
  amqp::publisher::options opts;
  opts.route.queue = "flashsale.route.burst." + std::to_string(::getpid());
  opts.route.dead_letter_queue = opts.route.queue + ".dead";
  auto queues = opts.route.queues();
  queues.push_back(opts.route.dead_letter_queue);
  flashsale::testing::delete_queues(params, queues);
  auto connected = opts.connected;

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::flashsale>();
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  constexpr std::size_t per_message = 40;
  auto bridge = spawn_publisher_bridge(sys, params, opts, per_message);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  while (!connected->load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  ASSERT_TRUE(connected->load()) << "no broker connection";

  constexpr int burst = 500;
  caf::scoped_actor self{sys};
  for (int i = 0; i < burst; ++i) {
    purchase p;
    p.request_id = "b-" + std::to_string(i);
    p.product = "P";
    p.user = "user-" + std::to_string(i);
    p.gateway = "gw-burst";
    p.ticket = p.request_id;
    self->send(bridge, publish_atom_v, std::move(p));  // replies come back as messages
  }
  int confirmed = 0;
  self->receive_for(confirmed, burst)(
      [&](publish_outcome outcome) { EXPECT_EQ(outcome, publish_outcome::confirmed); },
      caf::after(std::chrono::seconds{30}) >> [&] { ADD_FAILURE() << "confirms stopped"; });
  EXPECT_EQ(confirmed, burst);
  caf::anon_send_exit(bridge, caf::exit_reason::user_shutdown);

  // Read the queue back: every purchase exactly once, in fewer messages than purchases, none
  // larger than allowed.
  std::mutex mtx;
  std::condition_variable cv;
  std::map<std::string, int> seen;
  std::size_t messages = 0;
  std::size_t largest = 0;
  std::unique_ptr<amqp::consumer> reader;
  amqp::consumer::options copts;
  copts.route = opts.route;
  reader = std::make_unique<amqp::consumer>(params, copts, [&](std::vector<amqp::delivery> batch) {
    std::lock_guard<std::mutex> guard{mtx};
    for (const auto& d : batch) {
      auto purchases = decode_purchases(d.body.data(), d.body.size());
      ASSERT_TRUE(purchases.has_value());
      ++messages;
      largest = std::max(largest, purchases->size());
      for (const auto& p : *purchases)
        ++seen[p.request_id];
    }
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock{mtx};
    cv.wait_for(lock, std::chrono::seconds{20}, [&] { return seen.size() >= burst; });
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(burst));
    for (const auto& [id, times] : seen)
      EXPECT_EQ(times, 1) << id;
    EXPECT_LT(messages, static_cast<std::size_t>(burst));
    EXPECT_GE(messages, static_cast<std::size_t>(burst) / per_message);
    EXPECT_LE(largest, per_message);
    std::cout << "[          ] " << burst << " purchases in " << messages
              << " messages, the largest of " << largest << "\n";
  }
  reader.reset();
  flashsale::testing::delete_queues(params, queues);
}

}  // namespace

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

#include "actors/publisher_bridge.hpp"
#include "adapters/amqp/consumer.hpp"
#include "messages/codec.hpp"
#include "tests/support/amqp_tools.hpp"

namespace {

using namespace flashsale;

/// A publisher bridge on queues of the test's own (flashsale.route.<pid>.<n>, deleted before and
/// after), connected to the real broker.
class orders_routing : public ::testing::Test {
 protected:
  orders_routing() {
    cfg_.add_message_types<caf::id_block::flashsale>();
    cfg_.set("scheduler.max-threads", 2);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
  }

  /// Starts the bridge with `hot` products and `per_message`; use with ASSERT_NO_FATAL_FAILURE.
  void start_bridge(std::vector<std::string> hot, std::size_t per_message) {
    static int counter = 0;
    opts_.route.queue =
        "flashsale.route." + std::to_string(::getpid()) + "." + std::to_string(++counter);
    opts_.route.dead_letter_queue = opts_.route.queue + ".dead";
    opts_.route.hot_products = std::move(hot);
    queues_ = opts_.route.queues();
    queues_.push_back(opts_.route.dead_letter_queue);
    flashsale::testing::delete_queues(params_, queues_);
    ASSERT_NO_THROW(amqp::amqp_connection{params_}.declare(opts_.route));  // as amqp declare does
    auto connected = opts_.connected;
    publisher_bridge_options bridge_opts;
    bridge_opts.route = opts_.route;
    bridge_opts.outlet = amqp_outlet(params_, opts_);
    bridge_opts.purchases_per_message = per_message;
    bridge_ = spawn_publisher_bridge(*sys_, std::move(bridge_opts));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    while (!connected->load() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    ASSERT_TRUE(connected->load()) << "no broker connection";
  }

  /// Stops the bridge (its confirmed messages stay in the queues).
  void stop_bridge() { caf::anon_send_exit(bridge_, caf::exit_reason::user_shutdown); }

  void TearDown() override {
    stop_bridge();
    if (!queues_.empty())
      flashsale::testing::delete_queues(params_, queues_);
  }

  static purchase purchase_of(const std::string& id, const std::string& product) {
    purchase p;
    p.request_id = id;
    p.product = product;
    p.user = "user-" + id;
    p.gateway = "gw-route";
    p.ticket = id;
    return p;
  }

  amqp::connection_params params_ = amqp::connection_params::from_env();
  amqp::publisher::options opts_;
  std::vector<std::string> queues_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  publisher_actor bridge_;
};

TEST_F(orders_routing, a_hot_product_is_published_to_its_own_queue) {
  ASSERT_NO_FATAL_FAILURE(start_bridge({"Hot"}, 1));
  caf::scoped_actor self{*sys_};
  auto publish = [&](const std::string& product, const std::string& id) {
    bool confirmed = false;
    self->request(bridge_, std::chrono::seconds{15}, publish_atom_v, purchase_of(id, product))
        .receive(
            [&](publish_outcome outcome) { confirmed = outcome == publish_outcome::confirmed; },
            [&](caf::error& err) { ADD_FAILURE() << sys_->render(err); });
    return confirmed;
  };
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(publish("Hot", "h-" + std::to_string(i)));
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(publish("Cold", "c-" + std::to_string(i)));
  stop_bridge();

  // A confirm means the broker stored the message in the queue its routing key named.
  EXPECT_EQ(flashsale::testing::queue_state_of(params_, opts_.route.queue + ".Hot").messages, 3u);
  EXPECT_EQ(flashsale::testing::queue_state_of(params_, opts_.route.queue).messages, 2u);
}

// A burst of purchases (a sale's first second) costs the broker far fewer messages than
// purchases: what waits in the bridge's mailbox goes out together, at most the configured number
// per message, and each purchase is answered with its message's confirm.
TEST_F(orders_routing, purchases_that_arrive_together_share_a_message) {
  constexpr std::size_t per_message = 40;
  ASSERT_NO_FATAL_FAILURE(start_bridge({}, per_message));
  constexpr int burst = 500;
  caf::scoped_actor self{*sys_};
  for (int i = 0; i < burst; ++i)  // replies come back as messages
    self->send(bridge_, publish_atom_v, purchase_of("b-" + std::to_string(i), "P"));
  int confirmed = 0;
  self->receive_for(confirmed, burst)(
      [&](publish_outcome outcome) { EXPECT_EQ(outcome, publish_outcome::confirmed); },
      caf::after(std::chrono::seconds{30}) >> [&] { ADD_FAILURE() << "confirms stopped"; });
  EXPECT_EQ(confirmed, burst);
  stop_bridge();

  // Read the queue back: every purchase exactly once, in fewer messages than purchases, none
  // larger than allowed.
  std::mutex mtx;
  std::condition_variable cv;
  std::map<std::string, int> seen;
  std::size_t messages = 0;
  std::size_t largest = 0;
  std::unique_ptr<amqp::consumer> reader;
  amqp::consumer::options copts;
  copts.route = opts_.route;
  reader = std::make_unique<amqp::consumer>(params_, copts, [&](std::vector<amqp::delivery> batch) {
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
}

}  // namespace

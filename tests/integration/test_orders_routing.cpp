// The gateway's side of hot-product isolation: its publisher bridge puts a hot product's purchases
// on the product's own queue (<queue>.<product>) and every other purchase on the main queue, each
// confirmed by the real broker (FLASHSALE_AMQP_*). Queues flashsale.route.<pid>, deleted at the
// end.

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include "actors/queue_bridge.hpp"
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
  auto bridge = spawn_publisher_bridge(sys, params, opts);
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
        .receive([&](bool ack) { confirmed = ack; },
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

}  // namespace

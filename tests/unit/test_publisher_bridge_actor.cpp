// The publisher bridge's fate rules, under CAF's deterministic scheduler with a fake outlet in
// place of RabbitMQ: purchases that arrive together share a message and its fate; a refused
// message is answered and forgotten (the gateway refunds its units); a message of unknown fate is
// answered unknown and sent again every second until the broker confirms a copy (I4).

#define CAF_SUITE publisher_bridge
#include <caf/test/unit_test_impl.hpp>

#include <caf/test/dsl.hpp>

#include <optional>
#include <string>
#include <vector>

#include "actors/publisher_bridge.hpp"
#include "messages/codec.hpp"
#include "tests/unit/actor_fixture.hpp"

using namespace flashsale;
using flashsale::testing::fake_outlet;

namespace {

purchase purchase_of(const std::string& id, const std::string& product = "TV") {
  purchase p;
  p.request_id = id;
  p.product = product;
  p.user = "u-" + id;
  p.gateway = "gw1";
  p.ticket = id;
  return p;
}

/// The request ids a published body carries, in order.
std::vector<std::string> ids_in(const std::string& body) {
  std::vector<std::string> out;
  if (auto decoded = decode_purchases(body.data(), body.size()))
    for (const auto& p : *decoded)
      out.push_back(p.request_id);
  return out;
}

std::string names(const std::vector<publish_outcome>& outcomes) {
  std::string out;
  for (auto o : outcomes)
    out += o == publish_outcome::confirmed ? "confirmed "
           : o == publish_outcome::refused ? "refused "
                                           : "unknown ";
  return out;
}

struct fixture : flashsale::testing::actor_fixture {
  fake_outlet outlet;
  std::vector<publish_outcome> outcomes;  // the buyers' answers, in arrival order
  std::int64_t in_doubt = 0;              // as on_in_doubt last said
  publisher_actor bridge;

  void start(std::size_t per_message, std::vector<std::string> hot = {}) {
    publisher_bridge_options opts;
    opts.outlet = outlet.factory();
    opts.route.queue = "orders";
    opts.route.hot_products = std::move(hot);
    opts.purchases_per_message = per_message;
    opts.on_in_doubt = [this](std::int64_t n) { in_doubt = n; };
    bridge = spawn_publisher_bridge(sys, std::move(opts));
    consume();
  }

  /// Asks the bridge to publish every purchase at once, as a gateway under load does; the
  /// answers land in `outcomes`.
  void buy(std::vector<purchase> purchases) {
    sys.spawn([this, purchases](caf::event_based_actor* self) {
      for (const auto& p : purchases)
        self->request(bridge, caf::infinite, publish_atom_v, p).then([this](publish_outcome o) {
          outcomes.push_back(o);
        });
    });
    consume();
  }

  ~fixture() override { caf::anon_send_exit(bridge, caf::exit_reason::user_shutdown); }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(publisher_bridge_fates, fixture)

CAF_TEST(purchases_that_arrive_together_share_one_message_and_its_fate) {
  start(100);
  buy({purchase_of("a"), purchase_of("b"), purchase_of("c")});
  CAF_REQUIRE_EQUAL(outlet.published().size(), 1u);
  CAF_CHECK_EQUAL(ids_in(outlet.published()[0].body), (std::vector<std::string>{"a", "b", "c"}));
  CAF_CHECK_EQUAL(outlet.published()[0].queue, "orders");
  CAF_CHECK(outcomes.empty());  // nobody is answered before the broker
  outlet.tell_last(publish_outcome::confirmed);
  consume();
  CAF_CHECK_EQUAL(names(outcomes), "confirmed confirmed confirmed ");
  later(std::chrono::seconds{5});
  CAF_CHECK_EQUAL(outlet.published().size(), 1u);  // a confirmed message is never sent again
}

CAF_TEST(a_message_never_carries_more_than_purchases_per_message) {
  start(2);
  buy({purchase_of("a"), purchase_of("b"), purchase_of("c"), purchase_of("d"), purchase_of("e")});
  // Full messages go at once; "e" waits: two messages already await the broker.
  CAF_REQUIRE_EQUAL(outlet.published().size(), 2u);
  CAF_CHECK_EQUAL(ids_in(outlet.published()[0].body), (std::vector<std::string>{"a", "b"}));
  CAF_CHECK_EQUAL(ids_in(outlet.published()[1].body), (std::vector<std::string>{"c", "d"}));
  outlet.tell(outlet.published()[0].id, publish_outcome::confirmed);
  consume();
  CAF_REQUIRE_EQUAL(outlet.published().size(), 3u);
  CAF_CHECK_EQUAL(ids_in(outlet.published()[2].body), (std::vector<std::string>{"e"}));
}

CAF_TEST(while_two_messages_await_the_broker_purchases_gather_into_the_next) {
  start(100);
  buy({purchase_of("a")});
  buy({purchase_of("b")});
  CAF_REQUIRE_EQUAL(outlet.published().size(), 2u);  // a lone purchase waits for nothing
  buy({purchase_of("c")});
  buy({purchase_of("d")});
  buy({purchase_of("e")});
  CAF_REQUIRE_EQUAL(outlet.published().size(), 2u);
  CAF_CHECK_EQUAL(names(outcomes), "");
  outlet.tell(outlet.published()[1].id, publish_outcome::refused);  // any fate frees the window
  consume();
  CAF_REQUIRE_EQUAL(outlet.published().size(), 3u);
  CAF_CHECK_EQUAL(ids_in(outlet.published()[2].body), (std::vector<std::string>{"c", "d", "e"}));
  CAF_CHECK_EQUAL(names(outcomes), "refused ");
  outlet.tell(outlet.published()[0].id, publish_outcome::confirmed);
  outlet.tell(outlet.published()[2].id, publish_outcome::confirmed);
  consume();
  CAF_CHECK_EQUAL(names(outcomes), "refused confirmed confirmed confirmed confirmed ");
}

CAF_TEST(a_hot_product_travels_on_a_queue_of_its_own) {
  start(100, {"Hot"});
  buy({purchase_of("a", "TV"), purchase_of("h", "Hot")});
  CAF_REQUIRE_EQUAL(outlet.published().size(), 2u);
  for (const auto& m : outlet.published()) {
    auto ids = ids_in(m.body);
    CAF_REQUIRE_EQUAL(ids.size(), 1u);
    CAF_CHECK_EQUAL(m.queue, ids[0] == "h" ? "orders.Hot" : "orders");
  }
}

CAF_TEST(a_refused_message_is_answered_refused_and_not_sent_again) {
  start(100);
  buy({purchase_of("a"), purchase_of("b")});
  outlet.tell_last(publish_outcome::refused);
  consume();
  CAF_CHECK_EQUAL(names(outcomes), "refused refused ");
  CAF_CHECK_EQUAL(in_doubt, 0);
  later(std::chrono::seconds{5});
  CAF_CHECK_EQUAL(outlet.published().size(), 1u);  // certainly not stored: the gateway refunds
}

CAF_TEST(a_message_of_unknown_fate_is_sent_again_until_a_copy_is_confirmed) {
  start(100);
  buy({purchase_of("a"), purchase_of("b")});
  auto original = outlet.published().back();
  outlet.tell_last(publish_outcome::unknown);
  consume();
  CAF_CHECK_EQUAL(names(outcomes), "unknown unknown ");  // the buyers hear at once (503)
  CAF_CHECK_EQUAL(in_doubt, 2);
  later(std::chrono::milliseconds{900});
  CAF_CHECK_EQUAL(outlet.published().size(), 1u);  // not before a second
  later(std::chrono::milliseconds{100});
  CAF_REQUIRE_EQUAL(outlet.published().size(), 2u);
  CAF_CHECK_EQUAL(outlet.published()[1].body, original.body);  // the same purchases, same ids
  CAF_CHECK_EQUAL(outlet.published()[1].queue, original.queue);
  CAF_CHECK_NOT_EQUAL(outlet.published()[1].id, original.id);
  // A copy the broker refuses (it is away) is tried again a second later, and so is one of
  // unknown fate; the buyers are not answered again.
  outlet.tell_last(publish_outcome::refused);
  later(std::chrono::seconds{1});
  CAF_REQUIRE_EQUAL(outlet.published().size(), 3u);
  outlet.tell_last(publish_outcome::unknown);
  later(std::chrono::seconds{1});
  CAF_REQUIRE_EQUAL(outlet.published().size(), 4u);
  CAF_CHECK_EQUAL(in_doubt, 2);
  outlet.tell_last(publish_outcome::confirmed);
  consume();
  CAF_CHECK_EQUAL(in_doubt, 0);
  later(std::chrono::seconds{5});
  CAF_CHECK_EQUAL(outlet.published().size(), 4u);
  CAF_CHECK_EQUAL(outcomes.size(), 2u);
}

CAF_TEST(a_late_fate_of_the_original_does_not_disturb_its_copies) {
  start(100);
  buy({purchase_of("a")});
  auto original = outlet.published().back().id;
  outlet.tell(original, publish_outcome::unknown);
  later(std::chrono::seconds{1});
  CAF_REQUIRE_EQUAL(outlet.published().size(), 2u);
  outlet.tell(original, publish_outcome::confirmed);  // a fate told twice is ignored
  consume();
  CAF_CHECK_EQUAL(outcomes.size(), 1u);
  CAF_CHECK_EQUAL(in_doubt, 1);
  outlet.tell_last(publish_outcome::confirmed);
  consume();
  CAF_CHECK_EQUAL(in_doubt, 0);
}

CAF_TEST_FIXTURE_SCOPE_END()

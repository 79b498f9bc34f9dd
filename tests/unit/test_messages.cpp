// Message round trips through CAF's binary serializer, and the queue codec built on it.

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>

#include "messages/codec.hpp"
#include "messages/type_ids.hpp"

namespace {

using namespace flashsale;

template <class T>
T round_trip(T value) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  EXPECT_FALSE(sink(value));
  T out{};
  caf::binary_deserializer source{static_cast<caf::execution_unit*>(nullptr), buf};
  EXPECT_FALSE(source(out));
  EXPECT_EQ(source.remaining(), 0u);
  return out;
}

purchase sample_purchase() {
  return purchase{"gw1-k3x9-17", "TV", "user-42", "gw1", "gw1-k3x9-17", 1764241234567, 5};
}

TEST(messages, purchase_survives_binary_round_trip) {
  auto p = sample_purchase();
  auto q = round_trip(p);
  EXPECT_EQ(q.request_id, p.request_id);
  EXPECT_EQ(q.product, p.product);
  EXPECT_EQ(q.user, p.user);
  EXPECT_EQ(q.gateway, p.gateway);
  EXPECT_EQ(q.ticket, p.ticket);
  EXPECT_EQ(q.accepted_at_ms, p.accepted_at_ms);
  EXPECT_EQ(q.epoch, 5);
}

TEST(messages, order_result_survives_binary_round_trip) {
  order_result r{"req-1",        "t-1", "Phone", "gw7", order_status::duplicate_request,
                 987654321012LL, 3};
  auto q = round_trip(r);
  EXPECT_EQ(q.request_id, "req-1");
  EXPECT_EQ(q.ticket, "t-1");
  EXPECT_EQ(q.product, "Phone");
  EXPECT_EQ(q.gateway, "gw7");
  EXPECT_EQ(q.status, order_status::duplicate_request);
  EXPECT_EQ(q.order_id, 987654321012LL);
  EXPECT_EQ(q.slot, 3);
}

TEST(messages, quota_update_and_sold_out_survive_binary_round_trip) {
  auto q = round_trip(quota_update{"Clothes", 334, 7});
  EXPECT_EQ(q.product, "Clothes");
  EXPECT_EQ(q.grant, 334);
  EXPECT_EQ(q.version, 7);
  EXPECT_EQ(round_trip(sold_out{"TV"}).product, "TV");
  auto r = round_trip(purchase_reply{admission::queue_refused, "x"});
  EXPECT_EQ(r.outcome, admission::queue_refused);
  EXPECT_EQ(r.ticket, "x");
}

TEST(messages, registered_types_travel_inside_a_caf_message) {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::flashsale>();
  caf::actor_system sys{cfg};
  auto msg = caf::make_message(sample_purchase(),
                               order_result{"r", "t", "TV", "gw1", order_status::confirmed, 1, 2});
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(msg));
  caf::message copy;
  caf::binary_deserializer source{sys, buf};
  ASSERT_FALSE(source(copy));
  ASSERT_TRUE((copy.match_elements<purchase, order_result>()));
  EXPECT_EQ(copy.get_as<purchase>(0).user, "user-42");
  EXPECT_EQ(copy.get_as<order_result>(1).status, order_status::confirmed);
}

TEST(codec, decodes_what_it_encodes) {
  auto second = sample_purchase();
  second.request_id = "gw1-k3x9-18";
  second.user = "user-43";
  auto body = encode_purchases({sample_purchase(), second});
  auto decoded = decode_purchases(body.data(), body.size());
  ASSERT_TRUE(decoded.has_value());
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].request_id, "gw1-k3x9-17");
  EXPECT_EQ((*decoded)[0].user, "user-42");
  EXPECT_EQ((*decoded)[1].request_id, "gw1-k3x9-18");
  EXPECT_EQ((*decoded)[1].user, "user-43");
  EXPECT_EQ((*decoded)[1].accepted_at_ms, sample_purchase().accepted_at_ms);
  EXPECT_EQ((*decoded)[1].epoch, 5);
}

TEST(codec, reads_single_purchase_bodies_of_the_previous_version) {
  // What gateways before version 2 published: version byte 1, then one purchase. Such messages
  // may still wait in a queue when the writers are upgraded.
  std::vector<char> buf{1};
  caf::binary_serializer sink{nullptr, buf};
  auto p = sample_purchase();
  ASSERT_FALSE(sink(p.request_id, p.product, p.user, p.gateway, p.ticket, p.accepted_at_ms));
  auto decoded = decode_purchases(buf.data(), buf.size());
  ASSERT_TRUE(decoded.has_value());
  ASSERT_EQ(decoded->size(), 1u);
  EXPECT_EQ(decoded->front().request_id, "gw1-k3x9-17");
  EXPECT_EQ(decoded->front().epoch, 0);  // names no epoch: any fence of its gateway stops it
}

TEST(codec, reads_lists_without_epochs_of_the_previous_version) {
  // Version 2: a list of purchases without the epoch field (gateways before fencing).
  std::vector<char> buf{2};
  caf::binary_serializer sink{nullptr, buf};
  auto p = sample_purchase();
  std::size_t count = 2;
  ASSERT_FALSE(sink.begin_sequence(count));
  for (int i = 0; i < 2; ++i)
    ASSERT_FALSE(sink(p.request_id, p.product, p.user, p.gateway, p.ticket, p.accepted_at_ms));
  ASSERT_FALSE(sink.end_sequence());
  auto decoded = decode_purchases(buf.data(), buf.size());
  ASSERT_TRUE(decoded.has_value());
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[1].user, "user-42");
  EXPECT_EQ((*decoded)[1].epoch, 0);
  buf[0] = 3;  // the same bytes read as version 3 lack the epochs: refused
  EXPECT_FALSE(decode_purchases(buf.data(), buf.size()).has_value());
}

TEST(codec, rejects_garbage_truncation_and_trailing_bytes) {
  auto body = encode_purchases({sample_purchase(), sample_purchase()});
  EXPECT_FALSE(decode_purchases("", 0).has_value());
  EXPECT_FALSE(decode_purchases("{\"user\":\"x\"}", 12).has_value());
  EXPECT_FALSE(decode_purchases(body.data(), body.size() - 1).has_value());
  auto longer = body + "x";
  EXPECT_FALSE(decode_purchases(longer.data(), longer.size()).has_value());
  auto wrong_version = body;
  wrong_version[0] = 9;
  EXPECT_FALSE(decode_purchases(wrong_version.data(), wrong_version.size()).has_value());
}

TEST(codec, rejects_an_empty_list_and_one_longer_than_the_limit) {
  auto empty = encode_purchases({});
  EXPECT_FALSE(decode_purchases(empty.data(), empty.size()).has_value());
  std::vector<purchase> many(max_purchases_per_message + 1, sample_purchase());
  auto too_many = encode_purchases(many);
  EXPECT_FALSE(decode_purchases(too_many.data(), too_many.size()).has_value());
  many.pop_back();
  auto most = encode_purchases(many);
  EXPECT_TRUE(decode_purchases(most.data(), most.size()).has_value());
}

TEST(codec, rejects_a_list_with_any_purchase_missing_required_fields) {
  auto incomplete = sample_purchase();
  incomplete.user.clear();
  auto body = encode_purchases({sample_purchase(), incomplete});
  EXPECT_FALSE(decode_purchases(body.data(), body.size()).has_value());
}

TEST(order_status, names_round_trip) {
  for (auto s : {order_status::queued, order_status::confirmed, order_status::duplicate_request,
                 order_status::user_limit, order_status::sold_out, order_status::unknown_product}) {
    order_status parsed = order_status::queued;
    ASSERT_TRUE(from_string(to_string(s), parsed));
    EXPECT_EQ(parsed, s);
  }
  order_status untouched = order_status::sold_out;
  EXPECT_FALSE(from_string("bogus", untouched));
  EXPECT_EQ(untouched, order_status::sold_out);
}

}  // namespace

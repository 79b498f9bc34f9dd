// Pure logic of live quotas: the counter's lease and release, the quota leader's decisions
// (quota/policy) and the znode documents operators read and write.

#include <gtest/gtest.h>

#include <numeric>

#include "quota/quota_counter.hpp"
#include "quota/policy.hpp"
#include "quota/znodes.hpp"

namespace {

using namespace flashsale;
using namespace flashsale::quota;

// -- quota_counter: lease, release, resume ----------------------------------------------------

TEST(quota_counter_lease, nothing_is_admitted_without_a_lease) {
  quota_counter c{10};
  c.require_lease();
  EXPECT_FALSE(c.reserve(1000));
  c.extend_lease(2000);
  EXPECT_TRUE(c.reserve(1999));
  EXPECT_FALSE(c.reserve(2000));  // the deadline itself is out
  EXPECT_EQ(c.consumed(), 1);
  EXPECT_EQ(c.refused(), 2);
}

TEST(quota_counter_lease, a_late_shorter_lease_does_not_shorten_it_but_a_revoke_does) {
  quota_counter c{10};
  c.require_lease();
  c.extend_lease(5000);
  c.extend_lease(3000);  // an older renewal arriving late
  EXPECT_TRUE(c.reserve(4000));
  c.revoke_lease();
  EXPECT_FALSE(c.reserve(4001));
  EXPECT_FALSE(c.lease_valid(4001));
}

TEST(quota_counter_release, caps_the_grant_at_consumed_and_names_the_version) {
  quota_counter c{0};
  ASSERT_TRUE(c.apply(quota_update{"TV", 10, 42}));
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(c.reserve());
  auto r = c.release_unused();
  EXPECT_EQ(r.released, 6);
  EXPECT_EQ(r.grant, 4);
  EXPECT_EQ(r.version, 42);
  EXPECT_FALSE(c.reserve());
  // The grant version that was capped arrives again (a re-read): the cap holds.
  EXPECT_FALSE(c.apply(quota_update{"TV", 10, 42}));
  EXPECT_FALSE(c.reserve());
  // Only a newer version raises it.
  EXPECT_TRUE(c.apply(quota_update{"TV", 7, 43}));
  EXPECT_TRUE(c.reserve());
}

TEST(quota_counter_release, a_refund_after_a_release_never_lets_consumed_pass_the_cap) {
  quota_counter c{5};
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(c.reserve());
  c.release_unused();
  c.refund();
  EXPECT_TRUE(c.reserve());
  EXPECT_FALSE(c.reserve());
  EXPECT_EQ(c.consumed(), 3);
  EXPECT_EQ(c.grant(), 3);
}

TEST(quota_counter_release, releasing_an_overdrawn_counter_gives_nothing_back) {
  quota_counter c{5};
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(c.reserve());
  c.apply(quota_update{"TV", 3, 1});  // lowered below consumed
  auto r = c.release_unused();
  EXPECT_EQ(r.released, 0);
  EXPECT_EQ(r.grant, 3);
}

TEST(quota_counter_resume, a_restarted_counter_starts_from_the_reported_consumption) {
  quota_counter c{0};
  c.resume(300);
  c.apply(quota_update{"TV", 334, 9});
  EXPECT_EQ(c.remaining(), 34);
  c.resume(100);  // never lowers
  EXPECT_EQ(c.consumed(), 300);
}

TEST(quota_counter_resume, a_running_counter_keeps_its_own_figure_after_refunds) {
  // Reported 5 consumed, then two publishes failed and were refunded; the session expired and the
  // keeper re-registers with the old report: the units refunded must stay available.
  quota_counter c{0};
  c.apply(quota_update{"TV", 10, 4});
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(c.reserve());
  c.refund();
  c.refund();
  c.resume(5);
  EXPECT_EQ(c.consumed(), 3);
  EXPECT_EQ(c.remaining(), 7);
}

TEST(quota_counter_resume, a_settled_grant_below_consumed_after_a_new_session_becomes_consumed) {
  // Consumed 8 of 10 in epoch 1; the session expired, the databases were fenced holding 5 of its
  // orders and the leader lowered the grant to 5. The new session reads that grant: the 3 units
  // in flight can never be written, so consumed falls to 5 and a later grant of 7 admits 2.
  quota_counter c{0};
  c.apply(quota_update{"TV", 10, 4});
  for (int i = 0; i < 8; ++i)
    ASSERT_TRUE(c.reserve());
  c.resume(8);
  c.apply(quota_update{"TV", 5, 6});
  EXPECT_EQ(c.consumed(), 5);
  EXPECT_EQ(c.remaining(), 0);
  c.apply(quota_update{"TV", 7, 8});
  EXPECT_EQ(c.remaining(), 2);
  // Only the first grant after a resume settles: a lower one later leaves consumed alone.
  ASSERT_TRUE(c.reserve());
  ASSERT_TRUE(c.reserve());
  c.apply(quota_update{"TV", 6, 9});
  EXPECT_EQ(c.consumed(), 7);
  // A restarted counter settles too: it resumes from its last claim (9), the grant says 4.
  quota_counter r{0};
  r.resume(9);
  r.apply(quota_update{"TV", 4, 11});
  EXPECT_EQ(r.consumed(), 4);
}

TEST(quota_counter_demand, attempts_are_remembered_even_when_refused) {
  quota_counter c{0};
  EXPECT_EQ(c.idle_ms(5000, 1000), 4000);  // no attempt yet: since the start
  EXPECT_FALSE(c.reserve(6000));
  EXPECT_EQ(c.idle_ms(6500, 1000), 500);
}

// -- policy ------------------------------------------------------------------------------------

node_view node(const std::string& name, bool live, std::int64_t grant, std::int64_t consumed,
               bool demand = false, std::int64_t idle_ms = 0, bool release = false) {
  node_view v;
  v.node = name;
  v.live = live;
  v.grant = grant_znode{grant, release};
  v.grant_version = 3;
  consumption_report r;
  r.consumed = consumed;
  v.report = r;
  v.demand = demand;
  v.idle_ms = idle_ms;
  v.report_version = 7;
  return v;
}

std::int64_t new_grant(const product_plan& plan, const std::string& name) {
  for (const auto& c : plan.changes)
    if (c.node == name)
      return c.value.grant;
  return -1;
}

TEST(equal_split, the_remainder_goes_to_the_first_shares) {
  EXPECT_EQ(equal_split(1000, 3), (std::vector<std::int64_t>{334, 333, 333}));
  EXPECT_EQ(equal_split(1000, 8), (std::vector<std::int64_t>(8, 125)));
  EXPECT_EQ(equal_split(2, 3), (std::vector<std::int64_t>{1, 1, 0}));
  EXPECT_TRUE(equal_split(5, 0).empty());
}

TEST(quota_policy, first_split_waits_for_the_expected_gateways_then_splits_by_name) {
  product_view v{"TV", 1000, 0, {node("gw2", true, 0, 0), node("gw1", true, 0, 0)}};
  policy_settings s;
  s.expected_gateways = 3;
  EXPECT_TRUE(plan_product(v, s).empty());
  v.nodes.push_back(node("gw3", true, 0, 0));
  auto plan = plan_product(v, s);
  ASSERT_EQ(plan.changes.size(), 3u);
  EXPECT_EQ(new_grant(plan, "gw1"), 334);
  EXPECT_EQ(new_grant(plan, "gw2"), 333);
  EXPECT_EQ(new_grant(plan, "gw3"), 333);
  EXPECT_TRUE(plan.raises);
  EXPECT_EQ(plan.free_after, 0);
  for (const auto& c : plan.changes)
    EXPECT_EQ(c.reason, change_reason::first_split);
}

TEST(quota_policy, first_split_after_the_wait_takes_whoever_is_there) {
  product_view v{"TV", 1000, 0, {node("gw1", true, 0, 0), node("gw2", false, 0, 0)}};
  policy_settings s;
  s.expected_gateways = 3;
  s.split_wait_over = true;
  auto plan = plan_product(v, s);
  EXPECT_EQ(new_grant(plan, "gw1"), 1000);
  EXPECT_EQ(new_grant(plan, "gw2"), -1);
}

TEST(quota_policy, a_dry_node_with_buyers_makes_idle_nodes_give_back) {
  product_view v{"TV",
                 1000,
                 1000,
                 {node("gw1", true, 334, 334, true), node("gw2", true, 333, 10, false, 5000),
                  node("gw3", true, 333, 0, false, 200)}};
  policy_settings s;
  s.idle_release_ms = 1000;
  auto plan = plan_product(v, s);
  ASSERT_EQ(plan.changes.size(), 1u);  // gw3 was active 200 ms ago: not idle yet
  EXPECT_EQ(plan.changes[0].node, "gw2");
  EXPECT_TRUE(plan.changes[0].value.release);
  EXPECT_EQ(plan.changes[0].value.grant, 333);  // the leader never lowers a live grant itself
  EXPECT_FALSE(plan.raises);
}

TEST(quota_policy, given_back_quota_goes_to_the_nodes_that_want_it) {
  product_view v{
      "TV",
      1000,
      1000,
      {node("gw1", true, 334, 334, true), node("gw2", true, 10, 10), node("gw3", true, 0, 0)}};
  auto plan = plan_product(v, policy_settings{});
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(new_grant(plan, "gw1"), 334 + 656);
  EXPECT_TRUE(plan.raises);
  EXPECT_EQ(plan.free_after, 0);
}

TEST(quota_policy, nobody_asked_to_release_is_given_more_meanwhile) {
  product_view v{"TV",
                 1000,
                 1000,
                 {node("gw1", true, 300, 300, true), node("gw2", true, 400, 100, true, 0, true),
                  node("gw3", true, 200, 200, true)}};
  auto plan = plan_product(v, policy_settings{});
  EXPECT_EQ(new_grant(plan, "gw2"), -1);
  EXPECT_EQ(new_grant(plan, "gw1"), 350);
  EXPECT_EQ(new_grant(plan, "gw3"), 250);
}

TEST(quota_policy, a_gone_node_is_lowered_to_its_reported_consumption) {
  product_view v{"TV",
                 1000,
                 1000,
                 {node("gw1", true, 334, 334, true), node("gw2", true, 333, 333, true),
                  node("gw3", false, 333, 120)}};
  auto plan = plan_product(v, policy_settings{});
  EXPECT_EQ(new_grant(plan, "gw3"), 120);
  EXPECT_EQ(plan.reclaimed, std::vector<std::string>{"gw3"});
  EXPECT_EQ(new_grant(plan, "gw1"), 334 + 107);
  EXPECT_EQ(new_grant(plan, "gw2"), 333 + 106);
  EXPECT_EQ(plan.free_after, 0);
}

TEST(quota_policy, a_gone_node_keeps_what_it_claimed_so_nothing_it_sold_is_granted_again) {
  // gw3 reported 120 sold but had claimed 150: it may have sold up to 150 before it died.
  auto gw3 = node("gw3", false, 333, 120);
  gw3.report->claimed = 150;
  product_view v{"TV",
                 1000,
                 1000,
                 {node("gw1", true, 334, 334, true), node("gw2", true, 333, 333, true), gw3}};
  auto plan = plan_product(v, policy_settings{});
  EXPECT_EQ(new_grant(plan, "gw3"), 150);
  EXPECT_EQ(new_grant(plan, "gw1") + new_grant(plan, "gw2"), 1000 - 150);
}

TEST(quota_policy, a_gone_node_fenced_in_the_databases_is_lowered_to_what_it_sold) {
  // gw3 claimed 150, reported 140 consumed, and the databases hold 97 of its orders once fenced:
  // everything above 97 goes back, also what it claimed and consumed but never wrote.
  auto gw3 = node("gw3", false, 333, 140);
  gw3.report->claimed = 150;
  gw3.settled_sold = 97;
  product_view v{"TV",
                 1000,
                 1000,
                 {node("gw1", true, 334, 334, true), node("gw2", true, 333, 333, true), gw3}};
  auto plan = plan_product(v, policy_settings{});
  EXPECT_EQ(new_grant(plan, "gw3"), 97);
  ASSERT_FALSE(plan.changes.empty());
  EXPECT_EQ(plan.reclaimed, std::vector<std::string>{"gw3"});  // its report version is checked
  EXPECT_EQ(new_grant(plan, "gw1") + new_grant(plan, "gw2"), 1000 - 97);
  EXPECT_EQ(plan.free_after, 0);
  // Once lowered, nothing more changes, and what it consumed beyond is not counted as held.
  gw3.grant->grant = 97;
  product_view after{"TV",
                     1000,
                     1000,
                     {node("gw1", true, new_grant(plan, "gw1"), 334, true),
                      node("gw2", true, new_grant(plan, "gw2"), 333, true), gw3}};
  EXPECT_TRUE(plan_product(after, policy_settings{}).empty());
  // A live node's settled record (it came back) counts for nothing.
  gw3.live = true;
  gw3.grant->grant = 333;
  product_view back{"TV",
                    1000,
                    1000,
                    {node("gw1", true, 334, 334, true), node("gw2", true, 333, 333, true), gw3}};
  EXPECT_EQ(new_grant(plan_product(back, policy_settings{}), "gw3"), -1);
}

TEST(quota_znodes, a_settled_record_round_trips_and_refuses_what_is_not_one) {
  settled_znode x;
  x.epoch = 4;
  x.sold = {{"TV", 97}, {"Phone", 0}};
  x.by = "w1";
  x.at_ms = 5;
  auto back = decode_settled(encode(x));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->epoch, 4);
  EXPECT_EQ(back->sold, x.sold);
  EXPECT_EQ(back->by, "w1");
  EXPECT_FALSE(decode_settled(R"({"epoch":0,"sold":{}})"));
  EXPECT_FALSE(decode_settled(R"({"epoch":2})"));
  EXPECT_FALSE(decode_settled(R"({"epoch":2,"sold":{"TV":-1}})"));
  EXPECT_FALSE(decode_settled(R"({"epoch":2,"sold":{"TV":"7"}})"));
  EXPECT_FALSE(decode_settled("garbage"));
}

TEST(quota_znodes, a_report_without_a_claim_reads_as_claiming_its_consumption) {
  auto r = quota::decode_report(R"({"consumed":42,"grant":100})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->claimed, 42);
  quota::consumption_report full;
  full.consumed = 10;
  full.claimed = 60;
  EXPECT_EQ(quota::decode_report(quota::encode(full))->claimed, 60);
}

TEST(quota_policy, a_report_older_than_the_grant_asks_for_nothing) {
  // gw2 just gave back (its grant is newer than its last report, which still shows 100 unused).
  auto gw2 = node("gw2", true, 300, 200, false, 9000);
  gw2.grant_mzxid = 50;
  gw2.report->version = 40;
  product_view v{"TV", 900, 1000, {node("gw1", true, 700, 700, true), gw2}};
  EXPECT_TRUE(plan_product(v, policy_settings{}).empty());
  gw2.report->version = 50;  // the fresh report
  product_view fresh{"TV", 900, 1000, {node("gw1", true, 700, 700, true), gw2}};
  auto plan = plan_product(fresh, policy_settings{});
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_TRUE(plan.changes[0].value.release);
}

TEST(quota_policy, units_a_node_consumed_beyond_its_grant_are_not_free) {
  // gw3 came back having admitted 20 units more than the grant it was reclaimed to.
  product_view v{"TV",
                 1000,
                 1000,
                 {node("gw1", true, 500, 500, true), node("gw2", true, 400, 400, true),
                  node("gw3", true, 100, 120, true)}};
  auto plan = plan_product(v, policy_settings{});
  EXPECT_EQ(plan.free_before, -20);
  EXPECT_FALSE(plan.raises);
}

TEST(quota_policy, a_gone_node_without_a_report_keeps_its_grant) {
  auto gone = node("gw3", false, 333, 0);
  gone.report.reset();
  product_view v{"TV", 1000, 1000, {node("gw1", true, 667, 667, true), gone}};
  EXPECT_TRUE(plan_product(v, policy_settings{}).empty());
}

TEST(quota_policy, lower_stock_asks_every_live_node_with_unused_quota_and_raises_nothing) {
  product_view v{"TV",
                 1300,
                 1500,
                 {node("gw1", true, 500, 300, true), node("gw2", true, 500, 500, true),
                  node("gw3", true, 500, 200, true)}};
  auto plan = plan_product(v, policy_settings{});
  EXPECT_FALSE(plan.raises);
  ASSERT_EQ(plan.changes.size(), 2u);
  for (const auto& c : plan.changes) {
    EXPECT_TRUE(c.value.release) << c.node;
    EXPECT_EQ(c.value.grant, 500) << c.node;
    EXPECT_NE(c.node, "gw2");  // nothing unused there
  }
  // Once they gave back (grant = consumed), the rest of the new stock is split again.
  product_view after{"TV",
                     1300,
                     1300,
                     {node("gw1", true, 300, 300, true), node("gw2", true, 500, 500, true),
                      node("gw3", true, 200, 200, true)}};
  auto regrant = plan_product(after, policy_settings{});
  std::int64_t sum = 0;
  for (const auto& n : after.nodes) {
    auto g = new_grant(regrant, n.node);
    sum += g >= 0 ? g : n.grant->grant;
    EXPECT_GE(g, n.report->consumed) << n.node;
  }
  EXPECT_EQ(sum, 1300);
}

TEST(quota_policy, added_stock_is_split_over_every_live_node_even_idle_ones) {
  product_view v{"TV",
                 1500,
                 1000,
                 {node("gw1", true, 334, 200, true), node("gw2", true, 333, 100, true),
                  node("gw3", true, 333, 100, false, 9000), node("gw4", false, 0, 0)}};
  auto plan = plan_product(v, policy_settings{});
  EXPECT_EQ(new_grant(plan, "gw1"), 334 + 167);
  EXPECT_EQ(new_grant(plan, "gw2"), 333 + 167);
  EXPECT_EQ(new_grant(plan, "gw3"), 333 + 166);
  EXPECT_EQ(new_grant(plan, "gw4"), -1);  // gone
  EXPECT_EQ(plan.split_stock_after, 1500);
  for (const auto& c : plan.changes)
    EXPECT_EQ(c.reason, change_reason::new_stock);
}

TEST(quota_policy, given_back_quota_beside_added_stock_goes_only_to_the_nodes_that_want_it) {
  // 100 units were added, 30 more were given back by gw3 (grant = consumed).
  product_view v{"TV",
                 1100,
                 1000,
                 {node("gw1", true, 500, 500, true), node("gw2", true, 440, 300, true),
                  node("gw3", true, 30, 30, false, 9000)}};
  auto plan = plan_product(v, policy_settings{});
  EXPECT_EQ(new_grant(plan, "gw1"), 500 + 34 + 15);
  EXPECT_EQ(new_grant(plan, "gw2"), 440 + 33 + 15);
  EXPECT_EQ(new_grant(plan, "gw3"), 30 + 33);
  EXPECT_EQ(plan.split_stock_after, 1100);
  EXPECT_EQ(plan.free_after, 0);
}

TEST(quota_policy, lowering_the_stock_lowers_the_split_record) {
  product_view v{
      "TV", 900, 1000, {node("gw1", true, 500, 500, true), node("gw2", true, 500, 400, true)}};
  auto plan = plan_product(v, policy_settings{});
  EXPECT_EQ(plan.split_stock_after, 900);
  EXPECT_FALSE(plan.raises);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].node, "gw2");
  EXPECT_TRUE(plan.changes[0].value.release);
}

TEST(quota_policy, every_plan_keeps_the_sum_of_grants_within_the_stock) {
  // A small exhaustive sweep: whatever the state, a plan that raises ends with sum <= stock, and
  // no live grant is lowered by the leader.
  for (std::int64_t stock : {0, 7, 100}) {
    for (std::int64_t split : {std::int64_t{0}, stock / 2, stock}) {
      for (int mask = 0; mask < 64; ++mask) {
        std::vector<node_view> nodes;
        for (int i = 0; i < 3; ++i) {
          bool live = (mask >> i) & 1;
          bool demand = (mask >> (i + 3)) & 1;
          std::int64_t grant = (i * 13 + mask) % 50;
          std::int64_t consumed = grant - (mask % 3 == i ? grant : grant / 2);
          nodes.push_back(node("gw" + std::to_string(i), live, grant, consumed, demand, 5000));
        }
        product_view v{"TV", stock, split, nodes};
        auto plan = plan_product(v, policy_settings{});
        std::int64_t before = 0;
        std::int64_t after = 0;
        for (const auto& n : nodes) {
          before += n.grant->grant;
          auto g = new_grant(plan, n.node);
          after += g >= 0 ? g : n.grant->grant;
          if (n.live && g >= 0) {
            EXPECT_GE(g, n.grant->grant) << "a live grant was lowered by the leader";
          }
        }
        if (plan.raises) {
          EXPECT_LE(after, stock) << "stock " << stock << " split " << split << " mask " << mask;
        } else {
          EXPECT_LE(after, before);
        }
        EXPECT_LE(plan.split_stock_after, stock);
      }
    }
  }
}

// -- znode documents ---------------------------------------------------------------------------

TEST(quota_znodes, product_stock_accepts_json_or_a_bare_number) {
  EXPECT_EQ(decode_product("{\"stock\":1300}")->stock, 1300);
  EXPECT_EQ(decode_product("{\"stock\":5,\"note\":\"x\"}")->stock, 5);
  EXPECT_EQ(decode_product("1300")->stock, 1300);
  EXPECT_EQ(decode_product(encode(product_znode{42}))->stock, 42);
  EXPECT_FALSE(decode_product("{\"stock\":-1}"));
  EXPECT_FALSE(decode_product("{\"stock\":\"12\"}"));
  EXPECT_FALSE(decode_product("twelve"));
  EXPECT_FALSE(decode_product(""));
}

TEST(quota_znodes, grant_and_report_round_trip) {
  auto g = decode_grant(encode(grant_znode{334, true}));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->grant, 334);
  EXPECT_TRUE(g->release);
  EXPECT_FALSE(decode_grant("{\"release\":true}"));
  EXPECT_FALSE(decode_grant("{\"grant\":3,\"release\":1}"));

  consumption_report r;
  r.consumed = 12;
  r.grant = 20;
  r.version = 99;
  r.applied_at_ms = 123;
  r.last_attempt_ms = 40;
  r.refused = 3;
  r.at_ms = 456;
  r.epoch = 6;
  auto back = decode_report(encode(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->consumed, 12);
  EXPECT_EQ(back->grant, 20);
  EXPECT_EQ(back->version, 99);
  EXPECT_EQ(back->applied_at_ms, 123);
  EXPECT_EQ(back->last_attempt_ms, 40);
  EXPECT_EQ(back->refused, 3);
  EXPECT_EQ(back->at_ms, 456);
  EXPECT_EQ(back->epoch, 6);
  EXPECT_EQ(decode_report(R"({"consumed":1})")->epoch, 0);  // a keeper before fencing
  EXPECT_FALSE(decode_report("{}"));
}

TEST(quota_znodes, settings_reject_bad_ratios) {
  EXPECT_EQ(*decode_settings("{\"keep_one_in\":4}")->keep_one_in, 4u);
  EXPECT_FALSE(decode_settings("{}")->keep_one_in);
  EXPECT_FALSE(decode_settings("{\"keep_one_in\":0}"));
  EXPECT_FALSE(decode_settings("{\"keep_one_in\":\"4\"}"));
  EXPECT_FALSE(decode_settings("4"));
}

TEST(quota_znodes, layout_follows_the_design) {
  layout l{"/flashsale", "demo"};
  EXPECT_EQ(l.product("TV"), "/flashsale/sales/demo/products/TV");
  EXPECT_EQ(l.grant("gw1", "TV"), "/flashsale/sales/demo/grants/gw1/TV");
  EXPECT_EQ(l.consumed("gw1", "TV"), "/flashsale/sales/demo/consumed/gw1/TV");
  EXPECT_EQ(l.member("gw1"), "/flashsale/nodes/gateways/gw1");
  EXPECT_EQ(l.leader_prefix(), "/flashsale/sales/demo/leader/n_");
  EXPECT_TRUE(valid_root("/flashsale"));
  EXPECT_TRUE(valid_root("/a/b"));
  EXPECT_FALSE(valid_root("/"));
  EXPECT_FALSE(valid_root("flashsale"));
  EXPECT_FALSE(valid_root("/a/"));
  EXPECT_FALSE(valid_root("/a//b"));
}

}  // namespace

// Pure admission logic of the gateway: quota arithmetic (the lottery: test_lottery.cpp).

#include <gtest/gtest.h>

#include "quota/quota_counter.hpp"

namespace {

using flashsale::quota_counter;
using flashsale::quota_update;

TEST(quota_counter, never_admits_past_its_grant) {
  quota_counter c{3};
  EXPECT_TRUE(c.reserve());
  EXPECT_TRUE(c.reserve());
  EXPECT_TRUE(c.reserve());
  EXPECT_FALSE(c.reserve());
  EXPECT_EQ(c.consumed(), 3);
  EXPECT_TRUE(c.sold_out());
}

TEST(quota_counter, refund_makes_a_unit_available_again) {
  quota_counter c{1};
  ASSERT_TRUE(c.reserve());
  c.refund();
  EXPECT_EQ(c.remaining(), 1);
  EXPECT_TRUE(c.reserve());
  c.refund();
  c.refund();  // more refunds than reservations change nothing
  EXPECT_EQ(c.consumed(), 0);
}

TEST(quota_counter, applies_grants_in_version_order_only) {
  quota_counter c{0};
  EXPECT_FALSE(c.reserve());
  EXPECT_TRUE(c.apply(quota_update{"TV", 5, 2}));
  EXPECT_FALSE(c.apply(quota_update{"TV", 100, 1}));  // stale
  EXPECT_EQ(c.grant(), 5);
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(c.reserve());
  EXPECT_FALSE(c.reserve());
}

TEST(quota_counter, a_shrinking_grant_below_consumption_admits_nothing) {
  quota_counter c{10};
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(c.reserve());
  c.apply(quota_update{"TV", 4, 1});
  EXPECT_FALSE(c.reserve());
  EXPECT_EQ(c.remaining(), 0);
  c.apply(quota_update{"TV", 7, 2});
  EXPECT_TRUE(c.reserve());
  EXPECT_FALSE(c.reserve());
}

TEST(quota_counter, sold_out_refuses_even_with_quota_left) {
  quota_counter c{10};
  c.mark_sold_out();
  EXPECT_FALSE(c.reserve());
  EXPECT_TRUE(c.sold_out());
}

TEST(quota_counter, a_larger_grant_after_sold_out_admits_again) {
  // An operator added stock after the database ran dry: the new grant must be sold.
  quota_counter c{10};
  ASSERT_TRUE(c.apply(quota_update{"TV", 10, 1}));
  c.mark_sold_out();
  EXPECT_FALSE(c.reserve());
  ASSERT_TRUE(c.apply(quota_update{"TV", 10, 2}));  // same grant, newer version: still sold out
  EXPECT_FALSE(c.reserve());
  ASSERT_TRUE(c.apply(quota_update{"TV", 15, 3}));
  EXPECT_TRUE(c.reserve());
  EXPECT_FALSE(c.marked_sold_out());
}

TEST(quota_counter, with_claims_required_nothing_is_admitted_past_the_claim) {
  quota_counter c{100};
  c.require_claim();
  EXPECT_FALSE(c.reserve());  // no claim written yet
  c.raise_claim(2);
  EXPECT_TRUE(c.reserve());
  EXPECT_TRUE(c.reserve());
  EXPECT_FALSE(c.reserve());  // the grant has room, the claim has not
  EXPECT_EQ(c.remaining(), 98);
  c.raise_claim(1);  // never lowered
  EXPECT_EQ(c.claim(), 2);
  c.raise_claim(500);  // beyond the grant: the grant still caps
  for (int i = 0; i < 98; ++i)
    ASSERT_TRUE(c.reserve());
  EXPECT_FALSE(c.reserve());
}

}  // namespace

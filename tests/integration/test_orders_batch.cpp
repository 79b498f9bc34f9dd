// purchase_batch and adjust_stock (sql/004_orders.sql) through the adapter against a real
// PostgreSQL (FLASHSALE_PG_*): every answer of a batch, in request order; the per-user limit and
// repeated request ids inside one batch; concurrent batches with stock changes running beside them
// (no oversell, no deadlock, conservation through the ledger). The process works in its own
// database flashsale_orders_<pid>, created and migrated from sql/ at start and dropped at exit.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/db/order_store.hpp"
#include "adapters/db/schema_admin.hpp"
#include "common/sale_definition.hpp"
#include "tests/support/scratch_database.hpp"

namespace {

using namespace flashsale;

using flashsale::testing::define_scratch_product;
using flashsale::testing::scratch_admin;
using flashsale::testing::scratch_report;
using flashsale::testing::scratch_writer;

const auto* const g_environment = ::testing::AddGlobalTestEnvironment(
    new flashsale::testing::scratch_database_environment("flashsale_orders"));

class orders_batch : public flashsale::testing::scratch_database_test {};

db::purchase_request req(const std::string& id, const std::string& user) {
  return db::purchase_request{id, "", user, "gw-test"};
}

db::purchase_request from(const std::string& gateway, std::int64_t epoch, const std::string& id) {
  return db::purchase_request{id, "", "u-" + id, gateway, epoch};
}

// A fence stops the fenced epochs of its gateway and nothing else, and counts what it sold.
TEST_F(orders_batch, a_fence_refuses_the_fenced_epochs_of_its_gateway_and_counts_its_orders) {
  define_scratch_product("fen", 10, 2, 5);
  auto store = db::order_store::connect(scratch_writer());
  auto first = store->purchase_batch(
      "fen", {from("gw-f", 1, "f-1"), from("gw-f", 1, "f-2"), from("gw-f", 2, "f-3")});
  for (const auto& o : first)
    EXPECT_EQ(o.status, order_status::confirmed);
  auto sold = store->fence("gw-f", 2);
  EXPECT_EQ(sold["fen"], 3);
  auto out = store->purchase_batch(
      "fen", {from("gw-f", 1, "f-4"), from("gw-o", 1, "o-1"), from("gw-f", 3, "f-5"),
              from("gw-f", 2, "f-6"), from("gw-f", 0, "f-7")});
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].status, order_status::fenced);
  EXPECT_EQ(out[0].order_id, 0);
  EXPECT_EQ(out[1].status, order_status::confirmed);  // another gateway
  EXPECT_EQ(out[2].status, order_status::confirmed);  // a later epoch of the fenced one
  EXPECT_NE(out[2].order_id, 0);
  EXPECT_EQ(out[3].status, order_status::fenced);
  EXPECT_EQ(out[4].status, order_status::fenced);  // no epoch named: fenced too
  // A fence never goes down, and fencing again counts the later epoch's order.
  EXPECT_EQ(store->fence("gw-f", 1)["fen"], 4);
  EXPECT_EQ(store->purchase_batch("fen", {from("gw-f", 2, "f-8")})[0].status, order_status::fenced);
  // A redelivery of a purchase written before the fence is no refusal: it answers its order.
  auto again = store->purchase_batch("fen", {from("gw-f", 1, "f-1")});
  EXPECT_EQ(again[0].status, order_status::duplicate_request);
  EXPECT_EQ(again[0].order_id, first[0].order_id);
  // A wholly fenced batch takes nothing.
  auto none = store->purchase_batch("fen", {from("gw-f", 1, "f-9"), from("gw-f", 2, "f-10")});
  EXPECT_EQ(none[0].status, order_status::fenced);
  EXPECT_EQ(none[1].status, order_status::fenced);
  auto r = scratch_report("fen");
  EXPECT_EQ(r.sold, 5);
  EXPECT_EQ(r.remaining, 5);
  EXPECT_TRUE(r.ok());
  // Bad input is an error and changes nothing.
  for (auto bad : {std::pair<std::string, std::int64_t>{"", 1}, {"gw-f", -1}}) {
    try {
      store->fence(bad.first, bad.second);
      ADD_FAILURE() << "fenced '" << bad.first << "' at " << bad.second;
    } catch (const db::db_error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << e.what();
    }
  }
  auto admin = db::schema_admin::connect(scratch_admin());
  try {
    admin->execute(
        "SELECT * FROM purchase_batch_fenced('fen', ARRAY['a','b'], ARRAY['u','v'], "
        "ARRAY['g','g'], ARRAY[1]::bigint[])");
    ADD_FAILURE() << "accepted fewer epochs than requests";
  } catch (const db::db_error& e) {
    EXPECT_EQ(e.sqlstate(), "22023") << e.what();
  }
  EXPECT_EQ(scratch_report("fen").sold, 5);
}

// The fence and the purchases of its gateway are serialized: whatever committed before the fence
// is in its count, nothing of the fenced epoch commits after it.
TEST_F(orders_batch, purchases_racing_a_fence_are_either_counted_by_it_or_refused) {
  define_scratch_product("race", 100000, 4, 100000);
  std::atomic<std::int64_t> confirmed{0};
  std::vector<std::thread> buyers;
  for (int t = 0; t < 4; ++t) {
    buyers.emplace_back([&, t] {
      auto store = db::order_store::connect(scratch_writer());
      for (int i = 0; i < 3000; ++i) {  // bounded; ends at the first fenced answer
        auto id = "r-" + std::to_string(t) + "-" + std::to_string(i);
        auto out = store->purchase_batch("race", {from("gw-r", 7, id), from("gw-r", 7, id + "b")});
        for (const auto& o : out)
          if (o.status == order_status::confirmed)
            ++confirmed;
        if (out[0].status == order_status::fenced)
          return;
      }
    });
  }
  auto fencer = db::order_store::connect(scratch_writer());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (confirmed.load() < 200 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto sold = fencer->fence("gw-r", 7)["race"];
  for (auto& b : buyers)
    b.join();
  EXPECT_GE(sold, 200);
  EXPECT_EQ(confirmed.load(), sold) << "orders committed after the fence, or missed by its count";
  EXPECT_EQ(scratch_report("race").sold, sold);
}

// Every answer of purchase_batch, decided in request order, in one call.
TEST_F(orders_batch, one_call_answers_every_request_in_order) {
  define_scratch_product("ord", 5, 2, 2);
  auto store = db::order_store::connect(scratch_writer());
  auto first = store->purchase_batch("ord", {req("o-1", "ann")});
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(first[0].status, order_status::confirmed);

  auto out = store->purchase_batch("ord", {
                                              req("o-2", "ann"),  // 0 ann's second: confirmed
                                              req("o-3", "ann"),  // 1 ann's third: user_limit
                                              req("o-1", "ann"),  // 2 earlier call: duplicate
                                              req("o-4", "bob"),  // 3 confirmed
                                              req("o-4", "bob"),  // 4 repeated here: duplicate
                                              req("o-3", "ann"),  // 5 repeats a user_limit
                                              req("o-5", "cid"),  // 6 confirmed
                                              req("o-6", "dan"),  // 7 confirmed (the last unit)
                                              req("o-7", "eve"),  // 8 sold_out
                                              req("o-7", "eve"),  // 9 repeats a sold_out
                                          });
  ASSERT_EQ(out.size(), 10u);
  std::vector<order_status> expected{order_status::confirmed,         order_status::user_limit,
                                     order_status::duplicate_request, order_status::confirmed,
                                     order_status::duplicate_request, order_status::user_limit,
                                     order_status::confirmed,         order_status::confirmed,
                                     order_status::sold_out,          order_status::sold_out};
  for (std::size_t i = 0; i < out.size(); ++i)
    EXPECT_EQ(out[i].status, expected[i]) << "request " << i << ": " << to_string(out[i].status);
  EXPECT_EQ(out[2].order_id, first[0].order_id);
  EXPECT_EQ(out[2].slot, first[0].slot);
  EXPECT_EQ(out[4].order_id, out[3].order_id);
  EXPECT_EQ(out[4].slot, out[3].slot);
  std::set<std::int64_t> new_orders{out[0].order_id, out[3].order_id, out[6].order_id,
                                    out[7].order_id};
  EXPECT_EQ(new_orders.size(), 4u);
  for (auto i : {0, 3, 6, 7}) {
    EXPECT_GT(out[i].order_id, 0);
    EXPECT_GE(out[i].slot, 1);
    EXPECT_LE(out[i].slot, 2);
  }
  for (auto i : {1, 5, 8, 9}) {
    EXPECT_EQ(out[i].order_id, 0) << i;
    EXPECT_EQ(out[i].slot, 0) << i;
  }
  auto r = scratch_report("ord");
  EXPECT_EQ(r.sold, 5);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_TRUE(r.ok());

  // Redelivered, the whole batch gets the same orders back and changes nothing.
  auto again =
      store->purchase_batch("ord", {req("o-2", "ann"), req("o-4", "bob"), req("o-7", "eve")});
  EXPECT_EQ(again[0].status, order_status::duplicate_request);
  EXPECT_EQ(again[0].order_id, out[0].order_id);
  EXPECT_EQ(again[1].status, order_status::duplicate_request);
  EXPECT_EQ(again[1].order_id, out[3].order_id);
  EXPECT_EQ(again[2].status, order_status::sold_out);
  EXPECT_EQ(scratch_report("ord").sold, 5);
}

TEST_F(orders_batch, unknown_product_answers_every_request_and_writes_nothing) {
  auto store = db::order_store::connect(scratch_writer());
  auto out = store->purchase_batch("no-such", {req("u-1", "ann"), req("u-2", "bob")});
  ASSERT_EQ(out.size(), 2u);
  for (const auto& o : out) {
    EXPECT_EQ(o.status, order_status::unknown_product);
    EXPECT_EQ(o.order_id, 0);
  }
  define_scratch_product("known", 3, 1, 1);
  EXPECT_EQ(store->purchase_batch("known", {req("u-1", "ann")})[0].status,
            order_status::confirmed);  // the request ids were not used up
}

// Ids and users travel as array literals: quotes, backslashes, commas, braces, blanks, "NULL" and
// non-ASCII text arrive unchanged.
TEST_F(orders_batch, awkward_ids_and_users_arrive_unchanged) {
  define_scratch_product("odd", 100, 3, 1);
  std::vector<std::string> awkward{
      "a\"b",    "back\\slash",  "com,ma",  "{brace}", "sp ace", "NULL", "  lead",
      "tr ail ", "ünïcødé-秒杀", "'quote'", "\\\"",    "x}",     "{",    ""};
  awkward.back() = std::string(300, 'z');
  std::vector<db::purchase_request> batch;
  for (std::size_t i = 0; i < awkward.size(); ++i)
    batch.push_back(req("id-" + awkward[i], "user-" + awkward[i]));
  auto store = db::order_store::connect(scratch_writer());
  auto out = store->purchase_batch("odd", batch);
  ASSERT_EQ(out.size(), batch.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    EXPECT_EQ(out[i].status, order_status::confirmed) << awkward[i];
  // The same ids one by one through purchase_one: each finds its order (stored exactly as sent).
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto one = store->purchase({batch[i].request_id, "odd", batch[i].user, "gw"});
    EXPECT_EQ(one.status, order_status::duplicate_request) << awkward[i];
    EXPECT_EQ(one.order_id, out[i].order_id) << awkward[i];
  }
  // And the per-user limit sees each user as sent.
  std::vector<db::purchase_request> second;
  for (std::size_t i = 0; i < awkward.size(); ++i)
    second.push_back(req("again-" + awkward[i], "user-" + awkward[i]));
  for (const auto& o : store->purchase_batch("odd", second))
    EXPECT_EQ(o.status, order_status::user_limit);
  EXPECT_TRUE(scratch_report("odd").ok());
}

TEST_F(orders_batch, invalid_input_is_an_error_and_writes_nothing) {
  define_scratch_product("inv", 10, 2, 1);
  auto store = db::order_store::connect(scratch_writer());
  for (const auto& bad : {req("", "ann"), req("inv-1", "")}) {
    try {
      store->purchase_batch("inv", {req("inv-ok", "bob"), bad});
      ADD_FAILURE() << "accepted an empty request id or user";
    } catch (const db::db_error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << e.what();
    }
  }
  auto admin = db::schema_admin::connect(scratch_admin());
  try {
    admin->execute(
        "SELECT * FROM purchase_batch('inv', ARRAY['a','b'], ARRAY['u'], "
        "ARRAY['g','g'])");
    ADD_FAILURE() << "accepted arrays of different lengths";
  } catch (const db::db_error& e) {
    EXPECT_EQ(e.sqlstate(), "22023") << e.what();
  }
  EXPECT_EQ(scratch_report("inv").sold, 0);
  EXPECT_TRUE(store->purchase_batch("inv", {}).empty());
  // The connection is still usable after the failed transactions.
  EXPECT_EQ(store->purchase_batch("inv", {req("inv-ok", "bob")})[0].status,
            order_status::confirmed);
}

// A batch larger than any slot's stock takes units from several slots, in request order.
TEST_F(orders_batch, a_batch_spans_slots) {
  define_scratch_product("span", 10, 4, 1);  // 3, 3, 2, 2
  std::vector<db::purchase_request> batch;
  for (int i = 0; i < 12; ++i)
    batch.push_back(req("span-" + std::to_string(i), "user-" + std::to_string(i)));
  auto out = db::order_store::connect(scratch_writer())->purchase_batch("span", batch);
  std::map<int, int> by_slot;
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(out[i].status, order_status::confirmed) << i;
    ++by_slot[out[i].slot];
  }
  EXPECT_EQ(out[10].status, order_status::sold_out);
  EXPECT_EQ(out[11].status, order_status::sold_out);
  EXPECT_EQ(by_slot, (std::map<int, int>{{1, 3}, {2, 3}, {3, 2}, {4, 2}}));
  EXPECT_TRUE(scratch_report("span").ok());
}

TEST_F(orders_batch, adjust_stock_adds_removes_and_records_every_change) {
  define_scratch_product("adj", 10, 3, 1);
  auto admin = db::schema_admin::connect(scratch_admin());
  auto store = db::order_store::connect(scratch_writer());
  std::vector<db::purchase_request> buy;
  for (int i = 0; i < 4; ++i)
    buy.push_back(req("adj-" + std::to_string(i), "u" + std::to_string(i)));
  store->purchase_batch("adj", buy);  // 6 left

  auto added = admin->adjust_stock("adj", 5, "restock from the warehouse");
  EXPECT_EQ(added.requested, 5);
  EXPECT_EQ(added.applied, 5);
  EXPECT_EQ(added.remaining, 11);
  EXPECT_TRUE(added.complete());
  auto r = scratch_report("adj");
  EXPECT_EQ(r.made_available, 15);
  EXPECT_EQ(r.remaining, 11);
  EXPECT_EQ(r.sold, 4);
  EXPECT_TRUE(r.ok());

  auto removed = admin->adjust_stock("adj", -7, "damaged units");
  EXPECT_EQ(removed.applied, -7);
  EXPECT_EQ(removed.remaining, 4);
  // More than is left: takes what there is and says so; no slot goes below zero (the CHECK).
  auto capped = admin->adjust_stock("adj", -100, "withdraw the product");
  EXPECT_EQ(capped.requested, -100);
  EXPECT_EQ(capped.applied, -4);
  EXPECT_EQ(capped.remaining, 0);
  EXPECT_FALSE(capped.complete());
  auto nothing = admin->adjust_stock("adj", -1, "again");
  EXPECT_EQ(nothing.applied, 0);
  r = scratch_report("adj");
  EXPECT_EQ(r.made_available, 4);  // 10 + 5 - 7 - 4: the ledger holds every change
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.negative_slots, 0);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(store->purchase_batch("adj", {req("adj-x", "ux")})[0].status, order_status::sold_out);

  // Added stock is spread over the slots: 3 slots, 8 units -> 3, 3, 2; every slot sells.
  admin->adjust_stock("adj", 8, "second wave");
  std::vector<db::purchase_request> wave;
  for (int i = 0; i < 9; ++i)
    wave.push_back(req("wave-" + std::to_string(i), "w" + std::to_string(i)));
  auto sold = store->purchase_batch("adj", wave);
  std::map<int, int> by_slot;
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(sold[i].status, order_status::confirmed) << i;
    ++by_slot[sold[i].slot];
  }
  EXPECT_EQ(sold[8].status, order_status::sold_out);
  EXPECT_EQ(by_slot, (std::map<int, int>{{1, 3}, {2, 3}, {3, 2}}));
  EXPECT_TRUE(scratch_report("adj").ok());
}

TEST_F(orders_batch, adjust_stock_refuses_bad_requests) {
  define_scratch_product("adjbad", 5, 2, 1);
  auto admin = db::schema_admin::connect(scratch_admin());
  try {
    admin->adjust_stock("no-such-product", 5, "restock");
    ADD_FAILURE() << "adjusted an unknown product";
  } catch (const db::db_error& e) {
    EXPECT_EQ(e.sqlstate(), "FS002") << e.what();
    EXPECT_NE(std::string(e.what()).find("unknown product"), std::string::npos) << e.what();
  }
  try {
    admin->adjust_stock("adjbad", 5, "  ");
    ADD_FAILURE() << "adjusted without a reason";
  } catch (const db::db_error& e) {
    EXPECT_EQ(e.sqlstate(), "22023") << e.what();
  }
  EXPECT_THROW(admin->adjust_stock("adjbad", std::int64_t{1} << 40, "too much"), db::db_error);
  try {
    admin->adjust_stock("adjbad", 2147483647, "overflow");
    admin->adjust_stock("adjbad", 2147483647, "overflow");
    ADD_FAILURE() << "stock beyond what the slots can hold";
  } catch (const db::db_error& e) {
    EXPECT_EQ(e.sqlstate(), "22003") << e.what();
  }
  auto r = scratch_report("adjbad");
  EXPECT_TRUE(r.ok());
}

// 8 connections buy in batches of 40 from 1,000 units on 4 slots: users with several requests,
// retried request ids (also inside one batch and across connections), while an operator keeps
// adding and removing stock. Everything that was made available sells, nobody exceeds the
// limit, no request id is written twice, no transaction deadlocks, and the ledger balances.
TEST_F(orders_batch, concurrent_batches_and_stock_changes_keep_every_invariant) {
  define_scratch_product("conc", 1000, 4, 2);
  constexpr int threads = 8;
  constexpr int batches_per_thread = 40;
  constexpr int batch_size = 40;
  std::atomic<int> next{0};
  std::atomic<bool> buying{true};
  std::mutex m;
  std::vector<std::string> errors;
  std::map<order_status, int> by_status;
  std::set<std::int64_t> confirmed_orders;
  auto fail = [&](const std::string& e) {
    std::lock_guard<std::mutex> lock{m};
    errors.push_back(e);
  };
  std::atomic<std::int64_t> adjusted{0};
  std::thread adjuster([&] {
    try {
      auto admin = db::schema_admin::connect(scratch_admin());
      for (int round = 0; buying.load() && round < 100; ++round) {
        auto change = admin->adjust_stock("conc", round % 2 == 0 ? 30 : -20, "test churn");
        adjusted += change.applied;
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
      }
    } catch (const std::exception& e) {
      fail(std::string("adjust_stock: ") + e.what());
    }
  });
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        auto store = db::order_store::connect(scratch_writer());
        for (int b = 0; b < batches_per_thread; ++b) {
          std::vector<db::purchase_request> batch;
          for (int k = 0; k < batch_size; ++k) {
            int n = next++;
            // 1,500 users (several requests each); every 7th request retries an earlier id of
            // the same user, which may be in this batch, another connection's, or committed.
            int id = n % 7 == 6 ? n - 3 : n;
            batch.push_back(req("conc-" + std::to_string(id), "user-" + std::to_string(id % 1500)));
          }
          auto out = store->purchase_batch("conc", batch);
          std::lock_guard<std::mutex> lock{m};
          for (const auto& o : out) {
            ++by_status[o.status];
            if (o.status == order_status::confirmed) {
              EXPECT_TRUE(confirmed_orders.insert(o.order_id).second) << "order confirmed twice";
            }
          }
        }
      } catch (const std::exception& e) {
        fail(e.what());
      }
    });
  }
  for (auto& th : pool)
    th.join();
  buying = false;
  adjuster.join();
  ASSERT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();

  // What the operator added after the last batch goes to new buyers; then nothing is left.
  auto left = scratch_report("conc").remaining;
  std::vector<db::purchase_request> sweep;
  for (std::int64_t i = 0; i < left + 10; ++i)
    sweep.push_back(req("sweep-" + std::to_string(i), "sweeper-" + std::to_string(i)));
  for (const auto& o : db::order_store::connect(scratch_writer())->purchase_batch("conc", sweep)) {
    ++by_status[o.status];
    if (o.status == order_status::confirmed)
      confirmed_orders.insert(o.order_id);
  }

  auto r = scratch_report("conc");
  EXPECT_EQ(r.made_available, 1000 + adjusted.load());
  EXPECT_EQ(r.sold, static_cast<std::int64_t>(confirmed_orders.size()));
  EXPECT_EQ(r.sold, by_status[order_status::confirmed]);
  EXPECT_EQ(r.remaining, 0);  // demand exceeded the stock: all of it sold
  EXPECT_EQ(r.sold, r.made_available);
  EXPECT_EQ(r.users_over_limit, 0);
  EXPECT_EQ(r.duplicate_requests, 0);
  EXPECT_EQ(r.negative_slots, 0);
  EXPECT_TRUE(r.ok()) << "available " << r.made_available << " sold " << r.sold << " remaining "
                      << r.remaining;
  EXPECT_GT(by_status[order_status::duplicate_request], 0);
  EXPECT_GT(by_status[order_status::user_limit], 0);
  EXPECT_GT(by_status[order_status::sold_out], 0);
  EXPECT_EQ(by_status[order_status::unknown_product], 0);
}

}  // namespace

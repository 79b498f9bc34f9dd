// purchase_one through order_store against a real PostgreSQL (FLASHSALE_PG_*): concurrency,
// idempotency, the per-user limit and unknown products. The process works in its own database
// flashsale_test_<pid>, created and migrated from sql/ at start and dropped at exit.
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
#include <unistd.h>

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
    new flashsale::testing::scratch_database_environment("flashsale_test"));

class db_purchase : public flashsale::testing::scratch_database_test {};

/// Runs `work(thread_index, store)` on `threads` threads, each with its own writer connection,
/// started together once all are connected. Returns the exception messages thrown.
template <typename Work>
std::vector<std::string> run_concurrently(int threads, Work work) {
  std::atomic<int> connected{0};
  std::atomic<bool> go{false};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::unique_ptr<db::order_store> store;
      try {
        store = db::order_store::connect(scratch_writer());
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(errors_mutex);
        errors.push_back(e.what());
      }
      ++connected;
      while (!go.load())
        std::this_thread::yield();
      if (!store)
        return;
      try {
        work(t, *store);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(errors_mutex);
        errors.push_back(e.what());
      }
    });
  }
  while (connected.load() < threads)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  go = true;
  for (auto& th : pool)
    th.join();
  return errors;
}

// (a) 32 writer connections, 5,000 attempts by distinct users on 1,000 units over 4 slots.
TEST_F(db_purchase, concurrent_buyers_get_exactly_the_stock) {
  define_scratch_product("conc", 1000, 4, 1);
  constexpr int threads = 32;
  constexpr int attempts = 5000;
  std::atomic<int> next{0};
  std::mutex results_mutex;
  std::map<order_status, int> by_status;
  std::map<std::int32_t, int> by_slot;
  std::set<std::int64_t> order_ids;
  auto started = std::chrono::steady_clock::now();
  auto errors = run_concurrently(threads, [&](int t, db::order_store& store) {
    for (int i = next++; i < attempts; i = next++) {
      auto n = std::to_string(i);
      auto out = store.purchase({"conc-req-" + n, "conc", "user-" + n, "gw-" + std::to_string(t)});
      std::lock_guard<std::mutex> lock(results_mutex);
      ++by_status[out.status];
      if (out.status == order_status::confirmed) {
        ++by_slot[out.slot];
        order_ids.insert(out.order_id);
      }
    }
  });
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[          ] " << attempts << " purchases on " << threads << " connections in "
            << elapsed << " s (" << attempts / elapsed << "/s)\n";
  ASSERT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  EXPECT_EQ(by_status[order_status::confirmed], 1000);
  EXPECT_EQ(by_status[order_status::sold_out], 4000);
  EXPECT_EQ(by_status.size(), 2u);
  EXPECT_EQ(order_ids.size(), 1000u);
  ASSERT_EQ(by_slot.size(), 4u);
  for (const auto& [slot, sold] : by_slot)
    EXPECT_EQ(sold, 250) << "slot " << slot;  // every slot emptied: the stock was spread evenly

  auto r = scratch_report("conc");
  EXPECT_EQ(r.made_available, 1000);
  EXPECT_EQ(r.sold, 1000);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.negative_slots, 0);
  EXPECT_TRUE(r.no_oversell());
  EXPECT_TRUE(r.conserved());
  EXPECT_TRUE(r.no_duplicates());
}

// (b) A retried request id gets its first order back.
TEST_F(db_purchase, duplicate_request_returns_the_first_order) {
  define_scratch_product("dup", 10, 2, 5);
  auto store = db::order_store::connect(scratch_writer());
  auto first = store->purchase({"dup-1", "dup", "alice", "gw-a"});
  ASSERT_EQ(first.status, order_status::confirmed);
  EXPECT_GT(first.order_id, 0);
  EXPECT_GE(first.slot, 1);
  EXPECT_LE(first.slot, 2);
  auto again = store->purchase({"dup-1", "dup", "alice", "gw-b"});
  EXPECT_EQ(again.status, order_status::duplicate_request);
  EXPECT_EQ(again.order_id, first.order_id);
  EXPECT_EQ(again.slot, first.slot);
  auto r = scratch_report("dup");
  EXPECT_EQ(r.sold, 1);
  EXPECT_EQ(r.remaining, 9);
  EXPECT_TRUE(r.ok());
}

// (b) The same request id sent concurrently, even under different user ids (a misbehaving
// client), is written once.
TEST_F(db_purchase, concurrent_duplicates_write_one_order) {
  define_scratch_product("dupc", 100, 4, 1);
  constexpr int threads = 8;
  std::mutex m;
  std::vector<db::purchase_outcome> outcomes;
  auto errors = run_concurrently(threads, [&](int t, db::order_store& store) {
    auto out = store.purchase({"dupc-1", "dupc", "user-" + std::to_string(t), "gw"});
    std::lock_guard<std::mutex> lock(m);
    outcomes.push_back(out);
  });
  ASSERT_TRUE(errors.empty()) << errors.front();
  ASSERT_EQ(outcomes.size(), static_cast<std::size_t>(threads));
  int confirmed = 0;
  std::int64_t order_id = 0;
  for (const auto& o : outcomes) {
    if (o.status == order_status::confirmed) {
      ++confirmed;
      order_id = o.order_id;
    } else {
      EXPECT_EQ(o.status, order_status::duplicate_request);
    }
  }
  EXPECT_EQ(confirmed, 1);
  for (const auto& o : outcomes)
    EXPECT_EQ(o.order_id, order_id);
  auto r = scratch_report("dupc");
  EXPECT_EQ(r.sold, 1);
  EXPECT_TRUE(r.ok());
}

// (c) A second request id of the same user is refused at the limit.
TEST_F(db_purchase, per_user_limit_is_enforced) {
  define_scratch_product("lim", 100, 4, 2);
  auto store = db::order_store::connect(scratch_writer());
  EXPECT_EQ(store->purchase({"lim-1", "lim", "bob", "gw"}).status, order_status::confirmed);
  EXPECT_EQ(store->purchase({"lim-2", "lim", "bob", "gw"}).status, order_status::confirmed);
  auto third = store->purchase({"lim-3", "lim", "bob", "gw"});
  EXPECT_EQ(third.status, order_status::user_limit);
  EXPECT_EQ(third.order_id, 0);
  EXPECT_EQ(third.slot, 0);
  EXPECT_EQ(store->purchase({"lim-4", "lim", "carol", "gw"}).status, order_status::confirmed);
  auto r = scratch_report("lim");
  EXPECT_EQ(r.sold, 3);
  EXPECT_EQ(r.remaining, 97);
  EXPECT_TRUE(r.ok());
}

// (c) ... also when the user's requests race on 8 connections.
TEST_F(db_purchase, per_user_limit_holds_under_concurrency) {
  define_scratch_product("limc", 1000, 4, 3);
  constexpr int threads = 8;
  constexpr int per_thread = 5;
  std::mutex m;
  std::map<order_status, int> by_status;
  auto errors = run_concurrently(threads, [&](int t, db::order_store& store) {
    for (int i = 0; i < per_thread; ++i) {
      auto id = "limc-" + std::to_string(t) + "-" + std::to_string(i);
      auto out = store.purchase({id, "limc", "dave", "gw"});
      std::lock_guard<std::mutex> lock(m);
      ++by_status[out.status];
    }
  });
  ASSERT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(by_status[order_status::confirmed], 3);
  EXPECT_EQ(by_status[order_status::user_limit], threads * per_thread - 3);
  auto r = scratch_report("limc");
  EXPECT_EQ(r.sold, 3);
  EXPECT_EQ(r.users_over_limit, 0);
  EXPECT_TRUE(r.ok());
}

// (d) Unknown product: answered, nothing written.
TEST_F(db_purchase, unknown_product_writes_nothing) {
  auto admin = db::schema_admin::connect(scratch_admin());
  auto sold_before = 0;
  for (const auto& r : admin->report())
    sold_before += static_cast<int>(r.sold);
  auto store = db::order_store::connect(scratch_writer());
  auto out = store->purchase({"ghost-1", "no-such-product", "erin", "gw"});
  EXPECT_EQ(out.status, order_status::unknown_product);
  EXPECT_EQ(out.order_id, 0);
  EXPECT_EQ(out.slot, 0);
  auto sold_after = 0;
  for (const auto& r : admin->report())
    sold_after += static_cast<int>(r.sold);
  EXPECT_EQ(sold_after, sold_before);
  // The request id was not consumed: it can still buy a real product.
  define_scratch_product("real", 1, 1, 1);
  EXPECT_EQ(store->purchase({"ghost-1", "real", "erin", "gw"}).status, order_status::confirmed);
}

TEST_F(db_purchase, empty_stock_is_sold_out) {
  define_scratch_product("none", 0, 3, 1);
  auto store = db::order_store::connect(scratch_writer());
  auto out = store->purchase({"none-1", "none", "frank", "gw"});
  EXPECT_EQ(out.status, order_status::sold_out);
  EXPECT_EQ(out.order_id, 0);
  EXPECT_TRUE(scratch_report("none").ok());
}

TEST_F(db_purchase, invalid_request_is_an_error_not_an_order) {
  define_scratch_product("inv", 5, 1, 1);
  auto store = db::order_store::connect(scratch_writer());
  try {
    store->purchase({"", "inv", "gina", "gw"});
    FAIL() << "an empty request id was accepted";
  } catch (const db::db_error& e) {
    EXPECT_EQ(e.sqlstate(), "22023") << e.what();
  }
  // The connection is still usable after a failed transaction.
  EXPECT_EQ(store->purchase({"inv-1", "inv", "gina", "gw"}).status, order_status::confirmed);
}

// The slot writers' recovery: a lost connection is one db_error, the next call reconnects.
TEST_F(db_purchase, store_reconnects_after_losing_its_connection) {
  define_scratch_product("recon", 10, 2, 5);
  auto store = db::order_store::connect(scratch_writer());
  ASSERT_EQ(store->purchase({"recon-1", "recon", "hal", "gw"}).status, order_status::confirmed);
  db::schema_admin::connect(scratch_admin())
      ->execute(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          "WHERE datname = current_database() AND usename = 'flashsale_writer'");
  EXPECT_THROW(store->purchase({"recon-2", "recon", "hal", "gw"}), db::db_error);
  // The retry of the failed request is safe (idempotent) and goes through a new connection.
  EXPECT_EQ(store->purchase({"recon-2", "recon", "hal", "gw"}).status, order_status::confirmed);
  EXPECT_EQ(store->purchase({"recon-1", "recon", "hal", "gw"}).status,
            order_status::duplicate_request);
  EXPECT_EQ(scratch_report("recon").sold, 2);
}

// Waiting paths under pressure: few slots, users with several requests, limits, duplicates.
TEST_F(db_purchase, mixed_contention_keeps_every_invariant) {
  define_scratch_product("mix", 300, 3, 2);
  constexpr int threads = 24;
  constexpr int attempts = 1500;
  std::atomic<int> next{0};
  std::atomic<int> confirmed{0};
  auto errors = run_concurrently(threads, [&](int, db::order_store& store) {
    for (int i = next++; i < attempts; i = next++) {
      // 250 users with 6 requests each; every 10th request is a retry of the previous one.
      int id = i % 10 == 9 ? i - 1 : i;
      auto out = store.purchase(
          {"mix-" + std::to_string(id), "mix", "user-" + std::to_string(i % 250), "gw"});
      if (out.status == order_status::confirmed)
        ++confirmed;
    }
  });
  ASSERT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  auto r = scratch_report("mix");
  EXPECT_EQ(r.sold, confirmed.load());
  EXPECT_EQ(r.sold, 300);  // demand (250 users x 2) exceeds the stock: all of it sells
  EXPECT_EQ(r.users_over_limit, 0);
  EXPECT_TRUE(r.ok()) << "sold " << r.sold << " remaining " << r.remaining;
}

TEST_F(db_purchase, unreachable_server_fails_fast_with_context) {
  auto params = scratch_admin();
  params.servers.clear();
  params.port = 1;  // nothing listens there
  params.connect_timeout_s = 2;
  auto started = std::chrono::steady_clock::now();
  try {
    db::order_store::connect(params);
    FAIL() << "connected to port 1";
  } catch (const db::db_error& e) {
    EXPECT_NE(std::string(e.what()).find(params.host + ":1/" + params.dbname), std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

// [db] hosts: libpq tries the servers in turn, so a list whose first server does not answer (a
// primary that is gone) still connects to the next one that accepts writes.
TEST_F(db_purchase, a_server_list_passes_over_a_server_that_does_not_answer) {
  define_scratch_product("listed", 10, 2, 5);
  auto params = scratch_writer();
  auto live = params.candidates();
  params.servers = {host_port{"127.0.0.1", 1}};  // nothing listens there
  params.servers.insert(params.servers.end(), live.begin(), live.end());
  params.connect_timeout_s = 2;
  auto store = db::order_store::connect(params);
  EXPECT_EQ(store->purchase({"listed-1", "listed", "alice", "gw-a"}).status,
            order_status::confirmed);
  EXPECT_EQ(scratch_report("listed").sold, 1);
}

}  // namespace

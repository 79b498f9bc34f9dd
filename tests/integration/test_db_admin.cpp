// schema_admin and the roles against a real PostgreSQL (FLASHSALE_PG_*): least privilege of the
// writer role, idempotent migrations and product definitions, and the report's invariant checks.
// The process works in its own database flashsale_test_<pid>, dropped at exit.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "adapters/db/order_lookup.hpp"
#include "adapters/db/order_store.hpp"
#include "adapters/db/schema_admin.hpp"
#include "common/sale_definition.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/service_accounts.hpp"

namespace {

using namespace flashsale;
using flashsale::testing::scratch_admin;
using flashsale::testing::scratch_product;
using flashsale::testing::scratch_writer;
namespace fs = std::filesystem;

const auto* const g_environment = ::testing::AddGlobalTestEnvironment(
    new flashsale::testing::scratch_database_environment("flashsale_test"));

class db_admin : public flashsale::testing::scratch_database_test {};

/// Runs `sql` as `role` and returns the SQLSTATE it failed with ("" if it succeeded).
std::string sqlstate_as(const db::connection_params& role, const std::string& sql,
                        std::string* message = nullptr) {
  auto session = db::schema_admin::connect(role);
  try {
    session->execute(sql);
    return "";
  } catch (const db::db_error& e) {
    if (message != nullptr)
      *message = e.what();
    return e.sqlstate();
  }
}

std::string writer_sqlstate(const std::string& sql, std::string* message = nullptr) {
  return sqlstate_as(scratch_writer(), sql, message);
}

// (e) The writer role may execute purchase_one, purchase_batch_fenced and fence_gateway, nothing
// else (purchase_batch only behind the fence).
TEST_F(db_admin, writer_role_has_least_privilege) {
  auto admin = db::schema_admin::connect(scratch_admin());
  ASSERT_EQ(admin->define_product(scratch_product("priv", 10, 2, 1)), db::define_status::created);

  std::string message;
  EXPECT_EQ(writer_sqlstate("UPDATE stock_slot SET remaining = 5", &message), "42501");
  EXPECT_NE(message.find("permission denied"), std::string::npos) << message;
  EXPECT_EQ(writer_sqlstate("INSERT INTO purchase_order (request_id, product, user_id, slot, "
                            "gateway) VALUES ('x', 'priv', 'mallory', 1, 'gw')",
                            &message),
            "42501");
  EXPECT_NE(message.find("permission denied"), std::string::npos) << message;
  EXPECT_EQ(writer_sqlstate("DELETE FROM purchase_order"), "42501");
  EXPECT_EQ(writer_sqlstate("SELECT * FROM purchase_order"), "42501");
  EXPECT_EQ(writer_sqlstate("SELECT * FROM stock_slot"), "42501");
  EXPECT_EQ(writer_sqlstate("INSERT INTO stock_adjustment (product, delta, reason) "
                            "VALUES ('priv', 100, 'mallory')"),
            "42501");
  EXPECT_EQ(writer_sqlstate("TRUNCATE purchase_order"), "42501");
  EXPECT_EQ(writer_sqlstate("SELECT nextval('purchase_order_id_seq')"), "42501");
  EXPECT_EQ(writer_sqlstate("SELECT define_product('evil', 1000000, 1, 1000, false)"), "42501");
  EXPECT_EQ(writer_sqlstate("SELECT * FROM adjust_stock('priv', 1000000, 'mallory')", &message),
            "42501");
  EXPECT_NE(message.find("permission denied for function adjust_stock"), std::string::npos)
      << message;
  EXPECT_EQ(writer_sqlstate("SELECT * FROM adjust_stock('priv', -10, 'mallory')"), "42501");
  EXPECT_EQ(writer_sqlstate("CREATE TABLE mallory (x int)"), "42501");

  // ... while its two functions work, and the data stayed intact.
  auto store = db::order_store::connect(scratch_writer());
  EXPECT_EQ(store->purchase({"priv-1", "priv", "alice", "gw"}).status, order_status::confirmed);
  auto batch = store->purchase_batch(
      "priv", {{"priv-2", "priv", "bob", "gw"}, {"priv-3", "priv", "carol", "gw"}});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].status, order_status::confirmed);
  EXPECT_EQ(batch[1].status, order_status::confirmed);
  EXPECT_EQ(writer_sqlstate("SELECT * FROM purchase_batch('priv', ARRAY['priv-x'], "
                            "ARRAY['mallory'], ARRAY['gw'])"),
            "42501");
  EXPECT_EQ(writer_sqlstate("SELECT * FROM purchase_batch_fenced('priv', ARRAY['priv-4'], "
                            "ARRAY['dave'], ARRAY['gw'], ARRAY[1]::bigint[])"),
            "");
  EXPECT_EQ(writer_sqlstate("UPDATE gateway_fence SET fenced_epoch = 0"), "42501");
  auto r = admin->report("priv");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->sold, 4);
  EXPECT_EQ(r->remaining, 6);
  EXPECT_EQ(r->made_available, 10);  // adjust_stock was refused: the ledger is unchanged
  EXPECT_TRUE(r->ok());
}

// The gateway role may look orders up by request id (GET /v1/orders), nothing else.
TEST_F(db_admin, gateway_role_may_only_look_orders_up) {
  auto admin = db::schema_admin::connect(scratch_admin());
  ASSERT_EQ(admin->define_product(scratch_product("look", 10, 2, 1)), db::define_status::created);
  auto store = db::order_store::connect(scratch_writer());
  auto bought = store->purchase({"look-1", "look", "alice", "gw"});
  ASSERT_EQ(bought.status, order_status::confirmed);

  auto gateway =
      scratch_admin().as_user(db::gateway_role, flashsale::testing::password_of("pg-gateway"));
  auto lookup = db::order_lookup::connect(gateway);
  db::stored_order found;
  ASSERT_TRUE(lookup->find("look-1", found));
  EXPECT_EQ(found.order_id, bought.order_id);
  EXPECT_EQ(found.product, "look");
  EXPECT_EQ(found.user, "alice");
  EXPECT_EQ(found.slot, bought.slot);
  EXPECT_FALSE(lookup->find("look-2", found));  // no order (yet)

  std::string message;
  EXPECT_EQ(sqlstate_as(gateway, "SELECT * FROM purchase_order", &message), "42501");
  EXPECT_NE(message.find("permission denied"), std::string::npos) << message;
  EXPECT_EQ(sqlstate_as(gateway, "UPDATE stock_slot SET remaining = 0"), "42501");
  EXPECT_EQ(sqlstate_as(gateway, "SELECT * FROM purchase_one('look', 'x', 'm', 'gw')"), "42501");
  EXPECT_EQ(sqlstate_as(gateway,
                        "SELECT * FROM purchase_batch('look', ARRAY['y'], ARRAY['m'], "
                        "ARRAY['gw'])"),
            "42501");
  EXPECT_EQ(sqlstate_as(gateway, "SELECT * FROM adjust_stock('look', 5, 'mallory')"), "42501");
  // ... and the writer may not read orders through the gateway's function either.
  EXPECT_EQ(writer_sqlstate("SELECT * FROM find_order('look-1')"), "42501");
}

// I1 holds in the schema itself: even the admin cannot drive a slot below zero.
TEST_F(db_admin, negative_stock_is_refused_by_the_constraint) {
  auto admin = db::schema_admin::connect(scratch_admin());
  ASSERT_EQ(admin->define_product(scratch_product("neg", 4, 2, 1)), db::define_status::created);
  try {
    admin->execute("UPDATE stock_slot SET remaining = remaining - 3 WHERE product = 'neg'");
    FAIL() << "a slot went negative";
  } catch (const db::db_error& e) {
    EXPECT_EQ(e.sqlstate(), "23514") << e.what();  // check_violation
  }
  EXPECT_EQ(admin->report("neg")->remaining, 4);
}

// (f) Migrating again is a no-op.
TEST_F(db_admin, migrate_twice_is_a_no_op) {
  auto admin = db::schema_admin::connect(scratch_admin());
  EXPECT_TRUE(admin->migrate(FLASHSALE_SQL_DIR).empty());
  EXPECT_TRUE(admin->migrate(FLASHSALE_SQL_DIR).empty());
}

// A fresh database gets every file in order; a new file is applied alone; an applied file that
// changed is refused.
TEST_F(db_admin, migrate_applies_new_files_and_refuses_changed_ones) {
  auto server = scratch_admin();
  auto name = scratch_admin().dbname + "_mig";
  db::schema_admin::drop_database(server, name);
  ASSERT_TRUE(db::schema_admin::ensure_database(server, name));
  EXPECT_FALSE(db::schema_admin::ensure_database(server, name));
  auto dir = fs::temp_directory_path() / ("flashsale_sql_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(FLASHSALE_SQL_DIR))
    if (entry.path().extension() == ".sql")
      fs::copy_file(entry.path(), dir / entry.path().filename());
  {
    auto admin = db::schema_admin::connect(server.with_dbname(name));
    auto applied = admin->migrate(dir.string());
    ASSERT_GE(applied.size(), 3u);
    EXPECT_EQ(applied[0], "001_tables.sql");
    EXPECT_EQ(applied[1], "002_functions.sql");
    EXPECT_EQ(applied[2], "003_roles.sql");

    std::ofstream(dir / "999_probe.sql") << "CREATE TABLE migration_probe (x int);\n";
    auto next = admin->migrate(dir.string());
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0], "999_probe.sql");

    std::ofstream(dir / "999_probe.sql", std::ios::app) << "-- edited after being applied\n";
    try {
      admin->migrate(dir.string());
      ADD_FAILURE() << "an edited migration was accepted";
    } catch (const db::db_error& e) {
      EXPECT_NE(std::string(e.what()).find("999_probe.sql"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("changed"), std::string::npos) << e.what();
    }

    std::ofstream(dir / "998_broken.sql") << "CREATE TABLE broken (;\n";
    try {
      admin->migrate(dir.string());
      ADD_FAILURE() << "a broken migration was accepted";
    } catch (const db::db_error& e) {
      EXPECT_EQ(e.sqlstate(), "42601") << e.what();  // syntax_error
    }
  }
  fs::remove_all(dir);
  db::schema_admin::drop_database(server, name);
  try {
    db::schema_admin::connect(server.with_dbname(name));
    ADD_FAILURE() << name << " still exists";
  } catch (const db::db_error&) {
  }
}

// (f) The same definition twice is fine, a different one is an error.
TEST_F(db_admin, define_product_is_idempotent_and_refuses_changes) {
  auto admin = db::schema_admin::connect(scratch_admin());
  auto p = scratch_product("def", 10, 4, 1);
  EXPECT_EQ(admin->define_product(p), db::define_status::created);
  EXPECT_EQ(admin->define_product(p), db::define_status::exists);
  auto r = admin->report("def");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->made_available, 10);
  EXPECT_EQ(r->remaining, 10);
  EXPECT_EQ(r->slots, 4);
  EXPECT_TRUE(r->ok());

  for (auto changed : {scratch_product("def", 11, 4, 1), scratch_product("def", 10, 5, 1),
                       scratch_product("def", 10, 4, 2)}) {
    try {
      admin->define_product(changed);
      ADD_FAILURE() << "a changed definition was accepted";
    } catch (const db::db_error& e) {
      EXPECT_EQ(e.sqlstate(), "FS001") << e.what();
      EXPECT_NE(std::string(e.what()).find("already defined differently"), std::string::npos);
    }
  }
  auto hot = p;
  hot.hot = true;
  EXPECT_THROW(admin->define_product(hot), db::db_error);
  EXPECT_EQ(admin->report("def")->made_available, 10);
}

TEST_F(db_admin, define_product_spreads_the_stock_over_the_slots) {
  auto admin = db::schema_admin::connect(scratch_admin());
  ASSERT_EQ(admin->define_product(scratch_product("spread", 10, 4, 1)), db::define_status::created);
  // 10 over 4 slots: 3, 3, 2, 2. Take the remainder slots out and check what is left.
  admin->execute("UPDATE stock_slot SET remaining = remaining - 2 WHERE product = 'spread'");
  admin->execute(
      "UPDATE stock_slot SET remaining = remaining - 1 "
      "WHERE product = 'spread' AND slot IN (1, 2)");
  EXPECT_EQ(admin->report("spread")->remaining, 0);
  EXPECT_THROW(admin->define_product(scratch_product("bad id!", 1, 1, 1)), db::db_error);
  EXPECT_THROW(admin->define_product(scratch_product("noslots", 1, 0, 1)), db::db_error);
}

// The report sees what the constraints cannot forbid: orders written around purchase_one.
TEST_F(db_admin, report_flags_broken_invariants) {
  auto admin = db::schema_admin::connect(scratch_admin());
  ASSERT_EQ(admin->define_product(scratch_product("broken", 5, 1, 1)), db::define_status::created);
  auto clean = admin->report("broken");
  ASSERT_TRUE(clean);
  EXPECT_TRUE(clean->ok());

  admin->execute(
      "INSERT INTO purchase_order (request_id, product, user_id, slot, gateway) VALUES "
      "('b-1', 'broken', 'zed', 1, 'manual'), ('b-2', 'broken', 'zed', 1, 'manual')");
  auto r = admin->report("broken");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->sold, 2);
  EXPECT_EQ(r->remaining, 5);
  EXPECT_TRUE(r->no_oversell());
  EXPECT_FALSE(r->conserved());
  EXPECT_EQ(r->users_over_limit, 1);
  EXPECT_FALSE(r->no_duplicates());
  EXPECT_FALSE(r->ok());

  admin->execute(
      "INSERT INTO purchase_order (request_id, product, user_id, slot, gateway) "
      "SELECT 'bulk-' || i, 'broken', 'u' || i, 1, 'manual' "
      "FROM generate_series(1, 4) AS i");
  EXPECT_FALSE(admin->report("broken")->no_oversell());  // 6 sold > 5 available

  EXPECT_FALSE(admin->report("no-such-product").has_value());
}

}  // namespace

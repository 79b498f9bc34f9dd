#pragma once

// A database of the test process's own on the private PostgreSQL (FLASHSALE_PG_* from
// build/run/endpoints.env): <prefix>_<pid>, created fresh, migrated from sql/, dropped at the end.
// Test support only.

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "adapters/db/connection.hpp"
#include "adapters/db/product_report.hpp"
#include "common/sale_definition.hpp"

namespace flashsale::testing {

class scratch_database {
 public:
  /// Drops a leftover of the same name, creates and migrates the database. Throws db_error, with
  /// a hint on how to start PostgreSQL.
  explicit scratch_database(const std::string& prefix);

  /// Tag for a database named exactly as given (e.g. a hot product's <main>_hot_<product>).
  struct exact_name {};
  /// As above, for the database `name` itself.
  scratch_database(const std::string& name, exact_name);
  /// Drops the database; a failure is reported as a test failure.
  ~scratch_database();
  scratch_database(const scratch_database&) = delete;
  scratch_database& operator=(const scratch_database&) = delete;

  /// The admin (owner) connection parameters of this database.
  const db::connection_params& admin() const { return admin_; }
  /// The same database as the writer role (may only EXECUTE the stored functions).
  db::connection_params writer() const;

 private:
  db::connection_params admin_;
};

/// One scratch_database for a whole test binary: register it with
/// ::testing::AddGlobalTestEnvironment. Tests assert ready() in their SetUp, so that every test
/// fails (never silently skips) when the database could not be prepared.
class scratch_database_environment : public ::testing::Environment {
 public:
  explicit scratch_database_environment(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override;
  void TearDown() override;

  static bool ready();
  /// Why the database could not be prepared.
  static const std::string& error();
  /// The admin parameters; only valid when ready().
  static const db::connection_params& admin();

 private:
  std::string prefix_;
};

/// Base fixture of tests on the binary's scratch database: fails each test (never skips it) when
/// the database could not be prepared.
class scratch_database_test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(scratch_database_environment::ready())
        << "cannot prepare the test database: " << scratch_database_environment::error();
  }
};

/// The admin parameters of the binary's scratch database (scratch_database_environment::admin()).
inline const db::connection_params& scratch_admin() {
  return scratch_database_environment::admin();
}

/// The writer role on the binary's scratch database.
db::connection_params scratch_writer();

/// A product of the binary's scratch database with these figures (not defined yet).
product_definition scratch_product(const std::string& id, std::int64_t stock, int slots,
                                   int per_user_limit);

/// Defines scratch_product(...) there; anything but a fresh definition fails the test.
void define_scratch_product(const std::string& id, std::int64_t stock, int slots,
                            int per_user_limit);

/// The figures of `id` there; a product that is not defined fails the test (and reads as zeros).
db::product_report scratch_report(const std::string& id);

}  // namespace flashsale::testing

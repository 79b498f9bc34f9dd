#include "tests/support/scratch_database.hpp"
#include "tests/support/service_accounts.hpp"

#include <unistd.h>

#include "adapters/db/schema_admin.hpp"

namespace flashsale::testing {

namespace {

std::unique_ptr<scratch_database> g_database;
std::string g_error;

}  // namespace

scratch_database::scratch_database(const std::string& prefix)
    : scratch_database(prefix + "_" + std::to_string(::getpid()), exact_name{}) {}

scratch_database::scratch_database(const std::string& name, exact_name) {
  auto server = db::connection_params::from_env();
  try {
    db::schema_admin::drop_database(server, name);  // a leftover of a crashed run with our pid
    db::schema_admin::ensure_database(server, name);
    admin_ = server.with_dbname(name);
    db::schema_admin::connect(admin_)->migrate(FLASHSALE_SQL_DIR);
  } catch (const db::db_error& e) {
    throw db::db_error(std::string(e.what()) +
                       " (is PostgreSQL up? scripts/services start, then export FLASHSALE_PG_* "
                       "from build/run/endpoints.env)");
  }
}

scratch_database::~scratch_database() {
  try {
    db::schema_admin::drop_database(admin_, admin_.dbname);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot drop " << admin_.dbname << ": " << e.what();
  }
}

db::connection_params scratch_database::writer() const {
  return admin_.as_user(db::writer_role, password_of("pg-writer"));
}

void scratch_database_environment::SetUp() {
  try {
    g_database = std::make_unique<scratch_database>(prefix_);
  } catch (const std::exception& e) {
    g_error = e.what();
  }
}

void scratch_database_environment::TearDown() {
  g_database.reset();
}

bool scratch_database_environment::ready() {
  return g_database != nullptr;
}

const std::string& scratch_database_environment::error() {
  return g_error;
}

const db::connection_params& scratch_database_environment::admin() {
  return g_database->admin();
}

db::connection_params scratch_writer() {
  return scratch_admin().as_user(db::writer_role, password_of("pg-writer"));
}

product_definition scratch_product(const std::string& id, std::int64_t stock, int slots,
                                   int per_user_limit) {
  product_definition p;
  p.id = id;
  p.stock = stock;
  p.slots = slots;
  p.per_user_limit = per_user_limit;
  p.database = scratch_admin().dbname;
  return p;
}

void define_scratch_product(const std::string& id, std::int64_t stock, int slots,
                            int per_user_limit) {
  ASSERT_EQ(db::schema_admin::connect(scratch_admin())
                ->define_product(scratch_product(id, stock, slots, per_user_limit)),
            db::define_status::created);
}

db::product_report scratch_report(const std::string& id) {
  auto row = db::schema_admin::connect(scratch_admin())->report(id);
  EXPECT_TRUE(row.has_value()) << id << " is not defined";
  return row.value_or(db::product_report{});
}

}  // namespace flashsale::testing

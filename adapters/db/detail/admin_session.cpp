// The ODB side of schema_admin (C++14: includes ODB and the generated schema code).
#include "adapters/db/detail/admin_session.hpp"

#include <map>
#include <utility>

#include <odb/pgsql/database.hxx>
#include <odb/pgsql/transaction.hxx>
#include <odb/transaction.hxx>
#include <spdlog/spdlog.h>

#include "adapters/db/detail/odb_support.hpp"
#include "schema/objects-odb.hpp"
#include "schema/views-odb.hpp"

namespace flashsale {
namespace db {
namespace detail {

namespace {

// Serialises concurrent migrations of one database (two admin tools, parallel tests).
constexpr const char* migration_lock_sql =
    "SELECT pg_advisory_xact_lock(hashtext('flashsale.migrate'))";

constexpr const char* migrations_table_sql =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " filename text PRIMARY KEY,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

class odb_admin_session final : public admin_session {
 public:
  explicit odb_admin_session(const connection_params& params)
      : params_(params),
        database_(make_database(params)),
        connection_(open_connection(*database_, params)) {}

  // Runs `work` on the connection (reopened if a previous failure dropped it). After an ODB
  // failure the connection is dropped: ODB 2.4 leaves the named statement of a failed one-off
  // query prepared on the server, and the next identical query would fail with 42P05.
  template <typename Work>
  auto guarded(const std::string& operation, Work work) -> decltype(work()) {
    if (!connection_ || connection_->failed())
      connection_ = open_connection(*database_, params_);
    try {
      return work();
    } catch (const odb::exception& e) {
      connection_.reset();
      throw to_db_error(e, params_, operation);
    }
  }

  const connection_params& params() const override { return params_; }

  void execute(const std::string& sql) override {
    guarded("execute", [&] {
      odb::transaction t(connection_->begin());
      connection_->execute(sql);
      t.commit();
    });
  }

  bool create_database(const std::string& name) override {
    if (database_exists(name))
      return false;
    try {
      guarded("create database " + name, [&] {
        connection_->execute("CREATE DATABASE " + quote_identifier(name));  // no transaction
      });
      return true;
    } catch (const db_error& e) {
      if (e.sqlstate() == "42P04")  // duplicate_database: created concurrently
        return false;
      throw;
    }
  }

  void drop_database(const std::string& name) override {
    guarded("drop database " + name, [&] {
      connection_->execute("DROP DATABASE IF EXISTS " + quote_identifier(name) + " WITH (FORCE)");
    });
  }

  bool database_exists(const std::string& name) override {
    using query = odb::query<schema::database_count>;
    return guarded("look up database " + name, [&] {
      odb::transaction t(connection_->begin());
      auto count =
          database_->query_value<schema::database_count>(query("datname =") + query::_val(name));
      t.commit();
      return count.count > 0;
    });
  }

  bool apply_migration(const migration_file& file) override {
    std::unique_ptr<schema::schema_migration> done;
    bool applied = guarded("migrate " + file.name, [&] {
      odb::transaction t(connection_->begin());
      connection_->execute(migration_lock_sql);
      connection_->execute(migrations_table_sql);
      done.reset(database_->find<schema::schema_migration>(file.name));
      if (done) {
        t.commit();
        return false;
      }
      connection_->execute(file.sql);
      schema::schema_migration row;
      row.filename = file.name;
      row.checksum = file.checksum;
      database_->persist(row);
      t.commit();
      return true;
    });
    if (applied) {
      spdlog::info("migrate {}: applied {}", params_.endpoint(), file.name);
    } else if (done->checksum != file.checksum) {
      throw db_error("migrate " + file.name + " on " + params_.endpoint() +
                     ": the file changed since it was applied on " + done->applied_at +
                     " (checksum " + done->checksum + ", now " + file.checksum +
                     "); add a new numbered file instead of editing an applied one");
    }
    return applied;
  }

  std::string define_product(const std::string& id, std::int32_t stock, std::int32_t slots,
                             std::int32_t per_user_limit, bool hot) override {
    using query = odb::query<schema::define_product_result>;
    return guarded("define product " + id, [&] {
      odb::transaction t(connection_->begin());
      auto result = database_->query_value<schema::define_product_result>(
          query(call_arguments(id, stock, slots, per_user_limit, hot)));
      t.commit();
      return result.status;
    });
  }

  stock_change adjust_stock(const std::string& id, std::int32_t delta,
                            const std::string& reason) override {
    using query = odb::query<schema::adjust_stock_result>;
    return guarded("adjust stock of " + id, [&] {
      odb::transaction t(connection_->begin());
      auto result = database_->query_value<schema::adjust_stock_result>(
          query(call_arguments(id, delta, reason)));
      t.commit();
      stock_change change;
      change.requested = result.requested;
      change.applied = result.applied;
      change.remaining = result.remaining;
      return change;
    });
  }

  std::map<std::string, std::int64_t> sold_by_gateway(const std::string& gateway) override {
    using query = odb::query<schema::gateway_sales>;
    return guarded("orders of gateway " + gateway, [&] {
      std::map<std::string, std::int64_t> sold;
      odb::transaction t(connection_->begin());
      for (const auto& row :
           database_->query<schema::gateway_sales>(query("o.gateway =") + query::_val(gateway)))
        sold[row.product] = row.sold;
      t.commit();
      return sold;
    });
  }

  std::vector<product_report> report(const std::string* product) override {
    using query = odb::query<schema::product_figures>;
    return guarded("report", [&] {
      std::vector<product_report> rows;
      odb::transaction t(connection_->begin());
      query q = product != nullptr ? query("p.id =") + query::_val(*product) : query();
      for (const auto& f : database_->query<schema::product_figures>(q)) {
        product_report r;
        r.product = f.product;
        r.slots = f.slots;
        r.per_user_limit = f.per_user_limit;
        r.hot = f.hot;
        r.made_available = f.made_available;
        r.sold = f.sold;
        r.remaining = f.remaining;
        r.negative_slots = f.negative_slots;
        r.duplicate_requests = f.duplicate_requests;
        r.users_over_limit = f.users_over_limit;
        rows.push_back(std::move(r));
      }
      t.commit();
      return rows;
    });
  }

 private:
  connection_params params_;
  std::unique_ptr<odb::pgsql::database> database_;
  odb::pgsql::connection_ptr connection_;
};

}  // namespace

admin_session::~admin_session() = default;

std::unique_ptr<admin_session> admin_session::open(const connection_params& params) {
  return std::unique_ptr<admin_session>(new odb_admin_session(params));
}

}  // namespace detail
}  // namespace db
}  // namespace flashsale

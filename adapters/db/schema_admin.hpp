#pragma once

// Administration of the flash-sale databases: create, migrate (sql/*.sql), define products and
// report the invariants. Used by flashsale-admin and the tests; connects as an admin (owner) role.
// C++17, no ODB include.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/db/connection.hpp"
#include "adapters/db/product_report.hpp"
#include "adapters/db/stock_change.hpp"

namespace flashsale {
struct product_definition;
}

namespace flashsale::db {

namespace detail {
class admin_session;
}

/// What define_product found.
enum class define_status { created, exists };

/// "created" or "exists".
const char* to_string(define_status status);

/// One admin connection to one database. Not thread-safe.
class schema_admin {
 public:
  /// Connects to params.dbname. Throws db_error (e.g. the database does not exist; a failure to
  /// connect carries no SQLSTATE, only libpq's message).
  static std::unique_ptr<schema_admin> connect(const connection_params& params);

  /// Creates database `name` unless it exists, connecting to `maintenance_db` on the server and as
  /// the user of `server`. Safe against a concurrent creation. Returns true if it created it.
  /// Throws db_error.
  static bool ensure_database(const connection_params& server, const std::string& name,
                              const std::string& maintenance_db = "postgres");

  /// Drops database `name` if it exists, terminating its sessions (tests, teardown).
  /// Throws db_error.
  static void drop_database(const connection_params& server, const std::string& name,
                            const std::string& maintenance_db = "postgres");

  ~schema_admin();
  schema_admin(const schema_admin&) = delete;
  schema_admin& operator=(const schema_admin&) = delete;

  /// The parameters this admin connected with.
  const connection_params& params() const;

  /// Applies the *.sql files of `sql_dir` that this database has not applied yet, in file-name
  /// order, each in one transaction together with its row in schema_migrations (concurrent
  /// migrations of one database serialise on an advisory lock). Returns the file names applied,
  /// empty when the database was up to date. Throws db_error when `sql_dir` holds no .sql file,
  /// a file fails, or an applied file has changed since (its checksum differs): add a new file
  /// instead of editing an applied one.
  std::vector<std::string> migrate(const std::string& sql_dir);

  /// Creates the product with its stock (define_product): `created`, or `exists` when the same
  /// definition is already there. Throws db_error when it exists with another definition
  /// (SQLSTATE FS001) or the database is not migrated.
  define_status define_product(const product_definition& product);

  /// The figures of every product of this database, ordered by product id, in one snapshot.
  std::vector<product_report> report();

  /// The figures of one product, or nothing if it is not defined here.
  std::optional<product_report> report(const std::string& product);

  /// Orders per product (products without one left out) of the purchases `gateway` accepted, as
  /// the database holds them now. Throws db_error.
  std::map<std::string, std::int64_t> sold_by_gateway(const std::string& gateway);

  /// Adds (delta > 0) or removes (delta < 0) units of `product` in one transaction
  /// (adjust_stock): the product's stock is spread evenly over its slots afterwards, a removal
  /// takes at most what is left (the result says how much it took) and the change goes to the stock
  /// ledger with `reason`. Blocks while purchases hold the product's slots. Throws db_error: the
  /// product is not defined in this database (SQLSTATE FS002), `reason` is blank (22023), `delta`
  /// is out of the int range (checked here) or the result would not fit the slots (22003).
  stock_change adjust_stock(const std::string& product, std::int64_t delta,
                            const std::string& reason);

  /// Runs `sql` (one or more statements) in one transaction. For maintenance and tests.
  /// Throws db_error.
  void execute(const std::string& sql);

 private:
  explicit schema_admin(std::unique_ptr<detail::admin_session> session);
  std::unique_ptr<detail::admin_session> session_;
};

}  // namespace flashsale::db

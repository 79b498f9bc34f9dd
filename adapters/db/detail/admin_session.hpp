#pragma once

// Internal: the ODB (C++14) side of schema_admin. No ODB include; C++14-clean.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/db/connection.hpp"
#include "adapters/db/product_report.hpp"
#include "adapters/db/stock_change.hpp"

namespace flashsale {
namespace db {
namespace detail {

/// A migration file read from disk.
struct migration_file {
  std::string name;      ///< file name, e.g. "001_tables.sql"
  std::string checksum;  ///< stable hash of the content
  std::string sql;
};

/// One admin connection (ODB database + connection). Not thread-safe.
class admin_session {
 public:
  /// Connects to params.dbname. Throws db_error.
  static std::unique_ptr<admin_session> open(const connection_params& params);

  virtual ~admin_session();

  virtual const connection_params& params() const = 0;

  /// Runs `sql` in one transaction. Throws db_error.
  virtual void execute(const std::string& sql) = 0;

  /// CREATE DATABASE `name`: true if created, false if it exists (also when created
  /// concurrently). Throws db_error.
  virtual bool create_database(const std::string& name) = 0;

  /// DROP DATABASE IF EXISTS `name` WITH (FORCE). Throws db_error.
  virtual void drop_database(const std::string& name) = 0;

  /// True if database `name` exists on the server. Throws db_error.
  virtual bool database_exists(const std::string& name) = 0;

  /// Applies `file` unless schema_migrations records it: true if applied, false if it was already.
  /// Throws db_error on failure or when the recorded checksum differs.
  virtual bool apply_migration(const migration_file& file) = 0;

  /// define_product(...): "created" or "exists". Throws db_error.
  virtual std::string define_product(const std::string& id, std::int32_t stock, std::int32_t slots,
                                     std::int32_t per_user_limit, bool hot) = 0;

  /// Orders per product of the purchases `gateway` accepted. Throws db_error.
  virtual std::map<std::string, std::int64_t> sold_by_gateway(const std::string& gateway) = 0;

  /// Figures of every product (product == nullptr) or of one. Throws db_error.
  virtual std::vector<product_report> report(const std::string* product) = 0;

  /// adjust_stock(id, delta, reason) in its own transaction. Throws db_error.
  virtual stock_change adjust_stock(const std::string& id, std::int32_t delta,
                                    const std::string& reason) = 0;
};

}  // namespace detail
}  // namespace db
}  // namespace flashsale

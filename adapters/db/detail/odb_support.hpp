#pragma once

// Internal helpers of the ODB (C++14) side of the adapter. Includes ODB: only for the adapter's
// C++14 translation units.

#include <memory>
#include <string>
#include <utility>

#include <odb/exceptions.hxx>
#include <odb/pgsql/connection.hxx>
#include <odb/pgsql/database.hxx>
#include <odb/pgsql/query.hxx>
#include <odb/pgsql/transaction-impl.hxx>

#include "adapters/db/connection.hpp"

namespace flashsale {
namespace db {
namespace detail {

/// An ODB database handle for `params` (connections are made on demand, one per call of
/// open_connection, no pool). Does not connect.
std::unique_ptr<odb::pgsql::database> make_database(const connection_params& params);

/// Opens one connection. Throws db_error naming the endpoint and libpq's message.
odb::pgsql::connection_ptr open_connection(odb::pgsql::database& database,
                                           const connection_params& params);

/// Translates an ODB exception: "<operation> on <host:port/db> as <user>: <message>", with the
/// server's SQLSTATE when there is one.
db_error to_db_error(const odb::exception& e, const connection_params& params,
                     const std::string& operation);

/// An ODB transaction of exactly one statement that sends neither BEGIN nor COMMIT: PostgreSQL
/// runs the statement in autocommit mode as a transaction of its own and commits it before it
/// answers (durably: synchronous_commit is on), so once the statement's result has come back its
/// work is committed, and when the statement fails none of it is. ODB runs queries only inside a
/// transaction and its own sends BEGIN and COMMIT as two more round trips, which cost
/// purchase_batch 11-15% of its throughput (pgbench, 2 clients, batches of 100).
/// Use: `odb::transaction t(new single_statement_transaction(connection));` one execute(), read
/// the result in full and let it go out of scope, then t.commit() (this class cannot invalidate
/// results still alive: ODB keeps that to its own transaction).
class single_statement_transaction final : public odb::pgsql::transaction_impl {
 public:
  explicit single_statement_transaction(odb::pgsql::connection_ptr connection)
      : odb::pgsql::transaction_impl(std::move(connection)) {}
  void start() override {}
  void commit() override {}
  void rollback() override {}
};

/// `name` as a double-quoted SQL identifier.
std::string quote_identifier(const std::string& name);

/// Several arguments through the single (?) placeholder of a function-call native view
/// "... f((?))": binds each argument by reference and joins them with "),(" so the statement
/// reads f(($1),($2),...). The arguments must outlive every execution of the query.
template <typename First>
odb::pgsql::query_base call_arguments(const First& first) {
  return odb::pgsql::query_base(odb::pgsql::query_base::_ref(first));
}

template <typename First, typename... Rest>
odb::pgsql::query_base call_arguments(const First& first, const Rest&... rest) {
  return odb::pgsql::query_base::_ref(first) + "),(" + call_arguments(rest...);
}

}  // namespace detail
}  // namespace db
}  // namespace flashsale

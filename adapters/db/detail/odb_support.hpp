#pragma once

// Internal helpers of the ODB (C++14) side of the adapter. Includes ODB: only for the adapter's
// C++14 translation units.

#include <memory>
#include <string>

#include <odb/exceptions.hxx>
#include <odb/pgsql/connection.hxx>
#include <odb/pgsql/database.hxx>
#include <odb/pgsql/query.hxx>

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

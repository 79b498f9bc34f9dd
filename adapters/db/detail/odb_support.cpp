#include "adapters/db/detail/odb_support.hpp"

#include <utility>

#include <odb/pgsql/connection-factory.hxx>
#include <odb/pgsql/exceptions.hxx>

namespace flashsale {
namespace db {
namespace detail {

namespace {

std::string describe(const connection_params& params) {
  return params.endpoint() + " as " + (params.user.empty() ? "<default user>" : params.user);
}

std::string trim_trailing_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

}  // namespace

std::unique_ptr<odb::pgsql::database> make_database(const connection_params& params) {
  // Keepalives make a vanished server (or network) an error within ~40 s instead of a hang.
  auto conninfo = params.conninfo(
      "application_name=flashsale keepalives=1 keepalives_idle=20 "
      "keepalives_interval=5 keepalives_count=4");
  std::unique_ptr<odb::pgsql::connection_factory> factory(new odb::pgsql::new_connection_factory());
  return std::unique_ptr<odb::pgsql::database>(
      new odb::pgsql::database(conninfo, std::move(factory)));
}

odb::pgsql::connection_ptr open_connection(odb::pgsql::database& database,
                                           const connection_params& params) {
  try {
    return database.connection();
  } catch (const odb::exception& e) {
    throw to_db_error(e, params, "connect");
  }
}

db_error to_db_error(const odb::exception& e, const connection_params& params,
                     const std::string& operation) {
  std::string sqlstate;
  std::string message;
  if (auto* pg = dynamic_cast<const odb::pgsql::database_exception*>(&e)) {
    sqlstate = pg->sqlstate();
    message = pg->message();
  } else {
    message = e.what();
  }
  message = trim_trailing_newlines(message);
  std::string what = operation + " on " + describe(params) + ": ";
  if (!sqlstate.empty())
    what += "[" + sqlstate + "] ";
  what += message;
  return db_error(what, std::move(sqlstate));
}

std::string quote_identifier(const std::string& name) {
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"')
      quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

}  // namespace detail
}  // namespace db
}  // namespace flashsale

// The ODB side of order_store (C++14: includes ODB and the generated schema code).
#include "adapters/db/order_store.hpp"

#include <utility>

#include <odb/pgsql/database.hxx>
#include <odb/pgsql/transaction.hxx>
#include <odb/prepared-query.hxx>
#include <odb/transaction.hxx>
#include <spdlog/spdlog.h>

#include "adapters/db/detail/odb_support.hpp"
#include "schema/views-odb.hpp"

namespace flashsale {
namespace db {

namespace {

using purchase_query = odb::query<schema::purchase_result>;

purchase_status parse_status(const std::string& s) {
  if (s == "confirmed")
    return purchase_status::confirmed;
  if (s == "duplicate_request")
    return purchase_status::duplicate_request;
  if (s == "user_limit")
    return purchase_status::user_limit;
  if (s == "sold_out")
    return purchase_status::sold_out;
  if (s == "unknown_product")
    return purchase_status::unknown_product;
  throw db_error("purchase_one answered an unknown status '" + s + "'");
}

/// order_store over one ODB connection and the prepared purchase_one statement.
class odb_order_store final : public order_store {
 public:
  explicit odb_order_store(const connection_params& params)
      : params_(params), database_(detail::make_database(params)) {
    reconnect();
  }

  ~odb_order_store() override {
    // The prepared statement belongs to the connection: release it first.
    prepared_.reset();
    connection_.reset();
  }

  purchase_outcome purchase(const purchase_request& request) override {
    if (!connection_ || connection_->failed()) {
      spdlog::warn("order store {}: reconnecting", params_.endpoint());
      reconnect();
    }
    product_ = request.product;
    request_id_ = request.request_id;
    user_ = request.user;
    gateway_ = request.gateway;
    try {
      odb::transaction t(connection_->begin());
      odb::result<schema::purchase_result> rows(prepared_->execute());
      auto it = rows.begin();
      if (it == rows.end())
        throw db_error("purchase_one returned no row on " + params_.endpoint());
      purchase_outcome out{parse_status(it->status)};
      if (!it->order_id.null())
        out.order_id = *it->order_id;
      if (!it->slot.null())
        out.slot = *it->slot;
      t.commit();
      return out;
    } catch (const odb::exception& e) {
      throw detail::to_db_error(e, params_, "purchase " + request.request_id);
    }
  }

 private:
  void reconnect() {
    prepared_.reset();
    connection_.reset();
    auto connection = detail::open_connection(*database_, params_);
    try {
      odb::transaction t(connection->begin());
      purchase_query args(detail::call_arguments(product_, request_id_, user_, gateway_));
      prepared_.reset(new odb::prepared_query<schema::purchase_result>(
          database_->prepare_query<schema::purchase_result>("flashsale_purchase_one", args)));
      t.commit();
    } catch (const odb::exception& e) {
      prepared_.reset();
      throw detail::to_db_error(e, params_, "prepare purchase_one");
    }
    connection_ = std::move(connection);
  }

  connection_params params_;
  std::unique_ptr<odb::pgsql::database> database_;
  odb::pgsql::connection_ptr connection_;
  // Bound by reference into the prepared statement: set before each execution.
  std::string product_;
  std::string request_id_;
  std::string user_;
  std::string gateway_;
  std::unique_ptr<odb::prepared_query<schema::purchase_result>> prepared_;
};

}  // namespace

const char* to_string(purchase_status status) {
  switch (status) {
    case purchase_status::confirmed:
      return "confirmed";
    case purchase_status::duplicate_request:
      return "duplicate_request";
    case purchase_status::user_limit:
      return "user_limit";
    case purchase_status::sold_out:
      return "sold_out";
    case purchase_status::unknown_product:
      return "unknown_product";
  }
  return "unknown";
}

order_store::~order_store() = default;

std::unique_ptr<order_store> order_store::connect(const connection_params& params) {
  return std::unique_ptr<order_store>(new odb_order_store(params));
}

}  // namespace db
}  // namespace flashsale

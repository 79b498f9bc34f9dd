// The ODB side of order_store (C++14: includes ODB and the generated schema code).
#include "adapters/db/order_store.hpp"

#include <utility>
#include <vector>

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
using batch_query = odb::query<schema::purchase_batch_row>;
using fence_query = odb::query<schema::fence_row>;

/// Appends `value` as a double-quoted element of a PostgreSQL array literal.
void append_element(std::string& out, const std::string& value) {
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
}

/// The request field `field` of every request as a PostgreSQL text[] literal.
void to_array_literal(std::string& out, const std::vector<purchase_request>& requests,
                      std::string purchase_request::*field) {
  out.clear();
  out += '{';
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (i > 0)
      out += ',';
    append_element(out, requests[i].*field);
  }
  out += '}';
}

/// The epoch of every request as a PostgreSQL bigint[] literal.
void to_epoch_literal(std::string& out, const std::vector<purchase_request>& requests) {
  out.clear();
  out += '{';
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(requests[i].epoch);
  }
  out += '}';
}

/// The status word a purchase function answered (messages.hpp spells them).
order_status parse_status(const std::string& s) {
  order_status status = order_status::queued;
  if (!from_string(s, status) || status == order_status::queued)
    throw db_error("the purchase function answered an unknown status '" + s + "'");
  return status;
}

/// A row of purchase_one or purchase_batch as an outcome.
template <typename Row>
purchase_outcome outcome_of(const Row& row) {
  purchase_outcome out{parse_status(row.status)};
  if (!row.order_id.null())
    out.order_id = *row.order_id;
  if (!row.slot.null())
    out.slot = *row.slot;
  return out;
}

/// order_store over one ODB connection and the prepared purchase_one statement.
class odb_order_store final : public order_store {
 public:
  explicit odb_order_store(const connection_params& params)
      : params_(params), database_(detail::make_database(params)) {
    reconnect();
  }

  ~odb_order_store() override {
    // The prepared statements belong to the connection: release them first.
    prepared_.reset();
    prepared_batch_.reset();
    prepared_fence_.reset();
    connection_.reset();
  }

  purchase_outcome purchase(const purchase_request& request) override {
    ensure_connected();
    product_ = request.product;
    request_id_ = request.request_id;
    user_ = request.user;
    gateway_ = request.gateway;
    try {
      odb::transaction t(new detail::single_statement_transaction(connection_));
      purchase_outcome out{};
      {
        odb::result<schema::purchase_result> rows(prepared_->execute());
        auto it = rows.begin();
        if (it == rows.end())
          throw db_error("purchase_one returned no row on " + params_.endpoint());
        out = outcome_of(*it);
      }
      t.commit();
      return out;
    } catch (const odb::exception& e) {
      throw detail::to_db_error(e, params_, "purchase " + request.request_id);
    }
  }

  std::vector<purchase_outcome> purchase_batch(
      const std::string& product, const std::vector<purchase_request>& requests) override {
    if (requests.empty())
      return {};
    ensure_connected();
    batch_product_ = product;
    to_array_literal(batch_request_ids_, requests, &purchase_request::request_id);
    to_array_literal(batch_users_, requests, &purchase_request::user);
    to_array_literal(batch_gateways_, requests, &purchase_request::gateway);
    to_epoch_literal(batch_epochs_, requests);
    auto operation = [&] {
      return "purchase_batch " + product + " (" + std::to_string(requests.size()) +
             " requests from " + requests.front().request_id + ")";
    };
    try {
      std::vector<purchase_outcome> out;
      out.reserve(requests.size());
      // One statement, one transaction: committed when its rows are here (see
      // single_statement_transaction). So the checks below cannot undo it; they never fire
      // unless the function is broken, and the caller's retry is absorbed by the request ids.
      odb::transaction t(new detail::single_statement_transaction(connection_));
      {
        odb::result<schema::purchase_batch_row> rows(prepared_batch_->execute());
        for (auto it = rows.begin(); it != rows.end(); ++it) {
          if (it->idx != static_cast<std::int32_t>(out.size() + 1))
            throw db_error(operation() + " on " + params_.endpoint() + ": row " +
                           std::to_string(out.size() + 1) + " answers request " +
                           std::to_string(it->idx));
          out.push_back(outcome_of(*it));
        }
      }
      if (out.size() != requests.size())
        throw db_error(operation() + " on " + params_.endpoint() + ": " +
                       std::to_string(out.size()) + " rows answered");
      t.commit();
      return out;
    } catch (const odb::exception& e) {
      throw detail::to_db_error(e, params_, operation());
    }
  }

  std::map<std::string, std::int64_t> fence(const std::string& gateway,
                                            std::int64_t epoch) override {
    ensure_connected();
    fence_gateway_ = gateway;
    fence_epoch_ = epoch;
    try {
      std::map<std::string, std::int64_t> sold;
      odb::transaction t(new detail::single_statement_transaction(connection_));
      {
        odb::result<schema::fence_row> rows(prepared_fence_->execute());
        for (auto it = rows.begin(); it != rows.end(); ++it)
          sold[it->product] = it->sold;
      }
      t.commit();
      return sold;
    } catch (const odb::exception& e) {
      throw detail::to_db_error(e, params_,
                                "fence gateway " + gateway + " at epoch " + std::to_string(epoch));
    }
  }

 private:
  void ensure_connected() {
    if (!connection_ || connection_->failed()) {
      if (connection_)
        spdlog::warn("order store {}: reconnecting", params_.endpoint());
      reconnect();
    }
  }

  void reconnect() {
    prepared_.reset();
    prepared_batch_.reset();
    prepared_fence_.reset();
    connection_.reset();
    auto connection = detail::open_connection(*database_, params_);
    try {
      odb::transaction t(connection->begin());
      purchase_query args(detail::call_arguments(product_, request_id_, user_, gateway_));
      prepared_.reset(new odb::prepared_query<schema::purchase_result>(
          database_->prepare_query<schema::purchase_result>("flashsale_purchase_one", args)));
      // purchase_batch_fenced((product),(ids::text[]),(users::text[]),(gateways::text[]),
      // (epochs::bigint[])): the arrays are bound as text literals and cast by the server.
      batch_query batch_args(batch_query::_ref(batch_product_) + "),(" +
                             batch_query::_ref(batch_request_ids_) + "::text[]),(" +
                             batch_query::_ref(batch_users_) + "::text[]),(" +
                             batch_query::_ref(batch_gateways_) + "::text[]),(" +
                             batch_query::_ref(batch_epochs_) + "::bigint[]");
      prepared_batch_.reset(new odb::prepared_query<schema::purchase_batch_row>(
          database_->prepare_query<schema::purchase_batch_row>("flashsale_purchase_batch",
                                                               batch_args)));
      fence_query fence_args(detail::call_arguments(fence_gateway_, fence_epoch_));
      prepared_fence_.reset(new odb::prepared_query<schema::fence_row>(
          database_->prepare_query<schema::fence_row>("flashsale_fence_gateway", fence_args)));
      t.commit();
    } catch (const odb::exception& e) {
      prepared_.reset();
      prepared_batch_.reset();
      prepared_fence_.reset();
      throw detail::to_db_error(e, params_, "prepare purchase_one, purchase_batch and the fence");
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
  std::string batch_product_;
  std::string batch_request_ids_;  // text[] literals
  std::string batch_users_;
  std::string batch_gateways_;
  std::string batch_epochs_;  // bigint[] literal
  std::unique_ptr<odb::prepared_query<schema::purchase_batch_row>> prepared_batch_;
  std::string fence_gateway_;
  std::int64_t fence_epoch_ = 0;
  std::unique_ptr<odb::prepared_query<schema::fence_row>> prepared_fence_;
};

}  // namespace

order_store::~order_store() = default;

std::unique_ptr<order_store> order_store::connect(const connection_params& params) {
  return std::unique_ptr<order_store>(new odb_order_store(params));
}

}  // namespace db
}  // namespace flashsale

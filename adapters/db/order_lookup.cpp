// The ODB side of order_lookup (C++14: includes ODB and the generated schema code).
#include "adapters/db/order_lookup.hpp"

#include <odb/pgsql/database.hxx>
#include <odb/pgsql/transaction.hxx>
#include <odb/transaction.hxx>
#include <spdlog/spdlog.h>

#include "adapters/db/detail/odb_support.hpp"
#include "schema/views-odb.hpp"

namespace flashsale {
namespace db {

namespace {

class odb_order_lookup final : public order_lookup {
 public:
  explicit odb_order_lookup(const connection_params& params)
      : params_(params), database_(detail::make_database(params)) {
    connection_ = detail::open_connection(*database_, params_);
  }

  ~odb_order_lookup() override { connection_.reset(); }

  bool find(const std::string& request_id, stored_order& out) override {
    if (!connection_ || connection_->failed()) {
      if (connection_)
        spdlog::warn("order lookup {}: reconnecting", params_.endpoint());
      connection_.reset();
      connection_ = detail::open_connection(*database_, params_);
    }
    using query = odb::query<schema::found_order>;
    try {
      odb::transaction t(connection_->begin());
      bool found = false;
      for (const auto& row :
           database_->query<schema::found_order>(query(detail::call_arguments(request_id)))) {
        out = stored_order{row.order_id, row.product, row.user, row.slot};
        found = true;
        break;
      }
      t.commit();
      return found;
    } catch (const odb::exception& e) {
      throw detail::to_db_error(e, params_, "find_order " + request_id);
    }
  }

 private:
  connection_params params_;
  std::unique_ptr<odb::pgsql::database> database_;
  odb::pgsql::connection_ptr connection_;
};

}  // namespace

order_lookup::~order_lookup() = default;

std::unique_ptr<order_lookup> order_lookup::connect(const connection_params& params) {
  return std::make_unique<odb_order_lookup>(params);
}

}  // namespace db
}  // namespace flashsale

#pragma once

// The gateways' door to PostgreSQL: one connection that looks orders up by request id through the
// stored function find_order (sql/005_order_lookup.sql), as the role flashsale_gateway, which may
// do nothing else. C++17-clean (and C++14-clean): no ODB include.

#include <cstdint>
#include <memory>
#include <string>

#include "adapters/db/connection.hpp"

namespace flashsale {
namespace db {

/// An order as the database holds it.
struct stored_order {
  std::int64_t order_id = 0;
  std::string product;
  std::string user;
  std::int32_t slot = 0;
};

/// One database connection used by one thread at a time.
class order_lookup {
 public:
  /// Connects within params.connect_timeout_s. Throws db_error naming host:port/db.
  static std::unique_ptr<order_lookup> connect(const connection_params& params);

  virtual ~order_lookup();

  /// True and the order in `out` when an order was written for `request_id`; false when there is
  /// none (yet). One short read-only transaction; blocks for its duration. Throws db_error on SQL
  /// failure or a lost connection; the next call reconnects.
  virtual bool find(const std::string& request_id, stored_order& out) = 0;
};

}  // namespace db
}  // namespace flashsale

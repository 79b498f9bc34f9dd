#pragma once

// The writers' door to PostgreSQL: one connection that buys units through the stored functions
// purchase_batch (sql/004_orders.sql, behind the gateways' fences of sql/006_fencing.sql) and
// purchase_one. C++17-clean (and C++14-clean): no ODB
// include.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/db/connection.hpp"
#include "messages/messages.hpp"

namespace flashsale {
namespace db {

/// One purchase: the idempotency key, the product, the buyer, the gateway that accepted it and the
/// claim epoch it was admitted under (0: none named; any fence of the gateway stops it).
struct purchase_request {
  std::string request_id;
  std::string product;
  std::string user;
  std::string gateway;
  std::int64_t epoch = 0;
};

/// The answer: order_id and slot are set (non-zero) for confirmed and duplicate_request (the
/// earlier order), 0 otherwise.
struct purchase_outcome {
  /// confirmed, duplicate_request, user_limit, sold_out, unknown_product or (batches only)
  /// fenced (never queued).
  order_status status = order_status::sold_out;
  std::int64_t order_id = 0;
  std::int32_t slot = 0;
};

/// One database connection used by one thread at a time; each call runs one transaction.
class order_store {
 public:
  /// Connects (within params.connect_timeout_s) and prepares the purchase statements.
  /// Throws db_error naming host:port/db and the server's message.
  static std::unique_ptr<order_store> connect(const connection_params& params);

  virtual ~order_store();

  /// Buys one unit in its own transaction (purchase_one). Idempotent per request_id: a retry
  /// after an error is safe and answers duplicate_request if the first attempt committed.
  /// Throws db_error on SQL failure or a lost connection; the next call reconnects.
  virtual purchase_outcome purchase(const purchase_request& request) = 0;

  /// Buys one unit per request, all of `product` (each request's `product` is ignored), in one
  /// transaction (purchase_batch): returns one outcome per request, in request order. Decided in
  /// order: earlier requests count first against the per-user limit and get the stock first; a
  /// request id repeated in the batch answers like its first occurrence. Idempotent per request id
  /// like purchase(). Blocks for the duration of the transaction (it may wait for slots other
  /// transactions hold). Throws db_error on SQL failure or a lost connection (nothing of the batch
  /// committed, unless the connection broke during the commit itself); the next call reconnects.
  virtual std::vector<purchase_outcome> purchase_batch(
      const std::string& product, const std::vector<purchase_request>& requests) = 0;

  /// Raises `gateway`'s fence to `epoch` (fence_gateway, sql/006_fencing.sql) in one
  /// transaction: from its commit on, every batch purchase of the gateway stamped with an epoch
  /// <= `epoch` answers fenced. Returns the orders the gateway then holds, per product of this
  /// database (0 included): final for those epochs. Blocks until the batches of the gateway in
  /// progress have committed. Throws db_error like purchase_batch.
  virtual std::map<std::string, std::int64_t> fence(const std::string& gateway,
                                                    std::int64_t epoch) = 0;
};

}  // namespace db
}  // namespace flashsale

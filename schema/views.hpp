#pragma once

// ODB native views: the stored functions of sql/002_functions.sql and sql/004_orders.sql, and the
// read-only queries of the admin tool. Compiled as C++14 only (ODB 2.4): include this header from
// the database adapter's implementation, never from C++17 code.
//
// A native view has one query placeholder, (?), replaced by the query expression given at run
// time. The function-call views pass several arguments through it by joining them with "),(":
//   query::_ref(a) + "),(" + query::_ref(b)  gives  f(($1),($2))
// (call_arguments() in adapters/db builds that expression).

#include <cstdint>
#include <string>

#include <odb/core.hxx>
#include <odb/nullable.hxx>

namespace flashsale {
namespace schema {

/// One row of purchase_one(product, request_id, user, gateway).
#pragma db view query("SELECT status, order_id, slot FROM purchase_one((?))")
struct purchase_result {
  std::string status;                  ///< confirmed, duplicate_request, user_limit, sold_out, unknown_product
  odb::nullable<std::int64_t> order_id;  ///< set for confirmed and duplicate_request
  odb::nullable<std::int32_t> slot;      ///< set for confirmed and duplicate_request
};

/// One row of purchase_batch_fenced(product, request_ids[], user_ids[], gateways[], epochs[])
/// (sql/006_fencing.sql; purchase_batch of sql/004_orders.sql behind a gateway's fence). The
/// arrays travel as text in PostgreSQL's array syntax, cast in the argument expression.
#pragma db view query("SELECT idx, status, order_id, slot FROM purchase_batch_fenced((?))")
struct purchase_batch_row {
  std::int32_t idx = 0;                  ///< 1-based position of the request in the batch
  std::string status;                    ///< as purchase_result, or fenced
  odb::nullable<std::int64_t> order_id;  ///< set for confirmed and duplicate_request
  odb::nullable<std::int32_t> slot;      ///< set for confirmed and duplicate_request
};

/// One row of fence_gateway(gateway, epoch) (sql/006_fencing.sql): a product and the orders the
/// fenced gateway holds of it.
#pragma db view query("SELECT product, sold FROM fence_gateway((?))")
struct fence_row {
  std::string product;
  std::int64_t sold = 0;
};

/// One row of find_order(request_id) (sql/005_order_lookup.sql): the order of a request, if any.
#pragma db view query("SELECT order_id, product, user_id, slot FROM find_order((?))")
struct found_order {
  std::int64_t order_id = 0;
  std::string product;
  std::string user;
  std::int32_t slot = 0;
};

/// adjust_stock(product, delta, reason) (sql/004_orders.sql).
#pragma db view query("SELECT requested, applied, remaining FROM adjust_stock((?))")
struct adjust_stock_result {
  std::int32_t requested = 0;  ///< the delta asked for
  std::int32_t applied = 0;    ///< the signed change made
  std::int64_t remaining = 0;  ///< the product's stock afterwards
};

/// define_product(id, stock, slots, per_user_limit, hot): 'created' or 'exists'.
#pragma db view query("SELECT define_product((?))")
struct define_product_result {
  std::string status;
};

/// Per-product figures behind the invariants I1-I3, read in one statement (one snapshot).
/// The placeholder is a condition on the product row `p` (empty: every product).
#pragma db view query("SELECT p.id, p.slots, p.per_user_limit, p.hot, " \
  "(SELECT coalesce(sum(a.delta), 0)::bigint FROM stock_adjustment a WHERE a.product = p.id), " \
  "(SELECT count(*) FROM purchase_order o WHERE o.product = p.id), " \
  "(SELECT coalesce(sum(s.remaining), 0)::bigint FROM stock_slot s WHERE s.product = p.id), " \
  "(SELECT count(*) FROM stock_slot s WHERE s.product = p.id AND s.remaining < 0), " \
  "(SELECT count(*) FROM (SELECT 1 FROM purchase_order o WHERE o.product = p.id " \
  "   GROUP BY o.request_id HAVING count(*) > 1) d), " \
  "(SELECT count(*) FROM (SELECT 1 FROM purchase_order o WHERE o.product = p.id " \
  "   GROUP BY o.user_id HAVING count(*) > p.per_user_limit) u) " \
  "FROM product p WHERE (?) ORDER BY p.id")
struct product_figures {
  std::string product;
  std::int32_t slots = 0;
  std::int32_t per_user_limit = 0;
  bool hot = false;
  std::int64_t made_available = 0;      ///< sum of the stock ledger
  std::int64_t sold = 0;                ///< orders
  std::int64_t remaining = 0;           ///< sum of the stock slots
  std::int64_t negative_slots = 0;      ///< slots below zero (the CHECK constraint forbids them)
  std::int64_t duplicate_requests = 0;  ///< request ids with more than one order
  std::int64_t users_over_limit = 0;    ///< users holding more than per_user_limit orders
};

/// Orders per product of the purchases one gateway accepted (a condition on purchase_order o, e.g.
/// o.gateway = ...).
#pragma db view query("SELECT o.product, count(*) FROM purchase_order o WHERE (?) " \
  "GROUP BY o.product ORDER BY o.product")
struct gateway_sales {
  std::string product;
  std::int64_t sold = 0;
};

/// Number of databases matching a condition on pg_database (e.g. datname = ...).
#pragma db view query("SELECT count(*) FROM pg_database WHERE (?)")
struct database_count {
  std::int64_t count = 0;
};

}  // namespace schema
}  // namespace flashsale

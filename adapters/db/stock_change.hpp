#pragma once

// What a stock adjustment did (adjust_stock, sql/004_orders.sql). C++14-clean: shared by the
// adapter's C++17 and ODB (C++14) sides.

#include <cstdint>

namespace flashsale {
namespace db {

/// The outcome of adding or removing units of one product.
struct stock_change {
  std::int64_t requested = 0;  ///< the delta asked for (negative: a removal)
  std::int64_t applied = 0;    ///< the signed change made; a removal is capped by the stock left
  std::int64_t remaining = 0;  ///< the product's stock (sum over its slots) afterwards

  /// True when the whole change was made.
  bool complete() const { return applied == requested; }
};

}  // namespace db
}  // namespace flashsale

#pragma once

// Per-product figures behind the invariants (docs/design.md, section 1). C++14-clean: shared by the
// adapter's C++17 and ODB (C++14) sides.

#include <cstdint>
#include <string>

namespace flashsale {
namespace db {

/// One product as its database sees it, read in one snapshot.
struct product_report {
  std::string product;
  std::int32_t slots = 0;
  std::int32_t per_user_limit = 0;
  bool hot = false;
  std::int64_t made_available = 0;      ///< sum of the stock ledger (initial stock + adjustments)
  std::int64_t sold = 0;                ///< orders
  std::int64_t remaining = 0;           ///< sum over the stock slots
  std::int64_t negative_slots = 0;      ///< slots below zero
  std::int64_t duplicate_requests = 0;  ///< request ids holding more than one order
  std::int64_t users_over_limit = 0;    ///< users holding more than per_user_limit orders

  /// I1 no oversell: sold <= made available and no slot below zero.
  bool no_oversell() const { return sold <= made_available && negative_slots == 0; }
  /// I2 conservation: made available = remaining + sold.
  bool conserved() const { return made_available == remaining + sold; }
  /// I3 no duplicates: no request id twice, nobody over the per-user limit.
  bool no_duplicates() const { return duplicate_requests == 0 && users_over_limit == 0; }
  /// All three.
  bool ok() const { return no_oversell() && conserved() && no_duplicates(); }
};

}  // namespace db
}  // namespace flashsale

#pragma once

// Quota arithmetic of one product on one gateway, without CAF: the product_counter actor holds one.
// remaining = grant - consumed; reserve() never lets consumed pass the grant, whatever order the
// calls come in. Not thread-safe (an actor owns it).

#include <cstdint>

#include "messages/messages.hpp"

namespace flashsale {

class quota_counter {
 public:
  explicit quota_counter(std::int64_t initial_grant = 0) : grant_(initial_grant) {}

  /// Takes one unit: true if one was left and the product is not sold out.
  bool reserve() {
    if (sold_out_ || consumed_ >= grant_)
      return false;
    ++consumed_;
    return true;
  }

  /// Gives back a unit reserved earlier. Ignored if nothing is consumed.
  void refund() {
    if (consumed_ > 0)
      --consumed_;
  }

  /// Applies a new cumulative grant. Versions at or below the last applied are ignored (returns
  /// false). A grant below what is consumed admits nothing more until it grows again.
  bool apply(const quota_update& u) {
    if (u.version <= version_)
      return false;
    version_ = u.version;
    grant_ = u.grant;
    return true;
  }

  /// From now on reserve() fails (the database has no stock left).
  void mark_sold_out() { sold_out_ = true; }

  std::int64_t grant() const { return grant_; }
  std::int64_t consumed() const { return consumed_; }
  std::int64_t remaining() const { return grant_ > consumed_ ? grant_ - consumed_ : 0; }
  bool sold_out() const { return sold_out_ || remaining() == 0; }

 private:
  std::int64_t grant_;
  std::int64_t consumed_ = 0;
  std::int64_t version_ = 0;
  bool sold_out_ = false;
};

}  // namespace flashsale

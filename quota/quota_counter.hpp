#pragma once

// Quota arithmetic of one product on one gateway, without CAF: the product_counter actor holds one.
// remaining = grant - consumed; reserve() never lets consumed pass the grant, whatever order the
// calls come in. Not thread-safe (an actor owns it).
//
// With live quotas (ZooKeeper) two more rules hold:
// - A lease: reserve(now) admits only before the lease deadline the quota keeper last set. The
//   keeper extends it only while its ZooKeeper session is certainly alive, so a gateway whose
//   session may have expired (and whose unused quota the leader may have re-granted) stops
//   admitting by itself, even if it was frozen and nobody told it.
// - Giving back: release_unused() lowers the grant to what is consumed, atomically with respect to
//   reserve(), and says which grant version that applies to; only a newer grant raises it again.

#include <algorithm>
#include <cstdint>
#include <limits>

#include "messages/messages.hpp"

namespace flashsale {

class quota_counter {
 public:
  explicit quota_counter(std::int64_t initial_grant = 0) : grant_(initial_grant) {}

  /// Takes one unit: true if one was left (within the grant and, when claims are required, the
  /// claim) and the product is not sold out. No lease check.
  bool reserve() {
    if (sold_out_ || consumed_ >= grant_ || (claim_required_ && consumed_ >= claim_))
      return false;
    ++consumed_;
    return true;
  }

  /// Takes one unit at time `now_ms` (the lease's clock): also records the attempt (demand) and
  /// refuses when a lease is required and ran out.
  bool reserve(std::int64_t now_ms) {
    last_attempt_ms_ = now_ms;
    attempted_ = true;
    if ((lease_required_ && now_ms >= lease_until_ms_) || !reserve()) {
      ++refused_;
      return false;
    }
    return true;
  }

  /// Gives back a unit reserved earlier. Ignored if nothing is consumed.
  void refund() {
    if (consumed_ > 0)
      --consumed_;
  }

  /// Applies a new cumulative grant. Versions at or below the last applied are ignored (returns
  /// false). A grant below what is consumed admits nothing more until it grows again. A grant that
  /// grows ends a sold-out mark: stock was added (or moved here) after the database ran dry, and if
  /// it was not, the database refuses again and the writers say so again.
  ///
  /// The first grant applied after a resume() that is below consumed lowers consumed to it (the
  /// same version read again instead ends that: nothing changed meanwhile): only
  /// a settlement (the databases fenced this node's earlier claim epochs and the leader lowered
  /// its grant to the orders they hold) takes a grant below what a node consumed, and then the
  /// units above it can never be written (see docs/design.md, "Gone gateways").
  bool apply(const quota_update& u) {
    if (u.version <= version_) {
      if (u.version == version_)
        settle_pending_ = false;  // the grant it holds, read again: nothing was settled
      return false;
    }
    version_ = u.version;
    if (u.grant > grant_)
      sold_out_ = false;
    grant_ = u.grant;
    if (settle_pending_) {
      settle_pending_ = false;
      consumed_ = std::min(consumed_, grant_);
    }
    return true;
  }

  /// Lowers the grant to what is consumed: nothing more is admitted until a grant with a newer
  /// version than version() arrives. Returns the units given back, the grant now in force and the
  /// version it was derived from (the keeper writes that grant only if ZooKeeper still holds that
  /// version).
  quota_release release_unused() {
    quota_release r;
    r.released = std::max<std::int64_t>(grant_ - consumed_, 0);
    grant_ = std::min(grant_, consumed_);
    r.grant = grant_;
    r.version = version_;
    return r;
  }

  /// A new session (a restart, or a new session after an expiry) resumes from its last report: a
  /// counter that has not applied any grant yet raises consumed to at least `floor`. A counter
  /// that already holds a grant ignores it: its own figure is the truth (it may be lower than the
  /// last report after refunds). Either way the next grant applied may settle (see apply()).
  void resume(std::int64_t floor) {
    if (version_ == 0)
      consumed_ = std::max(consumed_, floor);
    settle_pending_ = true;
  }

  /// From now on reserve(now) also needs now < the lease deadline; the deadline starts expired.
  void require_lease() { lease_required_ = true; }
  /// Moves the lease deadline to `until_ms` if that is later than the current one.
  void extend_lease(std::int64_t until_ms) {
    lease_until_ms_ = std::max(lease_until_ms_, until_ms);
  }
  /// Ends the lease now (the session is known to be lost).
  void revoke_lease() { lease_until_ms_ = std::numeric_limits<std::int64_t>::min(); }
  bool lease_valid(std::int64_t now_ms) const {
    return !lease_required_ || now_ms < lease_until_ms_;
  }

  /// Live quotas: admit only up to a claim the keeper wrote to ZooKeeper before handing it over
  /// (raise_claim). Until the first claim nothing is admitted.
  void require_claim() {
    claim_required_ = true;
    claim_ = 0;
  }
  /// A claim the keeper wrote: admit up to it (never lowered: a lower grant caps it anyway).
  void raise_claim(std::int64_t claim) {
    if (claim > claim_)
      claim_ = claim;
  }
  /// The claim in force (meaningless unless required).
  std::int64_t claim() const { return claim_; }
  /// The last refusal (or the next one) is only for want of a claim: units are left, the product
  /// is not sold out and the lease (if any) has not run out at the last attempt.
  bool claim_exhausted() const {
    return claim_required_ && consumed_ >= claim_ && consumed_ < grant_ && !sold_out_ &&
           (!lease_required_ || last_attempt_ms_ < lease_until_ms_);
  }

  /// From now on reserve() fails (the database has no stock left), until a larger grant arrives.
  void mark_sold_out() { sold_out_ = true; }

  std::int64_t grant() const { return grant_; }
  std::int64_t consumed() const { return consumed_; }
  std::int64_t remaining() const { return grant_ > consumed_ ? grant_ - consumed_ : 0; }
  /// Nothing left here: marked sold out, or the grant is used up (a new grant may follow).
  bool sold_out() const { return sold_out_ || remaining() == 0; }
  /// The database said the product is sold out (mark_sold_out): final.
  bool marked_sold_out() const { return sold_out_; }
  /// Version of the last grant applied (0: none yet).
  std::int64_t version() const { return version_; }
  /// Attempts refused (no quota left, sold out or no lease).
  std::int64_t refused() const { return refused_; }
  /// Time since the last attempt; `since_ms` (e.g. the counter's start) when there was none.
  std::int64_t idle_ms(std::int64_t now_ms, std::int64_t since_ms) const {
    return now_ms - (attempted_ ? last_attempt_ms_ : since_ms);
  }

 private:
  std::int64_t grant_;
  std::int64_t consumed_ = 0;
  std::int64_t version_ = 0;
  bool sold_out_ = false;
  bool settle_pending_ = false;  // resumed: the next grant applied may lower consumed
  bool lease_required_ = false;
  bool claim_required_ = false;
  std::int64_t claim_ = 0;
  std::int64_t lease_until_ms_ = std::numeric_limits<std::int64_t>::min();
  bool attempted_ = false;
  std::int64_t last_attempt_ms_ = 0;
  std::int64_t refused_ = 0;
};

}  // namespace flashsale

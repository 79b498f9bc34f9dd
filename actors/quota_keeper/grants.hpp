#pragma once

// The quota keeper's follower side: this node's grants (watched), the sale's live settings
// (watched), and giving back unused quota when the leader asks (the release flag). See
// docs/design.md, "Live quotas", for why a release caps the counter before it writes.

#include <string>

#include "actors/quota_keeper/keeper_state.hpp"

namespace flashsale::keeper_parts {

/// Hands a grant read (or written) at stat.mzxid to the product's counter, unless it is not newer
/// than the last one handed over; a grown grant is claimed from at once (reports.hpp).
void take_grant(keeper* self, const std::string& product, const quota::grant_znode& value,
                const zk::node_stat& stat);

/// Reads (and watches) grants/<node>/<product>; takes it, and starts a release if it is flagged.
/// A failed read marks the grant stale (re-read on the next tick).
void read_grant(keeper* self, const std::string& product);

/// Gives back the product's unused quota: the counter caps its grant at what it consumed, then
/// that is written as the grant, checked against the version the cap was derived from. At most
/// one release per product is in flight; nothing happens before registration.
void start_release(keeper* self, const std::string& product);

/// Reads (and watches) the sale's settings and tells the gateway the lottery ratio and the
/// window; watches for the znode's creation while it is absent.
void read_settings(keeper* self);

}  // namespace flashsale::keeper_parts

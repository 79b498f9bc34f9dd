#pragma once

// The quota keeper's reports and claims, and the lease they renew. Every report interval the
// keeper asks its counters for their figures, writes the consumption reports that are due (with a
// new claim: the counter admits only up to a claim written here first), and after a successful
// ZooKeeper round trip extends the counters' lease to half the session timeout past the moment the
// request was sent. Why that is safe: docs/design.md, "Live quotas".

#include <cstdint>

#include "actors/quota_keeper/keeper_state.hpp"

namespace flashsale::keeper_parts {

/// Sets the counters' lease deadline (steady ms; 0 revokes it) and the node's readiness.
void set_lease(keeper* self, std::int64_t until);

/// One round of reports: counters' figures, the reports due (claims included), then the lease.
/// Also re-reads stale grants and retries flagged releases. At most one round runs at a time;
/// nothing happens before registration.
void tick(keeper* self);

}  // namespace flashsale::keeper_parts

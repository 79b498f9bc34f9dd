#pragma once

// The quota keeper's part in the sale's leadership: standing for quota leader (an ephemeral
// sequential candidacy; the lowest one leads) and, while leading, the leader's decisions: read
// the sale's tree, decide with quota::plan_product (quota/policy.hpp), write every product's plan
// in one versioned multi that passes the fence. The rules and why sum(grants) <= stock holds after
// every write: docs/design.md, "Live quotas".

#include <functional>

#include "actors/quota_keeper/keeper_state.hpp"

namespace flashsale::keeper_parts {

/// Reads (and watches) the candidacies: leads when ours is the lowest, stands again when ours
/// vanished. A new leader announces itself in the leader znode and decides at once.
void read_election(keeper* self);

/// Creates our candidacy (once at a time), then reads the election; `done(true)` once it exists.
void stand_for_leader(keeper* self, std::function<void(bool)> done);

/// While leading and registered: one round of decisions (a round asked for while one runs
/// follows it). A lost race is re-read and re-decided after a short delay, never forced.
void evaluate(keeper* self);

}  // namespace flashsale::keeper_parts

#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
}

namespace flashsale {

struct counter_options {
  std::int64_t initial_grant = 0;  ///< the local quota before any quota_update
  /// Admit only within a lease the quota keeper keeps extending and up to the claim it last wrote
  /// to ZooKeeper (live quotas): no lease or claim yet, or a lease that ran out, admits nothing.
  bool require_lease = false;
  /// Told, on the counter's thread, the units left (grant - consumed, >= 0; 0 once sold out) and
  /// whether a reserve would now be refused as sold out (nothing left here, or the database said
  /// so), after every change (for gauges). Must not block. Optional.
  std::function<void(std::int64_t left, bool sold_out)> on_change;
};

/// Spawns the counter of one product. The counter is the only place this gateway decides whether
/// a unit may still be promised (see quota_counter for the rules: grant, lease, release).
counter_actor spawn_product_counter(caf::actor_system& sys, std::string product,
                                    counter_options opts);

}  // namespace flashsale

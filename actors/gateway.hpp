#pragma once

// The gateway actor: decides the purchase attempts of one gateway node that passed the admission
// front (product known, sale open, lottery won; see admission/admission_front.hpp): per-user check
// -> product_counter reserve -> publish (broker confirm) -> answer. A refused publish (certainly
// not stored) refunds the unit, an unconfirmed one (maybe stored) keeps it; both answer
// queue_refused. It also answers ticket lookups, takes the writers' results and sold-out news,
// and applies the live settings (lottery ratio, sale window) to the front.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "actors/product_counter.hpp"
#include "common/sale_definition.hpp"
#include "messages/gateway_calls.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {
class admission_front;
class peer_roster;
}  // namespace flashsale

namespace flashsale {

/// Everything the gateway actor takes. Its subsets: gateway_peer_actor (what writers and
/// flashsale-admin reach across the network), sale_settings_actor (the quota keeper).
using gateway_actor = caf::typed_actor<
    /// From the HTTP controller (local only): a purchase to decide; call.done gets the answer.
    caf::reacts_to<purchase_call>,
    /// From the HTTP controller (local only): a ticket to look up; q.done gets the answer.
    caf::reacts_to<ticket_query>,
    /// From writers: purchases' fates.
    caf::reacts_to<std::vector<order_result>>,
    /// From writers: the database has none of a product left.
    caf::reacts_to<sold_out>,
    /// flashsale-admin status.
    caf::replies_to<stats_atom>::with<node_stats>,
    /// The sale's lottery setting (K, draw secret, window); older versions are ignored.
    caf::reacts_to<shedding_update>,
    /// The operator's sale window; older versions are ignored.
    caf::reacts_to<window_update>,
    /// Live quotas (the quota keeper): the claim epoch stamped on the purchases admitted from now
    /// on (older epochs' refunds are dropped: their units may have gone to other gateways).
    caf::reacts_to<epoch_atom, std::int64_t>,
    /// Live quotas: until when (steady clock, ms) the keeper's session is certainly alive; a
    /// confirm processed later answers queue_refused, not accepted (see docs/design.md, "Gone
    /// gateways"). Until the first such message every confirm counts.
    caf::reacts_to<lease_atom, std::int64_t>>;

struct gateway_options {
  std::string name;                        ///< node name: prefix of tickets and request ids
  std::shared_ptr<admission_front> front;  ///< required
  std::chrono::milliseconds publish_timeout{8000};  ///< longer than the publisher's confirm timeout
  /// Order lookups by database name (each product's `database` in the sale); GET /v1/orders asks
  /// them when the gateway has no final result for a ticket. Empty: answer from memory only.
  std::map<std::string, order_finder_actor> finders;
  std::chrono::milliseconds lookup_timeout{2000};  ///< per database lookup
  std::shared_ptr<peer_roster> writers;  ///< the writers connected now (stats), may be null
};

/// Spawns the gateway actor over one counter per product of the sale (it reserves and refunds
/// through their gates, on its own thread) and the publisher. A reservation refused for want of a
/// claim (throttled) is retried every 20 ms for up to 1 s, then answered busy; a publisher that
/// does not answer in time answers queue_refused.
gateway_actor spawn_gateway(caf::actor_system& sys, gateway_options opts,
                            const sale_definition& sale,
                            std::map<std::string, product_counter> counters,
                            publisher_actor publisher);

}  // namespace flashsale

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::purchase_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::ticket_query)

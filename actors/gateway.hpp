#pragma once

// The gateway actor: decides the purchase attempts of one gateway node that passed the admission
// front (product known, sale open, lottery won; see admission_front.hpp): per-user check ->
// product_counter reserve -> publish (broker confirm) -> answer. A refused publish (certainly not
// stored) refunds the unit, an unconfirmed one (maybe stored) keeps it; both answer queue_refused.
// It also applies the live settings (lottery ratio, sale window) to the front.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/sale_definition.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {
class admission_front;
class peer_roster;
}  // namespace flashsale

namespace flashsale {

/// A purchase attempt that passed admission_front::screen (local only: carries a callback).
struct purchase_call {
  std::string product;
  std::string user;
  std::string idempotency_key;  ///< optional client key; scopes the request id with the user
  /// Called exactly once, on an actor thread, with the decision. Must not block.
  std::function<void(const purchase_reply&)> done;
  int throttled = 0;  ///< reservations refused so far for want of a claim (the actor retries)
};

/// Looks up a ticket (local only): from memory, then from the databases (see gateway_options).
/// done(nullopt) for tickets this gateway does not know and no database holds.
struct ticket_query {
  std::string ticket;
  std::function<void(const std::optional<ticket_view>&)> done;
};

using gateway_actor = caf::typed_actor<caf::reacts_to<purchase_call>, caf::reacts_to<ticket_query>,
                                       /// From writers (gateway_peer_actor): purchases' fates.
                                       caf::reacts_to<std::vector<order_result>>,
                                       /// From writers: the database has none of a product left.
                                       caf::reacts_to<sold_out>,
                                       /// flashsale-admin status (gateway_peer_actor).
                                       caf::replies_to<stats_atom>::with<node_stats>,
                                       /// A new lottery ratio (live setting); older versions are
                                       /// ignored.
                                       caf::reacts_to<shedding_update>,
                                       /// The operator's sale window; older versions are ignored.
                                       caf::reacts_to<window_update>>;

struct gateway_options {
  std::string name;        ///< node name: prefix of tickets and request ids
  std::uint64_t seed = 1;  ///< lottery seed; a live K change draws from seed + version
  std::shared_ptr<admission_front> front;           ///< required
  std::chrono::milliseconds publish_timeout{8000};  ///< longer than the publisher's confirm timeout
  /// Order lookups by database name (each product's `database` in the sale); GET /v1/orders asks
  /// them when the gateway has no final result for a ticket. Empty: answer from memory only.
  std::map<std::string, order_finder_actor> finders;
  std::chrono::milliseconds lookup_timeout{2000};  ///< per database lookup
  std::shared_ptr<peer_roster> writers;  ///< the writers connected now (stats), may be null
};

/// Spawns the gateway actor over one counter per product of the sale and the publisher.
gateway_actor spawn_gateway(caf::actor_system& sys, gateway_options opts,
                            const sale_definition& sale,
                            std::map<std::string, counter_actor> counters,
                            publisher_actor publisher);

}  // namespace flashsale

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::purchase_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::ticket_query)

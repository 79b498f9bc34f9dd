#pragma once

// Typed actor interfaces shared by all nodes. Includes CAF: include it only in actor and node code.

#include <cstdint>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/type_ids.hpp"

namespace flashsale {

/// One per product on a gateway: the local quota.
using counter_actor = caf::typed_actor<
    /// Takes one unit of the local quota: reserved, none_left (sold out here) or throttled (left
    /// but not claimed yet).
    caf::replies_to<reserve_atom>::with<reservation>,
    /// Gives back a unit reserved earlier (its publish failed).
    caf::reacts_to<refund_atom>,
    /// A new cumulative grant; older versions are ignored.
    caf::reacts_to<quota_update>,
    /// The product is sold out everywhere: refuse from now on.
    caf::reacts_to<sold_out>, caf::replies_to<stats_atom>::with<counter_stats>,
    /// Lowers the grant to what is consumed (nothing more is admitted until a newer grant) and
    /// replies what was given back and from which grant version.
    caf::replies_to<release_atom>::with<quota_release>,
    /// Admit only before this deadline (steady clock, ms since its epoch); later deadlines extend
    /// the lease, a deadline <= 0 revokes it.
    caf::reacts_to<lease_atom, std::int64_t>,
    /// A restarted gateway resumes from its last report: before its first grant, consumed is
    /// raised to at least this much (later, the counter's own figure stands).
    caf::reacts_to<resume_atom, std::int64_t>,
    /// Live quotas: the keeper wrote this claim to ZooKeeper; admit up to it (never lowered).
    caf::reacts_to<claim_atom, std::int64_t>>;

/// What follows the sale's live settings (the gateway actor): the quota keeper tells it.
using sale_settings_actor = caf::typed_actor<
    /// A new lottery ratio; older versions are ignored.
    caf::reacts_to<shedding_update>,
    /// The operator's sale window; older versions are ignored.
    caf::reacts_to<window_update>,
    /// The claim epoch of the keeper's session: stamped on every purchase admitted from now on.
    caf::reacts_to<epoch_atom, std::int64_t>,
    /// The session is certainly alive until this time (steady clock, ms): a broker confirm that
    /// arrives later is not answered as an acceptance (the databases may fence the purchase).
    caf::reacts_to<lease_atom, std::int64_t>>;

/// The gateway's RabbitMQ publisher (publisher_bridge.hpp).
using publisher_actor = caf::typed_actor<
    /// Publishes persistently; replies confirmed once the broker confirmed, refused when it
    /// certainly did not store the purchase (nack, queue full, no connection), unknown when it
    /// may have (sent, but the connection died or no confirm came in time).
    caf::replies_to<publish_atom, purchase>::with<publish_outcome>>;

/// One database connection on a writer node.
using slot_writer_actor = caf::typed_actor<
    /// Writes the purchases (all of one database) and replies one result per purchase, in order.
    /// Replies an error when the database fails; then nothing of the batch may be acked.
    caf::replies_to<write_atom, std::vector<purchase>>::with<std::vector<order_result>>>;

/// One database connection on a gateway, for GET /v1/orders.
using order_finder_actor = caf::typed_actor<
    /// Looks up the order of a request id: status confirmed with order_id, product and user when
    /// the database holds one, status queued and order_id 0 when it does not (yet). Replies an
    /// error when the database cannot be asked.
    caf::replies_to<find_atom, std::string>::with<ticket_view>>;

/// What a gateway publishes for writer nodes and flashsale-admin (CAF middleman): its purchases'
/// fates and sold-out products, and its stats. The first two are fire-and-forget: a lost message
/// only delays GET /v1/orders (the database fallback stays the truth) or lets the database refuse
/// what a gateway still admits.
using gateway_peer_actor = caf::typed_actor<
    /// Results of purchases this gateway accepted (writers send them after each commit).
    caf::reacts_to<std::vector<order_result>>,
    /// The database has no unit of the product left: admit no more of it.
    caf::reacts_to<sold_out>,
    /// What the gateway says about itself (flashsale-admin status).
    caf::replies_to<stats_atom>::with<node_stats>>;

/// What a writer node publishes (CAF middleman; registered as nodes/writers/<node> in ZooKeeper):
/// gateways connect to it and monitor it, flashsale-admin asks it for stats.
using writer_peer_actor = caf::typed_actor<caf::replies_to<stats_atom>::with<node_stats>>;

}  // namespace flashsale

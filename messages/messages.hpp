#pragma once

// The typed messages nodes exchange, as plain structs. This header is free of CAF on purpose: it is
// included widely. inspect() overloads are templates, so CAF's serializers (and any other
// inspector) can visit the fields (enums travel as their underlying integer); messages/type_ids.hpp
// registers the types with CAF.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace flashsale {

/// Final or intermediate state of one purchase.
enum class order_status : std::uint8_t {
  queued = 0,         ///< accepted by a gateway (broker confirmed), not yet written
  confirmed,          ///< an order row exists
  duplicate_request,  ///< the request id was already used; the earlier order stands
  user_limit,         ///< the user already holds per_user_limit orders of the product
  sold_out,           ///< no stock left in the database
  unknown_product,    ///< the writer does not know the product (configuration mismatch)
  /// the accepting gateway was fenced past the claim epoch the purchase was admitted under (its
  /// session had gone and what it claimed was given to others): no order, no unit taken
  fenced,
};

/// Stable lower-case name ("confirmed", ...), used in JSON and logs.
const char* to_string(order_status s);

/// Parses the name to_string() gives. Returns false (and leaves `out`) for anything else.
bool from_string(const std::string& name, order_status& out);

/// A purchase admitted by a gateway. It travels through RabbitMQ to a writer node.
struct purchase {
  std::string request_id;           ///< idempotency key, unique per purchase attempt (I3)
  std::string product;              ///< product id
  std::string user;                 ///< buyer id
  std::string gateway;              ///< name of the accepting gateway node
  std::string ticket;               ///< handle the client polls: GET /v1/orders/{ticket}
  std::int64_t accepted_at_ms = 0;  ///< gateway clock, ms since the epoch
  /// The claim epoch of the gateway's quota keeper it was admitted under (>= 1; 0: none, e.g. a
  /// gateway without live quotas). The database refuses it once the gateway is fenced at or
  /// above it (sql/006_fencing.sql).
  std::int64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase& x) {
  return f(x.request_id, x.product, x.user, x.gateway, x.ticket, x.accepted_at_ms, x.epoch);
}

/// What a writer learned about one purchase: sent back to the accepting gateway.
struct order_result {
  std::string request_id;
  std::string ticket;
  std::string product;
  std::string gateway;  ///< the accepting gateway: where the result goes
  order_status status = order_status::queued;
  std::int64_t order_id = 0;  ///< the order row (also the earlier one for duplicate_request)
  std::int32_t slot = 0;      ///< stock slot the unit came from
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_result& x) {
  return f(x.request_id, x.ticket, x.product, x.gateway, x.status, x.order_id, x.slot);
}

/// How a gateway answered one purchase attempt.
enum class admission : std::uint8_t {
  accepted = 0,     ///< 202: reserved, published, confirmed by the broker
  shed,             ///< 429: lost the lottery
  sold_out,         ///< 410: this gateway has no quota left for the product
  already_bought,   ///< 409: the user reached the per-user limit at this gateway
  queue_refused,    ///< 503: the broker nacked, refused or did not answer (see publish_outcome)
  unknown_product,  ///< 404
  not_started,      ///< 403: the sale window has not opened yet
  closed,           ///< 403: an operator closed the sale
  ended,            ///< 410: the sale window is over
  busy,             ///< 503: quota is left but not yet claimed in ZooKeeper; retry in a moment
};

/// Stable lower-case name ("accepted", "shed", ...).
const char* to_string(admission a);

/// The fate of a publish, as the gateway's publisher bridge reports it.
enum class publish_outcome : std::uint8_t {
  confirmed = 0,  ///< the broker confirmed: the message is durable
  refused,        ///< certainly not stored: the broker nacked it (queue full), or it was never sent
  unknown,  ///< sent, but no confirm came (connection lost, confirm timeout): it may be stored
};

/// A product counter's answer to a reservation.
enum class reservation : std::uint8_t {
  reserved = 0,  ///< one unit is the caller's
  none_left,     ///< no unit left here (grant used up, sold out, or no quota lease)
  throttled,     ///< units are left but not yet claimed in ZooKeeper (live quotas): retry soon
};

/// Answer of the gateway actor to one purchase.
struct purchase_reply {
  admission outcome = admission::accepted;
  std::string ticket;  ///< set when accepted
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_reply& x) {
  return f(x.outcome, x.ticket);
}

/// New cumulative grant of a product for one gateway (ZooKeeper -> quota keeper -> counter).
struct quota_update {
  std::string product;
  std::int64_t grant = 0;    ///< cumulative units granted to this gateway
  std::int64_t version = 0;  ///< source version; older versions are ignored
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, quota_update& x) {
  return f(x.product, x.grant, x.version);
}

/// The product has no stock left anywhere (sent by a writer that saw it in the database).
struct sold_out {
  std::string product;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sold_out& x) {
  return f(x.product);
}

/// What a gateway remembers about a ticket it handed out (answers GET /v1/orders/{ticket}).
struct ticket_view {
  std::string ticket;
  std::string request_id;
  std::string product;
  std::string user;
  order_status status = order_status::queued;
  std::int64_t order_id = 0;  ///< set once a writer reported the order
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ticket_view& x) {
  return f(x.ticket, x.request_id, x.product, x.user, x.status, x.order_id);
}

/// Snapshot of one product counter.
struct counter_stats {
  std::string product;
  std::int64_t grant = 0;
  std::int64_t consumed = 0;
  bool sold_out = false;
  std::int64_t version = 0;  ///< version of the grant in force (quota_update::version)
  std::int64_t idle_ms = 0;  ///< since the last purchase attempt (or the counter's start)
  std::int64_t refused = 0;  ///< attempts refused so far (no quota, sold out, no lease)
  bool lease_valid = true;   ///< the counter may admit now (its quota lease has not run out)
  std::int64_t claim = 0;    ///< admits up to this (live quotas: the claim written to ZooKeeper)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, counter_stats& x) {
  return f(x.product, x.grant, x.consumed, x.sold_out, x.version, x.idle_ms, x.refused,
           x.lease_valid, x.claim);
}

/// What a counter gave back when asked to release its unused quota (see quota_counter).
struct quota_release {
  std::string product;
  std::int64_t released = 0;  ///< units given back (grant - consumed before, if positive)
  std::int64_t grant = 0;     ///< the grant now in force (= consumed)
  std::int64_t version = 0;   ///< the version of the grant it was lowered from
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, quota_release& x) {
  return f(x.product, x.released, x.grant, x.version);
}

/// The sale's lottery setting for the gateway (ZooKeeper settings -> quota keeper -> gateway).
struct shedding_update {
  std::uint32_t keep_one_in = 0;  ///< keep 1 buyer in K; 0: not set, the gateway keeps its own
  std::int64_t version = 0;       ///< source version (mzxid); older versions are ignored
  bool has_key = false;    ///< the settings name a draw secret (else the gateway keeps its own)
  std::uint64_t key0 = 0;  ///< the draw secret, first half
  std::uint64_t key1 = 0;  ///< the draw secret, second half
  std::int64_t draw_window_ms = 0;  ///< 0: one draw per user for the whole sale
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shedding_update& x) {
  return f(x.keep_one_in, x.version, x.has_key, x.key0, x.key1, x.draw_window_ms);
}

/// Who decides whether the sale is open: the window of the sale file, or an operator.
enum class window_mode : std::uint8_t {
  scheduled = 0,  ///< open from opens_at to closes_at of the sale definition (the default)
  open,           ///< open now, whatever the times say
  closed,         ///< closed now, whatever the times say
};

/// Stable lower-case name ("scheduled", "open", "closed").
const char* to_string(window_mode m);

/// An operator's window decision (ZooKeeper settings -> quota keeper -> gateway).
struct window_update {
  window_mode mode = window_mode::scheduled;
  std::int64_t version = 0;  ///< source version (mzxid); older versions are ignored
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, window_update& x) {
  return f(x.mode, x.version);
}

/// What a node says about itself when asked (`stats_atom`; flashsale-admin status prints them).
struct node_stats {
  std::string node;
  std::string role;  ///< "gateway" or "writer"
  std::int64_t uptime_ms = 0;
  /// Gateway: purchase requests by outcome (the names of /metrics). Writer: purchases written,
  /// by result (confirmed, duplicate_request, user_limit, sold_out, unknown_product).
  std::map<std::string, std::int64_t> counts;
  std::map<std::string, std::int64_t> quota_left;  ///< gateway: grant - consumed, per product
  /// Gateway: purchases published and not yet confirmed by the broker. Writer: purchases taken
  /// from the queue and not yet committed.
  std::int64_t queue_lag = 0;
  std::int64_t batches = 0;  ///< writer: database transactions committed
  /// Gateway: purchases accepted per second; writer: orders confirmed per second (the last 10 s).
  double per_second = 0;
  std::vector<std::string> peers;  ///< the other side's nodes this one is connected to now
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_stats& x) {
  return f(x.node, x.role, x.uptime_ms, x.counts, x.quota_left, x.queue_lag, x.batches,
           x.per_second, x.peers);
}

}  // namespace flashsale

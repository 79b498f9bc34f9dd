#include "actors/queue_bridge.hpp"

#include <algorithm>
#include <functional>
#include <memory>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/peer_links.hpp"
#include "actors/slot_writer.hpp"
#include "common/metrics.hpp"
#include "messages/codec.hpp"

namespace flashsale {

namespace {

// -- publisher bridge ------------------------------------------------------------------------

using outcome_promise = caf::typed_response_promise<publish_outcome>;

struct gathered {
  std::vector<purchase> purchases;
  std::vector<outcome_promise> promises;
};

/// A message as published, kept until the broker's answer says what became of it.
struct message_copy {
  std::string queue;
  std::string body;
  std::size_t purchases = 0;
};

/// A published message (or a copy of one of unknown fate) waiting for its fate.
struct in_flight {
  message_copy message;
  std::vector<outcome_promise> buyers;  // empty for a copy: its buyers got their answer
};

struct publisher_state {
  std::unique_ptr<amqp::publisher> adapter;
  amqp::topology route;
  std::size_t per_message = 1;
  std::map<std::string, gathered> gathering;  // by queue, until the flush
  bool flush_sent = false;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, in_flight> published;  // by publish id, until its fate
  std::vector<message_copy> in_doubt;                      // fate unknown, next copy not sent yet
  bool resend_due = false;
  std::int64_t purchases_in_doubt = 0;
  std::function<void(std::int64_t)> on_in_doubt;
  static inline const char* name = "publisher_bridge";

  publisher_state() = default;
  publisher_state(const publisher_state&) = delete;
  publisher_state& operator=(const publisher_state&) = delete;
  /// Runs when the bridge stops (CAF destroys an actor's state in on_exit).
  ~publisher_state() {
    if (purchases_in_doubt > 0)
      spdlog::error(
          "publisher bridge stopped with {} purchase(s) of unknown fate not re-sent: if the "
          "broker did not store them, their units stay unsold",
          purchases_in_doubt);
  }
};

/// How long the bridge waits before it sends copies of the messages whose fate is unknown (and
/// between tries while the broker does not confirm them).
constexpr std::chrono::seconds resend_interval{1};

void publish(publisher_state& st, in_flight entry) {
  auto id = st.next_id++;
  auto body = entry.message.body;  // kept: a copy may have to be sent again
  auto queue = entry.message.queue;
  st.published.emplace(id, std::move(entry));
  // The fate comes through the mailbox, after the current handler.
  st.adapter->publish(id, std::move(body), std::move(queue));
}

void publish_gathered(publisher_state& st, const std::string& queue, gathered& g) {
  publish(st, in_flight{{queue, encode_purchases(g.purchases), g.purchases.size()},
                        std::move(g.promises)});
  g = gathered{};
}

/// Adds `delta` to the purchases in doubt and tells on_in_doubt.
void count_in_doubt(publisher_state& st, std::int64_t delta) {
  st.purchases_in_doubt += delta;
  if (st.on_in_doubt)
    st.on_in_doubt(st.purchases_in_doubt);
}

/// A message (or a copy of one) whose fate is unknown: a copy goes out after resend_interval.
void doubt(publisher_actor::stateful_pointer<publisher_state> self, message_copy message,
           bool first_time) {
  auto& st = self->state;
  if (first_time)
    count_in_doubt(st, static_cast<std::int64_t>(message.purchases));
  st.in_doubt.push_back(std::move(message));
  if (!st.resend_due) {
    st.resend_due = true;
    self->delayed_send(self, resend_interval, tick_atom_v);
  }
}

publisher_actor::behavior_type publisher_impl(
    publisher_actor::stateful_pointer<publisher_state> self, amqp::connection_params params,
    amqp::publisher::options opts, std::size_t per_message,
    std::function<void(std::int64_t)> on_in_doubt) {
  caf::weak_actor_ptr weak{self->ctrl()};
  self->state.route = opts.route;
  self->state.per_message = per_message;
  self->state.on_in_doubt = std::move(on_in_doubt);
  self->state.adapter = std::make_unique<amqp::publisher>(
      std::move(params), std::move(opts),
      [weak](std::vector<std::uint64_t> ids, amqp::publisher::fate f) {
        auto outcome = f == amqp::publisher::fate::confirmed ? publish_outcome::confirmed
                       : f == amqp::publisher::fate::refused ? publish_outcome::refused
                                                             : publish_outcome::unknown;
        if (auto strong = weak.lock())
          caf::anon_send(caf::actor_cast<publisher_actor>(strong), confirm_atom_v, std::move(ids),
                         outcome);
      });
  return {
      [=](publish_atom, purchase& p) -> outcome_promise {
        auto& st = self->state;
        auto rp = self->make_response_promise<publish_outcome>();
        auto queue = st.route.queue_of(p.product);
        auto& g = st.gathering[queue];
        g.purchases.push_back(std::move(p));
        g.promises.push_back(rp);
        if (g.purchases.size() >= st.per_message) {
          publish_gathered(st, queue, g);
        } else if (!st.flush_sent) {
          // Behind whatever is in the mailbox now: those purchases join this message.
          self->send(self, publish_atom_v);
          st.flush_sent = true;
        }
        return rp;
      },
      [=](publish_atom) {
        auto& st = self->state;
        st.flush_sent = false;
        for (auto& [queue, g] : st.gathering)
          if (!g.purchases.empty())
            publish_gathered(st, queue, g);
      },
      [=](confirm_atom, const std::vector<std::uint64_t>& ids, publish_outcome outcome) {
        auto& st = self->state;
        for (auto id : ids) {
          auto i = st.published.find(id);
          if (i == st.published.end())
            continue;
          auto entry = std::move(i->second);
          st.published.erase(i);
          bool copy = entry.buyers.empty();
          for (auto& rp : entry.buyers)
            rp.deliver(outcome);
          if (!copy) {
            if (outcome == publish_outcome::unknown)
              doubt(self, std::move(entry.message), true);
          } else if (outcome == publish_outcome::confirmed) {
            // Stored now, if the original was not; a writer absorbs the second of two copies
            // by their request ids.
            count_in_doubt(st, -static_cast<std::int64_t>(entry.message.purchases));
            spdlog::info(
                "publisher bridge: a copy of a message of unknown fate ({} purchase(s), queue "
                "{}) is confirmed; {} purchase(s) still in doubt",
                entry.message.purchases, entry.message.queue, st.purchases_in_doubt);
          } else {
            doubt(self, std::move(entry.message), false);  // try again later
          }
        }
      },
      [=](tick_atom) {
        auto& st = self->state;
        st.resend_due = false;
        auto copies = std::move(st.in_doubt);
        st.in_doubt.clear();
        for (auto& message : copies)
          publish(st, in_flight{std::move(message), {}});
      },
  };
}

// -- consumer bridge -------------------------------------------------------------------------

/// Longest field the writers accept; longer ones are a bug or an attack, not a purchase.
constexpr std::size_t max_field_bytes = 1024;

/// True if `s` is valid UTF-8 without NUL bytes (what PostgreSQL text accepts: no overlong forms,
/// no surrogates, nothing beyond U+10FFFF) and not too long.
bool storable(const std::string& s) {
  if (s.size() > max_field_bytes)
    return false;
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = byte(i);
    if (c == 0)
      return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = c >= 0xc2 && c <= 0xdf   ? 2
                      : c >= 0xe0 && c <= 0xef ? 3
                      : c >= 0xf0 && c <= 0xf4 ? 4
                                               : 0;
    if (len == 0 || i + len > s.size())
      return false;
    unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
    else if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
    if (byte(i + 1) < lo || byte(i + 1) > hi)
      return false;
    for (std::size_t k = 2; k < len; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xbf)
        return false;
    i += len;
  }
  return true;
}

/// A decodable purchase the database can store (otherwise it would fail its batch forever).
bool storable(const purchase& p) {
  return storable(p.request_id) && storable(p.product) && storable(p.user) && storable(p.gateway) &&
         storable(p.ticket);
}

/// A delivery whose purchases are being written. It is settled once, when the last one is done.
struct open_delivery {
  std::size_t remaining = 0;  // purchases not written yet
  bool failed = false;        // a database failed one of them: requeue the whole message
  bool unstorable = false;    // one of them can never be written: dead-letter the message
};

struct consumer_state {
  std::unique_ptr<amqp::consumer> adapter;
  std::string node;
  writer_routing routing;
  std::unordered_map<std::uint64_t, open_delivery> open;  // by delivery tag
  std::int64_t batches = 0;                               // commits reported by the pools
  std::chrono::seconds stats_interval{0};
  caf::actor results_sink;  // where the results go after a commit (may be null)
  std::shared_ptr<peer_roster> gateways;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  metrics::rate_meter confirmed_rate;
  std::uint64_t undecodable = 0;  // messages dead-lettered
  std::uint64_t requeued = 0;     // messages put back
  std::map<order_status, std::uint64_t> results;
  std::string last_stats;
  static inline const char* name = "consumer_bridge";
};

std::int64_t count_of(const consumer_state& st, order_status s) {
  auto i = st.results.find(s);
  return i == st.results.end() ? 0 : static_cast<std::int64_t>(i->second);
}

std::string render_stats(const consumer_state& st) {
  auto c = st.adapter->counters();
  auto count = [&](order_status s) { return count_of(st, s); };
  return fmt::format(
      "delivered={} acked={} ack_frames={} dead_lettered={} requeued={} confirmed={} "
      "duplicate_request={} user_limit={} sold_out={} unknown_product={}",
      c.delivered, c.acked, c.ack_frames, st.undecodable, st.requeued,
      count(order_status::confirmed), count(order_status::duplicate_request),
      count(order_status::user_limit), count(order_status::sold_out),
      count(order_status::unknown_product));
}

/// Counts purchases of open deliveries as done (`failed`: not written); acks each delivery whose
/// purchases are all written, requeues one of which any failed, dead-letters one that held an
/// unstorable purchase.
void settle(consumer_state& st, const std::vector<std::uint64_t>& tags, bool failed) {
  std::vector<std::uint64_t> acks;
  for (auto tag : tags) {
    auto i = st.open.find(tag);
    if (i == st.open.end())
      continue;  // settled already (cannot happen: each purchase is reported once)
    auto& entry = i->second;
    entry.failed = entry.failed || failed;
    if (--entry.remaining > 0)
      continue;
    if (entry.failed) {
      ++st.requeued;
      st.adapter->reject(tag, true);
    } else if (entry.unstorable) {
      ++st.undecodable;
      st.adapter->reject(tag, false);
    } else {
      acks.push_back(tag);
    }
    st.open.erase(i);
  }
  if (!acks.empty())
    st.adapter->ack(acks);
}

caf::behavior consumer_impl(caf::stateful_actor<consumer_state>* self,
                            amqp::connection_params params, consumer_bridge_options options) {
  auto opts = std::move(options.consumer);
  auto stats_interval = options.stats_interval;
  self->state.node = std::move(options.node);
  self->state.routing = std::move(options.routing);
  self->state.results_sink = std::move(options.results);
  self->state.gateways = std::move(options.gateways);
  self->state.stats_interval = stats_interval;
  caf::weak_actor_ptr weak{self->ctrl()};
  self->state.adapter = std::make_unique<amqp::consumer>(
      std::move(params), std::move(opts), [weak](std::vector<amqp::delivery> batch) {
        if (auto strong = weak.lock())
          caf::anon_send(caf::actor_cast<caf::actor>(strong), deliver_atom_v, std::move(batch));
      });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    // Unacked deliveries go back to their queues when the connection closes.
    auto stats = render_stats(st);
    st.adapter.reset();
    spdlog::info("writer stats at shutdown: {}", stats);
    self->quit(msg.reason);
  });
  if (stats_interval.count() > 0)
    self->delayed_send(self, stats_interval, tick_atom_v);
  return {
      [=](deliver_atom, std::vector<amqp::delivery>& batch) {
        auto& st = self->state;
        // Dead-letter what cannot be purchases; group the rest by database.
        std::map<std::string, std::vector<queued_purchase>> groups;
        for (auto& d : batch) {
          auto purchases = decode_purchases(d.body.data(), d.body.size());
          if (!purchases) {
            ++st.undecodable;
            spdlog::error("writer: undecodable message ({} bytes) sent to the dead-letter queue",
                          d.body.size());
            st.adapter->reject(d.tag, false);
            continue;
          }
          open_delivery entry;
          for (auto& p : *purchases) {
            if (!storable(p)) {
              // The others are written; then the whole message goes to the dead-letter queue,
              // where the operator finds this one (a replay of the others is absorbed, I3).
              entry.unstorable = true;
              spdlog::error(
                  "writer: purchase {:.64} is not storable (field too long or not "
                  "UTF-8); its message goes to the dead-letter queue",
                  p.request_id);
              continue;
            }
            auto db = st.routing.database_of_product.find(p.product);
            auto& g =
                groups[db == st.routing.database_of_product.end() ? st.routing.default_database
                                                                  : db->second];
            g.push_back(queued_purchase{std::move(p), d.tag});
            ++entry.remaining;
          }
          if (entry.remaining == 0) {
            ++st.undecodable;
            st.adapter->reject(d.tag, false);
            continue;
          }
          st.open[d.tag] = entry;
        }
        for (auto& [database, purchases] : groups)
          self->send(st.routing.pools_by_database.at(database), std::move(purchases));
      },
      [=](written_purchases& w) {
        auto& st = self->state;
        for (const auto& r : w.results)
          ++st.results[r.status];
        ++st.batches;
        st.confirmed_rate.sample(std::chrono::steady_clock::now(),
                                 count_of(st, order_status::confirmed));
        settle(st, w.tokens, false);
        if (st.results_sink)
          self->send(st.results_sink, std::move(w.results));
      },
      [=](failed_purchases& f) { settle(self->state, f.tokens, true); },
      [=](stats_atom) -> node_stats {
        auto& st = self->state;
        auto now = std::chrono::steady_clock::now();
        node_stats out;
        out.node = st.node;
        out.role = "writer";
        out.uptime_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - st.started).count();
        for (auto s :
             {order_status::confirmed, order_status::duplicate_request, order_status::user_limit,
              order_status::sold_out, order_status::unknown_product})
          out.counts[to_string(s)] = count_of(st, s);
        out.counts["dead_lettered"] = static_cast<std::int64_t>(st.undecodable);
        out.counts["requeued"] = static_cast<std::int64_t>(st.requeued);
        for (const auto& [tag, entry] : st.open)  // purchases handed on, not yet settled
          out.queue_lag += static_cast<std::int64_t>(entry.remaining);
        out.batches = st.batches;
        out.per_second = st.confirmed_rate.per_second(now, count_of(st, order_status::confirmed));
        if (st.gateways)
          out.peers = st.gateways->names();
        return out;
      },
      [=](tick_atom) {
        auto& st = self->state;
        auto stats = render_stats(st);
        if (stats != st.last_stats)
          spdlog::info("writer stats: {}", stats);
        st.last_stats = std::move(stats);
        self->delayed_send(self, st.stats_interval, tick_atom_v);
      },
  };
}

}  // namespace

publisher_actor spawn_publisher_bridge(caf::actor_system& sys, amqp::connection_params params,
                                       amqp::publisher::options opts,
                                       std::size_t purchases_per_message,
                                       std::function<void(std::int64_t)> on_in_doubt) {
  purchases_per_message =
      std::clamp<std::size_t>(purchases_per_message, 1, max_purchases_per_message);
  return sys.spawn(publisher_impl, std::move(params), std::move(opts), purchases_per_message,
                   std::move(on_in_doubt));
}

caf::actor spawn_consumer_bridge(caf::actor_system& sys, amqp::connection_params params,
                                 consumer_bridge_options opts) {
  return sys.spawn(consumer_impl, std::move(params), std::move(opts));
}

writer_peer_actor spawn_writer_peer(caf::actor_system& sys, caf::actor consumer_bridge) {
  auto impl =
      [consumer_bridge](writer_peer_actor::pointer self) -> writer_peer_actor::behavior_type {
    return {
        [=](stats_atom) -> caf::typed_response_promise<node_stats> {
          auto rp = self->make_response_promise<node_stats>();
          self->request(consumer_bridge, std::chrono::seconds{3}, stats_atom_v)
              .then([rp](node_stats& s) mutable { rp.deliver(std::move(s)); },
                    [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
          return rp;
        },
    };
  };
  return sys.spawn(impl);
}

}  // namespace flashsale

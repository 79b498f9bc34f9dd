#include "actors/consumer_bridge.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "cluster/peer_roster.hpp"
#include "common/metrics.hpp"
#include "messages/codec.hpp"

namespace flashsale {

namespace {

/// The bridge's own interface: the public one, the consumer's deliveries and its stats timer.
using consumer_impl_actor = consumer_bridge_actor::extend<
    /// From the consumer's thread: a batch of deliveries.
    caf::reacts_to<deliver_atom, std::vector<amqp::delivery>>,
    /// Log the counts if they changed.
    caf::reacts_to<tick_atom>>;

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
  result_router_actor results_sink;  // where the results go after a commit (may be null)
  std::shared_ptr<peer_roster> gateways;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  metrics::rate_meter confirmed_rate;
  std::map<order_status, std::uint64_t> results;
  std::string last_stats;
  /// After a database failed a batch, consumption pauses (the deliveries go to the other writers)
  /// for next_pause, doubled at each failure after a pause up to max_pause, reset by a success.
  std::chrono::steady_clock::time_point paused_until{};
  std::chrono::milliseconds next_pause{first_pause};
  static constexpr std::chrono::milliseconds first_pause{1000};
  static constexpr std::chrono::milliseconds max_pause{8000};
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
      "delivered={} acked={} ack_frames={} dead_lettered={} requeued={} returned={} confirmed={} "
      "duplicate_request={} user_limit={} sold_out={} unknown_product={}",
      c.delivered, c.acked, c.ack_frames, c.dead_lettered, c.requeued, c.returned,
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
      st.adapter->reject(tag, true);
    } else if (entry.unstorable) {
      st.adapter->reject(tag, false);
    } else {
      acks.push_back(tag);
    }
    st.open.erase(i);
  }
  if (!acks.empty())
    st.adapter->ack(acks);
}

consumer_impl_actor::behavior_type consumer_impl(
    consumer_impl_actor::stateful_pointer<consumer_state> self, amqp::connection_params params,
    consumer_bridge_options options) {
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
          caf::anon_send(caf::actor_cast<consumer_impl_actor>(strong), deliver_atom_v,
                         std::move(batch));
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
        st.next_pause = consumer_state::first_pause;
        if (st.results_sink)
          self->send(st.results_sink, std::move(w.results));
      },
      [=](failed_purchases& f) {
        auto& st = self->state;
        settle(st, f.tokens, true);
        // A writer whose database fails would take its share of the queue and give it back only
        // after each connect attempt timed out: it steps aside instead.
        auto now = std::chrono::steady_clock::now();
        if (now >= st.paused_until) {
          st.adapter->pause(st.next_pause, "database " + f.database + " failed a batch");
          st.paused_until = now + st.next_pause;
          st.next_pause = std::min(st.next_pause * 2, consumer_state::max_pause);
        }
      },
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
              order_status::sold_out, order_status::unknown_product, order_status::fenced})
          out.counts[to_string(s)] = count_of(st, s);
        auto c = st.adapter->counters();  // what the broker was told, by delivery
        out.counts["dead_lettered"] = static_cast<std::int64_t>(c.dead_lettered);
        out.counts["requeued"] = static_cast<std::int64_t>(c.requeued);
        out.counts["returned"] = static_cast<std::int64_t>(c.returned);
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

consumer_bridge_actor spawn_consumer_bridge(caf::actor_system& sys, amqp::connection_params params,
                                            consumer_bridge_options opts) {
  return sys.spawn(consumer_impl, std::move(params), std::move(opts));
}

}  // namespace flashsale

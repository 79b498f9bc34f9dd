#include "actors/queue_bridge.hpp"

#include <memory>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/slot_writer.hpp"
#include "messages/codec.hpp"

namespace flashsale {

namespace {

// -- publisher bridge ------------------------------------------------------------------------

struct publisher_state {
  std::unique_ptr<amqp::publisher> adapter;
  amqp::topology route;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<bool>> waiting;
  std::uint64_t confirmed = 0;
  std::uint64_t refused = 0;
  static inline const char* name = "publisher_bridge";
};

publisher_actor::behavior_type publisher_impl(
    publisher_actor::stateful_pointer<publisher_state> self, amqp::connection_params params,
    amqp::publisher::options opts) {
  caf::weak_actor_ptr weak{self->ctrl()};
  self->state.route = opts.route;
  self->state.adapter = std::make_unique<amqp::publisher>(
      std::move(params), std::move(opts), [weak](std::vector<std::uint64_t> ids, bool ack) {
        if (auto strong = weak.lock())
          caf::anon_send(caf::actor_cast<publisher_actor>(strong), confirm_atom_v, std::move(ids),
                         ack);
      });
  return {
      [=](publish_atom, const purchase& p) -> caf::typed_response_promise<bool> {
        auto rp = self->make_response_promise<bool>();
        auto id = self->state.next_id++;
        self->state.waiting.emplace(id, rp);
        self->state.adapter->publish(id, encode_purchase(p), self->state.route.queue_of(p.product));
        return rp;
      },
      [=](confirm_atom, const std::vector<std::uint64_t>& ids, bool ack) {
        auto& st = self->state;
        for (auto id : ids) {
          auto i = st.waiting.find(id);
          if (i == st.waiting.end())
            continue;
          i->second.deliver(ack);
          st.waiting.erase(i);
        }
        (ack ? st.confirmed : st.refused) += ids.size();
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

struct consumer_state {
  std::unique_ptr<amqp::consumer> adapter;
  writer_routing routing;
  std::chrono::seconds stats_interval{0};
  caf::actor results_sink;        // where the results go after a commit (may be null)
  std::uint64_t undecodable = 0;  // dead-lettered
  std::uint64_t requeued = 0;
  std::map<order_status, std::uint64_t> results;
  std::string last_stats;
  static inline const char* name = "consumer_bridge";
};

std::string render_stats(const consumer_state& st) {
  auto c = st.adapter->counters();
  auto count = [&](order_status s) {
    auto i = st.results.find(s);
    return i == st.results.end() ? std::uint64_t{0} : i->second;
  };
  return fmt::format(
      "delivered={} acked={} ack_frames={} dead_lettered={} requeued={} confirmed={} "
      "duplicate_request={} user_limit={} sold_out={} unknown_product={}",
      c.delivered, c.acked, c.ack_frames, st.undecodable, st.requeued,
      count(order_status::confirmed), count(order_status::duplicate_request),
      count(order_status::user_limit), count(order_status::sold_out),
      count(order_status::unknown_product));
}

caf::behavior consumer_impl(caf::stateful_actor<consumer_state>* self,
                            amqp::connection_params params, amqp::consumer::options opts,
                            writer_routing routing, std::chrono::seconds stats_interval,
                            caf::actor results) {
  self->state.routing = std::move(routing);
  self->state.results_sink = std::move(results);
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
        // Dead-letter what cannot be a purchase; group the rest by database.
        std::map<std::string, std::vector<queued_purchase>> groups;
        for (auto& d : batch) {
          auto p = decode_purchase(d.body.data(), d.body.size());
          if (!p || !storable(*p)) {
            ++st.undecodable;
            spdlog::error("writer: {} message ({} bytes) sent to the dead-letter queue",
                          p ? "unstorable" : "undecodable", d.body.size());
            st.adapter->reject(d.tag, false);
            continue;
          }
          auto db = st.routing.database_of_product.find(p->product);
          auto& g = groups[db == st.routing.database_of_product.end() ? st.routing.default_database
                                                                      : db->second];
          g.push_back(queued_purchase{std::move(*p), d.tag});
        }
        for (auto& [database, purchases] : groups)
          self->send(st.routing.pools_by_database.at(database), std::move(purchases));
      },
      [=](written_purchases& w) {
        auto& st = self->state;
        for (const auto& r : w.results)
          ++st.results[r.status];
        st.adapter->ack(w.tokens);
        if (st.results_sink)
          self->send(st.results_sink, std::move(w.results));
      },
      [=](failed_purchases& f) {
        auto& st = self->state;
        st.requeued += f.tokens.size();
        for (auto tag : f.tokens)
          st.adapter->reject(tag, true);
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
                                       amqp::publisher::options opts) {
  return sys.spawn(publisher_impl, std::move(params), std::move(opts));
}

caf::actor spawn_consumer_bridge(caf::actor_system& sys, amqp::connection_params params,
                                 amqp::consumer::options opts, writer_routing routing,
                                 std::chrono::seconds stats_interval, caf::actor results) {
  return sys.spawn(consumer_impl, std::move(params), std::move(opts), std::move(routing),
                   stats_interval, std::move(results));
}

}  // namespace flashsale

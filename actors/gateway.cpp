#include "actors/gateway.hpp"

#include <chrono>
#include <limits>
#include <memory>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "admission/admission_front.hpp"
#include "cluster/peer_roster.hpp"
#include "common/metrics.hpp"
#include "common/utc_time.hpp"

namespace flashsale {

namespace {

/// A reservation refused for want of a claim is retried this often, this many times (1 s).
constexpr auto throttle_retry = std::chrono::milliseconds{20};
constexpr int max_throttled = 50;

struct product_entry {
  product_counter counter;
  int per_user_limit = 1;
  std::string database;
};

struct gateway_state {
  gateway_options opts;
  std::string ticket_prefix;  // name-epoch-: unique across restarts of this node
  std::uint64_t next_seq = 1;
  std::int64_t shedding_version = 0;  // of the last shedding_update applied
  std::int64_t window_version = 0;    // of the last window_update applied
  std::int64_t epoch = 0;             // the keeper's claim epoch (0: no keeper)
  /// Confirms processed after this (steady ms) do not accept: the session may be gone.
  std::int64_t confirm_until = std::numeric_limits<std::int64_t>::max();
  std::uint64_t late_confirms = 0;
  std::unordered_map<std::string, product_entry> products;
  std::unordered_map<std::string, int> holdings;  // product '/' user -> admitted or in flight
  std::unordered_map<std::string, ticket_view> tickets;
  publisher_actor publisher;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  metrics::rate_meter accepted_rate;  // sampled at each confirm and each stats request
  static inline const char* name = "gateway";
};

using gateway_self = gateway_actor::stateful_pointer<gateway_state>;

/// The keeper's lease clock (steady, ms since its epoch).
std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// A purchase on its way through the steps below: the call, the user's hold on the product (taken
/// while the attempt is in flight, so a concurrent repeat is refused too) and its counter.
struct attempt {
  purchase_call call;
  std::string hold;  // product '/' user
  std::shared_ptr<counter_gate> gate;
  std::int64_t epoch = 0;  // the claim epoch its unit was reserved under
};

std::int64_t accepted_total(const admission_front& front) {
  return static_cast<std::int64_t>(
      front.outcome_total(static_cast<std::size_t>(admission::accepted)));
}

/// Releases the user's hold taken for an attempt.
void release_hold(gateway_self self, const std::string& hold) {
  auto& holdings = self->state.holdings;
  auto i = holdings.find(hold);
  if (i != holdings.end() && --i->second <= 0)
    holdings.erase(i);
}

/// Ends an attempt that did not end in an acceptance: its hold is released, the buyer answered.
void refuse(gateway_self self, attempt& a, admission outcome) {
  release_hold(self, a.hold);
  a.call.done(purchase_reply{outcome, {}});
}

// -- a purchase: hold -> reserve -> publish -> answer --------------------------------------------

/// Step 4: the publish's fate. Confirmed: accepted. Refused (certainly not stored): the unit is
/// free again. Unknown (maybe stored: a writer may still sell it): refunding would let the unit
/// be sold twice and leave one accepted buyer without an order, so it stays consumed here; at
/// worst it goes unsold. Either refusal answers queue_refused.
void published(gateway_self self, attempt& a, const ticket_view& view, publish_outcome outcome) {
  auto& st = self->state;
  auto& front = *st.opts.front;
  if (outcome == publish_outcome::confirmed &&
      (a.epoch != st.epoch || steady_now_ms() > st.confirm_until)) {
    // The keeper's session may have expired before this confirm (or it came for an older
    // session's purchase): the purchase may have been fenced (its gateway's unsold claim given to
    // others), so it is not promised. Its fate is unknown to the buyer, like a confirm that never
    // came; its unit stays consumed.
    if (st.late_confirms++ == 0)
      spdlog::warn(
          "gateway {}: a confirm for {} came after the ZooKeeper session was last known alive: "
          "answered as not accepted (logged once per session)",
          st.opts.name, view.ticket);
    outcome = publish_outcome::unknown;
  }
  if (outcome == publish_outcome::confirmed) {
    front.publish_confirmed();
    st.accepted_rate.sample(std::chrono::steady_clock::now(), accepted_total(front));
    st.tickets.emplace(view.ticket, view);
    a.call.done(purchase_reply{admission::accepted, view.ticket});
    return;
  }
  if (outcome == publish_outcome::refused) {
    front.publish_refused();
    // A unit of an older epoch may already be given to others (the keeper's new session may have
    // found it settled): it is not given back.
    if (a.epoch == st.epoch)
      a.gate->refund();
  } else {
    front.publish_unconfirmed();
  }
  refuse(self, a, admission::queue_refused);
}

/// Step 3: a unit is reserved; the purchase gets its ticket and request id and is published.
void publish_purchase(gateway_self self, attempt a) {
  auto& st = self->state;
  auto ticket = st.ticket_prefix + base36(st.next_seq++);
  purchase p;
  p.request_id =
      a.call.idempotency_key.empty() ? ticket : "k/" + a.call.user + "/" + a.call.idempotency_key;
  p.product = a.call.product;
  p.user = a.call.user;
  p.gateway = st.opts.name;
  p.ticket = ticket;
  p.accepted_at_ms = utc_now_ms();
  p.epoch = a.epoch = st.epoch;
  auto view = ticket_view{ticket, p.request_id, p.product, p.user, order_status::queued, 0};
  self->request(st.publisher, st.opts.publish_timeout, publish_atom_v, std::move(p))
      .then([=](publish_outcome outcome) mutable { published(self, a, view, outcome); },
            [=](caf::error& err) mutable {
              // No answer from the bridge in time: as unknown, no refund.
              spdlog::warn(
                  "gateway {}: publish of {} unanswered ({}); its unit is kept (it may "
                  "be stored)",
                  self->state.opts.name, view.ticket, self->system().render(err));
              published(self, a, view, publish_outcome::unknown);
            });
}

/// Step 2: the counter's answer. Throttled (units left, their claim not written yet, at most a
/// report interval): tried again shortly rather than turning the buyer away, up to a second.
void reserved(gateway_self self, attempt a, reservation r) {
  if (r == reservation::reserved) {
    publish_purchase(self, std::move(a));
    return;
  }
  if (r == reservation::throttled && a.call.throttled < max_throttled) {
    release_hold(self, a.hold);  // taken again when the call comes back
    ++a.call.throttled;
    self->delayed_send(self, throttle_retry, std::move(a.call));
    return;
  }
  refuse(self, a, r == reservation::throttled ? admission::busy : admission::sold_out);
}

/// Step 1: the product, the per-user limit (with what is in flight), then a reservation.
void take_purchase(gateway_self self, purchase_call call) {
  auto& st = self->state;
  auto product = st.products.find(call.product);
  if (product == st.products.end()) {
    call.done(purchase_reply{admission::unknown_product, {}});
    return;
  }
  auto hold = call.product + '/' + call.user;
  auto& held = st.holdings[hold];
  if (held >= product->second.per_user_limit) {
    call.done(purchase_reply{admission::already_bought, {}});
    return;
  }
  ++held;
  // The counter's gate, not a message: one lock, no hop to another actor and back.
  auto r = product->second.counter.gate->reserve();
  reserved(self, attempt{std::move(call), std::move(hold), product->second.counter.gate}, r);
}

// -- a ticket: memory -> the product's database, or every database for a forgotten one ----------

/// A ticket this gateway issued and knows as queued: the product's database may know better.
void ask_database(gateway_self self, ticket_query q, ticket_view view) {
  auto& st = self->state;
  auto product = st.products.find(view.product);
  auto db = product == st.products.end() ? st.opts.finders.end()
                                         : st.opts.finders.find(product->second.database);
  if (db == st.opts.finders.end()) {
    q.done(view);
    return;
  }
  self->request(db->second, st.opts.lookup_timeout, find_atom_v, view.request_id)
      .then(
          [=](const ticket_view& found) mutable {
            if (found.order_id != 0) {
              view.status = found.status;
              view.order_id = found.order_id;
              if (auto j = self->state.tickets.find(view.ticket); j != self->state.tickets.end())
                j->second = view;
            }
            q.done(view);
          },
          [=](caf::error&) mutable { q.done(view); });  // logged by the finder
}

/// A ticket this gateway forgot (a restart) or never issued. Only this node's tickets can be in
/// its databases, under the request id they had without an Idempotency-Key: the ticket. Every
/// database is asked; the first that holds the order answers, or nobody does.
void search_databases(gateway_self self, ticket_query q) {
  auto& st = self->state;
  if (q.ticket.rfind(st.opts.name + "-", 0) != 0 || st.opts.finders.empty()) {
    q.done(std::nullopt);
    return;
  }
  struct fan_out {
    std::size_t waiting = 0;
    bool answered = false;
    ticket_query query;
  };
  auto pending = std::make_shared<fan_out>();
  pending->waiting = st.opts.finders.size();
  pending->query = std::move(q);
  auto one_answered = [pending](const ticket_view* found) {
    --pending->waiting;
    if (pending->answered)
      return;
    if (found != nullptr && found->order_id != 0) {
      pending->answered = true;
      auto view = *found;
      view.ticket = pending->query.ticket;
      pending->query.done(view);
    } else if (pending->waiting == 0) {
      pending->answered = true;
      pending->query.done(std::nullopt);
    }
  };
  for (const auto& entry : st.opts.finders)
    self->request(entry.second, st.opts.lookup_timeout, find_atom_v, pending->query.ticket)
        .then([=](const ticket_view& found) { one_answered(&found); },
              [=](caf::error&) { one_answered(nullptr); });
}

void answer_ticket(gateway_self self, ticket_query q) {
  auto& tickets = self->state.tickets;
  auto i = tickets.find(q.ticket);
  if (i == tickets.end())
    search_databases(self, std::move(q));
  else if (i->second.status != order_status::queued)
    q.done(i->second);  // final
  else
    ask_database(self, std::move(q), i->second);
}

// -- the rest -----------------------------------------------------------------------------------

void take_results(gateway_self self, const std::vector<order_result>& results) {
  auto& tickets = self->state.tickets;
  for (const auto& r : results) {
    auto i = tickets.find(r.ticket);
    if (i == tickets.end())
      continue;  // not issued here, or issued before a restart: the database knows
    // A duplicate request id is the same purchase as an order already written.
    i->second.status =
        r.status == order_status::duplicate_request ? order_status::confirmed : r.status;
    i->second.order_id = r.order_id;
  }
}

node_stats stats_of(gateway_state& st) {
  const auto& front = *st.opts.front;
  auto now = std::chrono::steady_clock::now();
  node_stats out;
  out.node = st.opts.name;
  out.role = "gateway";
  out.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - st.started).count();
  for (std::size_t i = 0; i < outcome_count; ++i)
    out.counts[outcome_name(i)] = static_cast<std::int64_t>(front.outcome_total(i));
  for (const auto& [product, entry] : st.products)
    if (const auto* g = front.gauges(product))
      out.quota_left[product] = g->quota_left.value();
  out.queue_lag = front.in_flight();
  out.per_second = st.accepted_rate.per_second(now, accepted_total(front));
  if (st.opts.writers)
    out.peers = st.opts.writers->names();
  return out;
}

gateway_actor::behavior_type gateway_impl(gateway_self self, gateway_options opts,
                                          sale_definition sale,
                                          std::map<std::string, product_counter> counters,
                                          publisher_actor publisher) {
  auto& st = self->state;
  st.ticket_prefix = opts.name + "-" + base36(static_cast<std::uint64_t>(utc_now_ms())) + "-";
  st.opts = std::move(opts);
  st.publisher = std::move(publisher);
  for (const auto& p : sale.products)
    st.products.emplace(p.id, product_entry{counters.at(p.id), p.per_user_limit, p.database});
  return {
      [=](purchase_call& call) { take_purchase(self, std::move(call)); },
      [=](ticket_query& q) { answer_ticket(self, std::move(q)); },
      [=](const std::vector<order_result>& results) { take_results(self, results); },
      [=](const sold_out& s) {
        auto product = self->state.products.find(s.product);
        if (product != self->state.products.end())
          self->send(product->second.counter.actor, s);  // it marks (and logs) once per grant
      },
      [=](stats_atom) -> node_stats { return stats_of(self->state); },
      [=](const shedding_update& u) {
        auto& st = self->state;
        if (u.version <= st.shedding_version)
          return;
        st.shedding_version = u.version;
        // What the settings do not name stays as it was (the node's K, its own key).
        const auto& now = st.opts.front->draw();
        auto k = u.keep_one_in >= 1 ? u.keep_one_in : now.keep_one_in();
        auto key = u.has_key ? crypto::hash_key{u.key0, u.key1} : now.key();
        auto window = u.draw_window_ms >= 0 ? u.draw_window_ms : now.window_ms();
        if (k != now.keep_one_in() || window != now.window_ms() || !(key == now.key()))
          spdlog::info("gateway {}: lottery keeps 1 buyer in {}, draw window {} ms (0: the sale)",
                       st.opts.name, k, window);
        st.opts.front->set_lottery(k, key, window);
      },
      [=](const window_update& u) {
        auto& st = self->state;
        if (u.version <= st.window_version)
          return;
        st.window_version = u.version;
        if (st.opts.front->window() != u.mode)
          spdlog::info("gateway {}: sale window {}", st.opts.name, to_string(u.mode));
        st.opts.front->set_window(u.mode);
      },
      [=](epoch_atom, std::int64_t epoch) {
        auto& st = self->state;
        if (epoch != st.epoch)
          spdlog::info("gateway {}: purchases carry claim epoch {}", st.opts.name, epoch);
        st.epoch = epoch;
        st.late_confirms = 0;
      },
      [=](lease_atom, std::int64_t until) { self->state.confirm_until = until; },
  };
}

}  // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, gateway_options opts,
                            const sale_definition& sale,
                            std::map<std::string, product_counter> counters,
                            publisher_actor publisher) {
  return sys.spawn(gateway_impl, std::move(opts), sale, std::move(counters), std::move(publisher));
}

}  // namespace flashsale

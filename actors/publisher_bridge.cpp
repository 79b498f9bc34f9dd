#include "actors/publisher_bridge.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "messages/codec.hpp"

namespace flashsale {

namespace {

/// The bridge's own interface: the public one, the fates its outlet tells, and its timers.
using bridge_actor = publisher_actor::extend<
    /// Publishes what was gathered so far (the bridge sends this to itself behind purchases).
    caf::reacts_to<publish_atom>,
    /// From the outlet's thread: the fate of publish ids.
    caf::reacts_to<confirm_atom, std::vector<std::uint64_t>, publish_outcome>,
    /// Publishes copies of the messages whose fate is unknown (the bridge's resend timer).
    caf::reacts_to<tick_atom>>;

/// amqp::publisher as an outlet.
class amqp_message_outlet final : public message_outlet {
 public:
  amqp_message_outlet(amqp::connection_params params, amqp::publisher::options opts,
                      fate_callback on_fate)
      : publisher_(std::move(params), std::move(opts),
                   [on_fate = std::move(on_fate)](std::vector<std::uint64_t> ids,
                                                  amqp::publisher::fate f) {
                     on_fate(std::move(ids),
                             f == amqp::publisher::fate::confirmed ? publish_outcome::confirmed
                             : f == amqp::publisher::fate::refused ? publish_outcome::refused
                                                                   : publish_outcome::unknown);
                   }) {}

  void publish(std::uint64_t id, std::string body, std::string queue) override {
    publisher_.publish(id, std::move(body), std::move(queue));
  }

 private:
  amqp::publisher publisher_;
};

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
  std::unique_ptr<message_outlet> outlet;
  amqp::topology route;
  std::size_t per_message = 1;
  std::map<std::string, gathered> gathering;  // by queue, until the flush
  /// By queue: messages with buyers waiting for their fate (at most window_per_queue, but for
  /// full ones).
  std::map<std::string, std::size_t> awaiting;
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

/// Messages of one queue with buyers that may await the broker at once: purchases arriving while
/// that many are out gather into the next message (group commit). A lone purchase goes at once;
/// under load a purchase waits for at most one confirm and messages grow, so the broker, the
/// publisher thread and the writers handle fewer, larger ones.
constexpr std::size_t window_per_queue = 2;

/// How long the bridge waits before it sends copies of the messages whose fate is unknown (and
/// between tries while the broker does not confirm them).
constexpr std::chrono::seconds resend_interval{1};

void publish(publisher_state& st, in_flight entry) {
  auto id = st.next_id++;
  auto body = entry.message.body;  // kept: a copy may have to be sent again
  auto queue = entry.message.queue;
  st.published.emplace(id, std::move(entry));
  // The fate comes through the mailbox, after the current handler.
  st.outlet->publish(id, std::move(body), std::move(queue));
}

void publish_gathered(publisher_state& st, const std::string& queue, gathered& g) {
  ++st.awaiting[queue];
  publish(st, in_flight{{queue, encode_purchases(g.purchases), g.purchases.size()},
                        std::move(g.promises)});
  g = gathered{};
}

/// Publishes what `queue` gathered if the window has room.
void publish_if_room(publisher_state& st, const std::string& queue, gathered& g) {
  if (!g.purchases.empty() && st.awaiting[queue] < window_per_queue)
    publish_gathered(st, queue, g);
}

/// Adds `delta` to the purchases in doubt and tells on_in_doubt.
void count_in_doubt(publisher_state& st, std::int64_t delta) {
  st.purchases_in_doubt += delta;
  if (st.on_in_doubt)
    st.on_in_doubt(st.purchases_in_doubt);
}

/// A message (or a copy of one) whose fate is unknown: a copy goes out after resend_interval.
void doubt(bridge_actor::stateful_pointer<publisher_state> self, message_copy message,
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

bridge_actor::behavior_type publisher_impl(bridge_actor::stateful_pointer<publisher_state> self,
                                           publisher_bridge_options opts) {
  caf::weak_actor_ptr weak{self->ctrl()};
  self->state.route = std::move(opts.route);
  self->state.per_message =
      std::clamp<std::size_t>(opts.purchases_per_message, 1, max_purchases_per_message);
  self->state.on_in_doubt = std::move(opts.on_in_doubt);
  self->state.outlet = opts.outlet([weak](std::vector<std::uint64_t> ids, publish_outcome outcome) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<bridge_actor>(strong), confirm_atom_v, std::move(ids),
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
          publish_gathered(st, queue, g);  // a full message does not wait for the window
        } else if (!st.flush_sent && st.awaiting[queue] < window_per_queue) {
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
          publish_if_room(st, queue, g);
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
          if (!copy)
            --st.awaiting[entry.message.queue];
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
        // The window has room again: what gathered behind it goes now.
        for (auto& [queue, g] : st.gathering)
          publish_if_room(st, queue, g);
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

}  // namespace

outlet_factory amqp_outlet(amqp::connection_params params, amqp::publisher::options opts) {
  return
      [params = std::move(params), opts = std::move(opts)](message_outlet::fate_callback on_fate) {
        return std::unique_ptr<message_outlet>(
            new amqp_message_outlet(params, opts, std::move(on_fate)));
      };
}

publisher_actor spawn_publisher_bridge(caf::actor_system& sys, publisher_bridge_options opts) {
  return sys.spawn(publisher_impl, std::move(opts));
}

}  // namespace flashsale

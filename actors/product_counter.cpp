#include "actors/product_counter.hpp"

#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace flashsale {

namespace {

/// The lease clock: steady, in ms (the quota keeper computes deadlines on the same clock).
std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct counter_state {
  std::string product;
  std::shared_ptr<counter_gate> gate;
  std::int64_t started_ms = 0;
  static inline const char* name = "product_counter";
};

counter_actor::behavior_type counter_impl(counter_actor::stateful_pointer<counter_state> self,
                                          std::string product, std::shared_ptr<counter_gate> gate) {
  auto& st = self->state;
  st.product = std::move(product);
  st.gate = std::move(gate);
  st.started_ms = steady_ms();
  auto gate_of = [self]() -> counter_gate& { return *self->state.gate; };
  return {
      [=](reserve_atom) -> reservation { return gate_of().reserve(); },
      [=](refund_atom) { gate_of().refund(); },
      [=](const quota_update& u) {
        gate_of().change([&](quota_counter& q) { return q.apply(u); });
      },
      [=](const sold_out&) {
        bool newly = gate_of().change([](quota_counter& q) {
          bool was = q.marked_sold_out();
          q.mark_sold_out();
          return !was;
        });
        if (newly)
          spdlog::info("{}: the database has none left: admitting no more until a larger grant",
                       self->state.product);
      },
      [=](stats_atom) -> counter_stats {
        auto now = steady_ms();
        auto s = gate_of().read([&](const quota_counter& q) {
          counter_stats s;
          s.grant = q.grant();
          s.consumed = q.consumed();
          s.sold_out = q.sold_out();
          s.version = q.version();
          s.idle_ms = q.idle_ms(now, self->state.started_ms);
          s.refused = q.refused();
          s.lease_valid = q.lease_valid(now);
          s.claim = q.claim();
          return s;
        });
        s.product = self->state.product;
        return s;
      },
      [=](release_atom) -> quota_release {
        auto r = gate_of().change([](quota_counter& q) { return q.release_unused(); });
        r.product = self->state.product;
        return r;
      },
      [=](lease_atom, std::int64_t until_ms) {
        gate_of().change([&](quota_counter& q) {
          if (until_ms <= 0)
            q.revoke_lease();
          else
            q.extend_lease(until_ms);
        });
      },
      [=](claim_atom, std::int64_t claim) {
        gate_of().change([&](quota_counter& q) { q.raise_claim(claim); });
      },
      [=](resume_atom, std::int64_t consumed_floor) {
        gate_of().change([&](quota_counter& q) { q.resume(consumed_floor); });
      },
  };
}

}  // namespace

counter_gate::counter_gate(std::int64_t initial_grant, bool require_lease,
                           std::function<void(std::int64_t, bool)> on_change)
    : quota_(initial_grant), on_change_(std::move(on_change)) {
  if (require_lease) {
    quota_.require_lease();
    quota_.require_claim();
  }
  changed();
}

reservation counter_gate::reserve() {
  auto now = steady_ms();
  std::lock_guard<std::mutex> guard{mutex_};
  if (quota_.reserve(now)) {
    changed();
    return reservation::reserved;
  }
  return quota_.claim_exhausted() ? reservation::throttled : reservation::none_left;
}

void counter_gate::refund() {
  std::lock_guard<std::mutex> guard{mutex_};
  quota_.refund();
  changed();
}

void counter_gate::changed() {
  if (on_change_)
    on_change_(quota_.marked_sold_out() ? 0 : quota_.remaining(), quota_.sold_out());
}

product_counter spawn_product_counter(caf::actor_system& sys, std::string product,
                                      counter_options opts) {
  auto gate = std::make_shared<counter_gate>(opts.initial_grant, opts.require_lease,
                                             std::move(opts.on_change));
  auto actor = sys.spawn(counter_impl, std::move(product), gate);
  return product_counter{std::move(actor), std::move(gate)};
}

}  // namespace flashsale

#include "actors/product_counter.hpp"

#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "quota/quota_counter.hpp"

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
  quota_counter quota;
  std::int64_t started_ms = 0;
  static inline const char* name = "product_counter";
};

counter_actor::behavior_type counter_impl(counter_actor::stateful_pointer<counter_state> self,
                                          std::string product, counter_options opts) {
  auto& st = self->state;
  st.product = std::move(product);
  st.quota = quota_counter{opts.initial_grant};
  if (opts.require_lease) {
    st.quota.require_lease();
    st.quota.require_claim();
  }
  st.started_ms = steady_ms();
  // Tells the gauge what is left whenever that changed.
  auto changed = [self, on_change = opts.on_change] {
    if (!on_change)
      return;
    const auto& q = self->state.quota;
    on_change(q.marked_sold_out() ? 0 : q.remaining(), q.sold_out());
  };
  changed();
  return {
      [=](reserve_atom) -> reservation {
        auto& q = self->state.quota;
        if (q.reserve(steady_ms())) {
          changed();
          return reservation::reserved;
        }
        return q.claim_exhausted() ? reservation::throttled : reservation::none_left;
      },
      [=](refund_atom) {
        self->state.quota.refund();
        changed();
      },
      [=](const quota_update& u) {
        self->state.quota.apply(u);
        changed();
      },
      [=](const sold_out&) {
        auto& q = self->state.quota;
        if (!q.marked_sold_out())
          spdlog::info("{}: the database has none left: admitting no more until a larger grant",
                       self->state.product);
        q.mark_sold_out();
        changed();
      },
      [=](stats_atom) -> counter_stats {
        const auto& q = self->state.quota;
        auto now = steady_ms();
        counter_stats s;
        s.product = self->state.product;
        s.grant = q.grant();
        s.consumed = q.consumed();
        s.sold_out = q.sold_out();
        s.version = q.version();
        s.idle_ms = q.idle_ms(now, self->state.started_ms);
        s.refused = q.refused();
        s.lease_valid = q.lease_valid(now);
        s.claim = q.claim();
        return s;
      },
      [=](release_atom) -> quota_release {
        auto r = self->state.quota.release_unused();
        r.product = self->state.product;
        changed();
        return r;
      },
      [=](lease_atom, std::int64_t until_ms) {
        if (until_ms <= 0)
          self->state.quota.revoke_lease();
        else
          self->state.quota.extend_lease(until_ms);
      },
      [=](claim_atom, std::int64_t claim) { self->state.quota.raise_claim(claim); },
      [=](resume_atom, std::int64_t consumed_floor) {
        self->state.quota.resume(consumed_floor);
        changed();
      },
  };
}

}  // namespace

counter_actor spawn_product_counter(caf::actor_system& sys, std::string product,
                                    counter_options opts) {
  return sys.spawn(counter_impl, std::move(product), opts);
}

}  // namespace flashsale

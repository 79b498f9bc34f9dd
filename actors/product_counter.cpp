#include "actors/product_counter.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/quota_counter.hpp"

namespace flashsale {

namespace {

struct counter_state {
  std::string product;
  quota_counter quota;
  static inline const char* name = "product_counter";
};

counter_actor::behavior_type counter_impl(counter_actor::stateful_pointer<counter_state> self,
                                          std::string product, std::int64_t initial_grant) {
  self->state.product = std::move(product);
  self->state.quota = quota_counter{initial_grant};
  return {
      [=](reserve_atom) -> bool { return self->state.quota.reserve(); },
      [=](refund_atom) { self->state.quota.refund(); },
      [=](const quota_update& u) { self->state.quota.apply(u); },
      [=](const sold_out&) { self->state.quota.mark_sold_out(); },
      [=](stats_atom) -> counter_stats {
        const auto& q = self->state.quota;
        return counter_stats{self->state.product, q.grant(), q.consumed(), q.sold_out()};
      },
  };
}

}  // namespace

counter_actor spawn_product_counter(caf::actor_system& sys, std::string product,
                                    std::int64_t initial_grant) {
  return sys.spawn(counter_impl, std::move(product), initial_grant);
}

}  // namespace flashsale

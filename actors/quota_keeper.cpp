#include "actors/quota_keeper.hpp"

#include <caf/actor_system.hpp>

#include "actors/quota_keeper/keeper_state.hpp"
#include "actors/quota_keeper/leadership.hpp"
#include "actors/quota_keeper/reports.hpp"
#include "actors/quota_keeper/session.hpp"

namespace flashsale {

namespace {

using namespace keeper_parts;

keeper_actor::behavior_type keeper_impl(keeper* self, quota_keeper_options opts,
                                        sale_definition sale,
                                        std::map<std::string, counter_actor> counters,
                                        sale_settings_actor settings) {
  auto& st = self->state;
  st.paths = quota::layout{opts.root, sale.name};
  st.opts = std::move(opts);
  st.sale = std::move(sale);
  st.counters = std::move(counters);
  st.gateway = std::move(settings);
  st.opts.ready->store(false);
  for (auto& [p, c] : st.counters)
    st.grants[p];
  self->attach_functor([ready = st.opts.ready] { ready->store(false); });
  start_session(self);
  self->delayed_send(self, st.opts.report_interval, tick_atom_v);
  return {
      [=](zk_done_atom, std::uint64_t id, zk::result& r) {
        auto& pending = self->state.pending;
        auto i = pending.find(id);
        if (i == pending.end())
          return;
        auto then = std::move(i->second);
        pending.erase(i);
        then(r);
      },
      [=](zk_event_atom, std::uint64_t gen, const zk::event& e) {
        if (gen == self->state.generation)
          on_event(self, e);
      },
      [=](tick_atom) {
        auto& st = self->state;
        tick(self);
        if (st.leader)
          evaluate(self);  // reports are not watched: re-decide every interval
        self->delayed_send(self, st.opts.report_interval, tick_atom_v);
      },
      [=](register_atom, std::uint64_t gen) {
        auto& st = self->state;
        if (gen == 0 && !st.zk)
          start_session(self);  // the client could not even start: try again
        else if (gen == st.generation)
          start_registration(self);
      },
      [=](evaluate_atom, std::uint64_t gen) {
        if (gen == self->state.generation)
          evaluate(self);
      },
  };
}

}  // namespace

quota_keeper_actor spawn_quota_keeper(caf::actor_system& sys, quota_keeper_options opts,
                                      const sale_definition& sale,
                                      std::map<std::string, counter_actor> counters,
                                      sale_settings_actor settings) {
  keeper_actor keeper =
      sys.spawn(keeper_impl, std::move(opts), sale, std::move(counters), std::move(settings));
  return keeper;
}

}  // namespace flashsale

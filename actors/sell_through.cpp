#include "actors/sell_through.hpp"

#include <map>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace flashsale {

namespace {

using clock_type = std::chrono::steady_clock;

struct sell_through_state {
  sell_through_actor_options opts;
  sale_definition sale;
  std::string last_waiting;                            // logged once per change
  std::map<std::string, clock_type::time_point> seen;  // gateway@epoch -> first seen gone
  static inline const char* name = "sell_through";
};

using self_pointer = sell_through_actor::stateful_pointer<sell_through_state>;

void round(self_pointer self) {
  auto& st = self->state;
  settle_result r;
  try {
    r = settle_gone_gateways(st.opts.round, st.sale);
  } catch (const std::exception& e) {
    auto text = std::string("round failed: ") + e.what();
    if (text != st.last_waiting)
      spdlog::warn("sell-through {}: {}; trying again", st.opts.round.by, text);
    st.last_waiting = text;
    return;
  }
  auto now = clock_type::now();
  for (const auto& g : r.gone)
    st.seen.emplace(g, now);
  for (const auto& s : r.settled) {
    auto key = s.gateway + "@" + std::to_string(s.epoch);
    std::string sold;
    for (const auto& [product, n] : s.sold)
      sold += " " + product + "=" + std::to_string(n);
    auto since = std::chrono::duration<double>(now - st.seen[key]).count();
    spdlog::info(
        "sell-through {}: settled gone gateway {} at claim epoch {} ({:.1f} s after it was seen "
        "gone; the queues drained {:.1f} s before): its orders{}; the quota leader re-grants "
        "the rest of its claim",
        st.opts.round.by, s.gateway, s.epoch, since,
        std::chrono::duration<double>(st.opts.round.settle).count(), sold);
    st.seen.erase(key);
  }
  std::string waiting;
  if (!r.gone.empty() && r.settled.empty())
    for (const auto& w : r.waiting)
      waiting += (waiting.empty() ? "" : "; ") + w;
  if (waiting != st.last_waiting && !waiting.empty()) {
    std::string gone;
    for (const auto& g : r.gone)
      gone += (gone.empty() ? "" : ", ") + g;
    spdlog::info("sell-through {}: gone gateway(s) {} wait for the drain: {}", st.opts.round.by,
                 gone, waiting);
  }
  st.last_waiting = waiting;
}

sell_through_actor::behavior_type settler(self_pointer self, sell_through_actor_options opts,
                                          sale_definition sale) {
  self->state.opts = std::move(opts);
  self->state.sale = std::move(sale);
  self->delayed_send(self, self->state.opts.interval, tick_atom_v);
  return {
      [=](tick_atom) {
        round(self);
        self->delayed_send(self, self->state.opts.interval, tick_atom_v);
      },
  };
}

}  // namespace

sell_through_actor spawn_sell_through(caf::actor_system& sys, sell_through_actor_options opts,
                                      const sale_definition& sale) {
  return sys.spawn<caf::detached>(settler, std::move(opts), sale);
}

}  // namespace flashsale

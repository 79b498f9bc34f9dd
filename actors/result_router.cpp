#include "actors/result_router.hpp"

#include <map>
#include <memory>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "cluster/peer_links.hpp"
#include "quota/znodes.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

namespace {

using clock_type = std::chrono::steady_clock;

struct router_state {
  result_router_options opts;
  std::unique_ptr<peer_links> gateways;
  std::map<std::string, clock_type::time_point> sold_out_told;  // product -> last broadcast
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  static inline const char* name = "result_router";
};

/// The router's own interface: the public one and its poll timer.
using router_actor = result_router_actor::extend<caf::reacts_to<tick_atom>>;

router_actor::behavior_type router_impl(router_actor::stateful_pointer<router_state> self,
                                        result_router_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  peer_links_options links{"writer " + st.opts.node, "gateway",
                           quota::layout{st.opts.cluster.zk_root, ""}.members(), st.opts.cluster};
  st.gateways = std::make_unique<peer_links>(
      self, std::move(links),
      [self](const std::string&, const caf::strong_actor_ptr& ptr) {
        // What it may have missed.
        auto handle = caf::actor_cast<gateway_peer_actor>(ptr);
        for (const auto& [product, at] : self->state.sold_out_told)
          self->send(handle, sold_out{product});
      },
      st.opts.roster);
  self->set_down_handler(
      [=](caf::down_msg& msg) { self->state.gateways->handle_down(msg.source, msg.reason); });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    spdlog::info("writer {}: results delivered to gateways {}, dropped {}", self->state.opts.node,
                 self->state.delivered, self->state.dropped);
    self->state.gateways->close();
    self->quit(msg.reason);
  });
  if (!st.opts.cluster.zk_hosts.empty())
    self->send(self, tick_atom_v);
  return {
      [=](tick_atom) {
        self->state.gateways->poll();
        self->delayed_send(self, self->state.opts.cluster.poll_interval, tick_atom_v);
      },
      [=](register_atom, const std::string& endpoint) {
        auto& st = self->state;
        st.gateways->register_as(quota::layout{st.opts.cluster.zk_root, ""}.writer(st.opts.node),
                                 endpoint);
        if (!st.opts.cluster.zk_hosts.empty())
          st.gateways->poll();
      },
      [=](std::vector<order_result>& results) {
        auto& st = self->state;
        std::map<std::string, std::vector<order_result>> by_gateway;
        std::set<std::string> sold_out_now;
        for (auto& r : results) {
          if (r.status == order_status::sold_out)
            sold_out_now.insert(r.product);
          by_gateway[r.gateway].push_back(std::move(r));
        }
        for (auto& [gateway, batch] : by_gateway) {
          auto peer = st.gateways->find(gateway);
          if (!peer) {
            st.dropped += batch.size();
            continue;
          }
          st.delivered += batch.size();
          self->send(caf::actor_cast<gateway_peer_actor>(peer), std::move(batch));
        }
        auto now = clock_type::now();
        for (const auto& product : sold_out_now) {
          auto& told = st.sold_out_told[product];
          if (told != clock_type::time_point{} && now - told < st.opts.sold_out_repeat)
            continue;
          if (told == clock_type::time_point{})
            spdlog::info("writer {}: {} is sold out in the database; telling the gateways",
                         st.opts.node, product);
          told = now;
          for (const auto& [name, peer] : st.gateways->connected())
            self->send(caf::actor_cast<gateway_peer_actor>(peer), sold_out{product});
        }
      },
  };
}

}  // namespace

result_router_actor spawn_result_router(caf::actor_system& sys, result_router_options opts) {
  return sys.spawn<caf::detached>(router_impl, std::move(opts));
}

}  // namespace flashsale

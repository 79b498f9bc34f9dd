#include "actors/writer_peer.hpp"

#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace flashsale {

writer_peer_actor spawn_writer_peer(caf::actor_system& sys, consumer_bridge_actor consumer_bridge) {
  auto impl =
      [consumer_bridge](writer_peer_actor::pointer self) -> writer_peer_actor::behavior_type {
    return {
        [=](stats_atom) -> caf::typed_response_promise<node_stats> {
          auto rp = self->make_response_promise<node_stats>();
          self->request(consumer_bridge, std::chrono::seconds{3}, stats_atom_v)
              .then([rp](node_stats& s) mutable { rp.deliver(std::move(s)); },
                    [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
          return rp;
        },
    };
  };
  return sys.spawn(impl);
}

}  // namespace flashsale

#include "actors/writer_watch.hpp"

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "cluster/peer_links.hpp"
#include "quota/znodes.hpp"

namespace flashsale {

namespace {

struct watch_state {
  writer_watch_options opts;
  std::unique_ptr<peer_links> writers;
  static inline const char* name = "writer_watch";
};

writer_watch_actor::behavior_type watch_impl(writer_watch_actor::stateful_pointer<watch_state> self,
                                             writer_watch_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  peer_links_options links{"gateway " + st.opts.node, "writer",
                           quota::layout{st.opts.cluster.zk_root, ""}.writers(), st.opts.cluster};
  st.writers = std::make_unique<peer_links>(self, std::move(links), nullptr, st.opts.roster);
  self->set_down_handler(
      [=](caf::down_msg& msg) { self->state.writers->handle_down(msg.source, msg.reason); });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    self->state.writers->close();
    self->quit(msg.reason);
  });
  self->send(self, tick_atom_v);
  return {
      [=](tick_atom) {
        self->state.writers->poll();
        self->delayed_send(self, self->state.opts.cluster.poll_interval, tick_atom_v);
      },
  };
}

}  // namespace

writer_watch_actor spawn_writer_watch(caf::actor_system& sys, writer_watch_options opts) {
  return sys.spawn<caf::detached>(watch_impl, std::move(opts));
}

}  // namespace flashsale

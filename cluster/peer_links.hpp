#pragma once

// The links from one node to the nodes of the other role (a writer's to the gateways, a gateway's
// to the writers). Peers register ephemerally in ZooKeeper with the endpoint of their published
// actor (quota/znodes.hpp, member_znode::actors); peer_links re-reads those registrations when
// polled, connects to new peers through CAF's middleman without blocking (a connect request with a
// deadline), monitors each connected peer, and reconnects with a backoff while the peer stays
// registered. A peer that is frozen is noticed by the middleman's heartbeats ([middleman]
// heartbeat-interval, connection-timeout) and reported as down like a dead one. It can also keep
// this node's own registration in place (re-created after a session loss).
//
// Used from inside one detached actor (its ZooKeeper calls block for up to op_timeout each).
// Include only in actor code (CAF headers).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/fwd.hpp>
#include <caf/io/middleman.hpp>
#include <caf/local_actor.hpp>

#include "cluster/cluster_links.hpp"
#include "cluster/peer_roster.hpp"

namespace flashsale {

namespace zk {
class blocking_session;
}

struct peer_links_options {
  std::string node;          ///< this node's name (logs)
  std::string peer_role;     ///< what the peers are, for logs: "gateway" or "writer"
  std::string members_path;  ///< parent of the peers' ephemeral registrations
  cluster_links cluster;  ///< ZooKeeper and the timeouts (zk_root and poll_interval: the owner's)
};

class peer_links {
 public:
  /// Called (on the owner's thread) each time a peer is connected, with its published actor.
  using connected_fn = std::function<void(const std::string& name, const caf::strong_actor_ptr&)>;

  /// `self` (any event-based actor, typed or not) owns this object (in its state) and must outlive
  /// it. `roster` (optional) mirrors the connected peers.
  template <class Self>
  peer_links(Self* self, peer_links_options opts, connected_fn on_connected,
             std::shared_ptr<peer_roster> roster = nullptr)
      : peer_links(self, connector(self, opts.cluster.connect_timeout), std::move(opts),
                   std::move(on_connected), std::move(roster)) {}
  ~peer_links();
  peer_links(const peer_links&) = delete;
  peer_links& operator=(const peer_links&) = delete;

  /// Re-reads the peers' registrations (new ones are connected, vanished ones forgotten) and puts
  /// this node's own registration back if it is missing. Blocks for up to a few op_timeouts.
  void poll();

  /// For the owner's down handler: true when `source` was a connected peer (logged once; it is
  /// reconnected on a later poll while registered).
  bool handle_down(const caf::actor_addr& source, const caf::error& reason);

  /// The connected peer `name`, or null.
  caf::strong_actor_ptr find(const std::string& name) const;

  /// Every connected peer, by name.
  std::vector<std::pair<std::string, caf::strong_actor_ptr>> connected() const;

  /// From the next poll on, keeps this node registered (ephemeral) at `path` with `endpoint`.
  void register_as(std::string path, std::string endpoint);

  /// Closes the ZooKeeper session (the own registration goes with it).
  void close();

 private:
  /// Asks the middleman for a connection to host:port through the owner's request(): `ok` with
  /// the peer's published actor (null if it published none) or `failed`, on the owner's thread.
  using connect_fn = std::function<void(const std::string& host, std::uint16_t port,
                                        std::function<void(caf::strong_actor_ptr)> ok,
                                        std::function<void(const caf::error&)> failed)>;

  template <class Self>
  static connect_fn connector(Self* self, std::chrono::milliseconds timeout) {
    return [self, timeout](const std::string& host, std::uint16_t port,
                           std::function<void(caf::strong_actor_ptr)> ok,
                           std::function<void(const caf::error&)> failed) {
      auto mm = self->system().middleman().actor_handle();
      self->request(mm, timeout, caf::connect_atom_v, host, port)
          .then([ok](const caf::node_id&, caf::strong_actor_ptr& ptr,
                     const std::set<std::string>&) { ok(std::move(ptr)); },
                [failed](caf::error& err) { failed(err); });
    };
  }

  peer_links(caf::local_actor* self, connect_fn connect, peer_links_options opts,
             connected_fn on_connected, std::shared_ptr<peer_roster> roster);

  struct peer {
    std::string endpoint;          // host:port of its published actor
    caf::strong_actor_ptr handle;  // set while connected
    bool connecting = false;
    std::chrono::steady_clock::time_point next_attempt{};
    std::chrono::milliseconds backoff{0};
    bool failure_logged = false;
  };

  void connect(const std::string& name);
  void publish_roster();
  void keep_registered();

  caf::local_actor* self_;
  connect_fn connect_;
  peer_links_options opts_;
  // This node's own ephemeral registration (empty: none) and the endpoint it announces.
  std::string own_path_;
  std::string own_endpoint_;
  connected_fn on_connected_;
  std::shared_ptr<peer_roster> roster_;
  std::unique_ptr<zk::blocking_session> zk_;
  bool zk_failure_logged_ = false;
  std::map<std::string, peer> peers_;
};

}  // namespace flashsale

#include "actors/result_router.hpp"

#include <map>
#include <memory>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/quota_znodes.hpp"
#include "adapters/zookeeper/blocking_session.hpp"
#include "common/parse_integer.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

namespace {

using clock_type = std::chrono::steady_clock;

struct peer {
  std::string endpoint;       // host:port of its gateway_peer_actor
  gateway_peer_actor handle;  // set while connected
  bool connecting = false;
  clock_type::time_point next_attempt{};
  std::chrono::milliseconds backoff{0};
  bool failure_logged = false;
};

struct router_state {
  result_router_options opts;
  std::unique_ptr<zk::blocking_session> zk;
  bool zk_failure_logged = false;
  std::map<std::string, peer> peers;                            // by gateway name
  std::map<std::string, clock_type::time_point> sold_out_told;  // product -> last broadcast
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  static inline const char* name = "result_router";
};

using router = caf::stateful_actor<router_state>;

/// "host:port" -> (host, port); false when it is not that.
bool split_endpoint(const std::string& endpoint, std::string& host, std::uint16_t& port) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  auto n = parse_integer(endpoint.substr(colon + 1));
  if (!n || *n < 1 || *n > 65535)
    return false;
  host = endpoint.substr(0, colon);
  port = static_cast<std::uint16_t>(*n);
  return true;
}

void connect(router* self, const std::string& name) {
  auto& p = self->state.peers[name];
  std::string host;
  std::uint16_t port = 0;
  if (!split_endpoint(p.endpoint, host, port)) {
    if (!p.failure_logged)
      spdlog::error("writer {}: gateway {} registered a bad actor endpoint '{}'",
                    self->state.opts.node, name, p.endpoint);
    p.failure_logged = true;
    p.next_attempt = clock_type::now() + self->state.opts.max_backoff;
    return;
  }
  p.connecting = true;
  auto endpoint = p.endpoint;
  auto mm = self->system().middleman().actor_handle();
  self->request(mm, self->state.opts.connect_timeout, caf::connect_atom_v, host, port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            auto i = self->state.peers.find(name);
            if (i == self->state.peers.end() || i->second.endpoint != endpoint)
              return;  // gone or moved meanwhile
            auto& p = i->second;
            p.connecting = false;
            if (!ptr) {
              p.next_attempt = clock_type::now() + self->state.opts.max_backoff;
              return;
            }
            p.handle = caf::actor_cast<gateway_peer_actor>(ptr);
            p.backoff = std::chrono::milliseconds{0};
            p.failure_logged = false;
            self->monitor(p.handle);
            spdlog::info("writer {}: connected to gateway {} at {}", self->state.opts.node, name,
                         endpoint);
            // What it may have missed.
            for (const auto& [product, at] : self->state.sold_out_told)
              self->send(p.handle, sold_out{product});
          },
          [=](caf::error& err) {
            auto i = self->state.peers.find(name);
            if (i == self->state.peers.end() || i->second.endpoint != endpoint)
              return;
            auto& p = i->second;
            p.connecting = false;
            p.backoff = std::min(std::max(p.backoff * 2, std::chrono::milliseconds{250}),
                                 self->state.opts.max_backoff);
            p.next_attempt = clock_type::now() + p.backoff;
            if (!p.failure_logged)
              spdlog::warn("writer {}: cannot reach gateway {} at {}: {} (retrying)",
                           self->state.opts.node, name, endpoint, self->system().render(err));
            p.failure_logged = true;
          });
}

/// Re-reads the gateways' registrations: new ones are connected, vanished ones forgotten.
void poll(router* self) {
  auto& st = self->state;
  try {
    if (!st.zk) {
      zk::options zo;
      zo.hosts = st.opts.zk_hosts;
      zo.op_timeout = st.opts.op_timeout;
      st.zk = std::make_unique<zk::blocking_session>(zo, st.opts.op_timeout);
      if (st.zk_failure_logged)
        spdlog::info("writer {}: ZooKeeper reachable again", st.opts.node);
      st.zk_failure_logged = false;
    }
    quota::layout paths{st.opts.zk_root, ""};
    auto children = st.zk->get_children(paths.members());
    if (!children.ok() && children.rc != zk::code::no_node)
      throw std::runtime_error("cannot list " + paths.members() + ": " +
                               zk::to_string(children.rc));
    std::set<std::string> present;
    for (const auto& name : children.children) {
      auto data = st.zk->get(paths.member(name));
      if (!data.ok())
        continue;  // vanished meanwhile
      auto member = quota::decode_member(data.data);
      if (!member || member->actors.empty())
        continue;
      present.insert(name);
      auto& p = st.peers[name];
      if (p.endpoint != member->actors) {  // new, or restarted on another port
        p = peer{};
        p.endpoint = member->actors;
      }
    }
    for (auto i = st.peers.begin(); i != st.peers.end();) {
      if (present.count(i->first) == 0) {
        spdlog::info("writer {}: gateway {} is no longer registered", st.opts.node, i->first);
        i = st.peers.erase(i);
      } else {
        ++i;
      }
    }
  } catch (const std::exception& e) {
    if (!st.zk_failure_logged)
      spdlog::warn("writer {}: cannot read the gateways from ZooKeeper {}: {} (retrying)",
                   st.opts.node, st.opts.zk_hosts, e.what());
    st.zk_failure_logged = true;
    st.zk.reset();
  }
  auto now = clock_type::now();
  for (auto& [name, p] : st.peers)
    if (!p.handle && !p.connecting && now >= p.next_attempt)
      connect(self, name);
}

caf::behavior router_impl(router* self, result_router_options opts) {
  self->state.opts = std::move(opts);
  self->set_down_handler([=](caf::down_msg& msg) {
    for (auto& [name, p] : self->state.peers) {
      if (p.handle && p.handle.address() == msg.source) {
        spdlog::warn("writer {}: lost gateway {} ({}); reconnecting while it is registered",
                     self->state.opts.node, name, self->system().render(msg.reason));
        p.handle = nullptr;
        p.next_attempt = clock_type::now() + std::chrono::milliseconds{250};
      }
    }
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    spdlog::info("writer {}: results delivered to gateways {}, dropped {}", self->state.opts.node,
                 self->state.delivered, self->state.dropped);
    self->state.zk.reset();
    self->quit(msg.reason);
  });
  if (!self->state.opts.zk_hosts.empty())
    self->send(self, tick_atom_v);
  return {
      [=](tick_atom) {
        poll(self);
        self->delayed_send(self, self->state.opts.poll_interval, tick_atom_v);
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
          auto i = st.peers.find(gateway);
          if (i == st.peers.end() || !i->second.handle) {
            st.dropped += batch.size();
            continue;
          }
          st.delivered += batch.size();
          self->send(i->second.handle, std::move(batch));
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
          for (auto& [name, p] : st.peers)
            if (p.handle)
              self->send(p.handle, sold_out{product});
        }
      },
  };
}

}  // namespace

caf::actor spawn_result_router(caf::actor_system& sys, result_router_options opts) {
  return sys.spawn<caf::detached>(router_impl, std::move(opts));
}

}  // namespace flashsale

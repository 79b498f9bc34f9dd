#include "cluster/node_probe.hpp"

#include <set>
#include <stdexcept>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "adapters/zookeeper/blocking_session.hpp"
#include "messages/interfaces.hpp"
#include "quota/znodes.hpp"

namespace flashsale {

namespace {

struct registered_node {
  std::string name;
  std::string role;      // "gateway" or "writer"
  std::string endpoint;  // host:port of its published actor; empty: none registered
};

std::vector<registered_node> registered_nodes(const std::string& zk_hosts,
                                              const std::string& zk_root,
                                              const zk::credentials& zk_login,
                                              std::chrono::milliseconds timeout,
                                              const std::string& only_role) {
  zk::options zo;
  zo.hosts = zk_hosts;
  zo.login = zk_login;
  zo.op_timeout = timeout;
  zk::blocking_session zk{zo, timeout};
  quota::layout paths{zk_root, ""};
  std::vector<registered_node> out;
  for (const auto& [role, parent] :
       {std::pair<std::string, std::string>{"gateway", paths.members()},
        {"writer", paths.writers()}}) {
    if (!only_role.empty() && role != only_role)
      continue;
    auto children = zk.get_children(parent);
    if (!children.ok() && children.rc != zk::code::no_node)
      throw std::runtime_error("cannot list " + parent + " on " + zk_hosts + ": " +
                               zk::to_string(children.rc));
    std::set<std::string> names(children.children.begin(), children.children.end());
    for (const auto& name : names) {
      auto data = zk.get(parent + "/" + name);
      if (!data.ok())
        continue;  // gone meanwhile
      auto member = quota::decode_member(data.data);
      out.push_back(registered_node{name, role, member ? member->actors : std::string()});
    }
  }
  return out;
}

/// The node's stats, or the reason there are none.
std::optional<node_stats> ask(caf::actor_system& sys, const registered_node& node,
                              std::chrono::milliseconds timeout, std::string& why) {
  std::string host;
  std::uint16_t port = 0;
  if (!quota::split_endpoint(node.endpoint, host, port)) {
    why = "no actor endpoint registered ('" + node.endpoint + "')";
    return std::nullopt;
  }
  caf::scoped_actor self{sys};
  caf::strong_actor_ptr peer;
  self->request(sys.middleman().actor_handle(), timeout, caf::connect_atom_v, host, port)
      .receive([&](const caf::node_id&, caf::strong_actor_ptr& ptr,
                   const std::set<std::string>&) { peer = std::move(ptr); },
               [&](caf::error& err) {
                 why = "cannot connect to " + node.endpoint + ": " + sys.render(err);
               });
  if (!peer) {
    if (why.empty())
      why = "nothing published at " + node.endpoint;
    return std::nullopt;
  }
  std::optional<node_stats> out;
  self->request(caf::actor_cast<writer_peer_actor>(peer), timeout, stats_atom_v)
      .receive([&](node_stats& s) { out = std::move(s); },
               [&](caf::error& err) {
                 why = "no answer from " + node.endpoint + ": " + sys.render(err);
               });
  return out;
}

}  // namespace

std::vector<node_answer> ask_every_node(const std::string& zk_hosts, const std::string& zk_root,
                                        const zk::credentials& zk_login,
                                        std::chrono::milliseconds timeout,
                                        const std::string& role) {
  auto nodes = registered_nodes(zk_hosts, zk_root, zk_login, timeout, role);
  std::vector<node_answer> answers;
  if (nodes.empty())
    return answers;
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.add_message_types<caf::id_block::flashsale>();
  cfg.set("scheduler.max-threads", 2);
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  for (const auto& node : nodes) {
    node_answer a;
    a.name = node.name;
    a.role = node.role;
    a.stats = ask(sys, node, timeout, a.why);
    answers.push_back(std::move(a));
  }
  return answers;
}

}  // namespace flashsale

#include "tools/admin/cluster_status.hpp"

#include <cstdio>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "quota/znodes.hpp"
#include "adapters/zookeeper/blocking_session.hpp"
#include "messages/interfaces.hpp"

namespace flashsale::admin {

namespace {

struct registered_node {
  std::string name;
  std::string role;      // "gateway" or "writer"
  std::string endpoint;  // host:port of its published actor; empty: none registered
};

std::vector<registered_node> registered_nodes(const std::string& zk_hosts,
                                              const std::string& zk_root,
                                              const zk::credentials& zk_login,
                                              std::chrono::milliseconds timeout) {
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

std::string duration_text(std::int64_t ms) {
  auto s = ms / 1000;
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60));
  return buf;
}

/// "k=v,k=v" (without the zero values if `skip_zero`; nothing left: "-").
std::string pairs_text(const std::map<std::string, std::int64_t>& values, bool skip_zero) {
  std::string out;
  for (const auto& [k, v] : values) {
    if (skip_zero && v == 0)
      continue;
    out += (out.empty() ? "" : ",") + k + "=" + std::to_string(v);
  }
  return out.empty() ? "-" : out;
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
                                        std::chrono::milliseconds timeout) {
  auto nodes = registered_nodes(zk_hosts, zk_root, zk_login, timeout);
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

int print_cluster_status(const std::string& zk_hosts, const std::string& zk_root,
                         const zk::credentials& zk_login, std::chrono::milliseconds timeout,
                         std::ostream& out) {
  auto answers = ask_every_node(zk_hosts, zk_root, zk_login, timeout);
  if (answers.empty()) {
    out << "no node registered under " << zk_root << "/nodes on " << zk_hosts << '\n';
    return 0;
  }
  char line[512];
  std::snprintf(line, sizeof(line), "%-12s %-8s %-8s %8s %8s %10s  %-24s %-40s %s\n", "node",
                "role", "uptime", "lag", "batches", "per_s", "peers", "quota_left", "counts");
  out << line;
  int rc = 0;
  for (const auto& a : answers) {
    if (!a.stats) {
      std::snprintf(line, sizeof(line), "%-12s %-8s unreachable: %s\n", a.name.c_str(),
                    a.role.c_str(), a.why.c_str());
      out << line;
      rc = 5;
      continue;
    }
    const auto& stats = *a.stats;
    std::string peers;
    for (const auto& p : stats.peers)
      peers += (peers.empty() ? "" : ",") + p;
    std::snprintf(line, sizeof(line), "%-12s %-8s %-8s %8lld %8s %10.1f  %-24s %-40s ",
                  stats.node.c_str(), stats.role.c_str(), duration_text(stats.uptime_ms).c_str(),
                  static_cast<long long>(stats.queue_lag),
                  stats.role == "writer" ? std::to_string(stats.batches).c_str() : "-",
                  stats.per_second, peers.empty() ? "-" : peers.c_str(),
                  stats.quota_left.empty() ? "-" : pairs_text(stats.quota_left, false).c_str());
    out << line << pairs_text(stats.counts, true) << '\n';
  }
  out << "lag: gateway = purchases awaiting the broker's confirm, writer = purchases taken from "
         "the "
         "queue and not yet committed; per_s: accepted (gateway) or confirmed (writer) per second "
         "over the last 10 s\n";
  return rc;
}

}  // namespace flashsale::admin

#include "tools/admin/cluster_status.hpp"

#include <cstdio>
#include <map>
#include <vector>

namespace flashsale::admin {

namespace {

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

}  // namespace

int print_cluster_status(const std::string& zk_hosts, const std::string& zk_root,
                         const zk::credentials& zk_login, std::chrono::milliseconds timeout,
                         std::ostream& out) {
  auto answers = flashsale::ask_every_node(zk_hosts, zk_root, zk_login, timeout);
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

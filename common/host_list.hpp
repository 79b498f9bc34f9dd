#pragma once

// Lists of servers, "host:port[,host:port...]", as the nodes' configuration names the members of a
// RabbitMQ cluster ([amqp] hosts) or of a PostgreSQL primary and its standbys ([db] hosts). Valid
// C++14: the PostgreSQL adapter's ODB side includes it.

#include <stdexcept>
#include <string>
#include <vector>

namespace flashsale {

/// One server of a list.
struct host_port {
  std::string host;
  int port = 0;
  /// "host:port".
  std::string text() const;
};

/// The servers of `list` in the order given (spaces around entries ignored). Throws
/// std::invalid_argument, "<what> '<list>': entry N ('<entry>') <why>", when an entry is empty, has
/// no host, no port, or a port outside 1-65535.
std::vector<host_port> parse_host_list(const std::string& list, const std::string& what);

/// "host:port[,host:port...]" of `servers`.
std::string host_list_text(const std::vector<host_port>& servers);

}  // namespace flashsale

// The hosts of the cluster harness (scripts/hosts, tests/support/host_network): what a fault test
// relies on when it puts nodes on hosts of their own. Hosts reach each other and the harness on
// their bridge and nothing else; a partition drops packets silently (a connect times out, it is not
// refused), one way or both, until healed; a run leaves nothing behind; the private services run on
// a host of their own and serve the others. Needs root (CI is root).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "tests/support/host_network.hpp"

namespace {

using flashsale::testing::host_network;
using flashsale::testing::read_env_file;
using flashsale::testing::services_on_host;

/// An open socket, closed with the object.
struct socket_fd {
  int fd = -1;
  explicit socket_fd(int f) : fd(f) {}
  ~socket_fd() {
    if (fd >= 0)
      ::close(fd);
  }
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
};

sockaddr_in endpoint(const std::string& address, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  return a;
}

/// A socket of `type` bound to address:port in the calling thread's namespace (port 0: any);
/// listening when it is TCP. Its port in *port.
std::unique_ptr<socket_fd> bound_socket(int type, const std::string& address, int* port) {
  auto s = std::make_unique<socket_fd>(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  auto a = endpoint(address, 0);
  if (s->fd < 0 || ::bind(s->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      (type == SOCK_STREAM && ::listen(s->fd, 16) != 0))
    return nullptr;
  socklen_t len = sizeof a;
  ::getsockname(s->fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return s;
}

/// How a TCP connect from a host ended: 0 connected, else the errno (ETIMEDOUT: no answer
/// within `timeout_ms`, as when packets are dropped).
int connect_from(const host_network& net, const std::string& host, const std::string& address,
                 int port, int timeout_ms = 1000) {
  int result = -1;
  net.in_host(host, [&] {
    socket_fd s{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    auto a = endpoint(address, port);
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      result = 0;
      return;
    }
    if (errno != EINPROGRESS) {
      result = errno;
      return;
    }
    pollfd p{s.fd, POLLOUT, 0};
    if (::poll(&p, 1, timeout_ms) == 0) {
      result = ETIMEDOUT;
      return;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    result = err;
  });
  return result;
}

/// A TCP listener on `host` (its address, any port), open while the object lives.
struct listener {
  std::unique_ptr<socket_fd> socket;
  int port = 0;
  listener(const host_network& net, const std::string& host) {
    net.in_host(host, [&] { socket = bound_socket(SOCK_STREAM, net.address(host), &port); });
  }
};

/// Whether a datagram sent from `from` reaches a UDP socket on `to` within 500 ms.
bool datagram_arrives(const host_network& net, const std::string& from, const std::string& to) {
  std::unique_ptr<socket_fd> receiver;
  int port = 0;
  net.in_host(to, [&] { receiver = bound_socket(SOCK_DGRAM, net.address(to), &port); });
  if (!receiver)
    return false;
  net.in_host(from, [&] {
    socket_fd s{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    auto a = endpoint(net.address(to), port);
    ::sendto(s.fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  });
  pollfd p{receiver->fd, POLLIN, 0};
  return ::poll(&p, 1, 500) == 1;
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

class hosts : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "network namespaces need root (CI runs as root)";
  }
};

TEST_F(hosts, reach_each_other_and_the_harness_on_their_bridge) {
  host_network net{{"a", "b"}};
  EXPECT_NE(net.address("a"), net.address("b"));
  listener on_b{net, "b"};
  ASSERT_TRUE(on_b.socket) << "cannot listen on b";
  EXPECT_EQ(connect_from(net, "a", net.address("b"), on_b.port), 0);
  // The harness (this process's namespace) has an address on the bridge too.
  int port = 0;
  auto on_harness = bound_socket(SOCK_STREAM, net.harness_address(), &port);
  ASSERT_TRUE(on_harness) << "cannot listen on " << net.harness_address();
  EXPECT_EQ(connect_from(net, "a", net.harness_address(), port), 0);
}

TEST_F(hosts, have_no_route_out_of_their_bridge) {
  host_network net{{"a"}};
  host_network other{{"a"}};  // another run: a bridge and a subnet of its own
  EXPECT_NE(net.address("a"), other.address("a"));
  EXPECT_EQ(connect_from(net, "a", "192.0.2.1", 80), ENETUNREACH);  // TEST-NET-1
  listener on_other{other, "a"};
  ASSERT_TRUE(on_other.socket);
  EXPECT_EQ(connect_from(net, "a", other.address("a"), on_other.port), ENETUNREACH);
}

TEST_F(hosts, a_partition_drops_both_ways_silently_until_healed) {
  host_network net{{"a", "b", "c"}};
  listener on_a{net, "a"}, on_b{net, "b"};
  ASSERT_TRUE(on_a.socket && on_b.socket);
  net.partition("a", "b");
  EXPECT_EQ(connect_from(net, "a", net.address("b"), on_b.port), ETIMEDOUT);
  EXPECT_EQ(connect_from(net, "b", net.address("a"), on_a.port), ETIMEDOUT);
  EXPECT_EQ(connect_from(net, "c", net.address("b"), on_b.port), 0) << "c is not partitioned";
  net.heal("a", "b");
  EXPECT_EQ(connect_from(net, "a", net.address("b"), on_b.port), 0);
  EXPECT_EQ(connect_from(net, "b", net.address("a"), on_a.port), 0);
}

TEST_F(hosts, a_partition_from_one_port_leaves_the_host_s_other_ports_reachable) {
  host_network net{{"a", "b"}};
  listener cut{net, "b"}, open{net, "b"};
  ASSERT_TRUE(cut.socket && open.socket);
  net.partition("a", "b", false, cut.port);
  EXPECT_EQ(connect_from(net, "a", net.address("b"), cut.port), ETIMEDOUT);
  EXPECT_EQ(connect_from(net, "a", net.address("b"), open.port), 0);
  net.heal("a", "b");
  EXPECT_EQ(connect_from(net, "a", net.address("b"), cut.port), 0);
}

TEST_F(hosts, a_one_way_partition_stops_only_what_the_host_hears) {
  host_network net{{"a", "b"}};
  net.partition("a", "b", true);  // a no longer hears b
  EXPECT_FALSE(datagram_arrives(net, "b", "a"));
  EXPECT_TRUE(datagram_arrives(net, "a", "b"));
  net.heal("a", "b");
  EXPECT_TRUE(datagram_arrives(net, "b", "a"));
}

TEST_F(hosts, total_loss_drops_everything_a_host_receives_and_zero_ends_it) {
  host_network net{{"a", "b"}};
  listener on_b{net, "b"};
  ASSERT_TRUE(on_b.socket);
  net.loss("b", 100);
  EXPECT_EQ(connect_from(net, "a", net.address("b"), on_b.port), ETIMEDOUT);
  net.loss("b", 0);
  EXPECT_EQ(connect_from(net, "a", net.address("b"), on_b.port), 0);
}

TEST_F(hosts, a_run_leaves_no_namespace_link_or_state_behind) {
  std::string run;
  {
    host_network net{{"a", "b"}};
    run = net.run();
    EXPECT_TRUE(path_exists(net.namespace_path("a")));
    EXPECT_TRUE(path_exists("/sys/class/net/fsb-" + run));
  }
  EXPECT_FALSE(path_exists("/run/netns/fs-" + run + "-a"));
  EXPECT_FALSE(path_exists("/run/netns/fs-" + run + "-b"));
  EXPECT_FALSE(path_exists("/sys/class/net/fsb-" + run));
  EXPECT_FALSE(path_exists("/sys/class/net/fsv-" + run + "-0"));
  EXPECT_FALSE(path_exists("/run/flashsale-hosts/" + run));
}

TEST_F(hosts, a_host_named_twice_is_refused_with_the_reason) {
  try {
    host_network net{{"a", "a"}};
    FAIL() << "brought up a host named twice";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("a host is named twice"), std::string::npos) << e.what();
  }
}

/// The first line of a file.
std::string first_line(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
}

// scripts/services on a host of its own (FLASHSALE_SERVICES_ADDRESS = the host's address): the
// endpoints it writes name that address, and another host logs in to PostgreSQL, gets ZooKeeper's
// "imok" and RabbitMQ's Connection.Start there.
TEST_F(hosts, the_services_on_a_host_of_their_own_serve_the_other_hosts) {
  host_network net{{"services", "gw"}};
  auto run_dir = "/tmp/flashsale-host-services-" + net.run();
  auto log = run_dir + ".log";
  struct stop_guard {
    const host_network& net;
    std::string dir, log;
    ~stop_guard() {
      services_on_host(net, "services", dir, "stop", log + ".stop");
      std::filesystem::remove_all(dir);
      std::filesystem::remove(log);
      std::filesystem::remove(log + ".stop");
    }
  } guard{net, run_dir, log};
  std::string output;
  ASSERT_EQ(services_on_host(net, "services", run_dir, "start", log, &output), 0) << output;
  const auto& address = net.address("services");
  auto env = read_env_file(run_dir + "/endpoints.env");
  EXPECT_EQ(env["FLASHSALE_PG_HOST"], address);
  EXPECT_EQ(env["FLASHSALE_AMQP_HOST"], address);
  EXPECT_EQ(env["FLASHSALE_ZK"].rfind(address + ":", 0), 0u) << env["FLASHSALE_ZK"];
  int pg_port = std::stoi(env["FLASHSALE_PG_PORT"]);
  int amqp_port = std::stoi(env["FLASHSALE_AMQP_PORT"]);
  int zk_port = std::stoi(env["FLASHSALE_ZK"].substr(address.size() + 1));

  std::string pg_answer, zk_answer, amqp_answer;
  net.in_host("gw", [&] {
    std::string conninfo = "host=" + address + " port=" + std::to_string(pg_port) +
                           " user=flashsale dbname=flashsale connect_timeout=5 password=" +
                           first_line(run_dir + "/secrets/pg-admin.password");
    PGconn* conn = PQconnectdb(conninfo.c_str());
    if (PQstatus(conn) == CONNECTION_OK) {
      PGresult* r = PQexec(conn, "SELECT 6 * 7");
      if (PQresultStatus(r) == PGRES_TUPLES_OK)
        pg_answer = PQgetvalue(r, 0, 0);
      PQclear(r);
    } else {
      pg_answer = PQerrorMessage(conn);
    }
    PQfinish(conn);
    auto ask = [&](int port, const std::string& bytes, std::size_t want) {
      socket_fd s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
      timeval tv{5, 0};
      ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      auto a = endpoint(address, port);
      if (::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        return std::string("connect: ") + std::strerror(errno);
      ::send(s.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      std::string got(want, '\0');
      auto n = ::recv(s.fd, got.data(), want, MSG_WAITALL);
      got.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      return got;
    };
    zk_answer = ask(zk_port, "ruok", 4);
    amqp_answer = ask(amqp_port, std::string("AMQP\0\0\x09\x01", 8), 11);
  });
  EXPECT_EQ(pg_answer, "42");
  EXPECT_EQ(zk_answer, "imok");
  // Connection.Start: a method frame (type 1) on channel 0 of class 10, method 10.
  ASSERT_EQ(amqp_answer.size(), 11u) << amqp_answer;
  EXPECT_EQ(amqp_answer[0], 1);
  EXPECT_EQ(amqp_answer.substr(7, 4), std::string("\0\x0a\0\x0a", 4));
}

}  // namespace

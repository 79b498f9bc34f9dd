#pragma once

// Hosts of their own for cluster tests: each a Linux network namespace with one address on a bridge
// the test owns (scripts/hosts), so that a test can partition one node from another while both run.
// Needs root. Test support only.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace flashsale::testing {

class host_network {
 public:
  /// Brings up the hosts `names` under a run name no other process uses (scripts/hosts up). Throws
  /// std::runtime_error with the script's words when it cannot (not root, a host named twice).
  explicit host_network(const std::vector<std::string>& names);
  /// Takes every host down, also after a failed test (scripts/hosts down); never throws.
  ~host_network();
  host_network(const host_network&) = delete;
  host_network& operator=(const host_network&) = delete;

  /// The run name (scripts/hosts RUN).
  const std::string& run() const { return run_; }
  /// The host's address on the bridge; throws std::out_of_range for a host not brought up.
  const std::string& address(const std::string& host) const { return addresses_.at(host); }
  /// The address of the test process's own namespace on the bridge.
  const std::string& harness_address() const { return harness_; }
  /// The path of the host's network namespace (/run/netns/...), for setns.
  std::string namespace_path(const std::string& host) const;

  /// `argv` as a command line that runs it on `host` (ip netns exec, which execs it: the pid
  /// stays the program's); the first element is the path of ip.
  std::vector<std::string> on(const std::string& host, const std::vector<std::string>& argv) const;

  /// `a` stops hearing `b` and, unless `one_way`, `b` stops hearing `a` (packets dropped on
  /// arrival, silently); with `port` only TCP to and from `b`'s port (one service of `b`'s).
  /// Throws std::runtime_error when the script fails.
  void partition(const std::string& a, const std::string& b, bool one_way = false, int port = 0);
  /// Undoes the partitions between `a` and `b`.
  void heal(const std::string& a, const std::string& b);
  /// `host` drops `percent` of what it receives, at random (0 ends it).
  void loss(const std::string& host, int percent);

  /// Runs `fn` on a thread of its own that lives in `host`'s network namespace (sockets it opens
  /// are the host's) and waits for it. Throws std::runtime_error when the thread cannot enter.
  void in_host(const std::string& host, const std::function<void()>& fn) const;

 private:
  /// Runs scripts/hosts with `args` (up to 60 s); its exit code, its output in *output.
  int hosts(const std::vector<std::string>& args, std::string* output = nullptr) const;
  void hosts_or_throw(const std::vector<std::string>& args) const;

  std::string run_;
  std::map<std::string, std::string> addresses_;
  std::string harness_;
};

/// Runs `scripts/services <verb> --run-dir <run_dir>` (the single profile) on `host`, the services
/// listening on the host's address too (FLASHSALE_SERVICES_ADDRESS), up to 180 s; its output in
/// `log` and in *output when given. Returns the exit code, -1 when it did not exit in time.
int services_on_host(const host_network& net, const std::string& host, const std::string& run_dir,
                     const std::string& verb, const std::string& log,
                     std::string* output = nullptr);

/// The KEY=value lines of an endpoints.env file, single quotes around a value removed.
std::map<std::string, std::string> read_env_file(const std::string& path);

}  // namespace flashsale::testing

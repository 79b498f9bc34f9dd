#pragma once

// Shared start-up of node processes: CAF configuration parsing with strict validation (CAF itself
// silently ignores unknown INI keys), logging, and waiting for a stop signal.

#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>

namespace flashsale {

/// Base of every node's configuration: CAF's own options plus the node's opt_groups.
class node_config : public caf::actor_system_config {
 public:
  /// Parses command line and INI file (--config-file=...). On any problem - a parse error, an
  /// unknown section or key, or a value check() rejects - prints every problem to stderr and
  /// returns false. Also false after --help (nothing to run; the configuration is still checked).
  bool load(int argc, char** argv);

  /// Exit code main() should return when load() returned false: 0 after --help with a valid
  /// configuration, 2 otherwise.
  int failure_exit_code() const { return help_printed_ ? 0 : 2; }

 protected:
  /// Node-specific value checks; appends one message per problem.
  virtual void check(std::vector<std::string>& problems) const = 0;

  /// Appends a problem unless lo <= value <= hi.
  static void require_range(std::vector<std::string>& problems, const std::string& key,
                            long long value, long long lo, long long hi);

 private:
  bool help_printed_ = false;
};

/// Sets up spdlog: stderr, with the node's name in every line.
void init_logging(const std::string& node_name);

/// Blocks SIGINT and SIGTERM in the calling thread (call first in main(), before any thread starts,
/// so all threads inherit the mask), then later wait_for_stop_signal() returns the signal received.
void block_stop_signals();
int wait_for_stop_signal();

}  // namespace flashsale

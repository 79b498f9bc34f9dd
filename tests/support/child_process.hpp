#pragma once

// A node process started by a test: fork/exec with arguments, output to a log file, SIGTERM (or
// SIGKILL) and reaping on destruction, SIGTERM when the test process dies first. Test support only.

#include <string>
#include <vector>

#include <sys/types.h>

namespace flashsale::testing {

class child_process {
 public:
  /// Starts `program` with `args`; stdout and stderr go to `log_path` (truncated).
  child_process(const std::string& program, const std::vector<std::string>& args,
                const std::string& log_path);
  /// Stops the process (SIGTERM, then SIGKILL after 10 s) unless it already exited.
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  /// Sends `sig`.
  void signal(int sig);
  /// Waits up to `timeout_ms` for the exit; returns the exit status (as waitpid) or -1 on timeout.
  int wait(int timeout_ms);
  /// True while the process has not exited.
  bool running();
  /// The last `lines` lines of the log, for failure messages.
  std::string log_tail(int lines = 30) const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
};

}  // namespace flashsale::testing

#include "tests/support/child_process.hpp"

#include <chrono>
#include <csignal>
#include <deque>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace flashsale::testing {

child_process::child_process(const std::string& program, const std::vector<std::string>& args,
                             const std::string& log_path)
    : log_path_(log_path) {
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot open log " + log_path);
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // A test that dies (crash, abort) takes its nodes with it instead of leaving them running.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fd);
}

child_process::~child_process() {
  if (!running())
    return;
  signal(SIGTERM);
  if (wait(10000) == -1) {
    signal(SIGKILL);
    wait(10000);
  }
}

void child_process::signal(int sig) {
  if (!reaped_)
    ::kill(pid_, sig);
}

int child_process::wait(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms};
  while (!reaped_) {
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = status;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return status_;
}

bool child_process::running() {
  if (reaped_)
    return false;
  return wait(0) == -1;
}

std::string child_process::log_tail(int lines) const {
  std::ifstream in(log_path_);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines)
      tail.pop_front();
  }
  std::string out = "--- " + log_path_ + " ---\n";
  for (const auto& l : tail)
    out += l + "\n";
  return out;
}

}  // namespace flashsale::testing

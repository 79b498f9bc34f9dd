#include "tests/support/host_network.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/child_process.hpp"

namespace flashsale::testing {

namespace {

const std::string hosts_script = std::string(FLASHSALE_SOURCE_DIR) + "/scripts/hosts";
const std::string hosts_services_script = std::string(FLASHSALE_SOURCE_DIR) + "/scripts/services";

std::string read_all(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// A run name of [a-z0-9]{1,8} that no other process and no other live network of this process
/// uses: "t", the pid in base 36 (at most 5 digits), a counter digit.
std::string unique_run_name() {
  static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  static int made = 0;
  auto n = static_cast<unsigned long>(::getpid());
  std::string name;
  do {
    name.insert(name.begin(), digits[n % 36]);
    n /= 36;
  } while (n > 0);
  return "t" + name + digits[made++ % 36];
}

}  // namespace

host_network::host_network(const std::vector<std::string>& names) : run_(unique_run_name()) {
  std::string output;
  hosts({"down", run_});  // what a killed earlier process of the same pid left
  std::vector<std::string> args{"up", run_};
  args.insert(args.end(), names.begin(), names.end());
  if (hosts(args, &output) != 0) {
    hosts({"down", run_});
    throw std::runtime_error("scripts/hosts up " + run_ + " failed: " + output);
  }
  std::istringstream lines{output};
  std::string name, address;
  while (lines >> name >> address)
    addresses_[name] = address;
  harness_ = read_all("/run/flashsale-hosts/" + run_ + "/harness");
  while (!harness_.empty() && (harness_.back() == '\n' || harness_.back() == ' '))
    harness_.pop_back();
  for (const auto& h : names)
    if (addresses_.count(h) == 0)
      throw std::runtime_error("scripts/hosts up named no address for " + h + ": " + output);
}

host_network::~host_network() {
  try {
    hosts({"down", run_});
  } catch (...) {
  }
}

std::string host_network::namespace_path(const std::string& host) const {
  address(host);  // throws for an unknown host
  return "/run/netns/fs-" + run_ + "-" + host;
}

std::vector<std::string> host_network::on(const std::string& host,
                                          const std::vector<std::string>& argv) const {
  address(host);
  std::vector<std::string> out{"/usr/sbin/ip", "netns", "exec", "fs-" + run_ + "-" + host};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

void host_network::partition(const std::string& a, const std::string& b, bool one_way, int port) {
  std::vector<std::string> args{"partition", run_, a, b};
  if (one_way)
    args.emplace_back("--one-way");
  if (port != 0) {
    args.emplace_back("--port");
    args.push_back(std::to_string(port));
  }
  hosts_or_throw(args);
}

void host_network::heal(const std::string& a, const std::string& b) {
  hosts_or_throw({"heal", run_, a, b});
}

void host_network::loss(const std::string& host, int percent) {
  hosts_or_throw({"loss", run_, host, std::to_string(percent)});
}

void host_network::in_host(const std::string& host, const std::function<void()>& fn) const {
  auto path = namespace_path(host);
  std::string error;
  std::exception_ptr thrown;
  std::thread worker{[&] {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      error = "cannot enter " + path + ": " + std::strerror(errno);
      if (fd >= 0)
        ::close(fd);
      return;
    }
    ::close(fd);
    try {
      fn();
    } catch (...) {
      thrown = std::current_exception();
    }
  }};
  worker.join();
  if (!error.empty())
    throw std::runtime_error(error);
  if (thrown)
    std::rethrow_exception(thrown);
}

int host_network::hosts(const std::vector<std::string>& args, std::string* output) const {
  auto log = "/tmp/flashsale-hosts-" + run_ + ".log";
  int status;
  {
    child_process script{hosts_script, args, log};
    status = script.wait(60000);
    if (status == -1) {
      script.signal(SIGKILL);
      script.wait(10000);
    }
  }
  if (output != nullptr)
    *output = read_all(log);
  ::unlink(log.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void host_network::hosts_or_throw(const std::vector<std::string>& args) const {
  std::string output;
  if (hosts(args, &output) != 0) {
    std::string line;
    for (const auto& a : args)
      line += " " + a;
    throw std::runtime_error("scripts/hosts" + line + " failed: " + output);
  }
}

int services_on_host(const host_network& net, const std::string& host, const std::string& run_dir,
                     const std::string& verb, const std::string& log, std::string* output) {
  auto argv = net.on(host, {"/usr/bin/env", "FLASHSALE_SERVICES=single",
                            "FLASHSALE_SERVICES_ADDRESS=" + net.address(host),
                            hosts_services_script, verb, "--run-dir", run_dir});
  child_process script{argv[0], std::vector<std::string>(argv.begin() + 1, argv.end()), log};
  int status = script.wait(180000);
  if (status == -1) {
    script.signal(SIGKILL);
    script.wait(10000);
  }
  if (output != nullptr)
    *output = read_all(log);
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::map<std::string, std::string> read_env_file(const std::string& path) {
  std::map<std::string, std::string> env;
  std::ifstream in{path};
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq == std::string::npos)
      continue;
    auto value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'')
      value = value.substr(1, value.size() - 2);
    env[line.substr(0, eq)] = value;
  }
  return env;
}

}  // namespace flashsale::testing

#include "common/open_files.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace flashsale {

std::string ensure_open_files(std::uint64_t needed, const std::string& who) {
  rlimit now{};
  if (getrlimit(RLIMIT_NOFILE, &now) != 0)
    return std::string("cannot read the open-file limit: ") + std::strerror(errno);
  if (now.rlim_cur == RLIM_INFINITY || now.rlim_cur >= needed)
    return {};
  rlimit wanted = now;
  wanted.rlim_cur = needed;
  if (now.rlim_max != RLIM_INFINITY && now.rlim_max < needed)
    wanted.rlim_max = needed;  // only a privileged process may
  if (setrlimit(RLIMIT_NOFILE, &wanted) == 0)
    return {};
  auto err = errno;
  return who + " needs " + std::to_string(needed) + " open files, but the limit is " +
         std::to_string(now.rlim_cur) + " (hard limit " +
         (now.rlim_max == RLIM_INFINITY ? std::string("unlimited") : std::to_string(now.rlim_max)) +
         ") and raising it failed (" + std::strerror(err) +
         "): raise it (ulimit -n, LimitNOFILE= in a systemd unit) or lower the setting";
}

std::uint64_t open_files_limit() {
  rlimit now{};
  if (getrlimit(RLIMIT_NOFILE, &now) != 0)
    return 0;
  return now.rlim_cur == RLIM_INFINITY ? UINT64_MAX : now.rlim_cur;
}

}  // namespace flashsale

// The open-file limit a node raises at start (common/open_files.hpp): a soft limit below what is
// needed is raised; what no process may get is refused with a message saying what to change.

#include <sys/resource.h>

#include <cstdint>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "common/open_files.hpp"

namespace {

using flashsale::ensure_open_files;
using flashsale::open_files_limit;

/// Sets this test process's soft limit (the hard one stays).
void set_soft_limit(rlim_t soft) {
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  now.rlim_cur = soft;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &now), 0);
}

TEST(open_files, a_soft_limit_below_the_need_is_raised_to_it) {
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  if (now.rlim_max != RLIM_INFINITY && now.rlim_max < 1024)
    GTEST_SKIP() << "the hard limit is below 1024";
  set_soft_limit(256);
  EXPECT_EQ(ensure_open_files(1000, "--connections 936"), "");
  EXPECT_EQ(open_files_limit(), 1000u);
  EXPECT_EQ(ensure_open_files(300, "--connections 236"), "");  // never lowered
  EXPECT_EQ(open_files_limit(), 1000u);
}

TEST(open_files, more_than_the_kernel_allows_is_refused_with_what_to_change) {
  std::uint64_t nr_open = 0;
  std::ifstream{"/proc/sys/fs/nr_open"} >> nr_open;
  ASSERT_GT(nr_open, 0u);
  auto before = open_files_limit();
  auto problem = ensure_open_files(nr_open + 1, "http.max-connections = 9999999");
  EXPECT_NE(problem.find("http.max-connections = 9999999 needs " + std::to_string(nr_open + 1) +
                         " open files"),
            std::string::npos)
      << problem;
  EXPECT_NE(problem.find("ulimit -n"), std::string::npos) << problem;
  EXPECT_EQ(open_files_limit(), before);  // nothing changed
}

}  // namespace

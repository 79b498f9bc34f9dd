#include "common/secret_file.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include <sys/stat.h>

namespace flashsale {

std::string read_secret_file(const std::string& path, const std::string& what) {
  auto fail = [&](const std::string& why) {
    throw secret_file_error(what + " " + path + ": " + why);
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    fail("not a regular file");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    std::ostringstream mode;
    mode << std::oct << (st.st_mode & 0777);
    fail("mode " + mode.str() + " lets others read or change it; chmod 600 it");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail("cannot be opened");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    fail("cannot be read");
  if (!text.empty() && text.back() == '\n')
    text.pop_back();
  if (text.empty())
    fail("is empty");
  if (text.size() > 1024)
    fail("holds more than 1,024 bytes");
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f)
      fail("must hold a single line without control characters");
  return text;
}

std::string read_secret_file_from_env(const char* variable) {
  const char* path = std::getenv(variable);
  if (path == nullptr || *path == '\0')
    return {};
  return read_secret_file(path, variable);
}

}  // namespace flashsale

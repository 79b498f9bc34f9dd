#include "adapters/crypto/key_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/secret_file.hpp"

namespace flashsale::crypto {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw key_file_error("key file " + path + ": " + why);
}

void init_sodium() {
  if (sodium_init() < 0)
    throw key_file_error("libsodium cannot be initialised: no random source");
}

}  // namespace

secret_key read_key_file(const std::string& path) {
  std::string text;
  try {
    text = read_secret_file(path, "key file");
  } catch (const secret_file_error& e) {
    throw key_file_error(e.what());
  }
  if (text.size() < 64 || text.size() > 128 || text.size() % 2 != 0)
    fail(path, "must hold 64 to 128 hex digits (32 to 64 bytes), found " +
                   std::to_string(text.size()) + " characters");
  secret_key key(text.size() / 2);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(key.data(), key.size(), text.data(), text.size(), nullptr, &len, &end) != 0 ||
      len != key.size() || end != text.data() + text.size())
    fail(path, "must hold hex digits only");
  return key;
}

secret_key write_new_key_file(const std::string& path) {
  init_sodium();
  secret_key key(32);
  randombytes_buf(key.data(), key.size());
  std::string hex(2 * key.size() + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), key.data(), key.size());
  hex.back() = '\n';
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    fail(path, std::strerror(errno));
  bool written = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
  bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    ::unlink(path.c_str());
    fail(path, "cannot be written");
  }
  return key;
}

std::string key_fingerprint(const secret_key& key) {
  init_sodium();
  unsigned char hash[8];
  crypto_generichash(hash, sizeof hash, key.data(), key.size(), nullptr, 0);
  char hex[2 * sizeof hash + 1];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  return hex;
}

}  // namespace flashsale::crypto

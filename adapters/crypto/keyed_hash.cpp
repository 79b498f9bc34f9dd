#include "adapters/crypto/keyed_hash.hpp"

#include <array>
#include <cstdlib>
#include <cstring>

#include <sodium.h>
#include <spdlog/spdlog.h>

namespace flashsale::crypto {

namespace {

static_assert(crypto_shorthash_KEYBYTES == 16 && crypto_shorthash_BYTES == 8);

std::array<unsigned char, 16> bytes_of(const hash_key& key) {
  std::array<unsigned char, 16> b{};
  std::memcpy(b.data(), &key.k0, 8);
  std::memcpy(b.data() + 8, &key.k1, 8);
  return b;
}

}  // namespace

std::uint64_t keyed_hash(const hash_key& key, const void* data, std::size_t size) {
  auto k = bytes_of(key);
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, static_cast<const unsigned char*>(data), size, k.data());
  std::uint64_t h = 0;
  std::memcpy(&h, out, sizeof h);
  return h;
}

hash_key random_key() {
  if (sodium_init() < 0) {
    spdlog::critical("libsodium cannot be initialised: no random source");
    std::abort();
  }
  hash_key key;
  randombytes_buf(&key.k0, sizeof key.k0);
  randombytes_buf(&key.k1, sizeof key.k1);
  return key;
}

std::string to_hex(const hash_key& key) {
  auto b = bytes_of(key);
  char hex[2 * 16 + 1];
  sodium_bin2hex(hex, sizeof hex, b.data(), b.size());
  return hex;
}

std::optional<hash_key> key_from_hex(std::string_view hex) {
  if (hex.size() != 32)
    return std::nullopt;
  std::array<unsigned char, 16> b{};
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(b.data(), b.size(), hex.data(), hex.size(), nullptr, &len, &end) != 0 ||
      len != b.size() || end != hex.data() + hex.size())
    return std::nullopt;
  hash_key key;
  std::memcpy(&key.k0, b.data(), 8);
  std::memcpy(&key.k1, b.data() + 8, 8);
  return key;
}

}  // namespace flashsale::crypto

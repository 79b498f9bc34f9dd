#pragma once

// libsodium's keyed short hash (SipHash-2-4) and its random bytes, for draws that nobody without
// the key can predict: the fair lottery hashes (key, draw window, user) with it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flashsale::crypto {

/// A 128-bit key, as two 64-bit halves (so that it can live in two atomics).
struct hash_key {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
  bool operator==(const hash_key& o) const { return k0 == o.k0 && k1 == o.k1; }
};

/// SipHash-2-4 of `data` under `key` (libsodium crypto_shorthash). Thread-safe, allocates
/// nothing, about 20 ns for a short input.
std::uint64_t keyed_hash(const hash_key& key, const void* data, std::size_t size);

/// A key from the operating system's random source (libsodium randombytes). Aborts the process
/// if libsodium cannot be initialised (it then has no random source at all).
hash_key random_key();

/// 32 lowercase hex digits (the form kept in ZooKeeper settings).
std::string to_hex(const hash_key& key);

/// The key of exactly 32 hex digits (either case); nullopt for anything else.
std::optional<hash_key> key_from_hex(std::string_view hex);

}  // namespace flashsale::crypto

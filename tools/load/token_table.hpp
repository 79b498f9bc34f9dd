#pragma once

// The buyer tokens of a load run: one per user, minted before the clock starts so that the run
// measures the gateway's verification, not the client's signing.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/crypto/key_file.hpp"

namespace flashsale::load {

class token_table {
 public:
  /// Mints a token for each of the users u0 .. u<users-1> of `sale`, valid for `ttl_s` from now,
  /// on `threads` threads. About 200 bytes and 7 us of one core per user. Throws
  /// std::invalid_argument for a bad ttl.
  token_table(const crypto::secret_key& key, const std::string& sale, std::uint64_t users,
              int threads, std::int64_t ttl_s);

  /// "Authorization: Bearer <token of u<user>>\r\n". Thread-safe (read-only).
  std::string_view header(std::uint64_t user) const {
    return std::string_view(text_).substr(offsets_[user], offsets_[user + 1] - offsets_[user]);
  }

 private:
  std::string text_;
  std::vector<std::size_t> offsets_;  ///< users + 1 entries
};

}  // namespace flashsale::load

#pragma once

// Buyer identity: who may buy. The shop's login service gives each buyer a signed token (an HS256
// JWT: sub = user id, aud = sale name, exp, iat); the gateway checks it on the HTTP thread before
// the lottery and buys for the user the token names, never for one a request body names. What is
// refused here costs nothing downstream: no draw, no reservation, no message.

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/crypto/key_file.hpp"

namespace flashsale {

/// Why a purchase was refused with 401.
enum class auth_refusal : std::uint8_t {
  missing,        ///< no "Authorization: Bearer <token>" header
  malformed,      ///< not an HS256 JWT, or a claim missing or of the wrong type
  forged,         ///< a well-formed token that no accepted key signed
  expired,        ///< exp has passed (beyond the leeway)
  not_yet_valid,  ///< iat lies in the future (beyond the leeway)
  wrong_sale,     ///< aud names another sale
};
constexpr std::size_t auth_refusal_count = 6;

/// "missing", "malformed", ...: the reason's name in metrics and in the 401 body.
const char* to_string(auth_refusal r);

/// A sentence for the buyer's client, e.g. "the token has expired".
const char* describe(auth_refusal r);

/// nullptr when `user` is a valid user id (1 to 128 bytes of UTF-8, no control characters);
/// otherwise what is wrong with it, for the client.
const char* user_id_problem(std::string_view user);

struct auth_result {
  std::optional<auth_refusal> refusal;  ///< empty: accepted
  std::string user;                     ///< the token's subject, when accepted
};

class buyer_authenticator {
 public:
  /// Clocks of the login service and the gateways may differ by this much.
  static constexpr std::int64_t leeway_s = 30;

  /// Accepts tokens for `sale` signed by any of `keys`: the current key first and, during a key
  /// rotation, the previous one (at least one key, at most two; throws std::invalid_argument).
  buyer_authenticator(std::string sale, std::vector<crypto::secret_key> keys);

  /// Checks the value of a request's Authorization header (empty when absent) at `now_s`
  /// (seconds since the epoch) and counts a refusal. Thread-safe (every HTTP thread at once);
  /// never blocks, does not throw.
  auth_result verify(std::string_view authorization, std::int64_t now_s) const;

  /// Refusals counted so far, by reason.
  std::uint64_t refused(auth_refusal r) const {
    return refused_[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }

 private:
  auth_result refuse(auth_refusal r) const;

  std::string sale_;
  std::vector<crypto::secret_key> keys_;
  mutable std::array<std::atomic<std::uint64_t>, auth_refusal_count> refused_{};
};

/// A token for `user` in `sale`, issued at `now_s` and valid for `ttl_s` seconds, signed with
/// `key`: what the shop's login service hands out (flashsale-admin token issue, flashsale-load).
/// Throws std::invalid_argument for an invalid user id, an invalid sale name (the sale file's
/// rule) or a ttl below 1.
std::string issue_buyer_token(const crypto::secret_key& key, const std::string& sale,
                              const std::string& user, std::int64_t now_s, std::int64_t ttl_s);

}  // namespace flashsale

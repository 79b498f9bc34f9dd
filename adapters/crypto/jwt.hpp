#pragma once

// JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, alg HS256), through libjwt. Only the
// signature and the token's form are checked here; what the claims must say (which sale, until
// when) is the caller's policy (admission/buyer_auth.hpp).

#include <cstdint>
#include <string>
#include <vector>

#include "adapters/crypto/key_file.hpp"

namespace flashsale::crypto {

/// The registered claims a buyer token carries. Absent claims read as empty or 0.
struct token_claims {
  std::string subject;          ///< "sub": the buyer's user id
  std::string audience;         ///< "aud": the sale the token is for (a string)
  std::int64_t expires_at = 0;  ///< "exp": seconds since the epoch
  std::int64_t issued_at = 0;   ///< "iat": seconds since the epoch
};

/// A compact HS256 token ("header.payload.signature") of `claims` under `key`. Thread-safe.
/// Throws std::runtime_error if libjwt fails (out of memory).
std::string sign_hs256(const token_claims& claims, const secret_key& key);

enum class token_check : std::uint8_t {
  valid,          ///< an HS256 signature by one of the keys; the claims are filled
  malformed,      ///< not a JWT at all (form, base64, JSON) or not signed with HS256
  bad_signature,  ///< a well-formed HS256 JWT that none of the keys signed
};

struct verified_token {
  token_check check = token_check::malformed;
  token_claims claims;  ///< only when valid
};

/// Verifies `token` under each of `keys` in turn (the current key first, during a rotation the
/// previous one next). Thread-safe, allocates; about 8 us for one key on this project's machine.
/// A refused token's form is read once more (to tell a forgery from garbage).
verified_token verify_hs256(const std::string& token, const std::vector<secret_key>& keys);

}  // namespace flashsale::crypto

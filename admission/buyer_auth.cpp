#include "admission/buyer_auth.hpp"

#include <stdexcept>
#include <utility>

#include "adapters/crypto/jwt.hpp"
#include "common/sale_definition.hpp"
#include "common/utf8.hpp"

namespace flashsale {

const char* to_string(auth_refusal r) {
  switch (r) {
    case auth_refusal::missing:
      return "missing";
    case auth_refusal::malformed:
      return "malformed";
    case auth_refusal::forged:
      return "forged";
    case auth_refusal::expired:
      return "expired";
    case auth_refusal::not_yet_valid:
      return "not_yet_valid";
    case auth_refusal::wrong_sale:
      return "wrong_sale";
  }
  return "unknown";
}

const char* describe(auth_refusal r) {
  switch (r) {
    case auth_refusal::missing:
      return "a buyer token is required: Authorization: Bearer <token>";
    case auth_refusal::malformed:
      return "the buyer token is not a valid HS256 JWT with sub, aud, exp and iat";
    case auth_refusal::forged:
      return "the buyer token's signature is not valid";
    case auth_refusal::expired:
      return "the buyer token has expired";
    case auth_refusal::not_yet_valid:
      return "the buyer token was issued in the future (check the clocks)";
    case auth_refusal::wrong_sale:
      return "the buyer token is for another sale";
  }
  return "the buyer token was refused";
}

const char* user_id_problem(std::string_view user) {
  if (user.empty() || user.size() > 128)
    return "a user id must have 1 to 128 characters";
  for (unsigned char c : user)
    if (c < 0x20 || c == 0x7f)
      return "a user id must not contain control characters";
  if (!valid_utf8(user))
    return "a user id must be valid UTF-8";  // JSON and tokens carry text, nothing else
  return nullptr;
}

buyer_authenticator::buyer_authenticator(std::string sale, std::vector<crypto::secret_key> keys)
    : sale_(std::move(sale)), keys_(std::move(keys)) {
  if (keys_.empty() || keys_.size() > 2)
    throw std::invalid_argument("buyer_authenticator: one or two keys");
}

auth_result buyer_authenticator::refuse(auth_refusal r) const {
  refused_[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  return auth_result{r, {}};
}

auth_result buyer_authenticator::verify(std::string_view authorization, std::int64_t now_s) const {
  // RFC 6750: the scheme is case-insensitive, one space, then the token.
  static constexpr std::string_view scheme = "bearer ";
  if (authorization.empty())
    return refuse(auth_refusal::missing);
  if (authorization.size() <= scheme.size())
    return refuse(auth_refusal::malformed);
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (static_cast<char>(authorization[i] | 0x20) != scheme[i])
      return refuse(auth_refusal::malformed);
  std::string token(authorization.substr(scheme.size()));
  crypto::verified_token v;
  try {
    v = crypto::verify_hs256(token, keys_);
  } catch (const std::exception&) {
    return refuse(auth_refusal::malformed);  // out of memory in libjwt: refuse, never admit
  }
  if (v.check == crypto::token_check::malformed)
    return refuse(auth_refusal::malformed);
  if (v.check == crypto::token_check::bad_signature)
    return refuse(auth_refusal::forged);
  const auto& c = v.claims;
  if (user_id_problem(c.subject) != nullptr || c.audience.empty() || c.expires_at == 0 ||
      c.issued_at == 0)
    return refuse(auth_refusal::malformed);
  if (c.audience != sale_)
    return refuse(auth_refusal::wrong_sale);
  if (c.expires_at + leeway_s <= now_s)
    return refuse(auth_refusal::expired);
  if (c.issued_at > now_s + leeway_s)
    return refuse(auth_refusal::not_yet_valid);
  return auth_result{std::nullopt, c.subject};
}

std::string issue_buyer_token(const crypto::secret_key& key, const std::string& sale,
                              const std::string& user, std::int64_t now_s, std::int64_t ttl_s) {
  if (const char* problem = user_id_problem(user))
    throw std::invalid_argument(problem);
  if (!valid_product_id(sale))  // sale names follow the sale file's rule
    throw std::invalid_argument("invalid sale name '" + sale + "'");
  if (ttl_s < 1)
    throw std::invalid_argument("a token's ttl must be at least 1 s");
  return crypto::sign_hs256(crypto::token_claims{user, sale, now_s + ttl_s, now_s}, key);
}

}  // namespace flashsale

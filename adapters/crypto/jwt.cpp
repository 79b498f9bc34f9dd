#include "adapters/crypto/jwt.hpp"

#include <cerrno>
#include <memory>
#include <optional>
#include <string_view>
#include <stdexcept>

#include <jwt.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

namespace flashsale::crypto {

namespace {

struct jwt_deleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

jwt_ptr decode(const std::string& token, const secret_key& key) {
  jwt_t* raw = nullptr;
  int rc = jwt_decode(&raw, token.c_str(), key.data(), static_cast<int>(key.size()));
  jwt_ptr j{raw};
  return rc == 0 ? std::move(j) : nullptr;
}

std::string string_grant(jwt_t* j, const char* name) {
  const char* v = jwt_get_grant(j, name);
  return v == nullptr ? std::string() : std::string(v);
}

std::int64_t int_grant(jwt_t* j, const char* name) {
  errno = 0;
  long v = jwt_get_grant_int(j, name);
  return errno == 0 ? static_cast<std::int64_t>(v) : 0;
}

/// `part` is base64url without padding and decodes to a JSON object.
std::optional<nlohmann::json> json_part(std::string_view part) {
  std::string bytes(part.size(), '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), part.data(),
                        part.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != part.data() + part.size())
    return std::nullopt;
  bytes.resize(len);
  auto doc = nlohmann::json::parse(bytes, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return std::nullopt;
  return doc;
}

/// Three base64url parts, a JSON header saying HS256, a JSON payload, a 32-byte signature.
bool well_formed_hs256(const std::string& token) {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string::npos || token.find('.', dot2 + 1) != std::string::npos)
    return false;
  std::string_view t(token);
  auto header = json_part(t.substr(0, dot1));
  auto payload = json_part(t.substr(dot1 + 1, dot2 - dot1 - 1));
  return header && payload && header->value("alg", nlohmann::json()) == "HS256" &&
         token.size() - dot2 - 1 == 43;  // 32 bytes in unpadded base64
}

}  // namespace

std::string sign_hs256(const token_claims& claims, const secret_key& key) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0)
    throw std::runtime_error("libjwt: cannot create a token");
  jwt_ptr j{raw};
  bool ok = jwt_add_grant(raw, "sub", claims.subject.c_str()) == 0 &&
            jwt_add_grant(raw, "aud", claims.audience.c_str()) == 0 &&
            jwt_add_grant_int(raw, "exp", static_cast<long>(claims.expires_at)) == 0 &&
            jwt_add_grant_int(raw, "iat", static_cast<long>(claims.issued_at)) == 0 &&
            jwt_set_alg(raw, JWT_ALG_HS256, key.data(), static_cast<int>(key.size())) == 0;
  char* text = ok ? jwt_encode_str(raw) : nullptr;
  if (text == nullptr)
    throw std::runtime_error("libjwt: cannot sign a token");
  std::string out(text);
  free(text);  // NOLINT: libjwt 1.10 allocates with malloc and has no jwt_free_str
  return out;
}

verified_token verify_hs256(const std::string& token, const std::vector<secret_key>& keys) {
  verified_token out;
  for (const auto& key : keys) {
    auto j = decode(token, key);
    if (!j)
      continue;
    if (jwt_get_alg(j.get()) != JWT_ALG_HS256)
      return out;  // malformed: another algorithm (libjwt would accept HS384/HS512 keyed alike)
    out.check = token_check::valid;
    out.claims.subject = string_grant(j.get(), "sub");
    out.claims.audience = string_grant(j.get(), "aud");
    out.claims.expires_at = int_grant(j.get(), "exp");
    out.claims.issued_at = int_grant(j.get(), "iat");
    return out;
  }
  // Refused by every key: well-formed (a forgery, or a key we do not hold) or garbage? libjwt
  // 1.10 decodes no signed token without its key, so the form is read here, for this answer only.
  if (well_formed_hs256(token))
    out.check = token_check::bad_signature;
  return out;
}

}  // namespace flashsale::crypto

// An Authorization header: the token check never crashes, and it accepts only what the key
// signed. Each input is checked as the whole header and as "Bearer " + input. An input
// "sign:USER[|SALE]" is also signed with the key first, so the fuzzer explores the claims behind a
// valid signature: such a token is accepted exactly when it is for this sale.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "adapters/crypto/jwt.hpp"
#include "admission/buyer_auth.hpp"
#include "common/sale_definition.hpp"

namespace {

const flashsale::crypto::secret_key key(32, 0x42);
constexpr std::int64_t now = 1'800'000'000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flashsale;
  static const buyer_authenticator auth{"fuzz", {key}};
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto check = [&](std::string_view header) {
    auto r = auth.verify(header, now);
    if (!r.refusal && user_id_problem(r.user) != nullptr)
      std::abort();  // an accepted token must name a valid user
    return r;
  };
  check(input);
  auto bearer = check("Bearer " + std::string(input));
  if (!bearer.refusal) {
    // Accepted: it must verify under the key and under no other.
    const crypto::secret_key other(32, 0x43);
    if (crypto::verify_hs256(std::string(input), {other}).check == crypto::token_check::valid)
      std::abort();
  }
  // Claims from the input, signed with the right key: accepted exactly when they are valid.
  if (input.size() > 5 && input.substr(0, 5) == "sign:") {
    auto rest = input.substr(5);
    auto cut = rest.find('|');
    std::string user(rest.substr(0, cut));
    std::string sale = cut == std::string_view::npos ? "fuzz" : std::string(rest.substr(cut + 1));
    if (user_id_problem(user) != nullptr || !valid_product_id(sale))
      return 0;  // issue_buyer_token refuses these; a sale file cannot name such a sale
    auto token = issue_buyer_token(key, sale, user, now, 60);
    auto r = check("Bearer " + token);
    if (r.refusal.has_value() != (sale != "fuzz") || (!r.refusal && r.user != user))
      std::abort();
  }
  return 0;
}

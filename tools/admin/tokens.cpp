#include "tools/admin/tokens.hpp"

#include <iostream>

#include "adapters/crypto/key_file.hpp"
#include "admission/buyer_auth.hpp"
#include "common/parse_integer.hpp"
#include "common/sale_definition.hpp"
#include "common/utc_time.hpp"

namespace flashsale::admin {

long long parse_duration_s(const std::string& name, const std::string& value) {
  constexpr long long max_s = 30LL * 24 * 3600;
  std::string digits = value;
  long long unit = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 24 * 3600;
        break;
      default:
        unit = 0;
    }
    if (unit != 0)
      digits.pop_back();
    else
      unit = 1;
  }
  auto n = parse_integer(digits);
  if (!n || *n < 1 || *n > max_s / unit)
    throw usage_error(name + " must be a duration from 1s to 30d like 90s, 10m, 2h, got '" + value +
                      "'");
  return *n * unit;
}

int run_token(const options& o) {
  const auto& words = o.command;
  if (words.size() != 2 || (words[1] != "keygen" && words[1] != "issue"))
    throw usage_error(
        "expected: token keygen --out FILE, or token issue --user U --sale FILE --key-file KEY");
  try {
    if (words[1] == "keygen") {
      if (o.out_file.empty())
        throw usage_error("token keygen needs --out FILE");
      auto key = crypto::write_new_key_file(o.out_file);
      std::cout << "wrote a new buyer-token key to " << o.out_file << " (fingerprint "
                << crypto::key_fingerprint(key) << ")\n";
      return exit_ok;
    }
    if (o.user.empty() || !o.sale_file || o.key_file.empty())
      throw usage_error("token issue needs --user U, --sale FILE and --key-file KEY");
    if (const char* problem = user_id_problem(o.user))
      throw usage_error(std::string("--user: ") + problem);
    auto sale = load_sale_file(*o.sale_file, o.db.dbname);
    auto key = crypto::read_key_file(o.key_file);
    auto now_s = utc_now_ms() / 1000;
    if (o.count == 0) {
      std::cout << issue_buyer_token(key, sale.name, o.user, now_s, o.ttl_s) << '\n';
      return exit_ok;
    }
    // --count N: users U0 .. U<N-1>, one "user token" line each (for load tools).
    std::string out;
    for (int i = 0; i < o.count; ++i) {
      auto user = o.user + std::to_string(i);
      out += user + ' ' + issue_buyer_token(key, sale.name, user, now_s, o.ttl_s) + '\n';
      if (out.size() > (1u << 20)) {
        std::cout << out;
        out.clear();
      }
    }
    std::cout << out;
    return exit_ok;
  } catch (const crypto::key_file_error& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    return exit_usage;
  } catch (const sale_file_error& e) {
    std::cerr << "flashsale-admin: " << e.what() << '\n';
    return exit_usage;
  }
}

}  // namespace flashsale::admin

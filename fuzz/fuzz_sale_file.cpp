// A sale file: the parser refuses what is wrong with a sale_file_error (never another exception,
// never a crash), and what it accepts is a sale the nodes can run.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

#include "common/sale_definition.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flashsale;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  sale_definition sale;
  try {
    sale = parse_sale(in, "fuzz.ini", "flashsale");
  } catch (const sale_file_error&) {
    return 0;
  }
  if (sale.name.empty() || sale.products.empty())
    std::abort();
  std::set<std::string> ids;
  for (const auto& p : sale.products) {
    if (!valid_product_id(p.id) || !ids.insert(p.id).second || p.stock < 0 || p.slots < 1 ||
        p.per_user_limit < 1)
      std::abort();
  }
  if (sale.opens_at_ms != 0 && sale.closes_at_ms != 0 && sale.closes_at_ms <= sale.opens_at_ms)
    std::abort();
  return 0;
}

#include "common/parse_integer.hpp"

#include <exception>

namespace flashsale {

std::optional<long long> parse_integer(const std::string& text) {
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used == 0 || used != text.size())
    return std::nullopt;
  return n;
}

}  // namespace flashsale

#pragma once

#include <optional>
#include <string>

namespace flashsale {

/// Parses `text` as a whole decimal integer (optional sign, no spaces, nothing after it).
/// Returns nullopt for anything else, including values outside long long.
std::optional<long long> parse_integer(const std::string& text);

}  // namespace flashsale

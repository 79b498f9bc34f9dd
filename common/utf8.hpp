#pragma once

// UTF-8 validation for text that leaves the process: user ids in tokens and JSON, and every field
// a writer stores (PostgreSQL text).

#include <string_view>

namespace flashsale {

/// True if `s` is valid UTF-8 without NUL bytes: no overlong forms, no surrogates, nothing beyond
/// U+10FFFF (what PostgreSQL text and a JSON string accept).
bool valid_utf8(std::string_view s);

}  // namespace flashsale

#pragma once

// RFC 3339 timestamps in UTC ("2026-11-27T20:00:00Z"), the only form the sale file and the HTTP
// API use for the sale window. Pure, thread-safe.

#include <cstdint>
#include <optional>
#include <string>

namespace flashsale {

/// Parses exactly "YYYY-MM-DDTHH:MM:SSZ" (UTC, seconds precision; 'T' and 'Z' may be lower case)
/// into milliseconds since the Unix epoch. Rejects anything else, including impossible dates
/// (2026-02-30) and years before 1970 or after 9999.
std::optional<std::int64_t> parse_utc_time(const std::string& text);

/// Formats milliseconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ" (milliseconds dropped).
std::string format_utc_time(std::int64_t ms);

/// The wall clock now, in milliseconds since the Unix epoch.
std::int64_t utc_now_ms();

/// `n` in base 36 (digits, then lower-case letters): the compact numbers in tickets and request
/// ids.
std::string base36(std::uint64_t n);

}  // namespace flashsale

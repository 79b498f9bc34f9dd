#pragma once

// The process's open-file limit (RLIMIT_NOFILE): a node that holds thousands of connections
// raises it to what it needs at start, or refuses to start with a message saying what to change.

#include <cstdint>
#include <string>

namespace flashsale {

/// Makes sure this process may hold at least `needed` open files: raises the soft limit (and the
/// hard one, where the process may, e.g. as root) when it is lower, never lowers either. Returns
/// "" on success, else what stands in the way: the limits, what was needed and how to raise them
/// (`who` names the setting that asked for it, e.g. "http.max-connections = 50000"). Thread-safe;
/// call it before opening the files it is for.
std::string ensure_open_files(std::uint64_t needed, const std::string& who);

/// The soft limit now (0 if it cannot be read).
std::uint64_t open_files_limit();

}  // namespace flashsale

#pragma once

// Secret key files: the buyer-token signing keys the shop's login service and the gateways share.
// A key file holds 64 to 128 hex digits (32 to 64 random bytes) and a newline, and is readable by
// its owner only (mode 0600 or stricter): a key others may read is refused, not used.

#include <stdexcept>
#include <string>
#include <vector>

namespace flashsale::crypto {

/// The raw bytes of a secret key.
using secret_key = std::vector<unsigned char>;

/// A key file that cannot be used; what() names the file and the reason.
struct key_file_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Reads the key in `path`. Throws key_file_error if the file is missing, unreadable, readable or
/// writable by group or others, or does not hold 64-128 hex digits (an optional trailing newline
/// aside). Blocks on the file system only.
secret_key read_key_file(const std::string& path);

/// Creates `path` (mode 0600, never overwriting: an existing file is a key_file_error) holding a
/// new random 32-byte key from the operating system's random source, and returns the key. The
/// directory must exist.
secret_key write_new_key_file(const std::string& path);

/// A short public name of a key (16 hex digits of its BLAKE2b hash): lets logs and operators
/// tell keys apart without showing them.
std::string key_fingerprint(const secret_key& key);

}  // namespace flashsale::crypto

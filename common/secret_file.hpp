#pragma once

// Secret files: where every credential of the platform lives (a service account's password, a
// signing key). A secret file is a regular file readable and writable by its owner only (mode 0600
// or stricter) and holds one line; INI files name secret files and never hold a secret themselves.

#include <stdexcept>
#include <string>

namespace flashsale {

/// A secret file that cannot be used; what() names the file and the reason, never the secret.
struct secret_file_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The one line of the secret file at `path`, without its trailing newline. Throws
/// secret_file_error if the file is missing, not a regular file, unreadable, readable or writable
/// by group or others, empty, longer than 1,024 bytes, or holds a control character (a second
/// line included). `what` names the secret in the message ("password file", "key file").
/// Blocks on the file system only; thread-safe.
std::string read_secret_file(const std::string& path, const std::string& what = "secret file");

/// The secret in the file the environment variable `variable` names (read_secret_file, the
/// variable's name in messages); "" when the variable is unset or empty. Throws
/// secret_file_error.
std::string read_secret_file_from_env(const char* variable);

}  // namespace flashsale

#pragma once

// flashsale-admin token keygen|issue: the buyer-token keys and tokens of tests and rehearsals (in a
// real sale the shop's login service issues the tokens, with the same key).

#include "tools/admin/admin_options.hpp"

namespace flashsale::admin {

/// `token keygen --out FILE`: writes a new random key (mode 0600; an existing file is left alone
/// and is an error) and prints its fingerprint. `token issue --user U --sale FILE --key-file KEY
/// [--ttl 10m] [--count N]`: prints one token for U in the sale FILE names; with --count, one line
/// "U<i> <token>" for each of the users U0 .. U<N-1>. Throws usage_error; returns
/// exit_usage for a key file that cannot be used (the message on stderr).
int run_token(const options& o);

/// A duration like "90", "90s", "10m", "2h" or "1d", in seconds, from 1 s to 30 days; throws
/// usage_error naming `name` otherwise.
long long parse_duration_s(const std::string& name, const std::string& value);

}  // namespace flashsale::admin

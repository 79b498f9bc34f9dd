#pragma once

// Who may read and change the flash-sale tree in ZooKeeper (digest ACLs). Three identities:
//   admin    flashsale-admin and the tests: the server's superuser (superDigest), so no ACL names
//            it and it may do anything, a sale's tree in a wrong state included
//   gateway  every gateway: registers itself (nodes/gateways), and its quota keeper writes the
//            keepers' znodes of a sale (grants with the fence, consumed, leader); it reads the
//            rest (stock, settings, the writers' registrations) and may change none of it
//   writer   every writer: registers itself (nodes/writers), reads the gateways' registrations
//            and their consumption reports, and writes the sale's settled records (a gone
//            gateway fenced in the databases); nothing else of a sale
// No identity but admin may change an ACL, and an anonymous client (or any other identity) may do
// nothing, not even read the lottery's draw secret. The gateways share one identity, so ZooKeeper
// alone does not keep one gateway from writing another's report.

#include <optional>
#include <string>

#include "adapters/zookeeper/session.hpp"

namespace flashsale::quota {

/// The digest ids (zk::digest_id) of the gateway and writer identities: every client puts them
/// in the ACL of the znodes it creates.
struct tree_identities {
  std::string gateway;  ///< "gateway:<base64 SHA-1>"
  std::string writer;   ///< "writer:<base64 SHA-1>"
};

/// The user names of the three identities.
constexpr const char admin_user[] = "admin";
constexpr const char gateway_user[] = "gateway";
constexpr const char writer_user[] = "writer";

/// Parses "gateway:<digest>,writer:<digest>" (either order; each digest 28 base64 characters).
/// nullopt for anything else.
std::optional<tree_identities> parse_identities(const std::string& line);

/// Reads the identities file (a secret file of one line as above, made by scripts/services).
/// Throws std::runtime_error naming the file and what is wrong.
tree_identities read_identities_file(const std::string& path);

/// The ACL policy for znodes under `root` (created by any of the identities), by zone:
///   <root>/nodes/writers and below           writer read/write/create/delete, gateway read
///   <root>/nodes/gateways and below          gateway read/write/create/delete, writer read
///   <root>/sales/<s>/{grants,leader} and below   gateway read/write/create/delete
///   <root>/sales/<s>/consumed and below          gateway read/write/create/delete, writer read
///   <root>/sales/<s>/settled and below           writer read/write/create/delete, gateway read
///   everything else (the root, the sale, its products and settings)   gateway read
zk::acl_policy tree_acl(std::string root, tree_identities ids);

/// A login as `user` with `password` and the tree's ACL policy. Throws std::runtime_error when
/// `user` is gateway or writer and the password is not the one its digest in `ids` was made from
/// (the node would create znodes it may not use itself).
zk::credentials tree_login(const std::string& user, const std::string& password,
                           const std::string& root, const tree_identities& ids);

}  // namespace flashsale::quota

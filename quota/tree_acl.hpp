#pragma once

// Who may read and change the flash-sale tree in ZooKeeper (digest ACLs). Three identities:
//   admin    flashsale-admin and the tests: the server's superuser (superDigest), so no ACL names
//            it and it may do anything, a sale's tree in a wrong state included
//   gateway  every gateway: registers itself, writes its reports and, as the quota leader, the
//            grants; reads everything
//   writer   every writer: registers itself under nodes/writers; reads the rest
// An anonymous client (or any other identity) may do nothing, not even read the lottery's draw
// secret. The gateways share one identity, so ZooKeeper alone does not keep one gateway from
// writing another's report: a report names its node and the leader checks what it reads.

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

/// The ACL policy for znodes under `root` (created by any of the identities): the writers'
/// registrations (`<root>/nodes/writers` and below) belong to the writers and are read by the
/// gateways; everything else belongs to the gateways and is read by the writers.
zk::acl_policy tree_acl(std::string root, tree_identities ids);

/// A login as `user` with `password` and the tree's ACL policy.
zk::credentials tree_login(const std::string& user, const std::string& password,
                           const std::string& root, const tree_identities& ids);

}  // namespace flashsale::quota

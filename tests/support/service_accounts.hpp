#pragma once

// The service accounts of the private services (scripts/services): where their password files
// are and the options that give a node its own credentials, as the shipped INI files do. Test
// support only.

#include <string>
#include <vector>

#include "adapters/zookeeper/session.hpp"

namespace flashsale::testing {

/// $FLASHSALE_SECRETS_DIR/<account>.password, e.g. account "pg-writer" (the accounts are listed
/// at the top of scripts/services). Throws std::runtime_error when FLASHSALE_SECRETS_DIR is unset.
std::string password_file(const std::string& account);
/// The password in that file.
std::string password_of(const std::string& account);

/// $FLASHSALE_SECRETS_DIR/zk-identities: the digests every created znode's ACL names.
std::string zookeeper_identities_file();

/// The ZooKeeper login of `user` (quota/tree_acl.hpp: admin, gateway or writer) with the
/// password of `account` (zk-admin, zk-gateway, zk-writer) and the tree's ACL under `root`.
zk::credentials zookeeper_login(const std::string& user, const std::string& account,
                                const std::string& root);
/// The superuser's: what tests use to set up and inspect a tree.
zk::credentials admin_zookeeper_login(const std::string& root);

/// Options giving a gateway its own credentials: the database role flashsale_gateway, the
/// RabbitMQ user flashsale-gateway and the ZooKeeper identity gateway.
std::vector<std::string> gateway_credential_args();
/// The same for a writer: flashsale_writer, flashsale-writer and writer.
std::vector<std::string> writer_credential_args();

}  // namespace flashsale::testing

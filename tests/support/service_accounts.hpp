#pragma once

// The service accounts of the private services (scripts/services): where their password files
// are and the options that give a node its own credentials, as the shipped INI files do. Test
// support only.

#include <string>
#include <vector>

namespace flashsale::testing {

/// $FLASHSALE_SECRETS_DIR/<account>.password, e.g. account "pg-writer" (the accounts are listed
/// at the top of scripts/services). Throws std::runtime_error when FLASHSALE_SECRETS_DIR is unset.
std::string password_file(const std::string& account);
/// The password in that file.
std::string password_of(const std::string& account);

/// Options giving a gateway its own credentials: the database role flashsale_gateway, the
/// RabbitMQ user flashsale-gateway (and the ZooKeeper identity gateway).
std::vector<std::string> gateway_credential_args();
/// The same for a writer: flashsale_writer, flashsale-writer (and writer).
std::vector<std::string> writer_credential_args();

}  // namespace flashsale::testing

#include "quota/tree_acl.hpp"

#include <cctype>
#include <stdexcept>

#include "common/secret_file.hpp"
#include "quota/znodes.hpp"

namespace flashsale::quota {

namespace {

/// "user:" followed by 28 base64 characters ending in '=' (a SHA-1 is 20 bytes).
bool valid_digest_id(const std::string& id, const std::string& user) {
  if (id.size() != user.size() + 1 + 28 || id.compare(0, user.size() + 1, user + ":") != 0)
    return false;
  for (std::size_t i = user.size() + 1; i < id.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(id[i]);
    if (!(std::isalnum(c) || c == '+' || c == '/' || (c == '=' && i == id.size() - 1)))
      return false;
  }
  return id.back() == '=';
}

}  // namespace

std::optional<tree_identities> parse_identities(const std::string& line) {
  auto comma = line.find(',');
  if (comma == std::string::npos || line.find(',', comma + 1) != std::string::npos)
    return std::nullopt;
  tree_identities ids;
  for (const auto& id : {line.substr(0, comma), line.substr(comma + 1)}) {
    if (valid_digest_id(id, gateway_user) && ids.gateway.empty())
      ids.gateway = id;
    else if (valid_digest_id(id, writer_user) && ids.writer.empty())
      ids.writer = id;
    else
      return std::nullopt;
  }
  return ids;
}

tree_identities read_identities_file(const std::string& path) {
  auto line = read_secret_file(path, "identities file");
  auto ids = parse_identities(line);
  if (!ids)
    throw std::runtime_error("identities file " + path +
                             ": must hold \"gateway:<digest>,writer:<digest>\" (scripts/services "
                             "makes it; a digest is base64(SHA-1(\"user:password\")))");
  return *ids;
}

zk::acl_policy tree_acl(std::string root, tree_identities ids) {
  auto writers = layout{std::move(root), ""}.writers();
  return [writers, ids](const std::string& path) {
    bool writers_own = path == writers || path.compare(0, writers.size() + 1, writers + "/") == 0;
    if (writers_own)
      return std::vector<zk::acl_entry>{{ids.writer, zk::perm::all}, {ids.gateway, zk::perm::read}};
    return std::vector<zk::acl_entry>{{ids.gateway, zk::perm::all}, {ids.writer, zk::perm::read}};
  };
}

zk::credentials tree_login(const std::string& user, const std::string& password,
                           const std::string& root, const tree_identities& ids) {
  zk::credentials c;
  c.user = user;
  c.password = password;
  c.acl = tree_acl(root, ids);
  return c;
}

}  // namespace flashsale::quota

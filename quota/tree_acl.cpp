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
  layout paths{std::move(root), ""};
  auto at_or_below = [](const std::string& path, const std::string& top) {
    return path.compare(0, top.size(), top) == 0 &&
           (path.size() == top.size() || path[top.size()] == '/');
  };
  // <root>/sales/<s>/<part>...: the first component after the sale's name.
  auto sale_part = [sales = paths.root() + "/sales/"](const std::string& path) -> std::string {
    if (path.compare(0, sales.size(), sales) != 0)
      return {};
    auto after_sale = path.find('/', sales.size());
    if (after_sale == std::string::npos)
      return {};
    auto end = path.find('/', after_sale + 1);
    return path.substr(after_sale + 1, end == std::string::npos ? end : end - after_sale - 1);
  };
  constexpr int use = zk::perm::read | zk::perm::write | zk::perm::create | zk::perm::remove;
  return [=, writers = paths.writers(), members = paths.members()](const std::string& path) {
    if (at_or_below(path, writers))
      return std::vector<zk::acl_entry>{{ids.writer, use}, {ids.gateway, zk::perm::read}};
    if (at_or_below(path, members))
      return std::vector<zk::acl_entry>{{ids.gateway, use}, {ids.writer, zk::perm::read}};
    auto part = sale_part(path);
    if (part == "grants" || part == "leader")
      return std::vector<zk::acl_entry>{{ids.gateway, use}};
    if (part == "consumed")  // the writers read a gone gateway's claim epoch there
      return std::vector<zk::acl_entry>{{ids.gateway, use}, {ids.writer, zk::perm::read}};
    if (part == "settled")
      return std::vector<zk::acl_entry>{{ids.writer, use}, {ids.gateway, zk::perm::read}};
    return std::vector<zk::acl_entry>{{ids.gateway, zk::perm::read}};
  };
}

zk::credentials tree_login(const std::string& user, const std::string& password,
                           const std::string& root, const tree_identities& ids) {
  const std::string* expected = user == gateway_user  ? &ids.gateway
                                : user == writer_user ? &ids.writer
                                                      : nullptr;
  if (expected != nullptr && zk::digest_id(user, password) != *expected)
    throw std::runtime_error("the password of the ZooKeeper identity '" + user +
                             "' is not the one its digest in the identities file was made from");
  zk::credentials c;
  c.user = user;
  c.password = password;
  c.acl = tree_acl(root, ids);
  return c;
}

}  // namespace flashsale::quota

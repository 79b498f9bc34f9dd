#include "quota/sale_tree.hpp"

#include <stdexcept>

#include "adapters/crypto/keyed_hash.hpp"
#include "adapters/zookeeper/blocking_session.hpp"

namespace flashsale::quota {

void ensure_draw_secret(zk::blocking_session& zk, const std::string& path, bool replace) {
  for (int attempt = 1;; ++attempt) {
    auto current = zk.get(path);
    if (!current.ok() && current.rc != zk::code::no_node)
      throw std::runtime_error("zookeeper: cannot read " + path + ": " + zk::to_string(current.rc));
    sale_settings settings;
    if (current.ok()) {
      auto decoded = decode_settings(current.data);
      if (!decoded)  // (the data may hold the secret: not in the message)
        throw std::runtime_error("zookeeper: " + path +
                                 " holds invalid settings; fix or delete it with zkCli.sh");
      if (decoded->draw_secret && !replace)
        return;  // a live sale keeps its secret: its buyers' draws stay what they were
      settings = *decoded;
    }
    settings.draw_secret = crypto::to_hex(crypto::random_key());
    auto data = encode(settings);
    auto written = current.ok() ? zk.set(path, data, current.stat.version) : zk.create(path, data);
    if (written.ok())
      return;
    bool raced = written.rc == zk::code::bad_version || written.rc == zk::code::node_exists;
    if (!raced || attempt == 10)
      throw std::runtime_error("zookeeper: cannot write " + path + ": " +
                               zk::to_string(written.rc));
  }
}

namespace {

/// Gives `path` and everything below it the ACL of the session's policy.
void reset_acls(zk::blocking_session& zk, const std::string& path) {
  auto reset = zk.reset_acl(path);
  if (!reset.ok() && reset.rc != zk::code::no_node)
    throw std::runtime_error("zookeeper: cannot set the ACL of " + path + ": " +
                             zk::to_string(reset.rc));
  auto children = zk.get_children(path);
  for (const auto& child : children.children)
    reset_acls(zk, path + "/" + child);
}

}  // namespace

std::vector<product_init> init_sale_tree(zk::blocking_session& zk, const layout& paths,
                                         const sale_definition& sale) {
  const auto& policy = zk.async().settings().login.acl;
  // Settings that others could change (made before zk init by a client without credentials, or
  // by a version without ACLs) may hold a draw secret others know: it is replaced.
  bool foreign_settings = false;
  if (policy) {
    auto acl = zk.get_acl(paths.settings());
    foreign_settings = acl.ok() && acl.acl != policy(paths.settings());
  }
  auto require = [](zk::code rc, const std::string& path) {
    if (rc != zk::code::ok)
      throw std::runtime_error("zookeeper: cannot create " + path + ": " + zk::to_string(rc));
  };
  for (const auto& dir : {paths.members(), paths.writers(), paths.products(), paths.grants(),
                          paths.consumed(), paths.settled(), paths.leader()})
    require(zk.create_all(dir), dir);
  ensure_draw_secret(zk, paths.settings(), foreign_settings);
  std::vector<product_init> out;
  for (const auto& p : sale.products) {
    auto path = paths.product(p.id);
    auto created = zk.create(path, encode(product_znode{p.stock}));
    if (created.ok()) {
      out.push_back(product_init{p.id, true, p.stock});
      continue;
    }
    if (created.rc != zk::code::node_exists)
      require(created.rc, path);
    auto existing = zk.get(path);
    require(existing.rc, path);
    auto stock = decode_product(existing.data);
    if (!stock)
      throw std::runtime_error("zookeeper: " + path + " holds no stock: '" + existing.data + "'");
    out.push_back(product_init{p.id, false, stock->stock});
  }
  // Every znode of the tree gets the policy's ACL, also one that existed before (made ahead of
  // zk init by an anonymous client, or by a version without ACLs: open to everyone until now).
  if (policy)
    reset_acls(zk, paths.root());
  return out;
}

}  // namespace flashsale::quota

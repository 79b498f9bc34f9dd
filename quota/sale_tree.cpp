#include "quota/sale_tree.hpp"

#include <stdexcept>

#include "adapters/crypto/keyed_hash.hpp"
#include "adapters/zookeeper/blocking_session.hpp"

namespace flashsale::quota {

void ensure_draw_secret(zk::blocking_session& zk, const std::string& path) {
  for (int attempt = 1;; ++attempt) {
    auto current = zk.get(path);
    if (!current.ok() && current.rc != zk::code::no_node)
      throw std::runtime_error("zookeeper: cannot read " + path + ": " + zk::to_string(current.rc));
    sale_settings settings;
    if (current.ok()) {
      auto decoded = decode_settings(current.data);
      if (!decoded)
        throw std::runtime_error("zookeeper: " + path + " holds invalid settings ('" +
                                 current.data + "'); fix or delete it with zkCli.sh");
      if (decoded->draw_secret)
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

std::vector<product_init> init_sale_tree(zk::blocking_session& zk, const layout& paths,
                                         const sale_definition& sale) {
  auto require = [](zk::code rc, const std::string& path) {
    if (rc != zk::code::ok)
      throw std::runtime_error("zookeeper: cannot create " + path + ": " + zk::to_string(rc));
  };
  for (const auto& dir : {paths.members(), paths.writers(), paths.products(), paths.grants(),
                          paths.consumed(), paths.leader()})
    require(zk.create_all(dir), dir);
  ensure_draw_secret(zk, paths.settings());
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
  return out;
}

}  // namespace flashsale::quota

#include "quota/sale_tree.hpp"

#include <stdexcept>

#include "adapters/zookeeper/blocking_session.hpp"

namespace flashsale::quota {

std::vector<product_init> init_sale_tree(zk::blocking_session& zk, const layout& paths,
                                         const sale_definition& sale) {
  auto require = [](zk::code rc, const std::string& path) {
    if (rc != zk::code::ok)
      throw std::runtime_error("zookeeper: cannot create " + path + ": " + zk::to_string(rc));
  };
  for (const auto& dir :
       {paths.members(), paths.products(), paths.grants(), paths.consumed(), paths.leader()})
    require(zk.create_all(dir), dir);
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

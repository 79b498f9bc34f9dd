#pragma once

// Creating a sale's tree in ZooKeeper (flashsale-admin zk init, the tests): blocking calls on a
// zk::blocking_session. The layout it creates: znodes.hpp.

#include <cstdint>
#include <string>
#include <vector>

#include "common/sale_definition.hpp"
#include "quota/znodes.hpp"

namespace flashsale::zk {
class blocking_session;
}

namespace flashsale::quota {

/// What init_sale_tree did for one product.
struct product_init {
  std::string product;
  bool created = false;    ///< false: the znode existed and was left as it was
  std::int64_t stock = 0;  ///< the stock the znode holds now
};

/// Gives the settings znode at `path` a random draw secret (the fair lottery's key) unless it has
/// one; creates the znode if absent and keeps its other keys. A secret once written is never
/// replaced (a buyer's draw must not change mid-sale) unless `replace` (a secret others may
/// know). Throws std::runtime_error naming the path (never the data: it may hold the secret).
void ensure_draw_secret(zk::blocking_session& zk, const std::string& path, bool replace = false);

/// Creates the sale's tree (idempotent): the root, nodes/gateways and nodes/writers, the settings'
/// draw secret (see ensure_draw_secret), the sale's products (with the sale file's stock, only
/// where absent), grants, consumed and leader. Existing product znodes are never overwritten (a
/// running sale keeps its live stock). With an ACL policy on the session (quota/tree_acl.hpp),
/// every znode under the root then gets the policy's ACL, and settings whose ACL was another
/// get a new draw secret (others may have read or planted the old one). Throws
/// std::runtime_error naming the path on any failure.
std::vector<product_init> init_sale_tree(zk::blocking_session& zk, const layout& paths,
                                         const sale_definition& sale);

}  // namespace flashsale::quota

// The sale tree's ACL policy (quota/tree_acl.hpp): which identity owns which znode, the digests
// ZooKeeper expects, and the identities file's one line.

#include <gtest/gtest.h>

#include "adapters/zookeeper/session.hpp"
#include "quota/tree_acl.hpp"

namespace {

using namespace flashsale;

const quota::tree_identities ids{zk::digest_id("gateway", "g"), zk::digest_id("writer", "w")};

TEST(tree_acl, a_digest_is_the_base64_sha1_of_user_and_password) {
  // As ZooKeeper's DigestAuthenticationProvider.generateDigest("admin:abc123") computes it.
  EXPECT_EQ(zk::digest_id("admin", "abc123"), "admin:4ocag1/5Gru96sZ6yA1v5RZtDLI=");
}

/// The ACL as "<user>=<perms>" words, e.g. "writer=15 gateway=1".
std::string describe(const std::vector<zk::acl_entry>& acl) {
  std::string out;
  for (const auto& e : acl) {
    EXPECT_EQ(e.scheme, "digest");
    out += (out.empty() ? "" : " ") + e.digest_id.substr(0, e.digest_id.find(':')) + "=" +
           std::to_string(e.perms);
  }
  return out;
}

TEST(tree_acl, each_identity_may_change_only_its_own_zone_and_nobody_the_acls) {
  auto acl = quota::tree_acl("/fs", ids);
  // 15: read, write, create, delete; never the admin permission (which changes ACLs).
  for (const char* path : {"/fs/nodes/writers", "/fs/nodes/writers/w1"})
    EXPECT_EQ(describe(acl(path)), "writer=15 gateway=1") << path;
  for (const char* path : {"/fs/nodes/gateways", "/fs/nodes/gateways/gw1"})
    EXPECT_EQ(describe(acl(path)), "gateway=15 writer=1") << path;
  for (const char* path : {"/fs/sales/s/grants", "/fs/sales/s/grants/gw1/TV", "/fs/sales/s/leader",
                           "/fs/sales/s/leader/n_0000000001"})
    EXPECT_EQ(describe(acl(path)), "gateway=15") << path;
  // The writers read the gateways' reports (their claim epochs) and record what they fenced.
  for (const char* path : {"/fs/sales/s/consumed", "/fs/sales/s/consumed/gw1/TV"})
    EXPECT_EQ(describe(acl(path)), "gateway=15 writer=1") << path;
  for (const char* path : {"/fs/sales/s/settled", "/fs/sales/s/settled/gw1"})
    EXPECT_EQ(describe(acl(path)), "writer=15 gateway=1") << path;
  // The operator's: stock, settings (the draw secret), the tree's frame.
  for (const char* path : {"/fs", "/fs/nodes", "/fs/sales", "/fs/sales/s", "/fs/sales/s/products",
                           "/fs/sales/s/products/TV", "/fs/sales/s/settings", "/fs/nodes/writersX",
                           "/fs/sales/grants", "/fs/sales/s/grantsX"})
    EXPECT_EQ(describe(acl(path)), "gateway=1") << path;
}

TEST(tree_acl, a_login_whose_password_does_not_match_its_digest_is_refused) {
  EXPECT_NO_THROW(quota::tree_login("gateway", "g", "/fs", ids));
  EXPECT_NO_THROW(quota::tree_login("writer", "w", "/fs", ids));
  EXPECT_THROW(quota::tree_login("gateway", "w", "/fs", ids), std::runtime_error);
  EXPECT_THROW(quota::tree_login("writer", "g", "/fs", ids), std::runtime_error);
  EXPECT_NO_THROW(quota::tree_login("admin", "any", "/fs", ids)) << "the superuser: not listed";
}

TEST(tree_acl, the_identities_line_names_both_digests) {
  auto line = ids.gateway + "," + ids.writer;
  auto parsed = quota::parse_identities(line);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->gateway, ids.gateway);
  EXPECT_EQ(parsed->writer, ids.writer);
  EXPECT_TRUE(quota::parse_identities(ids.writer + "," + ids.gateway)) << "either order";
  for (const auto& bad : {std::string(), ids.gateway, ids.gateway + "," + ids.gateway,
                          ids.gateway + "," + ids.writer + "," + ids.writer,
                          ids.gateway + ",writer:short=", ids.gateway + ", " + ids.writer,
                          ids.gateway + "," + zk::digest_id("admin", "a")})
    EXPECT_FALSE(quota::parse_identities(bad)) << bad;
}

}  // namespace

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

TEST(tree_acl, writers_own_their_registrations_and_gateways_the_rest) {
  auto acl = quota::tree_acl("/fs", ids);
  for (const char* path : {"/fs/nodes/writers", "/fs/nodes/writers/w1"}) {
    auto entries = acl(path);
    ASSERT_EQ(entries.size(), 2u) << path;
    EXPECT_EQ(entries[0].digest_id, ids.writer);
    EXPECT_EQ(entries[0].perms, zk::perm::all);
    EXPECT_EQ(entries[1].digest_id, ids.gateway);
    EXPECT_EQ(entries[1].perms, zk::perm::read);
  }
  for (const char* path : {"/fs", "/fs/nodes", "/fs/nodes/gateways/gw1", "/fs/nodes/writersX",
                           "/fs/sales/s/grants/gw1/TV", "/fs/sales/s/settings"}) {
    auto entries = acl(path);
    ASSERT_EQ(entries.size(), 2u) << path;
    EXPECT_EQ(entries[0].digest_id, ids.gateway) << path;
    EXPECT_EQ(entries[0].perms, zk::perm::all);
    EXPECT_EQ(entries[1].digest_id, ids.writer);
    EXPECT_EQ(entries[1].perms, zk::perm::read);
  }
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

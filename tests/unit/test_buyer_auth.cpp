// Buyer tokens as the gateway checks them: who may buy, and why anyone else gets 401. Real HS256
// tokens through libjwt; no network.

#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <jwt.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/crypto/jwt.hpp"
#include "adapters/crypto/key_file.hpp"
#include "admission/buyer_auth.hpp"

namespace {

using namespace flashsale;

constexpr std::int64_t now = 1'800'000'000;  // a fixed "now" (2027-01-15)

crypto::secret_key key_of(unsigned char fill) {
  return crypto::secret_key(32, fill);
}

std::string bearer(const std::string& token) {
  return "Bearer " + token;
}

/// A token signed by hand through libjwt: for the forms issue_buyer_token never makes.
std::string raw_token(jwt_alg_t alg, const crypto::secret_key& key, const char* grants_json) {
  jwt_t* j = nullptr;
  jwt_new(&j);
  jwt_add_grants_json(j, grants_json);
  if (alg != JWT_ALG_NONE)
    jwt_set_alg(j, alg, key.data(), static_cast<int>(key.size()));
  char* text = jwt_encode_str(j);
  std::string out(text);
  free(text);  // NOLINT
  jwt_free(j);
  return out;
}

class buyer_auth_test : public ::testing::Test {
 protected:
  crypto::secret_key current = key_of(1);
  crypto::secret_key previous = key_of(2);
  buyer_authenticator auth{"demo", {current}};

  std::string token(const std::string& user, std::int64_t issued = now, std::int64_t ttl = 600,
                    const std::string& sale = "demo") const {
    return issue_buyer_token(current, sale, user, issued, ttl);
  }
  std::optional<auth_refusal> refusal(const std::string& header) const {
    return auth.verify(header, now).refusal;
  }
};

TEST_F(buyer_auth_test, a_minted_token_names_its_user) {
  auto r = auth.verify(bearer(token("alice")), now);
  EXPECT_FALSE(r.refusal.has_value());
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(auth.verify("bearer " + token("bob"), now).user, "bob") << "the scheme ignores case";
}

TEST_F(buyer_auth_test, a_missing_header_is_refused_as_missing) {
  EXPECT_EQ(refusal(""), auth_refusal::missing);
  EXPECT_EQ(auth.refused(auth_refusal::missing), 1u);
}

TEST_F(buyer_auth_test, what_is_not_a_bearer_jwt_is_malformed) {
  for (const std::string& h :
       {std::string("Bearer"), std::string("Bearer "), std::string("Basic YWxpY2U6cHc="),
        std::string("Bearer not-a-token"), std::string("Bearer a.b.c"), token("alice"),
        bearer(token("alice") + "x.y"), bearer(std::string(5000, 'A'))})
    EXPECT_EQ(refusal(h), auth_refusal::malformed) << h;
  EXPECT_EQ(auth.refused(auth_refusal::malformed), 8u);
}

TEST_F(buyer_auth_test, a_token_signed_by_another_key_is_forged) {
  auto other = issue_buyer_token(key_of(9), "demo", "alice", now, 600);
  EXPECT_EQ(refusal(bearer(other)), auth_refusal::forged);
  // The payload changed after signing: a buyer who edits "sub" to buy as someone else.
  auto t = token("alice");
  auto dot1 = t.find('.');
  auto dot2 = t.find('.', dot1 + 1);
  auto forged_payload = issue_buyer_token(current, "demo", "mallory", now, 600);
  auto m1 = forged_payload.find('.');
  auto m2 = forged_payload.find('.', m1 + 1);
  auto spliced = t.substr(0, dot1) + forged_payload.substr(m1, m2 - m1) + t.substr(dot2);
  EXPECT_EQ(refusal(bearer(spliced)), auth_refusal::forged);
  EXPECT_EQ(auth.refused(auth_refusal::forged), 2u);
}

TEST_F(buyer_auth_test, unsigned_and_other_algorithm_tokens_are_refused) {
  const char* claims = R"({"sub":"alice","aud":"demo","exp":1800000600,"iat":1800000000})";
  EXPECT_EQ(refusal(bearer(raw_token(JWT_ALG_NONE, current, claims))), auth_refusal::malformed)
      << "alg none must never pass";
  EXPECT_EQ(refusal(bearer(raw_token(JWT_ALG_HS512, current, claims))), auth_refusal::malformed)
      << "only HS256 is accepted";
  EXPECT_FALSE(auth.verify(bearer(raw_token(JWT_ALG_HS256, current, claims)), now).refusal)
      << "the same claims as HS256 pass (the test's claims are right)";
}

TEST_F(buyer_auth_test, a_token_without_each_claim_is_malformed) {
  for (const char* claims : {R"({"aud":"demo","exp":1800000600,"iat":1800000000})",
                             R"({"sub":"alice","exp":1800000600,"iat":1800000000})",
                             R"({"sub":"alice","aud":"demo","iat":1800000000})",
                             R"({"sub":"alice","aud":"demo","exp":1800000600})",
                             R"({"sub":"","aud":"demo","exp":1800000600,"iat":1800000000})",
                             R"({"sub":7,"aud":"demo","exp":1800000600,"iat":1800000000})",
                             R"({"sub":"alice","aud":["demo"],"exp":1800000600,"iat":1800000000})",
                             R"({"sub":"alice","aud":"demo","exp":"1800000600","iat":1800000000})"})
    EXPECT_EQ(refusal(bearer(raw_token(JWT_ALG_HS256, current, claims))), auth_refusal::malformed)
        << claims;
}

TEST_F(buyer_auth_test, a_token_for_another_sale_is_refused) {
  EXPECT_EQ(refusal(bearer(token("alice", now, 600, "other-sale"))), auth_refusal::wrong_sale);
}

TEST_F(buyer_auth_test, expiry_allows_the_clock_skew_leeway_and_no_more) {
  auto lw = buyer_authenticator::leeway_s;
  // Expired 10 s ago: within the leeway (the login service's clock may run ahead).
  EXPECT_FALSE(auth.verify(bearer(token("a", now - 610, 600)), now).refusal);
  EXPECT_FALSE(auth.verify(bearer(token("a", now - 600 - lw + 1, 600)), now).refusal);
  EXPECT_EQ(refusal(bearer(token("a", now - 600 - lw, 600))), auth_refusal::expired);
  EXPECT_EQ(refusal(bearer(token("a", now - 7200, 600))), auth_refusal::expired);
}

TEST_F(buyer_auth_test, a_token_issued_in_the_future_beyond_the_leeway_is_refused) {
  auto lw = buyer_authenticator::leeway_s;
  EXPECT_FALSE(auth.verify(bearer(token("a", now + lw, 600)), now).refusal);
  EXPECT_EQ(refusal(bearer(token("a", now + lw + 1, 600))), auth_refusal::not_yet_valid);
}

TEST_F(buyer_auth_test, during_a_rotation_both_keys_are_accepted_and_no_third) {
  buyer_authenticator rotating{"demo", {current, previous}};
  auto by_previous = issue_buyer_token(previous, "demo", "old", now, 600);
  EXPECT_EQ(rotating.verify(bearer(by_previous), now).user, "old");
  EXPECT_EQ(rotating.verify(bearer(token("new")), now).user, "new");
  EXPECT_EQ(
      rotating.verify(bearer(issue_buyer_token(key_of(3), "demo", "x", now, 600)), now).refusal,
      auth_refusal::forged);
  // After the rotation the old key is dropped: its tokens stop working.
  EXPECT_EQ(refusal(bearer(by_previous)), auth_refusal::forged);
}

TEST(buyer_auth, an_authenticator_needs_one_or_two_keys) {
  EXPECT_THROW(buyer_authenticator("demo", {}), std::invalid_argument);
  EXPECT_THROW(buyer_authenticator("demo", {key_of(1), key_of(2), key_of(3)}),
               std::invalid_argument);
}

/// The user a token for the user id "用户" names once verified.
std::string auth_of_utf8_user() {
  buyer_authenticator a{"demo", {key_of(1)}};
  return a
      .verify(bearer(issue_buyer_token(key_of(1), "demo", "\xe7\x94\xa8\xe6\x88\xb7", now, 60)),
              now)
      .user;
}

TEST(buyer_auth, tokens_are_issued_only_for_valid_users_and_ttls) {
  EXPECT_THROW(issue_buyer_token(key_of(1), "demo", "", now, 60), std::invalid_argument);
  EXPECT_THROW(issue_buyer_token(key_of(1), "demo", std::string(129, 'u'), now, 60),
               std::invalid_argument);
  EXPECT_THROW(issue_buyer_token(key_of(1), "demo", "a\nb", now, 60), std::invalid_argument);
  // Found by fuzz_buyer_token: bytes that are not UTF-8 cannot be a JSON string, so no token.
  EXPECT_THROW(issue_buyer_token(key_of(1), "demo", "bot\xe1\xe1", now, 60), std::invalid_argument);
  EXPECT_EQ(auth_of_utf8_user(), "\xe7\x94\xa8\xe6\x88\xb7") << "UTF-8 beyond ASCII is fine";
  EXPECT_THROW(issue_buyer_token(key_of(1), "demo", "alice", now, 0), std::invalid_argument);
  // Found by fuzz_buyer_token: a sale name no sale file allows (here not UTF-8) is refused as
  // such, not as libjwt's "cannot sign".
  EXPECT_THROW(issue_buyer_token(key_of(1), "sale\xfa\xf9", "alice", now, 60),
               std::invalid_argument);
  EXPECT_THROW(issue_buyer_token(key_of(1), "", "alice", now, 60), std::invalid_argument);
}

// --- key files -------------------------------------------------------------------------------

class key_file_test : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flashsale-key-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir).c_str()); }
  std::string write(const std::string& name, const std::string& text, mode_t mode) const {
    auto path = dir + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string dir;
};

TEST_F(key_file_test, a_new_key_is_private_and_reads_back) {
  auto path = dir + "/k";
  auto key = crypto::write_new_key_file(path);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(crypto::read_key_file(path), key);
  EXPECT_NE(crypto::write_new_key_file(dir + "/k2"), key) << "keys are random";
  EXPECT_THROW(crypto::write_new_key_file(path), crypto::key_file_error) << "never overwrites";
  EXPECT_EQ(crypto::read_key_file(path), key);
}

TEST_F(key_file_test, a_key_others_may_read_is_refused) {
  auto path = write("k", std::string(64, 'a') + "\n", 0644);
  try {
    crypto::read_key_file(path);
    FAIL() << "a world-readable key was accepted";
  } catch (const crypto::key_file_error& e) {
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
  EXPECT_THROW(crypto::read_key_file(write("g", std::string(64, 'a'), 0640)),
               crypto::key_file_error);
  EXPECT_NO_THROW(crypto::read_key_file(write("o", std::string(64, 'a'), 0400)));
}

TEST_F(key_file_test, a_key_file_must_hold_32_to_64_bytes_in_hex) {
  EXPECT_THROW(crypto::read_key_file(dir + "/missing"), crypto::key_file_error);
  EXPECT_THROW(crypto::read_key_file(write("short", std::string(62, 'a'), 0600)),
               crypto::key_file_error);
  EXPECT_THROW(crypto::read_key_file(write("long", std::string(130, 'a'), 0600)),
               crypto::key_file_error);
  EXPECT_THROW(crypto::read_key_file(write("odd", std::string(65, 'a'), 0600)),
               crypto::key_file_error);
  EXPECT_THROW(crypto::read_key_file(write("nothex", std::string(63, 'a') + "g", 0600)),
               crypto::key_file_error);
  EXPECT_EQ(crypto::read_key_file(write("max", std::string(128, 'f'), 0600)).size(), 64u);
  EXPECT_THROW(crypto::read_key_file(dir), crypto::key_file_error) << "a directory";
}

TEST(key_fingerprint, tells_keys_apart_without_showing_them) {
  auto a = crypto::key_fingerprint(key_of(1));
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a, crypto::key_fingerprint(key_of(1)));
  EXPECT_NE(a, crypto::key_fingerprint(key_of(2)));
  EXPECT_EQ(a.find("0101"), std::string::npos);
}

}  // namespace

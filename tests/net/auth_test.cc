// auth: access tokens verify only with the right secret, untampered and unexpired; refresh
// tokens carry their user; password hashes verify only the right password.
#include "net/auth.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace ecom::net {
namespace {

TEST(auth_test, access_token_round_trips_and_expires) {
  token_signer signer(std::string(32, 'k'));
  std::string token = signer.sign({42, 1000});
  auto claims = signer.verify(token, 999);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->user_id, 42);
  EXPECT_FALSE(signer.verify(token, 1000)) << "expired at its expiry second";
}

TEST(auth_test, tampered_or_foreign_tokens_fail) {
  token_signer signer(std::string(32, 'k'));
  token_signer other(std::string(32, 'x'));
  std::string token = signer.sign({42, 5000});
  EXPECT_FALSE(other.verify(token, 0));
  for (std::size_t i = 3; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(signer.verify(bad, 0)) << "flipped char " << i;
  }
  EXPECT_FALSE(signer.verify("", 0));
  EXPECT_FALSE(signer.verify("v1..", 0));
  EXPECT_FALSE(signer.verify(token + "A", 0));
}

// The precomputed key schedule must give exactly HMAC-SHA256 (RFC 2104), for short keys and
// for keys longer than the SHA-256 block.
TEST(auth_test, signature_is_hmac_sha256_of_the_signed_part) {
  for (std::string secret : {std::string(32, 'k'), std::string("short"), std::string(100, 'L')}) {
    token_signer signer(secret);
    std::string token = signer.sign({7, 123456});
    std::string signed_part = token.substr(0, token.rfind('.'));
    unsigned char expected[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), expected,
         &size);
    EXPECT_EQ(base64url_decode(token.substr(token.rfind('.') + 1)),
              std::string(reinterpret_cast<const char*>(expected), size))
        << "secret of " << secret.size() << " bytes";
  }
}

TEST(auth_test, refresh_token_names_its_user_and_family) {
  std::string family = make_refresh_family();
  EXPECT_EQ(family.size(), 22u);  // 16 bytes, base64url without padding
  std::string token = make_refresh_token(77, family);
  auto parts = parse_refresh_token(token);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->user_id, 77);
  EXPECT_EQ(parts->family, family);
  EXPECT_NE(make_refresh_token(77, family), token) << "random part";
  EXPECT_NE(make_refresh_family(), family);
  // Tokens from before families still name their user, with no family.
  auto legacy = parse_refresh_token("r1.12.c2VjcmV0");
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->user_id, 12);
  EXPECT_TRUE(legacy->family.empty());
  const std::string fam = "AAAAAAAAAAAAAAAAAAAAAA";  // 22 base64url characters
  EXPECT_TRUE(parse_refresh_token("r2.5." + fam + ".secret"));
  for (const std::string& bad :
       {std::string("r1.abc.x"), std::string("r1.-5.x"), std::string("nonsense"), "r2.5." + fam,
        std::string("r2.5..secret"), "r2.5." + fam + ".", "r3.5." + fam + ".secret",
        "r2.0." + fam + ".secret", std::string("r2.5.short.secret"),
        "r2.5." + fam.substr(1) + "!.secret", "r2.5." + fam + "A.secret"}) {
    EXPECT_FALSE(parse_refresh_token(bad)) << bad;
  }
}

TEST(auth_test, password_hash_verifies_only_the_right_password) {
  std::string stored = hash_password("correct horse", 1000);
  EXPECT_TRUE(stored.starts_with("pbkdf2-sha256$1000$"));
  EXPECT_TRUE(verify_password("correct horse", stored));
  EXPECT_FALSE(verify_password("correct horsE", stored));
  EXPECT_NE(hash_password("correct horse", 1000), stored) << "salted";
  EXPECT_FALSE(verify_password("x", "pbkdf2-sha256$0$AA$AA"));
  EXPECT_FALSE(verify_password("x", ""));
}

TEST(auth_test, base64_url_round_trips) {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("abcd"), std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
  }
  EXPECT_FALSE(base64url_decode("a"));
  EXPECT_FALSE(base64url_decode("ab+c"));
}

}  // namespace
}  // namespace ecom::net

// The --edge-secret-file format: forms, comments, CRLF, and errors that name the line but never
// quote the secret.
#include "auth/secrets_file.hpp"

#include <gtest/gtest.h>

namespace webtrunk::auth {
namespace {

TEST(SecretsFile, ParsesEveryForm) {
  auto r = load_secrets_file(WEBTRUNK_TEST_DATA "/auth/edge_secrets.txt");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& s = r.value();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].kid, "k2026a");
  EXPECT_EQ(s[0].key, "Zq3v9c1Lr8pXw2Yt6Nb0Hs4Km7Df5Ga1");
  EXPECT_EQ(s[1].kid, "k2025b");
  EXPECT_EQ(s[1].key, "Jt8sQ2wE5rY7uI9oP1aS3dF6gH0jK4lZ");
  EXPECT_EQ(s[2].kid, "");
  EXPECT_EQ(s[2].key, "legacy-secret-with-no-kid-000001");
}

TEST(SecretsFile, CrlfLines) {
  auto r = load_secrets_file(WEBTRUNK_TEST_DATA "/auth/edge_secrets_crlf.txt");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(r.value()[0].key, "aaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(r.value()[1].key, "bbbbbbbbbbbbbbbbbbbb");
}

TEST(SecretsFile, SecretMayContainColonHashAndBlanksAfterAKid) {
  auto r = parse_secrets("k1:abc:def#ghi jkl mno pqr\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value()[0].kid, "k1");
  EXPECT_EQ(r.value()[0].key, "abc:def#ghi jkl mno pqr");
  r = parse_secrets("k1 \t  spaced secret value here\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value()[0].key, "spaced secret value here");
}

void expect_error(std::string_view content, std::string_view want, std::string_view secret = {}) {
  auto r = parse_secrets(content);
  ASSERT_FALSE(r.ok()) << content;
  EXPECT_EQ(r.error().message, want);
  if (!secret.empty()) {
    EXPECT_EQ(r.error().message.find(secret), std::string::npos);
  }
}

TEST(SecretsFile, PreciseErrors) {
  expect_error("", "no secret in file");
  expect_error("# only a comment\n\n   \n", "no secret in file");
  expect_error("k1:0123456789abcdef\n:0123456789abcdef\n", "line 2: empty key id before the separator");
  expect_error("\n\nk1:\n", "line 3: empty secret");
  expect_error("k1:tiny1\n", "line 1: secret shorter than 16 characters", "tiny1");
  expect_error("bad.kid:0123456789abcdef\n",
               "line 1: key id must be 1 to 32 of A-Z a-z 0-9 _ - (a secret containing ':' or a blank needs a key "
               "id in front)");
  expect_error("k1:0123456789abcdef\n# c\nk1:fedcba9876543210\n", "line 3: duplicate key id 'k1'", "fedcba");
  expect_error(std::string("k1:0123456789\0abcdef\n", 21), "line 1: NUL byte in line");
  std::string many;
  for (int i = 0; i < 17; ++i) many += "k" + std::to_string(i) + ":0123456789abcdef\n";
  expect_error(many, "line 17: more than 16 secrets");
}

TEST(SecretsFile, MissingFileSaysWhy) {
  auto r = load_secrets_file("/nonexistent/webtrunk-secrets");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/nonexistent/webtrunk-secrets: cannot open"), std::string::npos);
}

TEST(SecretsFile, FingerprintIsNotTheSecret) {
  const std::string fp = secret_fingerprint("Zq3v9c1Lr8pXw2Yt6Nb0Hs4Km7Df5Ga1");
  EXPECT_EQ(fp.size(), 8u);
  EXPECT_EQ(fp, secret_fingerprint("Zq3v9c1Lr8pXw2Yt6Nb0Hs4Km7Df5Ga1"));
  EXPECT_NE(fp, secret_fingerprint("Zq3v9c1Lr8pXw2Yt6Nb0Hs4Km7Df5Ga2"));
}

}  // namespace
}  // namespace webtrunk::auth

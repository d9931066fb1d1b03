// Token formats against every vector in research/auth.md §6, the Kamailio parse rules of §1.2,
// and our claims encoding (auth/README.md).
#include "auth/edge_token.hpp"

#include <gtest/gtest.h>

#include <array>

#include "auth/base64.hpp"
#include "auth/hmac.hpp"

namespace webtrunk::auth {
namespace {

std::string b64url_nopad(std::string_view key, std::string_view msg, HmacAlgo a) {
  std::array<std::uint8_t, kMaxMacSize> mac{};
  const std::size_t n = HmacKey(a, key).mac(msg, mac);
  return base64url_encode(std::span<const std::uint8_t>(mac.data(), n));
}

// auth.md §6 "Core vectors" (secret s3cr3t, username 1700000000:alice).
TEST(EphemeralPassword, CoreVectors) {
  EXPECT_EQ(ephemeral_password("s3cr3t", "1700000000:alice", HmacAlgo::sha1), "81mjszbESz91Gv1n2xG/SVLX+uY=");
  EXPECT_EQ(ephemeral_password("s3cr3t", "1700000000:alice", HmacAlgo::sha256),
            "A4cbzeQL2ZNwJRQzZGlRCL3CB08ZaRgjmoIyCEi1jVk=");
}

// auth.md §6 "Variants" (HMAC-SHA1).
TEST(EphemeralPassword, Variants) {
  EXPECT_EQ(ephemeral_password("s3cr3t", "1700000000", HmacAlgo::sha1), "Vmf9k+9lRhq3kKW77GyHQooNcG4=");
  EXPECT_EQ(ephemeral_password("s3cr3t", "alice:1700000000", HmacAlgo::sha1), "19BMgtNVgX3INguA6OpkiA74u9M=");
  EXPECT_EQ(ephemeral_password("s3cr3t", "1700000000:alice@example.com", HmacAlgo::sha1),
            "v4J7dyph3PzgIfEHAewybE04Y/0=");
  EXPECT_EQ(ephemeral_password("s3cr3t", "1700000000:@alice:matrix.org", HmacAlgo::sha1),
            "Fa4gql7PK3h9XvDY7w1eQIN4dRU=");
  EXPECT_EQ(ephemeral_password("n3w-s3cr3t", "1700000000:alice", HmacAlgo::sha1), "w01Y4BoMv3Nr04+SmXmE//2lgxM=");
  EXPECT_EQ(b64url_nopad("s3cr3t", "1700000000:alice", HmacAlgo::sha1), "81mjszbESz91Gv1n2xG_SVLX-uY");
}

// Third-party known answers: nextcloud/spreed ConfigTest.php and kamailio/kamailio #2963.
TEST(EphemeralPassword, ThirdPartyVectors) {
  EXPECT_EQ(ephemeral_password("thisisasupersecretsecret", "1479829425:abcdefghijklmnop", HmacAlgo::sha1),
            "4VJLVbihLzuxgMfDrm5C3zy8kLQ=");
  EXPECT_EQ(ephemeral_password("ThisIsAlsoSuperSecret", "1479829425:abcdefghijklmnop", HmacAlgo::sha1),
            "Ol9DEqnvyN4g+IAM+vFnqhfWUTE=");
  const std::string k = "ScdQfmaFh8eytDwrMshLnwb8cek5QmHhScdQfmaFh8eytDwrMshLnwb8cek5QmHh";  // 64 bytes: one block
  EXPECT_EQ(b64url_nopad(k, "1639478154:username@example.com", HmacAlgo::sha1), "ErvUEdFCJyE8vgPoa9D2PdbtT9I");
  EXPECT_EQ(b64url_nopad(k, "1639479006:username@example.com", HmacAlgo::sha256),
            "c2H1sEMW1-E2IlElficEbIBPFirNGLXqnDIwj0tkP9Y");
}

// auth.md §6 "Two-step chain example", step 2.
TEST(EphemeralPassword, ChainStep2) {
  EXPECT_EQ(ephemeral_password("edge-s3cr3t", "1700003600:acme", HmacAlgo::sha1), "AtnIUi8itxW5CjTdF0NXHbaVuhQ=");
  EXPECT_EQ(ephemeral_password("edge-s3cr3t", "1700003600:acme", HmacAlgo::sha256),
            "KGUbQm6oyJ2p9m1mBgnbMAqNh1gwgCQxKhZ0ARIFx7Y=");
}

TEST(EphemeralPassword, LongKeyIsHashedFirst) {
  // RFC 2104 §2: a key longer than 64 bytes is replaced by its hash; RFC 4231 test case 6.
  const std::string key(131, '\xaa');
  std::array<std::uint8_t, kMaxMacSize> mac{};
  HmacKey(HmacAlgo::sha256, key).mac(std::string_view("Test Using Larger Than Block-Size Key - Hash Key First"), mac);
  EXPECT_EQ(base64_encode(std::span<const std::uint8_t>(mac.data(), 32)),
            "YOQxWR7gtn8Niiaqy/W3f44LxiE3KMUUBUYEDw7jf1Q=");
}

// auth.md §6 "Expiry boundary cases" (parse part) and §1.2 format 1 rules.
TEST(ParseEdgeUsername, KamailioShapes) {
  ParsedUsername p;
  EXPECT_EQ(parse_edge_username("1700000000:alice", p), TokenError::none);
  EXPECT_EQ(p.expires, 1700000000);
  EXPECT_EQ(p.rest, "alice");
  EXPECT_FALSE(p.has_claims);

  EXPECT_EQ(parse_edge_username("1700000000", p), TokenError::none);  // bare timestamp
  EXPECT_EQ(p.expires, 1700000000);
  EXPECT_EQ(p.rest, "");

  EXPECT_EQ(parse_edge_username("+1700000000:alice", p), TokenError::none);  // leading '+' (str2int)
  EXPECT_EQ(p.expires, 1700000000);

  EXPECT_EQ(parse_edge_username("1700000000:@alice:matrix.org", p), TokenError::none);  // first ':' only
  EXPECT_EQ(p.rest, "@alice:matrix.org");

  EXPECT_EQ(parse_edge_username("1700000000:", p), TokenError::malformed);  // trailing ':'
  EXPECT_EQ(parse_edge_username(":", p), TokenError::malformed);
  EXPECT_EQ(parse_edge_username("alice:1700000000", p), TokenError::malformed);  // format 0 refused
  EXPECT_EQ(parse_edge_username("17e8:alice", p), TokenError::malformed);
  EXPECT_EQ(parse_edge_username("+:alice", p), TokenError::malformed);
  EXPECT_EQ(parse_edge_username("-5:alice", p), TokenError::malformed);
  EXPECT_EQ(parse_edge_username("99999999999999999999:alice", p), TokenError::malformed);  // int64 overflow

  // Empty expiry reads as 0 (expired), as Kamailio's str2int does.
  EXPECT_EQ(parse_edge_username("", p), TokenError::none);
  EXPECT_EQ(p.expires, 0);
  EXPECT_EQ(parse_edge_username(":alice", p), TokenError::none);
  EXPECT_EQ(p.expires, 0);

  // 4294967296 overflows Kamailio's uint; we read 64 bits and let the lifetime policy refuse it.
  EXPECT_EQ(parse_edge_username("4294967296:alice", p), TokenError::none);
  EXPECT_EQ(p.expires, 4294967296);

  EXPECT_EQ(parse_edge_username(std::string(600, '1'), p), TokenError::malformed);  // size cap
}

TEST(ParseEdgeUsername, Claims) {
  ParsedUsername p;
  const std::string u = "1767225600:kid=k1~acct=shop~num=15551230000.1555123*~dur=3600~u=alice";
  ASSERT_EQ(parse_edge_username(u, p), TokenError::none);
  EXPECT_TRUE(p.has_claims);
  EXPECT_EQ(p.expires, 1767225600);
  EXPECT_EQ(p.claims.kid, "k1");
  EXPECT_EQ(p.claims.account, "shop");
  EXPECT_EQ(p.claims.numbers, "15551230000.1555123*");
  EXPECT_EQ(p.claims.max_duration_s, 3600u);
  EXPECT_EQ(p.claims.user, "alice");

  ASSERT_EQ(parse_edge_username("1767225600:kid=k1~acct=shop", p), TokenError::none);  // minimal
  EXPECT_FALSE(p.claims.has_numbers);
  EXPECT_FALSE(p.claims.max_duration_s);
}

TEST(ParseEdgeUsername, BadClaims) {
  ParsedUsername p;
  for (const char* u : {
           "1767225600:kid=k1",                                      // no acct
           "1767225600:kid=~acct=shop",                              // empty kid
           "1767225600:kid=k1~acct=sh op",                           // blank in a value
           "1767225600:kid=k1~acct=shop~acct=two",                   // repeated
           "1767225600:kid=k1~num=1~acct=shop",                      // out of order
           "1767225600:kid=k1~acct=shop~x=1",                        // unknown claim: fail closed
           "1767225600:kid=k1~acct=shop~num=",                       // empty list
           "1767225600:kid=k1~acct=shop~num=1..2",                   // empty entry
           "1767225600:kid=k1~acct=shop~num=+1555",                  // '+' is implied, not written
           "1767225600:kid=k1~acct=shop~num=15a5",                   // not digits
           "1767225600:kid=k1~acct=shop~num=123456789012345678901",  // 21 digits
           "1767225600:kid=k1~acct=shop~dur=0",                      // zero duration
           "1767225600:kid=k1~acct=shop~dur=0100",                   // leading zero
           "1767225600:kid=k1~acct=shop~dur=2147483648",             // > int32
           "1767225600:kid=k1~acct=shop~dur=-1",
           "1767225600:kid=k1~acct=shop~",        // trailing separator
           "1767225600:kid=k1~acct=shop~u=a\"b",  // quote would break the quoted-string
           "1767225600:kid=k1~acct=shop;num=1",   // ';' is not our separator
       }) {
    EXPECT_EQ(parse_edge_username(u, p), TokenError::bad_claims) << u;
  }
}

TEST(ParseEdgeUsername, CallsClaim) {
  ParsedUsername p;
  ASSERT_EQ(parse_edge_username("1767225600:kid=k1~acct=shop~num=1555*~dur=60~calls=20~u=alice", p), TokenError::none);
  EXPECT_EQ(p.claims.max_calls, 20u);
  EXPECT_EQ(p.claims.max_duration_s, 60u);
  EXPECT_EQ(p.claims.user, "alice");
  ASSERT_EQ(parse_edge_username("1767225600:kid=k1~acct=shop~calls=1", p), TokenError::none);
  EXPECT_EQ(p.claims.max_calls, 1u);
  ASSERT_EQ(parse_edge_username("1767225600:kid=k1~acct=shop", p), TokenError::none);
  EXPECT_FALSE(p.claims.max_calls);  // no claim: only the edge's --max-calls-per-token holds it

  for (const char* u : {
           "1767225600:kid=k1~acct=shop~calls=0",           // no calls at all is no token
           "1767225600:kid=k1~acct=shop~calls=05",          // leading zero
           "1767225600:kid=k1~acct=shop~calls=2147483648",  // > int32
           "1767225600:kid=k1~acct=shop~calls=-1",
           "1767225600:kid=k1~acct=shop~calls=",
           "1767225600:kid=k1~acct=shop~calls=1~dur=60",    // out of order
           "1767225600:kid=k1~acct=shop~calls=1~calls=2",   // repeated: a second value must not loosen it
       }) {
    EXPECT_EQ(parse_edge_username(u, p), TokenError::bad_claims) << u;
  }
}

TEST(MintEdgeToken, CallsClaim) {
  const Secret s{"k1", "edge-secret-k1-0123456789"};
  MintClaims c{"shop", {"1555*"}, 3600};
  c.max_calls = 20;
  auto t = mint_edge_token(s, 1767225600, "alice", c);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->username, "1767225600:kid=k1~acct=shop~num=1555*~dur=3600~calls=20~u=alice");
  EXPECT_EQ(t->password, ephemeral_password(s.key, t->username, HmacAlgo::sha256));  // the claim is under the MAC
  ParsedUsername p;
  ASSERT_EQ(parse_edge_username(t->username, p), TokenError::none);
  EXPECT_EQ(p.claims.max_calls, 20u);
  c.max_calls = 0u;
  EXPECT_FALSE(mint_edge_token(s, 1767225600, "alice", c).ok());
}

TEST(EdgeClaims, AllowsNumber) {
  ParsedUsername p;
  ASSERT_EQ(parse_edge_username("1767225600:kid=k1~acct=shop~num=15551230000.1555123*", p), TokenError::none);
  const EdgeClaims& c = p.claims;
  EXPECT_TRUE(c.allows_number("15551230000"));
  EXPECT_TRUE(c.allows_number("+15551230000"));  // E.164 '+' ignored
  EXPECT_TRUE(c.allows_number("15551239999"));   // prefix entry
  EXPECT_TRUE(c.allows_number("1555123"));
  EXPECT_FALSE(c.allows_number("1555124"));
  EXPECT_FALSE(c.allows_number("155512"));    // shorter than the prefix
  EXPECT_FALSE(c.allows_number("1555123*"));  // non-digits never match a digit entry
  EXPECT_FALSE(c.allows_number(""));
  EXPECT_FALSE(c.allows_number("+"));

  ASSERT_EQ(parse_edge_username("1767225600:kid=k1~acct=shop~num=15551230000", p), TokenError::none);
  EXPECT_FALSE(p.claims.allows_number("155512300001"));  // an exact entry is exact
  EXPECT_FALSE(p.claims.allows_number("1555123000"));
  ASSERT_EQ(parse_edge_username("1767225600:kid=k1~acct=shop~num=*", p), TokenError::none);
  EXPECT_TRUE(p.claims.allows_number("*67"));
  ASSERT_EQ(parse_edge_username("1767225600:kid=k1~acct=shop", p), TokenError::none);
  EXPECT_TRUE(p.claims.allows_number("4412345"));  // no num claim: unrestricted
}

TEST(MintEdgeToken, RoundTripAndMac) {
  const Secret s{"k1", "edge-secret-k1-0123456789"};
  MintClaims c{"shop", {"+15551230000", "1555123*"}, 3600};
  auto t = mint_edge_token(s, 1767225600, "alice", c);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->username, "1767225600:kid=k1~acct=shop~num=15551230000.1555123*~dur=3600~u=alice");
  // Independently computed: base64(HMAC-SHA256(secret, username)).
  EXPECT_EQ(t->password, "zleVzuep2cx+4VE0v+B6FPKf8kUaWDlVkKB4AgQihwc=");
  auto t1 = mint_edge_token(s, 1767225600, "alice", c, HmacAlgo::sha1);
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(t1->password.size(), 28u);

  ParsedUsername p;
  ASSERT_EQ(parse_edge_username(t->username, p), TokenError::none);
  EXPECT_EQ(p.claims.user, "alice");

  auto minimal = mint_edge_token(s, 1767225600, "", MintClaims{"shop", {}, std::nullopt});
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->username, "1767225600:kid=k1~acct=shop");
}

TEST(MintEdgeToken, RefusesUnsafeValues) {
  const Secret s{"k1", "edge-secret-k1-0123456789"};
  EXPECT_FALSE(mint_edge_token(Secret{"", "x"}, 1, "a", MintClaims{"shop", {}, {}}).ok());     // no kid
  EXPECT_FALSE(mint_edge_token(Secret{"k 1", "x"}, 1, "a", MintClaims{"shop", {}, {}}).ok());  // bad kid
  EXPECT_FALSE(mint_edge_token(s, 1, "a", MintClaims{"", {}, {}}).ok());                       // no account
  EXPECT_FALSE(mint_edge_token(s, 1, "a,b", MintClaims{"shop", {}, {}}).ok());                 // ','
  EXPECT_FALSE(mint_edge_token(s, 1, "a~b", MintClaims{"shop", {}, {}}).ok());                 // '~'
  EXPECT_FALSE(mint_edge_token(s, 1, "a", MintClaims{"sh\"op", {}, {}}).ok());                 // '"'
  EXPECT_FALSE(mint_edge_token(s, 1, "a", MintClaims{"shop", {"12ab"}, {}}).ok());             // number
  EXPECT_FALSE(mint_edge_token(s, 1, "a", MintClaims{"shop", {}, 0u}).ok());                   // duration
  EXPECT_FALSE(mint_edge_token(s, 0, "a", MintClaims{"shop", {}, {}}).ok());                   // expiry
  std::vector<std::string> many(kMaxNumberEntries + 1, "1");
  EXPECT_FALSE(mint_edge_token(s, 1, "a", MintClaims{"shop", many, {}}).ok());
}

TEST(ReasonPhrase, ShortHumanText) {
  EXPECT_EQ(reason_phrase(TokenError::expired), "Token expired");
  EXPECT_EQ(reason_phrase(TokenError::unknown_kid), "Unknown token key");
  EXPECT_EQ(reason_phrase(TokenError::lifetime_too_long), "Token lifetime too long");
}

}  // namespace
}  // namespace webtrunk::auth

// The edge's token check: time policy, claims, key ids, rotation, legacy and bearer modes.
#include "auth/edge_token_verifier.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace webtrunk::auth {
namespace {

constexpr std::int64_t kNow = 1767220000;
const Secret kK1{"k1", "edge-secret-k1-0123456789"};
const Secret kK2{"k2", "edge-secret-k2-9876543210"};

std::string mint(const Secret& s, std::int64_t exp, HmacAlgo a = HmacAlgo::sha256) {
  auto t = mint_edge_token(s, exp, "alice", MintClaims{"shop", {"1555123*"}, 3600}, a);
  EXPECT_TRUE(t.ok());
  return t->username;
}

std::string password(const Secret& s, std::int64_t exp, HmacAlgo a = HmacAlgo::sha256) {
  return mint_edge_token(s, exp, "alice", MintClaims{"shop", {"1555123*"}, 3600}, a)->password;
}

EdgeTokenVerifier make(VerifierOptions o = {}) {
  EdgeTokenVerifier v(o);
  EXPECT_TRUE(v.set_secrets({kK1, kK2}).ok());
  return v;
}

TEST(EdgeTokenVerifier, DerivesThePasswordTheMinterGave) {
  auto v = make();
  const std::string u = mint(kK1, kNow + 600);
  TokenCheck c;
  v.check(kNow, u, c);
  ASSERT_TRUE(c.ok()) << c.reason();
  ASSERT_EQ(c.count, 1);
  EXPECT_EQ(c.candidates()[0].view(), password(kK1, kNow + 600));
  EXPECT_EQ(c.kid, "k1");
  EXPECT_EQ(c.claims.account, "shop");
  EXPECT_EQ(c.claims.user, "alice");
  EXPECT_EQ(c.claims.max_duration_s, 3600u);
  EXPECT_EQ(c.expires, kNow + 600);
  EXPECT_FALSE(c.legacy);
}

TEST(EdgeTokenVerifier, ExpiryWithSkewWindow) {
  VerifierOptions o;
  o.skew_s = 30;
  auto v = make(o);
  TokenCheck c;
  const std::string u = mint(kK1, kNow);
  v.check(kNow, u, c);  // now == expiry: valid (Kamailio: expired iff now > expires)
  EXPECT_TRUE(c.ok());
  v.check(kNow + 30, u, c);  // at the edge of the window
  EXPECT_TRUE(c.ok());
  v.check(kNow + 31, u, c);
  EXPECT_EQ(c.error, TokenError::expired);
  EXPECT_EQ(c.reason(), "Token expired");
  EXPECT_EQ(c.count, 0);
}

TEST(EdgeTokenVerifier, NoSkewGivesKamailioBoundary) {
  VerifierOptions o;
  o.skew_s = 0;
  auto v = make(o);
  TokenCheck c;
  // auth.md §6 "Expiry boundary cases": now 1700000000 / expires 1700000000 valid; +1 expired.
  const std::string u = mint(kK1, 1700000000);
  v.check(1700000000, u, c);
  EXPECT_TRUE(c.ok());
  v.check(1700000001, u, c);
  EXPECT_EQ(c.error, TokenError::expired);
}

TEST(EdgeTokenVerifier, MaximumLifetime) {
  VerifierOptions o;
  o.skew_s = 30;
  o.max_lifetime_s = 3600;
  auto v = make(o);
  TokenCheck c;
  v.check(kNow, mint(kK1, kNow + 3600 + 30), c);
  EXPECT_TRUE(c.ok());
  v.check(kNow, mint(kK1, kNow + 3600 + 31), c);
  EXPECT_EQ(c.error, TokenError::lifetime_too_long);
  EXPECT_EQ(c.reason(), "Token lifetime too long");
  // Kamailio would accept 4294967295 until 2106 (auth.md §5.6); we do not.
  v.check(kNow, "4294967295:kid=k1~acct=shop", c);
  EXPECT_EQ(c.error, TokenError::lifetime_too_long);
  v.check(kNow, "9223372036854775807:kid=k1~acct=shop", c);  // no overflow at INT64_MAX
  EXPECT_EQ(c.error, TokenError::lifetime_too_long);
}

TEST(EdgeTokenVerifier, EmptyExpiryIsExpired) {
  auto v = make();
  TokenCheck c;
  v.check(kNow, "", c);
  EXPECT_EQ(c.error, TokenError::expired);
  v.check(kNow, ":kid=k1~acct=shop", c);
  EXPECT_EQ(c.error, TokenError::expired);
}

TEST(EdgeTokenVerifier, MalformedAndBadClaims) {
  auto v = make();
  TokenCheck c;
  v.check(kNow, "alice:1767220600", c);
  EXPECT_EQ(c.error, TokenError::malformed);
  EXPECT_EQ(c.reason(), "Malformed token");
  v.check(kNow, "1767220600:", c);
  EXPECT_EQ(c.error, TokenError::malformed);
  v.check(kNow, "1767220600:kid=k1~acct=shop~evil=1", c);
  EXPECT_EQ(c.error, TokenError::bad_claims);
  EXPECT_EQ(c.reason(), "Bad token claims");
}

TEST(EdgeTokenVerifier, UnknownKid) {
  auto v = make();
  TokenCheck c;
  v.check(kNow, mint(Secret{"k9", "whatever-secret-0000"}, kNow + 60), c);
  EXPECT_EQ(c.error, TokenError::unknown_kid);
  EXPECT_EQ(c.reason(), "Unknown token key");
}

// A tampered username derives a different password, so its digest (or bearer MAC) fails.
TEST(EdgeTokenVerifier, TamperedClaimsChangeThePassword) {
  auto v = make();
  const std::string good = mint(kK1, kNow + 600);
  const std::string pw = password(kK1, kNow + 600);
  auto edit = [&](std::string_view from, std::string_view to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  for (const std::string& bad :
       {edit("acct=shop", "acct=shoq"), edit("dur=3600", "dur=9999"), edit("1555123*", "*"),
        edit("u=alice", "u=mallory"), edit(std::to_string(kNow + 600), std::to_string(kNow + 900))}) {
    TokenCheck c;
    v.check_bearer(kNow, bad, pw, c);
    EXPECT_EQ(c.error, TokenError::bad_password) << bad;
  }
  TokenCheck ok;
  v.check_bearer(kNow, good, pw, ok);
  EXPECT_TRUE(ok.ok());
}

TEST(EdgeTokenVerifier, BearerAcceptsEveryBase64Spelling) {
  auto v = make();
  const std::string u = mint(kK1, kNow + 600, HmacAlgo::sha256);
  std::string pw = password(kK1, kNow + 600);
  TokenCheck c;
  v.check_bearer(kNow, u, pw, c);
  EXPECT_TRUE(c.ok());
  std::string url = pw;
  for (char& ch : url) ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
  while (!url.empty() && url.back() == '=') url.pop_back();
  v.check_bearer(kNow, u, url, c);
  EXPECT_TRUE(c.ok());
  std::string spaced = pw;  // a form decoder turned '+' into ' ' (auth.md §5.3)
  for (char& ch : spaced) ch = ch == '+' ? ' ' : ch;
  v.check_bearer(kNow, u, spaced, c);
  EXPECT_TRUE(c.ok());
  v.check_bearer(kNow, u, pw.substr(0, pw.size() - 4), c);  // a prefix is not the password
  EXPECT_EQ(c.error, TokenError::bad_password);             // (Kamailio before 2019 accepted it)
  EXPECT_EQ(c.reason(), "Invalid token");
  EXPECT_EQ(c.count, 0);
  v.check_bearer(kNow, u, "not base64!", c);
  EXPECT_EQ(c.error, TokenError::bad_password);
}

TEST(EdgeTokenVerifier, RotationAddRetireWithoutRestart) {
  auto store = std::make_shared<SecretStore>();
  ASSERT_TRUE(store->set_secrets({kK1}).ok());
  EdgeTokenVerifier shard0(store, {});
  EdgeTokenVerifier shard1(store, {});
  const std::string t1 = mint(kK1, kNow + 600);
  const std::string t2 = mint(kK2, kNow + 600);
  TokenCheck c;
  shard0.check(kNow, t2, c);
  EXPECT_EQ(c.error, TokenError::unknown_kid);

  ASSERT_TRUE(store->set_secrets({kK2, kK1}).ok());  // add k2: both verify on every shard
  shard0.check(kNow, t1, c);
  EXPECT_TRUE(c.ok());
  shard1.check(kNow, t2, c);
  EXPECT_TRUE(c.ok());

  ASSERT_TRUE(store->set_secrets({kK2}).ok());  // retire k1
  shard0.check(kNow, t1, c);
  EXPECT_EQ(c.error, TokenError::unknown_kid);
  shard1.check(kNow, t2, c);
  EXPECT_TRUE(c.ok());

  // A bad set is refused whole; the running set stays.
  EXPECT_FALSE(store->set_secrets({kK1, Secret{"k1", "dup-dup-dup-dup-dup"}}).ok());
  EXPECT_FALSE(store->set_secrets({Secret{"bad kid", "x"}}).ok());
  EXPECT_FALSE(store->set_secrets({Secret{"k3", ""}}).ok());
  shard1.check(kNow, t2, c);
  EXPECT_TRUE(c.ok());

  const auto listing = store->describe();
  ASSERT_EQ(listing.size(), 1u);
  EXPECT_EQ(listing[0].find(kK2.key), std::string::npos);  // never the secret itself
  EXPECT_NE(listing[0].find("kid=k2"), std::string::npos);
}

TEST(EdgeTokenVerifier, RotationWhileShardsVerify) {
  auto store = std::make_shared<SecretStore>();
  ASSERT_TRUE(store->set_secrets({kK1, kK2}).ok());
  const std::string t1 = mint(kK1, kNow + 600);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread shard([&] {
    EdgeTokenVerifier v(store, {});
    TokenCheck c;
    while (!stop.load()) {
      v.check(kNow, t1, c);
      if (!c.ok()) failures.fetch_add(1);  // k1 is in every set we publish
    }
  });
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(store->set_secrets(i % 2 ? std::vector<Secret>{kK1, kK2} : std::vector<Secret>{kK2, kK1}).ok());
  }
  stop = true;
  shard.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(EdgeTokenVerifier, LegacyTokensOffByDefault) {
  auto v = make();
  TokenCheck c;
  v.check(1700000000, "1700000000:alice", c);
  EXPECT_EQ(c.error, TokenError::legacy_refused);
  EXPECT_EQ(c.reason(), "Token has no key id");
}

// Legacy mode: Kamailio semantics, every secret tried in order, SHA-1 by default (auth.md §1.2).
TEST(EdgeTokenVerifier, LegacyTriesEverySecretInOrder) {
  VerifierOptions o;
  o.accept_legacy = true;
  o.skew_s = 0;
  o.max_lifetime_s = 86400;
  EdgeTokenVerifier v(o);
  ASSERT_TRUE(v.set_secrets({Secret{"", "n3w-s3cr3t"}, Secret{"", "s3cr3t"}}).ok());
  TokenCheck c;
  v.check(1700000000, "1700000000:alice", c);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c.legacy);
  EXPECT_EQ(c.id, "alice");
  ASSERT_EQ(c.count, 2);
  EXPECT_EQ(c.candidates()[0].view(), "w01Y4BoMv3Nr04+SmXmE//2lgxM=");
  EXPECT_EQ(c.candidates()[1].view(), "81mjszbESz91Gv1n2xG/SVLX+uY=");

  v.check(1700000000, "1700000000", c);  // bare timestamp: legal, no user
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.id, "");
  EXPECT_EQ(c.candidates()[1].view(), "Vmf9k+9lRhq3kKW77GyHQooNcG4=");

  v.check(1700000000, "1700000000:@alice:matrix.org", c);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.candidates()[1].view(), "Fa4gql7PK3h9XvDY7w1eQIN4dRU=");

  // Bearer (autheph_authenticate): the std, url-safe and percent-decoded forms all pass.
  v.check_bearer(1700000000, "1700000000:alice", "81mjszbESz91Gv1n2xG_SVLX-uY", c);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.count, 1);
  EXPECT_EQ(c.candidates()[0].view(), "81mjszbESz91Gv1n2xG/SVLX+uY=");
  v.check_bearer(1700000000, "1700000000:alice", "w01Y4BoMv3Nr04+SmXmE//2lgxM=", c);
  EXPECT_TRUE(c.ok());
  v.check_bearer(1700000001, "1700000000:alice", "81mjszbESz91Gv1n2xG/SVLX+uY=", c);
  EXPECT_EQ(c.error, TokenError::expired);
}

TEST(EdgeTokenVerifier, Sha1KidTokensWhenConfigured) {
  VerifierOptions o;
  o.algo = HmacAlgo::sha1;
  auto v = make(o);
  TokenCheck c;
  const std::string u = mint(kK1, kNow + 60, HmacAlgo::sha1);
  v.check(kNow, u, c);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.candidates()[0].view(), password(kK1, kNow + 60, HmacAlgo::sha1));
}

}  // namespace
}  // namespace webtrunk::auth

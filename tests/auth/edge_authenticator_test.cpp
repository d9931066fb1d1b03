// A browser's REGISTER and INVITE through the whole edge decision, on a fake clock: challenge,
// answer as JsSIP would (MD5, qop=auth), accept; then the failure paths a user would see.
#include "auth/edge_authenticator.hpp"

#include <gtest/gtest.h>

namespace webtrunk::auth {
namespace {

constexpr std::int64_t kNow = 1767220000;
const Secret kK1{"k1", "edge-secret-k1-0123456789"};
const std::array<std::uint8_t, 32> kNonceKey{7};

// Pulls nonce="..." out of a challenge value.
std::string nonce_of(const std::string& challenge) {
  const auto at = challenge.find("nonce=\"") + 7;
  return challenge.substr(at, challenge.find('"', at) - at);
}

struct Browser {  // what JsSIP computes from authorization_user / password and the challenge
  std::string user, password, nonce, uri, response;
  DigestCredentials creds(std::string_view method, std::string_view realm = "edge.example.net") {
    DigestCredentials c;
    c.username = user;
    c.realm = realm;
    c.nonce = nonce;
    c.uri = uri;
    c.algorithm = "MD5";
    c.qop = "auth";
    c.nc = "00000001";
    c.cnonce = "0a4f113b";
    DigestHex h;
    EXPECT_EQ(compute_digest_response(c, method, password, h), DigestStatus::ok);
    response = std::string(h.view());
    c.response = response;
    return c;
  }
};

class EdgeAuthTest : public ::testing::Test {
 protected:
  EdgeAuthTest()
      : auth_(std::make_shared<NonceKey>(kNonceKey), make_verifier(), EdgeAuthOptions{"edge.example.net", false, ""}) {
    auto t = mint_edge_token(kK1, kNow + 3600, "alice", MintClaims{"shop", {"1555123*"}, 600});
    browser_.user = t->username;
    browser_.password = t->password;
    browser_.uri = "sip:+15551234567@edge.example.net";
  }
  static EdgeTokenVerifier make_verifier() {
    EdgeTokenVerifier v;
    EXPECT_TRUE(v.set_secrets({kK1}).ok());
    return v;
  }
  EdgeAuthenticator auth_;
  Browser browser_;
};

TEST_F(EdgeAuthTest, ChallengeThenAccept) {
  AuthResult r;
  auth_.authenticate(kNow, nullptr, "INVITE", "flow-1", "15551234567", r);
  EXPECT_EQ(r.action, AuthAction::challenge);
  const auto ch = auth_.challenge(kNow, "flow-1", false);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].rfind("Digest realm=\"edge.example.net\", nonce=\"", 0), 0u);
  EXPECT_NE(ch[0].find("algorithm=MD5, qop=\"auth\""), std::string::npos);

  browser_.nonce = nonce_of(ch[0]);
  const auto c = browser_.creds("INVITE");
  auth_.authenticate(kNow + 1, &c, "INVITE", "flow-1", "+15551234567", r);
  ASSERT_EQ(r.action, AuthAction::accept) << r.reason;
  EXPECT_EQ(r.token.claims.account, "shop");
  EXPECT_EQ(r.token.claims.max_duration_s, 600u);
  EXPECT_EQ(r.token.kid, "k1");
}

TEST_F(EdgeAuthTest, StaleNonceWithRightPasswordAsksForStaleRetry) {
  browser_.nonce = nonce_of(auth_.challenge(kNow, "flow-1", false)[0]);
  const auto c = browser_.creds("REGISTER");
  AuthResult r;
  auth_.authenticate(kNow + 301, &c, "REGISTER", "flow-1", "", r);
  EXPECT_EQ(r.action, AuthAction::challenge);
  EXPECT_TRUE(r.stale);
  EXPECT_NE(auth_.challenge(kNow + 301, "flow-1", true)[0].find("stale=true"), std::string::npos);
  // Stale nonce and a wrong password: no stale hint, a refusal.
  browser_.password = "wrong";
  const auto bad = browser_.creds("REGISTER");
  auth_.authenticate(kNow + 301, &bad, "REGISTER", "flow-1", "", r);
  EXPECT_EQ(r.action, AuthAction::forbidden);
  EXPECT_EQ(r.reason, "Wrong password");
}

TEST_F(EdgeAuthTest, ForeignNonceOrRealmIsRechallenged) {
  browser_.nonce = nonce_of(auth_.challenge(kNow, "flow-1", false)[0]);
  AuthResult r;
  const auto other_realm = browser_.creds("INVITE", "elsewhere.example");
  auth_.authenticate(kNow, &other_realm, "INVITE", "flow-1", "15551234567", r);
  EXPECT_EQ(r.action, AuthAction::challenge);
  EXPECT_FALSE(r.stale);
  // A nonce from another flow, with the right password: never accepted, re-challenged stale.
  const auto other_flow = browser_.creds("INVITE");
  auth_.authenticate(kNow, &other_flow, "INVITE", "flow-2", "15551234567", r);
  EXPECT_EQ(r.action, AuthAction::challenge);
  EXPECT_TRUE(r.stale);
  // A foreign nonce with a wrong password or a bad token: a plain challenge, no reason leaked.
  browser_.password = "wrong";
  const auto wrong = browser_.creds("INVITE");
  auth_.authenticate(kNow, &wrong, "INVITE", "flow-2", "15551234567", r);
  EXPECT_EQ(r.action, AuthAction::challenge);
  EXPECT_FALSE(r.stale);
  EXPECT_EQ(r.reason, "");
  browser_.user = "garbage";
  const auto junk = browser_.creds("INVITE");
  auth_.authenticate(kNow, &junk, "INVITE", "flow-2", "15551234567", r);
  EXPECT_EQ(r.action, AuthAction::challenge);
  EXPECT_FALSE(r.stale);
}

TEST_F(EdgeAuthTest, NonceFromBeforeARestartGetsAStaleRetry) {
  const std::array<std::uint8_t, 32> old_key{99};
  browser_.nonce = NonceKey(old_key).issue(kNow, "flow-1");  // the previous process's key
  const auto c = browser_.creds("REGISTER");
  AuthResult r;
  auth_.authenticate(kNow + 5, &c, "REGISTER", "flow-1", "", r);
  EXPECT_EQ(r.action, AuthAction::challenge);
  EXPECT_TRUE(r.stale);
  browser_.nonce = nonce_of(auth_.challenge(kNow + 5, "flow-1", true)[0]);
  const auto retry = browser_.creds("REGISTER");
  auth_.authenticate(kNow + 6, &retry, "REGISTER", "flow-1", "", r);
  EXPECT_EQ(r.action, AuthAction::accept);
}

TEST_F(EdgeAuthTest, RefusalsCarryTheReason) {
  browser_.nonce = nonce_of(auth_.challenge(kNow, "flow-1", false)[0]);
  AuthResult r;
  auto c = browser_.creds("INVITE");
  auth_.authenticate(kNow, &c, "INVITE", "flow-1", "4420700000", r);  // outside num=1555123*
  EXPECT_EQ(r.action, AuthAction::forbidden);
  EXPECT_EQ(r.reason, "Number not allowed");

  auth_.authenticate(kNow + 3600 + 31, &c, "INVITE", "flow-1", "15551234567", r);  // token expired (nonce stale)
  EXPECT_EQ(r.action, AuthAction::forbidden);
  EXPECT_EQ(r.reason, "Token expired");

  c.response = "00000000000000000000000000000000";
  auth_.authenticate(kNow, &c, "INVITE", "flow-1", "15551234567", r);
  EXPECT_EQ(r.reason, "Wrong password");

  std::string forged = browser_.user;
  forged.replace(forged.find("1555123*"), 8, "*");  // widen the numbers: the MAC no longer matches
  browser_.user = forged;
  c = browser_.creds("INVITE");
  auth_.authenticate(kNow, &c, "INVITE", "flow-1", "4420700000", r);
  EXPECT_EQ(r.action, AuthAction::forbidden);
  EXPECT_EQ(r.reason, "Wrong password");

  browser_.user = "1767223600:kid=k7~acct=shop";
  c = browser_.creds("INVITE");
  auth_.authenticate(kNow, &c, "INVITE", "flow-1", "15551234567", r);
  EXPECT_EQ(r.reason, "Unknown token key");
}

TEST(EdgeAuthOptions, Sha256OfferedFirstWhenAsked) {
  EdgeTokenVerifier v;
  EdgeAuthenticator a(std::make_shared<NonceKey>(kNonceKey), v, EdgeAuthOptions{"r", true, "op"});
  const auto ch = a.challenge(kNow, "", false);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_NE(ch[0].find("algorithm=SHA-256"), std::string::npos);
  EXPECT_NE(ch[1].find("algorithm=MD5"), std::string::npos);
  EXPECT_NE(ch[1].find("opaque=\"op\""), std::string::npos);
}

}  // namespace
}  // namespace webtrunk::auth

// The auth gate on SIP messages: 401/407 challenges, digest as JsSIP sends it, 403 reasons,
// stale nonces, --bind-from-user, --no-auth, and identities from both token shapes.
#include "edge/auth_gate.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "auth/edge_token.hpp"
#include "sip/parser.hpp"
#include "sip/writer.hpp"

namespace webtrunk::edge {
namespace {

constexpr std::int64_t kNow = 1767220000;
constexpr std::string_view kRealm = "edge.test";
const auth::Secret kLegacy{"", "edge-test-secret"};
const auth::Secret kK1{"k1", "edge-secret-k1-0123456789"};

struct Req {
  std::string bytes;
  sip::MessageView view;
  Req(std::string_view method, std::string_view from_user, std::string_view auth_header = {},
      std::string_view auth_value = {}) {
    sip::MessageWriter w(bytes);
    const std::string ruri = method == "REGISTER" ? "sip:edge.test" : "sip:15551234567@edge.test";
    w.request_line(method, ruri);
    w.header("Via", "SIP/2.0/WS x.invalid;branch=z9hG4bK1");
    w.header("Max-Forwards", "69");
    w.header("To", "<sip:15551234567@edge.test>");
    w.header("From", fmt::format("<sip:{}@edge.test>;tag=a", from_user));
    w.header("Call-ID", "c1");
    w.header("CSeq", fmt::format("1 {}", method));
    if (!auth_header.empty()) w.header(auth_header, auth_value);
    w.finish();
    EXPECT_EQ(sip::parse_message(std::string_view(bytes), view).status, sip::ParseStatus::ok);
  }
};

std::string nonce_of(const std::string& challenge) {
  const auto at = challenge.find("nonce=\"") + 7;
  return challenge.substr(at, challenge.find('"', at) - at);
}

std::string credentials(std::string_view method, std::string_view uri, std::string_view user, std::string_view password,
                        const std::string& nonce) {
  auth::DigestCredentials c;
  c.username = user;
  c.realm = kRealm;
  c.nonce = nonce;
  c.uri = uri;
  c.algorithm = "MD5";
  auth::DigestHex h;
  EXPECT_EQ(auth::compute_digest_response(c, method, password, h), auth::DigestStatus::ok);
  // JsSIP's order: algorithm first, no qop when... here the challenge has qop; both verify.
  return fmt::format(R"(Digest algorithm=MD5, username="{}", realm="{}", nonce="{}", uri="{}", response="{}")", user,
                     kRealm, nonce, uri, h.view());
}

class AuthGateTest : public ::testing::Test {
 protected:
  AuthGate make(bool bind_from_user = false) {
    auth::VerifierOptions vo;
    vo.accept_legacy = true;
    auth::EdgeTokenVerifier v(vo);
    EXPECT_TRUE(v.set_secrets({kK1, kLegacy}).ok());
    const std::array<std::uint8_t, 32> key{3};
    return AuthGate(AuthGateOptions{true, bind_from_user, std::string(kRealm)},
                    std::make_unique<auth::EdgeAuthenticator>(std::make_shared<auth::NonceKey>(key), std::move(v),
                                                              auth::EdgeAuthOptions{std::string(kRealm), false, ""}));
  }
};

TEST_F(AuthGateTest, RegisterIsChallenged401AndInvite407) {
  AuthGate g = make();
  Req reg("REGISTER", "alice");
  AuthDecision d = g.check(kNow, reg.view, "flow1", {});
  EXPECT_EQ(d.kind, AuthDecision::Kind::challenge);
  EXPECT_EQ(d.code, 401);
  EXPECT_EQ(d.header_name, "WWW-Authenticate");
  ASSERT_EQ(d.challenges.size(), 1u);
  EXPECT_EQ(d.challenges[0].rfind("Digest realm=\"edge.test\"", 0), 0u);

  Req inv("INVITE", "alice");
  d = g.check(kNow, inv.view, "flow1", "15551234567");
  EXPECT_EQ(d.code, 407);
  EXPECT_EQ(d.header_name, "Proxy-Authenticate");
}

TEST_F(AuthGateTest, KamailioStyleTokenIsAccepted) {
  AuthGate g = make();
  const std::string user = fmt::format("{}:alice", kNow + 600);
  const std::string pw = auth::ephemeral_password(kLegacy.key, user, auth::HmacAlgo::sha1);
  Req reg("REGISTER", "alice");
  const std::string nonce = nonce_of(g.check(kNow, reg.view, "flow1", {}).challenges[0]);
  Req again("REGISTER", "alice", "Authorization", credentials("REGISTER", "sip:edge.test", user, pw, nonce));
  AuthDecision d = g.check(kNow + 1, again.view, "flow1", {});
  ASSERT_EQ(d.kind, AuthDecision::Kind::accept) << d.reason;
  EXPECT_EQ(d.identity, "alice");

  // The nonce is bound to the flow: on another connection it is challenged again.
  d = g.check(kNow + 1, again.view, "flow2", {});
  EXPECT_EQ(d.kind, AuthDecision::Kind::challenge);

  // Stale nonce with the right password: challenge again with stale=true.
  d = g.check(kNow + 400, again.view, "flow1", {});
  EXPECT_EQ(d.kind, AuthDecision::Kind::challenge);
  EXPECT_NE(d.challenges[0].find("stale=true"), std::string::npos);
}

TEST_F(AuthGateTest, ForbiddenReasonsSayWhy) {
  AuthGate g = make();
  Req inv("INVITE", "alice");
  const std::string nonce = nonce_of(g.check(kNow, inv.view, "f", "15551234567").challenges[0]);
  auto try_token = [&](const std::string& user, const std::string& pw) {
    Req r("INVITE", "alice", "Proxy-Authorization",
          credentials("INVITE", "sip:15551234567@edge.test", user, pw, nonce));
    return g.check(kNow, r.view, "f", "15551234567");
  };
  const std::string good = fmt::format("{}:alice", kNow + 600);
  AuthDecision d = try_token(good, "wrong-password");
  EXPECT_EQ(d.code, 403);
  EXPECT_EQ(d.reason, "Wrong password");

  const std::string old = fmt::format("{}:alice", kNow - 600);
  d = try_token(old, auth::ephemeral_password(kLegacy.key, old, auth::HmacAlgo::sha1));
  EXPECT_EQ(d.code, 403);
  EXPECT_EQ(d.reason, "Token expired");

  d = try_token("garbage", "x");
  EXPECT_EQ(d.code, 403);
  EXPECT_EQ(d.reason, "Malformed token");

  // Our own tokens: the caller is u=, the number claim applies.
  auto t = auth::mint_edge_token(kK1, kNow + 600, "bob", auth::MintClaims{"shop", {"1555*"}, 600});
  ASSERT_TRUE(t.ok());
  d = try_token(t->username, t->password);
  ASSERT_EQ(d.kind, AuthDecision::Kind::accept) << d.reason;
  EXPECT_EQ(d.identity, "bob");
  EXPECT_EQ(d.account, "shop");
  EXPECT_EQ(d.max_duration_s, 600u);
}

TEST_F(AuthGateTest, BindFromUser) {
  AuthGate g = make(true);
  const std::string user = fmt::format("{}:mallory", kNow + 600);
  const std::string pw = auth::ephemeral_password(kLegacy.key, user, auth::HmacAlgo::sha1);
  Req reg("REGISTER", "alice");
  const std::string nonce = nonce_of(g.check(kNow, reg.view, "f", {}).challenges[0]);
  Req again("REGISTER", "alice", "Authorization", credentials("REGISTER", "sip:edge.test", user, pw, nonce));
  AuthDecision d = g.check(kNow, again.view, "f", {});
  EXPECT_EQ(d.code, 403);
  EXPECT_EQ(d.reason, "From user does not match token");
  Req own("REGISTER", "mallory", "Authorization", credentials("REGISTER", "sip:edge.test", user, pw, nonce));
  EXPECT_EQ(g.check(kNow, own.view, "f", {}).kind, AuthDecision::Kind::accept);
}

TEST_F(AuthGateTest, NoAuthLetsEveryoneThroughAsTheirFromUser) {
  AuthGate g(AuthGateOptions{false, false, std::string(kRealm)}, nullptr);
  Req inv("INVITE", "carol");
  AuthDecision d = g.check(kNow, inv.view, "f", "15551234567");
  EXPECT_EQ(d.kind, AuthDecision::Kind::accept);
  EXPECT_EQ(d.identity, "carol");
}

}  // namespace
}  // namespace webtrunk::edge

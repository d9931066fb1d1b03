// The auth service, request by request without sockets: the token exchange (ours and Voxbone's
// shape, the auth.md vectors), every error a page or an admin can see, CORS, the admin API, and
// the chain's last link: the edge token it answers is accepted by the edge's own check
// (EdgeTokenVerifier and EdgeAuthenticator, the code behind edge/auth_gate) with the same edge secret.
#include "auth/auth_service.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "auth/edge_authenticator.hpp"
#include "auth/edge_token_verifier.hpp"
#include "core/log.hpp"

namespace webtrunk::auth {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::int64_t kNow = 1'700'000'000;
const core::Instant kT0{std::chrono::seconds(5000)};
const Secret kEdge{"e1", "edge-secret-0123456789abcdef"};
constexpr const char* kAdmin = "admin-token-for-tests-42";
constexpr const char* kCustSecret = "cust-secret-0123456789";
constexpr const char* kOldSecret = "old-cust-secret-abcdefgh";

// A request with owned storage for its views.
struct Req {
  Req(std::string m, std::string t, std::string b = "") : method(std::move(m)), target(std::move(t)), body(std::move(b)) {}
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> hdrs;
  std::string peer = "192.0.2.10:40000";
  std::int64_t unix_time = kNow;

  Req& h(std::string n, std::string v) {
    hdrs.emplace_back(std::move(n), std::move(v));
    return *this;
  }
  core::HttpResponse run(AuthService& svc, core::Instant now = kT0) {
    std::vector<core::HttpHeader> views;
    for (const auto& [n, v] : hdrs) views.push_back({n, v});
    core::HttpRequest r;
    r.method = method;
    r.target = target;
    const auto q = r.target.find('?');
    r.path = r.target.substr(0, q);
    r.query = q == std::string_view::npos ? std::string_view{} : r.target.substr(q + 1);
    r.headers = views;
    r.body = body;
    r.peer = core::SockAddr::parse(peer).value();
    r.unix_time = unix_time;
    return svc.handle(r, now);
  }
};

Req post_token(const std::string& body) { return Req{"POST", "/v1/token", body}; }
Req admin(std::string method, std::string target, std::string body = "") {
  Req r{std::move(method), std::move(target), std::move(body)};
  r.h("Authorization", std::string("Bearer ") + kAdmin);
  return r;
}

json body_of(const core::HttpResponse& r) { return json::parse(r.body); }
std::string header(const core::HttpResponse& r, std::string_view n) {
  const std::string* v = r.find(n);
  return v ? *v : "";
}

class AuthServiceTest : public ::testing::Test {
 protected:
  AuthServiceTest() : store_(AccountStore::open(":memory:").value()), svc_(make()) {
    provision("shop", R"({"secrets":[{"kid":"k2","secret":")" + std::string(kCustSecret) +
                          R"("},{"kid":"k1","secret":")" + kOldSecret +
                          R"("}],"origins":["https://shop.example"],"numbers":["+15551230000","1555124*"],)"
                          R"("limits":{"max_call_seconds":600,"tokens_per_minute":6000,"max_calls":7}})");
  }
  AuthService make(AuthServiceOptions o = {}) {
    if (o.admin_token.empty()) o.admin_token = kAdmin;
    if (o.edge_uris.empty()) o.edge_uris = {"wss://edge.example.net:443"};
    return AuthService(*store_, kEdge, std::move(o));
  }
  void provision(const std::string& id, const std::string& doc) {
    auto r = admin("PUT", "/v1/accounts/" + id, doc).run(svc_);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  static std::string token_json(std::string_view account, std::string_view user, std::string_view secret,
                                std::int64_t now = kNow, HmacAlgo algo = HmacAlgo::sha256) {
    return customer_token_json(mint_customer_token(account, user, secret, now, kCustomerTokenTtl, algo));
  }

  std::unique_ptr<AccountStore> store_;
  AuthService svc_;
};

TEST_F(AuthServiceTest, ExchangeAnswersAnEdgeTokenTheEdgeAccepts) {
  auto r = post_token(token_json("shop", "alice", kCustSecret)).h("Origin", "https://shop.example").run(svc_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "Content-Type"), "application/json");
  EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), "https://shop.example");
  EXPECT_EQ(header(r, "Vary"), "Origin");
  EXPECT_EQ(header(r, "Cache-Control"), "no-store");
  const json b = body_of(r);
  EXPECT_EQ(b["ttl"], 3600);
  EXPECT_EQ(b["expires_at"], kNow + 3600);
  EXPECT_EQ(b["uris"], json::array({"wss://edge.example.net:443"}));
  EXPECT_EQ(b["ice_servers"], json::array());
  const std::string user = b["username"], pass = b["password"];
  EXPECT_EQ(user, "1700003600:kid=e1~acct=shop~num=15551230000.1555124*~dur=600~calls=7~u=alice");
  // Kamailio auth_ephemeral's derivation (auth.md §1.2) with SHA-256: what the edge recomputes.
  EXPECT_EQ(pass, ephemeral_password(kEdge.key, user, HmacAlgo::sha256));

  // The edge's view: same secret file, no customer state.
  EdgeTokenVerifier v;
  ASSERT_TRUE(v.set_secrets({kEdge}));
  TokenCheck tc;
  v.check_bearer(kNow + 10, user, pass, tc);
  ASSERT_TRUE(tc.ok()) << tc.reason();
  EXPECT_EQ(tc.claims.account, "shop");
  EXPECT_EQ(tc.claims.max_duration_s, 600u);
  EXPECT_TRUE(tc.claims.allows_number("+15551230000"));
  EXPECT_TRUE(tc.claims.allows_number("15551249999"));
  EXPECT_FALSE(tc.claims.allows_number("15559999999"));

  // And the whole INVITE decision as edge/auth_gate runs it: challenge, then a JsSIP-style MD5
  // digest with the returned username/password.
  EdgeAuthenticator edge(std::make_shared<const NonceKey>(NonceKey::generate()), std::move(v),
                         EdgeAuthOptions{"edge.example.net", false, ""});
  const std::string ch = edge.challenge(kNow + 10, "flow-7", false)[0];
  const auto at = ch.find("nonce=\"") + 7;
  const std::string nonce = ch.substr(at, ch.find('"', at) - at);
  auto invite = [&](const std::string& uri, AuthResult& out) {
    DigestCredentials c;
    c.username = user;
    c.realm = "edge.example.net";
    c.nonce = nonce;
    c.uri = uri;
    c.qop = "auth";
    c.nc = "00000001";
    c.cnonce = "0a4f113b";
    DigestHex h;
    ASSERT_EQ(compute_digest_response(c, "INVITE", pass, h), DigestStatus::ok);
    c.response = h.view();
    const std::string called = uri.substr(4, uri.find('@') - 4);
    edge.authenticate(kNow + 11, &c, "INVITE", "flow-7", called, out);
  };
  AuthResult ok;
  invite("sip:+15551230000@edge.example.net", ok);
  EXPECT_EQ(ok.action, AuthAction::accept) << ok.reason;
  AuthResult other;
  invite("sip:+15559999999@edge.example.net", other);
  EXPECT_EQ(other.action, AuthAction::forbidden);
  EXPECT_EQ(other.reason, "Number not allowed");
}

TEST_F(AuthServiceTest, EverySecretOfTheAccountVerifiesForRotation) {
  for (const char* s : {kCustSecret, kOldSecret}) {
    auto r = post_token(token_json("shop", "bob", s)).run(svc_);
    EXPECT_EQ(r.status, 200) << s << ": " << r.body;
  }
}

// auth.md §6 "Two-step chain example": Voxbone's servlet output for login acme with secret
// cust-s3cr3t at 1700000000, SHA-1, no account field (the login is the account).
TEST_F(AuthServiceTest, VoxboneServletOutputAndItsFormMangledCopy) {
  Account acme;
  acme.id = "acme";
  acme.secrets = {{"v1", "cust-s3cr3t"}};  // the vector's short secret: put directly, the admin API wants 16+
  acme.numbers = {"*"};
  ASSERT_TRUE(store_->put(acme));
  const std::string vox = R"({"key":"/se+dfqxK+HsCpgEGNtlnOerokw=","expires":1700000300,"username":"acme"})";
  auto r = post_token(vox).run(svc_);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string user = body_of(r)["username"];
  EXPECT_TRUE(user.starts_with("1700003600:kid=e1~acct=acme~num=*~calls=100~u=acme")) << user;
  // The same token with '+' turned into ' ' by a form decoder (auth.md §5.3) is the same token.
  auto again = post_token(R"({"key":"/se dfqxK HsCpgEGNtlnOerokw=","expires":"1700000300","username":"acme"})").run(svc_);
  EXPECT_EQ(again.status, 403) << again.body;
  EXPECT_EQ(body_of(again)["error"], "token_replayed");
  // The account may also come in the query string.
  Account other = acme;
  other.id = "acme-eu";
  ASSERT_TRUE(store_->put(other));
  Req q = post_token(R"({"key":"/se+dfqxK+HsCpgEGNtlnOerokw=","expires":1700000300,"username":"acme"})");
  q.target = "/v1/token?account=acme-eu";
  auto viaq = q.run(svc_);
  ASSERT_EQ(viaq.status, 200) << viaq.body;
  EXPECT_NE(std::string(body_of(viaq)["username"]).find("~acct=acme-eu~"), std::string::npos);
}

// The TURN REST / Kamailio / coturn vectors of auth.md §6: the password derivation the service
// uses for what it mints, byte for byte.
TEST(AuthVectors, EphemeralPasswordsMatchKamailioCoturnAndTurnRest) {
  EXPECT_EQ(ephemeral_password("s3cr3t", "1700000000:alice", HmacAlgo::sha1), "81mjszbESz91Gv1n2xG/SVLX+uY=");
  EXPECT_EQ(ephemeral_password("s3cr3t", "1700000000:alice", HmacAlgo::sha256),
            "A4cbzeQL2ZNwJRQzZGlRCL3CB08ZaRgjmoIyCEi1jVk=");
  EXPECT_EQ(ephemeral_password("thisisasupersecretsecret", "1479829425:abcdefghijklmnop", HmacAlgo::sha1),
            "4VJLVbihLzuxgMfDrm5C3zy8kLQ=");
  EXPECT_EQ(ephemeral_password("ThisIsAlsoSuperSecret", "1479829425:abcdefghijklmnop", HmacAlgo::sha1),
            "Ol9DEqnvyN4g+IAM+vFnqhfWUTE=");
  EXPECT_EQ(ephemeral_password("edge-s3cr3t", "1700003600:acme", HmacAlgo::sha1), "AtnIUi8itxW5CjTdF0NXHbaVuhQ=");
  EXPECT_EQ(ephemeral_password("edge-s3cr3t", "1700003600:acme", HmacAlgo::sha256),
            "KGUbQm6oyJ2p9m1mBgnbMAqNh1gwgCQxKhZ0ARIFx7Y=");
  // The customer side of the chain example.
  EXPECT_EQ(mint_customer_token("acme", "acme", "cust-s3cr3t", 1700000000, 300, HmacAlgo::sha1).key,
            "/se+dfqxK+HsCpgEGNtlnOerokw=");
}

struct Refused {
  const char* what;
  std::string body;
  int status;
  const char* code;
  const char* reason;
};

TEST_F(AuthServiceTest, EachRefusalSaysWhyWithTheRightStatus) {
  const Refused cases[] = {
      {"not json", "{nope", 400, "bad_request", "JSON object"},
      {"no key", R"({"account":"shop","username":"a","expires":1700000300})", 400, "bad_request", "key"},
      {"bad expires", R"({"account":"shop","username":"a","expires":"soon","key":"x"})", 400, "bad_request", "expires"},
      {"unknown account", token_json("nobody", "a", kCustSecret), 404, "unknown_account", "no such account"},
      {"wrong secret", token_json("shop", "a", "some-other-secret-123456"), 401, "wrong_secret",
       "wrong customer secret"},
      {"sha1 wrong secret", token_json("shop", "a", "some-other-secret-123456", kNow, HmacAlgo::sha1), 401,
       "wrong_secret", "wrong customer secret"},
      {"key not base64", R"({"account":"shop","username":"a","expires":1700000300,"key":"!!!"})", 400,
       "malformed_token", "malformed customer token"},
      {"expired", token_json("shop", "a", kCustSecret, kNow - 400), 401, "token_expired", "customer token expired"},
      {"lifetime", customer_token_json(mint_customer_token("shop", "a", kCustSecret, kNow, 3600)), 401,
       "token_lifetime_too_long", "lives too long"},
  };
  for (const auto& c : cases) {
    auto r = post_token(c.body).run(svc_);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
    const json b = body_of(r);
    EXPECT_EQ(b["error"], c.code) << c.what;
    EXPECT_NE(std::string(b["reason"]).find(c.reason), std::string::npos) << c.what << ": " << b["reason"];
  }
  // Within the skew window (30 s) an expired token still passes; the clock hint is in the reason.
  EXPECT_EQ(post_token(token_json("shop", "a", kCustSecret, kNow - 320)).run(svc_).status, 200);
  auto late = post_token(token_json("shop", "b", kCustSecret, kNow - 331)).run(svc_);
  EXPECT_NE(std::string(body_of(late)["reason"]).find("expired 31 s ago"), std::string::npos) << late.body;
}

TEST_F(AuthServiceTest, ReplayIsRefusedAfterARestartToo) {
  const std::string tok = token_json("shop", "alice", kCustSecret);
  const std::string other = token_json("shop", "bob", kCustSecret);
  ASSERT_EQ(post_token(tok).run(svc_).status, 200);
  // A new service on the same store: what a restart of the process is, the memory gone.
  AuthService restarted = make();
  auto n = restarted.restore_replay(kNow);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1u);
  auto again = post_token(tok).run(restarted);
  EXPECT_EQ(again.status, 403) << again.body;
  EXPECT_EQ(body_of(again)["error"], "token_replayed");
  EXPECT_EQ(post_token(other).run(restarted).status, 200);  // other tokens are not held
  // Once past its expiry + skew a token is pruned from the store: nothing grows for ever.
  AuthService later = make();
  auto none = later.restore_replay(kNow + kCustomerTokenTtl + 31);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0u);
  auto left = store_->used_tokens(0);
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty());
}

TEST_F(AuthServiceTest, ReplayIsRefusedAndARateLimitedTokenIsNotBurned) {
  const std::string t = token_json("shop", "carol", kCustSecret);
  EXPECT_EQ(post_token(t).run(svc_).status, 200);
  auto again = post_token(t).run(svc_);
  EXPECT_EQ(again.status, 403);
  EXPECT_EQ(body_of(again)["reason"], "customer token already used: fetch a new one for each call");

  provision("tiny", R"({"secrets":[{"kid":"k","secret":"tiny-secret-0123456789"}],"numbers":["*"],)"
                    R"("limits":{"tokens_per_minute":6}})");  // burst 1, then one per 10 s
  EXPECT_EQ(post_token(token_json("tiny", "a", "tiny-secret-0123456789")).run(svc_).status, 200);
  const std::string second = token_json("tiny", "b", "tiny-secret-0123456789");
  auto limited = post_token(second).run(svc_, kT0 + 1s);
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(header(limited, "Retry-After"), "9");
  EXPECT_EQ(body_of(limited)["error"], "rate_limited");
  // Garbage for that account does not eat its budget; the limited token works once there is room.
  EXPECT_EQ(post_token(token_json("tiny", "c", "not-the-secret-0123456")).run(svc_, kT0 + 10s).status, 401);
  EXPECT_EQ(post_token(second).run(svc_, kT0 + 10s).status, 200);
}

TEST_F(AuthServiceTest, PerAddressLimitAppliesToEveryRequest) {
  AuthServiceOptions o;
  o.per_address = RateSpec{1.0, 3.0};
  AuthService svc = make(o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post_token("{bad").run(svc).status, 400) << i;
  auto r = post_token(token_json("shop", "d", kCustSecret)).run(svc);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(header(r, "Retry-After"), "1");
  EXPECT_NE(std::string(body_of(r)["reason"]).find("this address"), std::string::npos);
  Req other = post_token(token_json("shop", "d", kCustSecret));
  other.peer = "198.51.100.7:1234";
  EXPECT_EQ(other.run(svc).status, 200) << "another address has its own budget";
}

TEST_F(AuthServiceTest, CorsOnlyForTheAccountsOrigins) {
  auto bad = post_token(token_json("shop", "e", kCustSecret)).h("Origin", "https://evil.example").run(svc_);
  EXPECT_EQ(bad.status, 403);
  EXPECT_EQ(body_of(bad)["error"], "origin_not_allowed");
  EXPECT_EQ(bad.find("Access-Control-Allow-Origin"), nullptr);
  EXPECT_EQ(header(bad, "Vary"), "Origin");
  // The refusal did not use the token up.
  auto good = post_token(token_json("shop", "e", kCustSecret)).h("Origin", "https://shop.example").run(svc_);
  EXPECT_EQ(good.status, 200) << good.body;
  // An error after the origin check is readable by the page (it can show the reason).
  auto wrong = post_token(token_json("shop", "f", "not-the-secret-0123456")).h("Origin", "https://shop.example").run(svc_);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(header(wrong, "Access-Control-Allow-Origin"), "https://shop.example");

  auto pre = [&](const char* target, const char* origin) {
    Req r{"OPTIONS", target, ""};
    r.h("Origin", origin).h("Access-Control-Request-Method", "POST").h("Access-Control-Request-Headers", "content-type");
    return r.run(svc_);
  };
  auto p1 = pre("/v1/token", "https://shop.example");
  EXPECT_EQ(p1.status, 204);
  EXPECT_EQ(header(p1, "Access-Control-Allow-Origin"), "https://shop.example");
  EXPECT_EQ(header(p1, "Access-Control-Allow-Methods"), "POST, OPTIONS");
  EXPECT_EQ(header(p1, "Access-Control-Allow-Headers"), "Content-Type");
  auto p2 = pre("/v1/token", "https://evil.example");
  EXPECT_EQ(p2.status, 403);
  EXPECT_EQ(p2.find("Access-Control-Allow-Origin"), nullptr);
  provision("other", R"({"secrets":[{"kid":"k","secret":"other-secret-0123456789"}],"numbers":["*"],)"
                     R"("origins":["https://other.example"]})");
  EXPECT_EQ(pre("/v1/token?account=shop", "https://other.example").status, 403);
  EXPECT_EQ(pre("/v1/token?account=other", "https://other.example").status, 204);
}

TEST_F(AuthServiceTest, AdminApiNeedsTheBearerTokenAndNeverShowsASecret) {
  Req none{"GET", "/v1/accounts", ""};
  auto r = none.run(svc_);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer realm=\"webtrunk-admin\"");
  Req wrong{"GET", "/v1/accounts", ""};
  wrong.h("Authorization", "Bearer admin-token-for-tests-43");
  EXPECT_EQ(wrong.run(svc_).status, 401);
  Req prefix{"GET", "/v1/accounts", ""};
  prefix.h("Authorization", "Bearer admin-token-for-tests-4");
  EXPECT_EQ(prefix.run(svc_).status, 401) << "a prefix of the token is not the token";

  auto list = admin("GET", "/v1/accounts").run(svc_);
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(body_of(list)["accounts"], json::array({"shop"}));
  auto one = admin("GET", "/v1/accounts/shop").run(svc_);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.body.find(kCustSecret), std::string::npos) << one.body;
  EXPECT_EQ(one.body.find(kOldSecret), std::string::npos) << one.body;
  const json b = body_of(one);
  EXPECT_EQ(b["secrets"][0]["kid"], "k2");
  EXPECT_EQ(b["secrets"][0].count("secret"), 0u);
  EXPECT_EQ(b["limits"]["max_call_seconds"], 600);

  auto put = admin("PUT", "/v1/accounts/shop2", R"({"secrets":[{"kid":"k","secret":"x"}],"numbers":["*"]})").run(svc_);
  EXPECT_EQ(put.status, 400);
  EXPECT_NE(std::string(body_of(put)["reason"]).find("secrets[0].secret"), std::string::npos) << put.body;
  auto created = admin("PUT", "/v1/accounts/shop2", R"({"secrets":[{"kid":"k","secret":"shop2-secret-0123456789"}],"numbers":["*"]})").run(svc_);
  EXPECT_EQ(created.status, 200);
  EXPECT_EQ(body_of(created)["created"], true);
  EXPECT_EQ(created.body.find("shop2-secret-0123456789"), std::string::npos);
  auto replaced =
      admin("PUT", "/v1/accounts/shop2", R"({"secrets":[{"kid":"k","secret":"shop2-secret-0123456789"}],"numbers":["1"]})")
          .run(svc_);
  EXPECT_EQ(replaced.status, 200);
  EXPECT_EQ(body_of(replaced)["created"], false);
  EXPECT_EQ(body_of(admin("GET", "/v1/accounts/shop2").run(svc_))["numbers"], json::array({"1"}));
  EXPECT_EQ(admin("DELETE", "/v1/accounts/shop2").run(svc_).status, 200);
  EXPECT_EQ(admin("DELETE", "/v1/accounts/shop2").run(svc_).status, 404);
  EXPECT_EQ(admin("GET", "/v1/accounts/shop2").run(svc_).status, 404);
  EXPECT_EQ(post_token(token_json("shop2", "a", "shop2-secret-0123456789")).run(svc_).status, 404)
      << "a deleted account's tokens stop working at once";
  EXPECT_EQ(admin("GET", "/v1/accounts/bad%20id").run(svc_).status, 400);
  EXPECT_EQ(admin("POST", "/v1/accounts/shop").run(svc_).status, 405);

  AuthServiceOptions off;
  off.admin_token = "";
  AuthService closed(*store_, kEdge, off);
  auto disabled = admin("GET", "/v1/accounts").run(closed);
  EXPECT_EQ(disabled.status, 403);
  EXPECT_EQ(body_of(disabled)["error"], "admin_disabled");
}

TEST_F(AuthServiceTest, HealthMetricsAndUnknownRoutes) {
  EXPECT_EQ(Req("GET", "/healthz").run(svc_).body, "ok\n");
  EXPECT_EQ(post_token(token_json("shop", "m", kCustSecret)).run(svc_).status, 200);
  auto m = Req("GET", "/metrics").run(svc_);
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("webtrunk_auth_tokens_issued_total"), std::string::npos);
  EXPECT_NE(m.body.find("webtrunk_auth_exchange_wrong_secret_total"), std::string::npos);
  EXPECT_EQ(Req("GET", "/nope").run(svc_).status, 404);
  auto get_token = Req("GET", "/v1/token").run(svc_);
  EXPECT_EQ(get_token.status, 405);
  EXPECT_EQ(header(get_token, "Allow"), "POST, OPTIONS");
}

// Runs a whole session (admin writes, exchanges, every refusal) at debug level with stderr captured:
// no secret, key, admin token or edge password may appear in the log.
TEST_F(AuthServiceTest, NoSecretInAnyLogLine) {
  char path[] = "/tmp/webtrunk-authlog-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(fd, 2);
  core::set_log_level(core::LogLevel::debug);
  std::vector<std::string> must_not_appear = {kCustSecret, kOldSecret, kAdmin, kEdge.key};
  // Every request from its own source: refusals are logged once per source per interval, and each
  // line must be checked.
  int source = 0;
  auto own = [&source](Req r) {
    r.peer = "192.0.2." + std::to_string(100 + source++) + ":40000";
    return r;
  };
  {
    provision("logged", R"({"secrets":[{"kid":"k","secret":"logged-secret-0123456789"}],"numbers":["*"]})");
    must_not_appear.push_back("logged-secret-0123456789");
    admin("PUT", "/v1/accounts/logged", R"({"secrets":[{"kid":"k","secret":"short"}],"numbers":["*"]})").run(svc_);
    Req bad_admin{"GET", "/v1/accounts", ""};
    bad_admin.h("Authorization", "Bearer admin-token-for-tests-43");
    own(bad_admin).run(svc_);
    for (int i = 0; i < 3; ++i) {
      const CustomerToken t = mint_customer_token("shop", "u" + std::to_string(i), kCustSecret, kNow);
      must_not_appear.push_back(t.key);
      auto ok = post_token(customer_token_json(t)).run(svc_);
      must_not_appear.push_back(body_of(ok)["password"]);
      own(post_token(customer_token_json(t))).run(svc_);  // replayed
    }
    own(post_token(token_json("shop", "w", "not-the-secret-0123456"))).run(svc_);
    own(post_token(token_json("shop", "x", kCustSecret, kNow - 1000))).run(svc_);
    own(post_token(token_json("shop", "y", kCustSecret)).h("Origin", "https://evil.example")).run(svc_);
  }
  core::set_log_level(core::LogLevel::info);
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  ::unlink(path);
  const std::string log = ss.str();
  EXPECT_NE(log.find("auth.issued"), std::string::npos) << "the capture caught nothing:\n" << log;
  EXPECT_NE(log.find("outcome=wrong_secret"), std::string::npos);
  for (const auto& s : must_not_appear) EXPECT_EQ(log.find(s), std::string::npos) << "leaked: " << s << "\n" << log;
}

}  // namespace
}  // namespace webtrunk::auth

namespace webtrunk::auth {
namespace {

// The CLI writes the account file while the service runs: the service sees the write within
// 100 ms (one file-lock round trip per 100 ms on the token path, not one per request).
TEST(AuthServiceStore, AnotherProcessesWriteIsSeenWithinAShortDelay) {
  char dir[] = "/tmp/webtrunk-svcstore-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/accounts.db";
  auto mine = AccountStore::open(path);
  auto cli = AccountStore::open(path);
  ASSERT_TRUE(mine && cli);
  AuthServiceOptions o;
  o.admin_token = kAdmin;
  AuthService svc(**mine, kEdge, o);
  const std::string t1 = customer_token_json(mint_customer_token("late", "a", "late-secret-0123456789", kNow));
  const std::string t2 = customer_token_json(mint_customer_token("late", "b", "late-secret-0123456789", kNow));
  EXPECT_EQ(post_token(t1).run(svc, kT0).status, 404);
  ASSERT_TRUE((*cli)->put(account_from_json("late", R"({"secrets":[{"kid":"k","secret":"late-secret-0123456789"}],"numbers":["*"]})").value()));
  EXPECT_EQ(post_token(t1).run(svc, kT0 + 50ms).status, 404) << "looked 50 ms ago";
  EXPECT_EQ(post_token(t1).run(svc, kT0 + 100ms).status, 200);
  // The admin API always looks.
  ASSERT_TRUE((*cli)->remove("late"));
  EXPECT_EQ(admin("GET", "/v1/accounts/late").run(svc, kT0 + 110ms).status, 404);
  EXPECT_EQ(post_token(t2).run(svc, kT0 + 120ms).status, 404);
  std::filesystem::remove_all(dir);
}


// Group commit (what `webtrunk auth` runs): the used tokens of a group are in one transaction,
// invisible to another process (and lost to a kill -9) until end_group() commits them; an admin
// write in the middle commits the group first and does not lose it.
TEST(AuthServiceStore, GroupCommitMakesAGroupsTokensDurableAtOnce) {
  char dir[] = "/tmp/webtrunk-svcgroup-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/accounts.db";
  auto mine = AccountStore::open(path);
  auto other = AccountStore::open(path);
  ASSERT_TRUE(mine && other);
  constexpr const char* kSecret = "group-secret-0123456789";
  ASSERT_TRUE((*mine)->put(account_from_json("g", R"({"secrets":[{"kid":"k","secret":"group-secret-0123456789"}],"numbers":["*"]})").value()));
  AuthServiceOptions o;
  o.admin_token = kAdmin;
  o.group_commit = true;
  AuthService svc(**mine, kEdge, o);
  auto tok = [&](const char* user) { return customer_token_json(mint_customer_token("g", user, kSecret, kNow)); };
  EXPECT_EQ(post_token(tok("a")).run(svc).status, 200);
  EXPECT_EQ(post_token(tok("b")).run(svc).status, 200);
  EXPECT_EQ(post_token(tok("a")).run(svc).status, 403);  // the in-memory cache refuses at once
  EXPECT_EQ(svc.group_size(), 2u);
  auto seen = (*other)->used_tokens(kNow);
  ASSERT_TRUE(seen) << seen.error().message;
  EXPECT_TRUE(seen->empty()) << "not committed yet: nothing on disk";
  auto n = svc.end_group();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ((*other)->used_tokens(kNow)->size(), 2u);

  // An admin write inside a group commits the group before its own FULL-sync commit.
  EXPECT_EQ(post_token(tok("c")).run(svc).status, 200);
  EXPECT_EQ(admin("PUT", "/v1/accounts/h", R"({"secrets":[{"kid":"k","secret":"other-secret-0123456789"}],"numbers":["*"]})").run(svc).status,
            200);
  EXPECT_EQ((*other)->used_tokens(kNow)->size(), 3u);
  EXPECT_EQ(post_token(tok("d")).run(svc).status, 200);
  n = svc.end_group();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ((*other)->used_tokens(kNow)->size(), 4u);
  ASSERT_TRUE((*other)->refresh());
  EXPECT_NE((*other)->find("h"), nullptr);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace webtrunk::auth

// Digest authentication toward the trunk (RFC 3261 §22.2, RFC 8760): the trunk challenges, the
// edge answers with the route's credentials; what the browser sees when that fails.
#include <gtest/gtest.h>

#include "auth/digest.hpp"
#include "sip/auth_params.hpp"
#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::seconds;

constexpr std::string_view kPassword = "trunk-s3cret";

struct PasswordFile : TrunkPasswordFile {
  PasswordFile() : TrunkPasswordFile("trunk_auth_test_pw", kPassword) {}
};

// The credentials in `header` of `req` verify against the trunk's password.
void expect_credentials(const sip::MessageView& req, std::string_view header, std::string_view nonce,
                        std::string_view algorithm) {
  const sip::HeaderField* h = req.find(header);
  ASSERT_NE(h, nullptr) << req.raw();
  sip::AuthParams p;
  ASSERT_TRUE(sip::parse_auth(h->value, p)) << h->value;
  const auth::DigestCredentials c = auth::digest_credentials_from([&](std::string_view n) { return p.get(n); });
  EXPECT_EQ(c.username, "acme");
  EXPECT_EQ(c.realm, "trunk.example");
  EXPECT_EQ(c.nonce, nonce);
  EXPECT_EQ(c.uri, req.request_uri());
  EXPECT_EQ(c.algorithm, algorithm);
  EXPECT_EQ(c.qop, "auth");
  EXPECT_EQ(c.nc, "00000001");
  EXPECT_FALSE(c.cnonce.empty());
  EXPECT_EQ(auth::check_digest(c, req.method_text(), kPassword), auth::DigestStatus::ok);
  EXPECT_EQ(std::string(req.raw()).find(kPassword), std::string::npos);
}

std::string challenge(std::string_view nonce, std::string_view algorithm = "MD5", bool stale = false) {
  return fmt::format("Digest realm=\"trunk.example\", nonce=\"{}\", algorithm={}, qop=\"auth\"{}", nonce, algorithm,
                     stale ? ", stale=true" : "");
}

// The browser calls; returns the first INVITE the trunk got.
Msg call_trunk(Sim& sim, Browser& b, BrowserCall& call) {
  EXPECT_EQ(sim.invite(b, call)->view.status_code(), 100);
  return sim.trunk.next_request("INVITE");
}

TEST(TrunkAuth, ProxyChallengeOnInviteIsAnsweredAndTheCallConnects) {
  PasswordFile pw;
  Sim sim(with_credentials(pw));
  Browser& b = sim.browser("alice");
  BrowserCall call;
  Msg first = call_trunk(sim, b, call);
  EXPECT_EQ(first->view.find("Proxy-Authorization"), nullptr);
  const std::string ch = challenge("n-407-a");
  sim.from_trunk(sim.trunk.respond(first->view, 407, "Proxy Authentication Required", {}, {{"Proxy-Authenticate", ch}}));
  EXPECT_EQ(sim.trunk.next()->view.method(), sip::Method::ack);  // RFC 3261 §17.1.1.3
  Msg second = sim.trunk.next_request("INVITE");
  // RFC 3261 §22.2: same Call-ID and From tag, CSeq one higher.
  EXPECT_EQ(second->view.value(sip::HeaderId::call_id), first->view.value(sip::HeaderId::call_id));
  EXPECT_EQ(second->view.value(sip::HeaderId::from), first->view.value(sip::HeaderId::from));
  EXPECT_EQ(sip::cseq(second->view)->number, sip::cseq(first->view)->number + 1);
  expect_credentials(second->view, "Proxy-Authorization", "n-407-a", "MD5");
  EXPECT_TRUE(b.inbox.empty());  // the browser hears nothing of the challenge

  sim.from_trunk(sim.trunk.respond(second->view, 200, "OK", kAnswer));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.value(sip::HeaderId::call_id), second->view.value(sip::HeaderId::call_id));
  EXPECT_EQ(b.next_response(200)->view.status_code(), 200);
  EXPECT_EQ(sim.core->active_calls(), 1u);
}

TEST(TrunkAuth, ChallengedByeIsSentAgainWithSha256Credentials) {
  PasswordFile pw;
  Sim sim(with_credentials(pw));
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  sim.in_dialog(b, c.call, "BYE", c.call.cseq + 1);
  EXPECT_EQ(b.next()->view.status_code(), 200);
  Msg bye = sim.trunk.next_request("BYE");
  // RFC 8760 §2.4: SHA-256 listed first is the one to answer.
  const std::string sha = challenge("n-401-b", "SHA-256");
  const std::string md5 = challenge("n-401-b", "MD5");
  sim.from_trunk(sim.trunk.respond(bye->view, 401, "Unauthorized", {}, {{"WWW-Authenticate", sha}, {"WWW-Authenticate", md5}}));
  Msg again = sim.trunk.next_request("BYE");
  EXPECT_EQ(sip::cseq(again->view)->number, sip::cseq(bye->view)->number + 1);
  expect_credentials(again->view, "Authorization", "n-401-b", "SHA-256");
  sim.from_trunk(sim.trunk.respond(again->view, 200, "OK"));
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(TrunkAuth, SecondChallengeWithTheSameNonceIs403ToTheBrowser) {
  PasswordFile pw;
  Sim sim(with_credentials(pw));
  Browser& b = sim.browser("alice");
  BrowserCall call;
  const std::string ch = challenge("n-same");
  Msg first = call_trunk(sim, b, call);
  sim.from_trunk(sim.trunk.respond(first->view, 407, "Proxy Authentication Required", {}, {{"Proxy-Authenticate", ch}}));
  Msg second = sim.trunk.next_request("INVITE");
  sim.from_trunk(sim.trunk.respond(second->view, 407, "Proxy Authentication Required", {}, {{"Proxy-Authenticate", ch}}));
  Msg r = b.next_response(403);
  EXPECT_EQ(r->view.reason_phrase(), "Forbidden: trunk refused our credentials");
  // Once per challenge: no third INVITE.
  while (!sim.trunk.inbox.empty()) EXPECT_NE(sim.trunk.next()->view.method(), sip::Method::invite);
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "trunk refused credentials");
}

TEST(TrunkAuth, StaleNonceIsAnsweredOnceMore) {
  PasswordFile pw;
  Sim sim(with_credentials(pw));
  Browser& b = sim.browser("alice");
  BrowserCall call;
  Msg first = call_trunk(sim, b, call);
  sim.from_trunk(sim.trunk.respond(first->view, 401, "Unauthorized", {}, {{"WWW-Authenticate", challenge("n-old")}}));
  Msg second = sim.trunk.next_request("INVITE");
  const std::string stale = challenge("n-new", "MD5", true);
  sim.from_trunk(sim.trunk.respond(second->view, 401, "Unauthorized", {}, {{"WWW-Authenticate", stale}}));
  Msg third = sim.trunk.next_request("INVITE");
  expect_credentials(third->view, "Authorization", "n-new", "MD5");
  // Not stale this time: refused.
  sim.from_trunk(sim.trunk.respond(third->view, 401, "Unauthorized", {}, {{"WWW-Authenticate", challenge("n-3")}}));
  EXPECT_EQ(b.next_response(403)->view.reason_phrase(), "Forbidden: trunk refused our credentials");
}

TEST(TrunkAuth, NoCredentialsConfiguredIs503) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  Msg first = call_trunk(sim, b, call);
  sim.from_trunk(sim.trunk.respond(first->view, 407, "Proxy Authentication Required", {},
                                   {{"Proxy-Authenticate", challenge("n")}}));
  EXPECT_EQ(b.next_response(503)->view.reason_phrase(), "Service Unavailable: trunk asks for authentication");
}

}  // namespace
}  // namespace webtrunk::sim

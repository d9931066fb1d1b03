// Reliable provisional responses on the trunk leg (RFC 3262): the edge PRACKs the trunk's reliable
// 18x in its early dialog, discards retransmitted and out-of-order RSeqs, answers a challenged
// PRACK once, and the browser never hears of 100rel.
#include <gtest/gtest.h>

#include "sip/header_parsers.hpp"
#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Extra = std::vector<std::pair<std::string_view, std::string_view>>;

constexpr std::string_view kRecordRoute = "<sip:192.0.2.7:5060;lr>";

// A reliable 18x to `inv` with RSeq `rseq` (and a Record-Route, so the PRACK must carry a Route).
std::string reliable(Trunk& t, const sip::MessageView& inv, int code, std::string_view reason, std::string_view rseq,
                     std::string_view body = {}) {
  return t.respond(inv, code, reason, body,
                   Extra{{"Require", "100rel"}, {"RSeq", rseq}, {"Record-Route", kRecordRoute}});
}

// The PRACK acknowledges `rseq` of `inv` in the early dialog of the trunk's To tag.
void expect_prack(const sip::MessageView& prack, const sip::MessageView& inv, std::uint32_t rseq,
                  std::uint32_t cseq_num, const Trunk& t) {
  EXPECT_EQ(prack.method(), sip::Method::prack);
  EXPECT_EQ(prack.value(sip::HeaderId::rack), fmt::format("{} {} INVITE", rseq, sip::cseq(inv)->number));
  EXPECT_EQ(prack.value(sip::HeaderId::call_id), inv.value(sip::HeaderId::call_id));
  EXPECT_EQ(sip::from_tag(prack), sip::from_tag(inv));
  EXPECT_EQ(sip::to_tag(prack), t.tag);
  EXPECT_EQ(sip::cseq(prack)->number, cseq_num);
  EXPECT_EQ(sip::cseq(prack)->method, sip::Method::prack);
  EXPECT_EQ(prack.value(sip::HeaderId::route), kRecordRoute);  // RFC 3261 §12.1.2: route set from Record-Route
  EXPECT_EQ(prack.request_uri(), fmt::format("sip:{};transport=UDP", t.addr.to_string()));  // the 18x's Contact
}

// The browser calls; returns the trunk's INVITE.
Msg call_trunk(Sim& sim, Browser& b, BrowserCall& call) {
  EXPECT_EQ(sim.invite(b, call)->view.status_code(), 100);
  return sim.trunk.next_request("INVITE");
}

TEST(Prack, ReliableEarlyAnswerIsPrackedAndTheCallConnects) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  Msg inv = call_trunk(sim, b, call);
  EXPECT_TRUE(sip::has_token(inv->view, sip::HeaderId::supported, "100rel")) << inv->view.raw();
  EXPECT_TRUE(sip::has_token(inv->view, sip::HeaderId::supported, "timer"));
  const std::uint32_t invite_cseq = sip::cseq(inv->view)->number;

  sim.from_trunk(reliable(sim.trunk, inv->view, 183, "Session Progress", "1", kAnswer));
  Msg prack = sim.trunk.next_request("PRACK");
  expect_prack(prack->view, inv->view, 1, invite_cseq + 1, sim.trunk);
  EXPECT_TRUE(sim.trunk.inbox.empty());

  // The early-answer logic is unchanged: a 183 with our answer, and nothing of 100rel.
  Msg early = b.next_response(183);
  EXPECT_FALSE(early->view.body().empty());
  EXPECT_EQ(early->view.find("Require"), nullptr) << early->view.raw();
  EXPECT_EQ(early->view.find("RSeq"), nullptr);

  sim.from_trunk(sim.trunk.respond(prack->view, 200, "OK"));
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", kAnswer));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.value(sip::HeaderId::call_id), inv->view.value(sip::HeaderId::call_id));
  Msg ok = b.next_response(200);
  EXPECT_EQ(ok->view.body(), early->view.body());
  EXPECT_EQ(sim.core->active_calls(), 1u);

  // The browser hangs up: the trunk's BYE comes after the PRACK in the dialog's CSeq order.
  call.to_tag = std::string(sip::to_tag(ok->view));
  sim.in_dialog(b, call, "ACK", call.cseq);
  sim.in_dialog(b, call, "BYE", call.cseq + 1);
  EXPECT_EQ(b.next_response(200)->view.status_code(), 200);
  Msg bye = sim.trunk.next_request("BYE");
  EXPECT_EQ(sip::cseq(bye->view)->number, invite_cseq + 2);
  sim.from_trunk(sim.trunk.respond(bye->view, 200, "OK"));
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(Prack, Trunk100relOffLeavesItOutOfTheInviteAndStillPracksAReliable18x) {
  Sim::Options o;
  o.trunk_100rel = false;
  Sim sim(o);
  Browser& b = sim.browser("alice");
  BrowserCall call;
  Msg inv = call_trunk(sim, b, call);
  EXPECT_FALSE(sip::has_token(inv->view, sip::HeaderId::supported, "100rel")) << inv->view.raw();
  EXPECT_TRUE(sip::has_token(inv->view, sip::HeaderId::supported, "timer"));
  // A trunk that sends a reliable 18x anyway (RFC 3262 §3 forbids it without Supported) still gets
  // its PRACK: it would retransmit the 18x and then end the call otherwise.
  sim.from_trunk(reliable(sim.trunk, inv->view, 183, "Session Progress", "1", kAnswer));
  Msg prack = sim.trunk.next_request("PRACK");
  expect_prack(prack->view, inv->view, 1, sip::cseq(inv->view)->number + 1, sim.trunk);
}

TEST(Prack, RetransmittedReliableProvisionalIsDiscardedAndThePrackRetransmitsItself) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  Msg inv = call_trunk(sim, b, call);
  const std::string r183 = reliable(sim.trunk, inv->view, 183, "Session Progress", "1", kAnswer);
  sim.from_trunk(r183);
  Msg prack = sim.trunk.next_request("PRACK");
  EXPECT_EQ(b.next_response(183)->view.status_code(), 183);

  // RFC 3262 §4: the same RSeq again is neither PRACKed nor processed (the browser hears nothing).
  sim.from_trunk(r183);
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_TRUE(b.inbox.empty());

  // Our PRACK was lost: its own transaction sends it again (RFC 3261 §17.1.2.2 Timer E), same branch.
  sim.advance(milliseconds(600));
  Msg again = sim.trunk.next_request("PRACK");
  EXPECT_EQ(again->view.raw(), prack->view.raw());
  sim.from_trunk(sim.trunk.respond(again->view, 200, "OK"));
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", kAnswer));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method(), sip::Method::ack);
  EXPECT_EQ(b.next_response(200)->view.status_code(), 200);
}

TEST(Prack, TwoReliableProvisionalsInOrderThenAGapIsDiscarded) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  Msg inv = call_trunk(sim, b, call);
  const std::uint32_t invite_cseq = sip::cseq(inv->view)->number;

  sim.from_trunk(reliable(sim.trunk, inv->view, 180, "Ringing", "1"));
  Msg p1 = sim.trunk.next_request("PRACK");
  expect_prack(p1->view, inv->view, 1, invite_cseq + 1, sim.trunk);
  EXPECT_EQ(b.next_response(180)->view.status_code(), 180);
  sim.from_trunk(sim.trunk.respond(p1->view, 200, "OK"));

  sim.from_trunk(reliable(sim.trunk, inv->view, 183, "Session Progress", "2", kAnswer));
  Msg p2 = sim.trunk.next_request("PRACK");
  expect_prack(p2->view, inv->view, 2, invite_cseq + 2, sim.trunk);
  EXPECT_EQ(b.next_response(183)->view.status_code(), 183);
  sim.from_trunk(sim.trunk.respond(p2->view, 200, "OK"));

  // RSeq 4 after 2: out of order, discarded unPRACKed (RFC 3262 §4).
  sim.from_trunk(reliable(sim.trunk, inv->view, 183, "Session Progress", "4", kAnswer));
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_TRUE(b.inbox.empty());
  // An unreliable 180 still goes through as before, with no PRACK.
  sim.from_trunk(sim.trunk.respond(inv->view, 180, "Ringing"));
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_EQ(b.next_response(180)->view.status_code(), 180);

  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", kAnswer));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method(), sip::Method::ack);
  EXPECT_EQ(b.next_response(200)->view.status_code(), 200);
  EXPECT_EQ(sim.core->active_calls(), 1u);
}

constexpr std::string_view kPassword = "trunk-s3cret";

struct PasswordFile : TrunkPasswordFile {
  PasswordFile() : TrunkPasswordFile("prack_test_pw", kPassword) {}
};

TEST(Prack, ChallengedPrackIsAnsweredOnce) {
  PasswordFile pw;
  Sim sim(with_credentials(pw));
  Browser& b = sim.browser("alice");
  BrowserCall call;
  Msg inv = call_trunk(sim, b, call);
  const std::uint32_t invite_cseq = sip::cseq(inv->view)->number;
  sim.from_trunk(reliable(sim.trunk, inv->view, 183, "Session Progress", "1", kAnswer));
  Msg prack = sim.trunk.next_request("PRACK");
  EXPECT_EQ(prack->view.find("Proxy-Authorization"), nullptr);

  const std::string ch = "Digest realm=\"trunk.example\", nonce=\"n-prack\", algorithm=MD5, qop=\"auth\"";
  sim.from_trunk(
      sim.trunk.respond(prack->view, 407, "Proxy Authentication Required", {}, Extra{{"Proxy-Authenticate", ch}}));
  Msg again = sim.trunk.next_request("PRACK");
  expect_prack(again->view, inv->view, 1, invite_cseq + 2, sim.trunk);
  const sip::HeaderField* cred = again->view.find("Proxy-Authorization");
  ASSERT_NE(cred, nullptr) << again->view.raw();
  EXPECT_NE(cred->value.find("nonce=\"n-prack\""), std::string_view::npos);
  EXPECT_NE(cred->value.find("uri=\"" + std::string(again->view.request_uri()) + "\""), std::string_view::npos);

  // The same challenge again: our credentials were refused; no third PRACK, the call goes on.
  sim.from_trunk(
      sim.trunk.respond(again->view, 407, "Proxy Authentication Required", {}, Extra{{"Proxy-Authenticate", ch}}));
  EXPECT_TRUE(sim.trunk.inbox.empty());
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", kAnswer));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method(), sip::Method::ack);
  EXPECT_EQ(b.next_response(200)->view.status_code(), 200);
  EXPECT_EQ(sim.core->active_calls(), 1u);
}

}  // namespace
}  // namespace webtrunk::sim

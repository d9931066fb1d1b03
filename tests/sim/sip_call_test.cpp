// Whole calls through the edge's SIP layer on a fake clock: a JsSIP-like browser, CallController, a
// sipp-like trunk (tests/sim/sip_sim.hpp). What each test asserts is what a user or the trunk sees.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(SipCall, RegisterWithDigestThenUnregister) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Msg ok = sim.register_(b);
  ASSERT_EQ(ok->view.status_code(), 200) << ok->bytes;
  EXPECT_NE(header_value(ok->view, "Contact").find("+sip.instance=\"<urn:uuid:fbdc327a"), std::string::npos);
  EXPECT_NE(header_value(ok->view, "Contact").find(";expires=600"), std::string::npos);
  ASSERT_EQ(sim.core->registrar().lookup("sip:alice@edge.test").size(), 1u);
  EXPECT_EQ(sim.core->registrar().lookup("sip:alice@edge.test")[0]->flow, b.flow);
  EXPECT_EQ(sim.core->registrar().lookup("sip:alice@edge.test")[0]->identity, "alice");

  Msg gone = sim.register_(b, 0);
  EXPECT_EQ(gone->view.status_code(), 200);
  EXPECT_TRUE(sim.core->registrar().lookup("sip:alice@edge.test").empty());
}

TEST(SipCall, RegistrationEndsWithItsWebSocketOrItsExpiry) {
  Sim sim;
  Browser& a = sim.browser("alice");
  Browser& b = sim.browser("bob");
  ASSERT_EQ(sim.register_(a, 600)->view.status_code(), 200);
  ASSERT_EQ(sim.register_(b, 60)->view.status_code(), 200);
  EXPECT_EQ(sim.core->registrar().size(), 2u);
  sim.close_flow(a);
  EXPECT_EQ(sim.core->registrar().size(), 1u);
  sim.advance(seconds(61));
  EXPECT_EQ(sim.core->registrar().size(), 0u);
}

TEST(SipCall, WrongExpiredOrTamperedTokenIs403AndNoInviteReachesTheTrunk) {
  Sim sim;
  struct Case {
    Token token;
    std::string_view reason;
  };
  const std::vector<Case> cases = {
      {Token::legacy("alice", kUnix0 + 3600, "not-the-edge-secret"), "Wrong password"},
      {Token::legacy("alice", kUnix0 - 3600), "Token expired"},
      {[] {
         Token t = Token::legacy("alice", kUnix0 + 3600);
         t.username = fmt::format("{}:alice", kUnix0 + 7200);  // expiry moved, MAC kept
         return t;
       }(),
       "Wrong password"},
  };
  for (const Case& c : cases) {
    Browser& b = sim.browser("alice");
    b.token = c.token;
    BrowserCall call;
    Msg r = sim.invite(b, call);
    EXPECT_EQ(r->view.status_code(), 403);
    EXPECT_EQ(r->view.reason_phrase(), c.reason);
    Msg reg = sim.register_(b);
    EXPECT_EQ(reg->view.status_code(), 403);
  }
  EXPECT_TRUE(sim.trunk.inbox.empty());
}

TEST(SipCall, BindFromUserRefusesAnotherUsersToken) {
  Sim::Options o;
  o.bind_from_user = true;
  Sim sim(o);
  Browser& b = sim.browser("alice");
  b.token = Token::legacy("mallory", kUnix0 + 3600);
  BrowserCall call;
  Msg r = sim.invite(b, call);
  EXPECT_EQ(r->view.status_code(), 403);
  EXPECT_EQ(r->view.reason_phrase(), "From user does not match token");
  EXPECT_TRUE(sim.trunk.inbox.empty());
}

TEST(SipCall, AnsweredCallThenBrowserHangsUp) {
  Sim sim;
  Browser& b = sim.browser("alice");
  ASSERT_EQ(sim.register_(b)->view.status_code(), 200);
  Connected c = connect_call(sim, b);
  const sip::MessageView& inv = c.trunk_invite->view;

  // A fresh trunk leg: nothing of the browser's Via, Contact or Call-ID.
  EXPECT_NE(inv.value(sip::HeaderId::call_id), c.call.call_id);
  EXPECT_EQ(c.trunk_invite->bytes.find(".invalid"), std::string::npos) << c.trunk_invite->bytes;
  EXPECT_EQ(inv.request_uri(), "sip:15551234567@127.0.0.1:5080");
  EXPECT_EQ(inv.value(sip::HeaderId::to), "<sip:15551234567@127.0.0.1>");
  EXPECT_EQ(inv.value(sip::HeaderId::max_forwards), "68");
  EXPECT_NE(inv.value(sip::HeaderId::from).find("<sip:alice@127.0.0.1>;tag="), std::string::npos);
  EXPECT_NE(inv.value(sip::HeaderId::via).find("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK"), std::string::npos);
  EXPECT_NE(inv.value(sip::HeaderId::via).find(";rport"), std::string::npos);
  EXPECT_EQ(inv.value(sip::HeaderId::contact), "<sip:edge@127.0.0.1:5070>");
  expect_trunk_offer(inv.body(), "sendrecv");

  // Browser hangs up: 200 to it, BYE to the trunk.
  sim.in_dialog(b, c.call, "BYE", c.call.cseq + 1);
  EXPECT_EQ(b.next()->view.status_code(), 200);
  Msg bye = sim.trunk.next_request("BYE");
  EXPECT_EQ(bye->view.value(sip::HeaderId::call_id), inv.value(sip::HeaderId::call_id));
  EXPECT_EQ(bye->view.request_uri(), "sip:127.0.0.1:5080;transport=UDP");
  sim.from_trunk(sim.trunk.respond(bye->view, 200, "OK"));
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "browser hung up");
  EXPECT_EQ(sim.cdrs[0].code, 200);
  EXPECT_EQ(sim.cdrs[0].caller, "alice");
  EXPECT_EQ(sim.cdrs[0].called, "15551234567");
  EXPECT_EQ(sim.cdrs[0].trunk, "udp:127.0.0.1:5080");
  EXPECT_NE(sim.cdrs[0].answer, 0);
}

TEST(SipCall, TrunkHangsUp) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  sim.advance(seconds(5));
  sim.from_trunk(sim.trunk.request("BYE", c.trunk_invite->view, 1));
  Msg ok = sim.trunk.next();
  EXPECT_EQ(ok->view.status_code(), 200);
  Msg bye = b.next();
  ASSERT_TRUE(bye->view.is_request());
  EXPECT_EQ(bye->view.method_text(), "BYE");
  EXPECT_EQ(bye->view.value(sip::HeaderId::call_id), c.call.call_id);
  EXPECT_EQ(bye->view.request_uri(), "sip:02afp07h@9v41u07uh5vh.invalid;transport=ws;ob");
  // The browser answers; the call is over.
  b.send(edge::build_response(bye->view, 200, "OK", {}));
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "trunk hung up");
  EXPECT_EQ(sim.cdrs[0].duration_s, 5);
}

TEST(SipCall, TrunkBusyIs486ForTheBrowser) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  sim.from_trunk(sim.trunk.respond(inv->view, 486, "Busy Here"));
  Msg ack = sim.trunk.next_request("ACK");  // the transaction ACKs the non-2xx
  EXPECT_EQ(ack->view.value(sip::HeaderId::call_id), inv->view.value(sip::HeaderId::call_id));
  Msg busy = b.next();
  EXPECT_EQ(busy->view.status_code(), 486);
  EXPECT_EQ(busy->view.reason_phrase(), "Busy Here");
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].code, 486);
  EXPECT_EQ(sim.cdrs[0].end_reason, "busy");
}

TEST(SipCall, TrunkFailuresKeepTheirCodeAndReason) {
  for (auto [code, reason] : {std::pair<int, std::string_view>{404, "Not Found"}, {603, "Decline"},
                              {480, "Temporarily Unavailable"}, {503, "Service Unavailable"}}) {
    Sim sim;
    Browser& b = sim.browser("alice");
    BrowserCall call;
    ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
    Msg inv = sim.trunk.next_request("INVITE");
    sim.from_trunk(sim.trunk.respond(inv->view, code, reason));
    Msg r = b.next();
    EXPECT_EQ(r->view.status_code(), code);
    EXPECT_EQ(r->view.reason_phrase(), reason);
  }
}

TEST(SipCall, CancelWhileRingingIs487AndCancelsTheTrunk) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  sim.from_trunk(sim.trunk.respond(inv->view, 180, "Ringing"));
  EXPECT_EQ(b.next()->view.status_code(), 180);

  // JsSIP's CANCEL: same branch, Call-ID, From, CSeq number as the INVITE, no To tag.
  b.send(b.request("CANCEL", call.ruri, call.call_id, call.from_tag, call.to, call.cseq, {}, {}, {}, call.invite_branch));
  EXPECT_EQ(b.next()->view.status_code(), 200);  // to the CANCEL
  Msg terminated = b.next();
  EXPECT_EQ(terminated->view.status_code(), 487);
  Msg cancel = sim.trunk.next_request("CANCEL");
  EXPECT_EQ(sip::top_via(cancel->view)->branch, sip::top_via(inv->view)->branch);
  sim.from_trunk(sim.trunk.respond(cancel->view, 200, "OK"));
  sim.from_trunk(sim.trunk.respond(inv->view, 487, "Request Terminated"));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");
  EXPECT_TRUE(b.inbox.empty());
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].code, 487);
  EXPECT_EQ(sim.cdrs[0].end_reason, "cancelled");
}

TEST(SipCall, WebSocketDroppedMidCallSendsByeToTheTrunkAtOnce) {
  Sim sim;
  Browser& b = sim.browser("alice");
  ASSERT_EQ(sim.register_(b)->view.status_code(), 200);
  Connected c = connect_call(sim, b);
  sim.close_flow(b);
  Msg bye = sim.trunk.next_request("BYE");  // no clock advance needed: within a second
  EXPECT_EQ(bye->view.value(sip::HeaderId::call_id), c.trunk_invite->view.value(sip::HeaderId::call_id));
  EXPECT_EQ(sim.core->registrar().size(), 0u);
  sim.from_trunk(sim.trunk.respond(bye->view, 200, "OK"));
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "browser disconnected");
}

TEST(SipCall, UdpLossTowardTheTrunkIsRetransmitted) {
  Sim sim;
  int invites_dropped = 0;
  int byes_dropped = 0;
  sim.drop_to_trunk = [&](std::string_view bytes) {
    if (bytes.starts_with("INVITE ") && invites_dropped < 2) return ++invites_dropped, true;
    if (bytes.starts_with("BYE ") && byes_dropped < 1) return ++byes_dropped, true;
    return false;
  };
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  EXPECT_TRUE(sim.trunk.inbox.empty());
  sim.advance(milliseconds(500));  // Timer A: T1
  EXPECT_TRUE(sim.trunk.inbox.empty());
  sim.advance(milliseconds(1000));  // 2*T1
  Msg inv = sim.trunk.next_request("INVITE");
  EXPECT_EQ(invites_dropped, 2);

  // The trunk's 200 is lost once: sipp retransmits it, the edge ACKs each copy.
  const std::string ok = sim.trunk.respond(inv->view, 200, "OK", kAnswer);
  sim.from_trunk(ok);
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");
  sim.from_trunk(ok);
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");
  Msg b_ok = b.next();
  ASSERT_EQ(b_ok->view.status_code(), 200);
  EXPECT_TRUE(b.inbox.empty());  // the retransmitted 2xx is not the browser's business
  call.to_tag = std::string(sip::to_tag(b_ok->view));
  sim.in_dialog(b, call, "ACK", call.cseq);

  sim.in_dialog(b, call, "BYE", call.cseq + 1);
  EXPECT_EQ(b.next()->view.status_code(), 200);
  EXPECT_TRUE(sim.trunk.inbox.empty());
  sim.advance(milliseconds(600));  // Timer E
  Msg bye = sim.trunk.next_request("BYE");
  sim.from_trunk(sim.trunk.respond(bye->view, 200, "OK"));
  sim.advance(seconds(10));
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(SipCall, TrunkThatNeverAnswersIs408) {
  Sim sim;
  sim.drop_to_trunk = [](std::string_view) { return true; };
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  sim.advance(seconds(33));  // Timer B = 64*T1
  Msg r = b.next();
  EXPECT_EQ(r->view.status_code(), 408);
  EXPECT_EQ(r->view.reason_phrase(), "Trunk did not answer");
}

TEST(SipCall, UnreachableTrunkIs503) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  sim.core->handle_trunk_unreachable(sim.now, sim.trunk.addr);
  sim.deliver();
  Msg r = b.next();
  EXPECT_EQ(r->view.status_code(), 503);
  EXPECT_EQ(r->view.reason_phrase(), "Service Unavailable: trunk unreachable");
}

TEST(SipCall, SessionTimerExpiryHangsUpBothLegs) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  // JsSIP would refresh with UPDATE every 45 s; this one stops.
  sim.in_dialog(b, c.call, "UPDATE", c.call.cseq + 1, {}, {}, {"Session-Expires: 90;refresher=uac", "Supported: timer"});
  Msg ok = b.next();
  EXPECT_EQ(ok->view.status_code(), 200);
  EXPECT_NE(header_value(ok->view, "Session-Expires").find("90"), std::string::npos);
  EXPECT_TRUE(sim.trunk.inbox.empty());  // a refresh is answered here
  sim.advance(seconds(91));
  Msg bye_b = b.next();
  ASSERT_TRUE(bye_b->view.is_request());
  EXPECT_EQ(bye_b->view.method_text(), "BYE");
  EXPECT_EQ(sim.trunk.next_request("BYE")->view.method_text(), "BYE");
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "session expired (browser)");
}

TEST(SipCall, TooSmallSessionExpiresIsRaisedNot422) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  // A browser asking for 30 s gets 90 in the 200 OK.
  call.session_expires = "30";
  Msg r = sim.invite(b, call);
  ASSERT_EQ(r->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  EXPECT_NE(header_value(inv->view, "Session-Expires"), "");
  EXPECT_NE(inv->view.value(sip::HeaderId::supported).find("timer"), std::string::npos);
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", kAnswer));
  Msg ok = b.next();
  ASSERT_EQ(ok->view.status_code(), 200);
  EXPECT_EQ(header_value(ok->view, "Session-Expires"), "90;refresher=uac");
  EXPECT_NE(ok->view.value(sip::HeaderId::contact).find(";transport=ws"), std::string::npos);
}

TEST(SipCall, TokenDurationClaimEndsTheCall) {
  Sim sim;
  Browser& b = sim.browser("bob");
  auto t = auth::mint_edge_token(kK1, kUnix0 + 600, "bob", auth::MintClaims{"shop", {"1555*"}, 60});
  ASSERT_TRUE(t.ok());
  b.token = Token{t->username, t->password};
  Connected c = connect_call(sim, b);
  sim.advance(seconds(59));
  EXPECT_TRUE(sim.trunk.inbox.empty());
  sim.advance(seconds(2));
  EXPECT_EQ(sim.trunk.next_request("BYE")->view.method_text(), "BYE");
  Msg bye = b.next();
  EXPECT_EQ(bye->view.method_text(), "BYE");
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "maximum call length reached");
  EXPECT_EQ(sim.cdrs[0].caller, "bob");
  EXPECT_EQ(sim.cdrs[0].duration_s, 60);
}

TEST(SipCall, NumberOutsideTheTokenIs403) {
  Sim sim;
  Browser& b = sim.browser("bob");
  auto t = auth::mint_edge_token(kK1, kUnix0 + 600, "bob", auth::MintClaims{"shop", {"4930*"}, 60});
  ASSERT_TRUE(t.ok());
  b.token = Token{t->username, t->password};
  BrowserCall call;
  Msg r = sim.invite(b, call);
  EXPECT_EQ(r->view.status_code(), 403);
  EXPECT_EQ(r->view.reason_phrase(), "Number not allowed");
  EXPECT_TRUE(sim.trunk.inbox.empty());
}

TEST(SipCall, InfoOtherThanDtmfIsRelayed) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  const std::string xml = "<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder>"
                          "</vc_primitive></media_control>";
  sim.in_dialog(b, c.call, "INFO", c.call.cseq + 1, "application/media_control+xml", xml);
  Msg info = sim.trunk.next_request("INFO");
  EXPECT_EQ(info->view.body(), xml);
  EXPECT_EQ(info->view.value(sip::HeaderId::content_type), "application/media_control+xml");
  sim.from_trunk(sim.trunk.respond(info->view, 200, "OK"));
  Msg ok = b.next();
  EXPECT_EQ(ok->view.status_code(), 200);
  EXPECT_EQ(sip::cseq(ok->view)->number, c.call.cseq + 1);
}

TEST(SipCall, NoRouteIs404WithTheNumber) {
  Sim::Options o;
  o.routes_file = true;
  o.routes = "1555 udp:127.0.0.1:5080\n";
  Sim sim(o);
  Browser& b = sim.browser("alice");
  BrowserCall call;
  call.ruri = "sip:4930123@edge.test";
  call.to = "<sip:4930123@edge.test>";
  Msg r = sim.invite(b, call);
  EXPECT_EQ(r->view.status_code(), 404);
  EXPECT_EQ(r->view.reason_phrase(), "No route to 4930123");
  EXPECT_TRUE(sim.trunk.inbox.empty());
}

TEST(SipCall, BadSdpIs488WithTheReason) {
  Sim sim;
  Browser& b = sim.browser("alice");
  const auto before = edge::kCallsBadOffer.total();
  BrowserCall call;
  Msg r = sim.invite(b, call, "hello, this is not SDP");
  EXPECT_EQ(r->view.status_code(), 488);
  EXPECT_TRUE(r->view.reason_phrase().starts_with("Not Acceptable Here: ")) << r->view.reason_phrase();
  EXPECT_NE(header_value(r->view, "Warning"), "");

  // An offer without a DTLS fingerprint cannot be bridged: the reason says so.
  BrowserCall call2;
  Msg r2 = sim.invite(b, call2, sdp_with(kOffer, "a=fingerprint:sha-256 ", "a=x-no-fingerprint:"));
  EXPECT_EQ(r2->view.status_code(), 488);
  EXPECT_EQ(r2->view.reason_phrase(), "Not Acceptable Here: no DTLS fingerprint (sha-256)");
  EXPECT_EQ(header_value(r2->view, "Warning"), "399 127.0.0.1:5070 \"no DTLS fingerprint (sha-256)\"");

  // No offer at all (JsSIP always offers; an offer in the ACK is not taken).
  BrowserCall call3;
  Msg r3 = sim.invite(b, call3, "");
  EXPECT_EQ(r3->view.status_code(), 488);
  EXPECT_EQ(r3->view.reason_phrase(), "Not Acceptable Here: no SDP offer");

  EXPECT_EQ(edge::kCallsBadOffer.total(), before + 3);
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_EQ(sim.media.next_id, 1u) << "no media session for a refused offer";
  ASSERT_EQ(sim.cdrs.size(), 3u);
  EXPECT_EQ(sim.cdrs[1].code, 488);
  EXPECT_EQ(sim.cdrs[1].end_reason, "bad offer");
}

TEST(SipCall, OptionsUnknownDialogsAndGarbage) {
  Sim sim;
  Browser& b = sim.browser("alice");
  b.send(b.request("OPTIONS", "sip:edge.test", "opt1", "t1", "<sip:edge.test>", 1, {}));
  Msg ok = b.next();
  EXPECT_EQ(ok->view.status_code(), 200);
  EXPECT_NE(header_value(ok->view, "Allow").find("INVITE"), std::string::npos);

  b.send(b.request("BYE", "sip:edge.test", "nope", "t1", "<sip:edge.test>;tag=zz", 2, {}));
  EXPECT_EQ(b.next()->view.status_code(), 481);

  const auto before = edge::kSipParseErrorsWs.total();
  b.send("this is not SIP\r\n\r\n");
  EXPECT_EQ(edge::kSipParseErrorsWs.total(), before + 1);

  b.send("INVITE sip:x@edge.test SIP/2.0\r\nVia: SIP/2.0/WS h.invalid;branch=z9hG4bKa\r\nMax-Forwards: 70\r\n"
         "To: <sip:x@edge.test>\r\nFrom: <sip:a@edge.test>;tag=1\r\nCall-ID: bad\r\nCSeq: 1 BYE\r\n"
         "Content-Length: 0\r\n\r\n");
  Msg bad = b.next();
  EXPECT_EQ(bad->view.status_code(), 400);
  EXPECT_EQ(bad->view.reason_phrase(), "CSeq method does not match");

  // Unparsable but answerable: 400 with the parser's reason.
  b.send("OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/WS h.invalid;branch=z9hG4bKb\r\nMax-Forwards: 70\r\n"
         "To: <sip:edge.test>\r\nFrom: <sip:a@edge.test>;tag=1\r\nCall-ID: cl\r\nCSeq: 2 OPTIONS\r\n"
         "Content-Length: 500\r\n\r\nshort");
  Msg cl = b.next();
  EXPECT_EQ(cl->view.status_code(), 400);
  EXPECT_EQ(cl->view.reason_phrase(), "Content-Length larger than message");
  EXPECT_EQ(cl->view.value(sip::HeaderId::call_id), "cl");

  sim.from_trunk("garbage");
  sim.from_trunk(
      "BYE sip:edge@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKq\r\nMax-Forwards: 70\r\n"
      "To: <sip:a@127.0.0.1>;tag=x\r\nFrom: <sip:b@127.0.0.1>;tag=y\r\nCall-ID: unknown\r\nCSeq: 5 BYE\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(sim.trunk.next()->view.status_code(), 481);
}

}  // namespace
}  // namespace webtrunk::sim

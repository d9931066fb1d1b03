// Whole calls with media (issue 4, the call controller's side): the SDP each leg gets from the
// edge, early media, hold both ways, DTMF from SIP INFO, media sessions that end by themselves,
// and the session's release on every way a call ends. The media sessions are the recording fake
// of fake_media.hpp; what is asserted is what the browser and the trunk see, and what the edge
// asked of its media.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(MediaCall, TrunkAndBrowserEachGetTheEdgesOwnSdp) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  expect_trunk_offer(c.trunk_invite->view.body(), "sendrecv");
  EXPECT_EQ(c.trunk_invite->view.value(sip::HeaderId::content_type), "application/sdp");
  // One codec offered (PCMU, the first of --codecs the browser has) with telephone-event, on the
  // browser's numbers.
  EXPECT_NE(c.trunk_invite->view.body().find("m=audio 40002 RTP/AVP 0 126\r\n"), std::string_view::npos)
      << c.trunk_invite->view.body();
  // The browser's early answer (in the 180) said PCMU and telephone-event on its 126; the 200 repeats
  // it, though the trunk answered PCMU, PCMA and telephone-event 101. Never Opus.
  EXPECT_NE(c.answer.find("m=audio 3478 UDP/TLS/RTP/SAVPF 0 126"), std::string::npos) << c.answer;
  EXPECT_EQ(c.answer.find("opus"), std::string::npos) << c.answer;

  FakeMedia::Session& s = sim.media.only();
  ASSERT_EQ(s.browser.size(), 1u);
  EXPECT_EQ(s.browser[0].ice.ufrag, kBrowserUfrag);
  EXPECT_EQ(s.browser[0].fingerprint_sha256, kBrowserFingerprint);
  ASSERT_TRUE(s.trunk_rtp.has_value());
  EXPECT_EQ(*s.trunk_rtp, core::SockAddr::ipv4_loopback(6000));
  ASSERT_FALSE(s.codecs.codecs.empty());
  EXPECT_EQ(s.codecs.codecs[0].name, "PCMU");
  EXPECT_EQ(s.codecs.codecs[0].browser_pt, 0);
  EXPECT_EQ(s.codecs.codecs[0].trunk_pt, 0);
  EXPECT_EQ(s.codecs.trunk_dtmf_pt, std::optional<std::uint8_t>(101));
  EXPECT_EQ(s.codecs.browser_dtmf_pt, std::optional<std::uint8_t>(126));
  ASSERT_FALSE(s.directions.empty());
  EXPECT_EQ(s.directions.back(), media::Direction::sendrecv);
  EXPECT_EQ(sim.media.live.size(), 1u);

  sim.in_dialog(b, c.call, "BYE", c.call.cseq + 1);
  EXPECT_EQ(b.next()->view.status_code(), 200);
  EXPECT_TRUE(sim.media.live.empty()) << "released when the call ends";
  sim.from_trunk(sim.trunk.respond(sim.trunk.next_request("BYE")->view, 200, "OK"));
}

TEST(MediaCall, EarlyMedia183CarriesTheAnswerAndThe200TheSameSdp) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  sim.from_trunk(sim.trunk.respond(inv->view, 183, "Session Progress", kAnswer));
  Msg early = b.next();
  ASSERT_EQ(early->view.status_code(), 183);
  EXPECT_EQ(early->view.value(sip::HeaderId::content_type), "application/sdp");
  expect_browser_answer(early->view.body(), "sendrecv");
  EXPECT_FALSE(sip::to_tag(early->view).empty());
  EXPECT_NE(early->view.value(sip::HeaderId::contact), "");
  // The trunk's early RTP has somewhere to go before the answer.
  FakeMedia::Session& s = sim.media.only();
  ASSERT_TRUE(s.trunk_rtp.has_value());
  EXPECT_EQ(*s.trunk_rtp, core::SockAddr::ipv4_loopback(6000));

  // A second provisional: no SDP again (JsSIP would apply it as a second answer and fail).
  sim.from_trunk(sim.trunk.respond(inv->view, 180, "Ringing"));
  Msg ringing = b.next();
  EXPECT_EQ(ringing->view.status_code(), 180);
  EXPECT_TRUE(ringing->view.body().empty());

  sim.advance(seconds(3));
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", kAnswer));
  Msg ok = b.next();
  ASSERT_EQ(ok->view.status_code(), 200);
  EXPECT_EQ(ok->view.body(), early->view.body()) << "the same SDP, o= version included";
}

TEST(MediaCall, RingingWithoutSdpGetsTheEarlyAnswerThe200RepeatsItAndAnotherCodecIsReofferedAfterTheAck) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  sim.from_trunk(sim.trunk.respond(inv->view, 180, "Ringing"));
  Msg ringing = b.next();
  // The trunk's code is kept (the browser plays its ringback), with our answer so that ICE and
  // DTLS finish while it rings: the codec we offered the trunk.
  ASSERT_EQ(ringing->view.status_code(), 180);
  expect_browser_answer(ringing->view.body(), "sendrecv");
  EXPECT_NE(ringing->view.body().find("m=audio 3478 UDP/TLS/RTP/SAVPF 0 126"), std::string_view::npos);
  EXPECT_FALSE(sim.media.only().trunk_rtp.has_value()) << "no trunk address before its SDP";

  // The trunk answers PCMA though we offered PCMU (a trunk that ignores the offer).
  const std::string pcma =
      sdp_with(sdp_with(kAnswer, "m=audio 6000 RTP/AVP 0 8 101", "m=audio 6000 RTP/AVP 8 101"), "a=rtpmap:0 PCMU/8000\r\n", "");
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", pcma));
  Msg ok = b.next();
  ASSERT_EQ(ok->view.status_code(), 200);
  // RFC 3261 §13.2.1: the 2xx carries the same answer as the 18x, byte for byte (SIP.js keeps
  // the first answer; a different one here meant no audio).
  EXPECT_EQ(ok->view.body(), ringing->view.body());
  EXPECT_EQ(sim.media.only().codecs.codecs[0].name, "PCMA");
  call.to_tag = std::string(sip::to_tag(ok->view));
  EXPECT_TRUE(b.inbox.empty()) << "no re-INVITE before the ACK";

  // Once the browser ACKs, it gets our new offer: PCMA, a new o= version of the same session.
  sim.in_dialog(b, call, "ACK", call.cseq);
  Msg reinvite = b.next();
  ASSERT_TRUE(reinvite->view.is_request());
  EXPECT_EQ(reinvite->view.method_text(), "INVITE");
  const std::string_view offer = reinvite->view.body();
  EXPECT_NE(offer.find("m=audio 3478 UDP/TLS/RTP/SAVPF 8 126"), std::string_view::npos) << offer;
  EXPECT_EQ(edge::sdp_origin(offer).substr(0, 20), edge::sdp_origin(ringing->view.body()).substr(0, 20));
  EXPECT_EQ(std::stoull(sdp_version(offer)), std::stoull(sdp_version(ringing->view.body())) + 1);
  // The browser answers; the edge ACKs its 2xx.
  const std::array<std::pair<std::string_view, std::string_view>, 1> contact{
      {{"Contact", "<sip:02afp07h@x.invalid;transport=ws>"}}};
  b.send(edge::build_response(reinvite->view, 200, "OK", {}, contact, "application/sdp",
                              sdp_with(kOffer, "a=setup:actpass", "a=setup:active")));
  Msg ack = b.next();
  EXPECT_EQ(ack->view.method_text(), "ACK");
}

TEST(MediaCall, TrunkSdpIn180GivesTheBrowserA183WithTheTrunksCodec) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  const std::string pcmu = sdp_with(kAnswer, "m=audio 6000 RTP/AVP 0 8 101", "m=audio 6000 RTP/AVP 0 101");
  sim.from_trunk(sim.trunk.respond(inv->view, 180, "Ringing", pcmu));
  Msg early = b.next();
  EXPECT_EQ(early->view.status_code(), 183) << "early media from the trunk";
  EXPECT_NE(early->view.body().find("m=audio 3478 UDP/TLS/RTP/SAVPF 0 126"), std::string_view::npos);
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", pcmu));
  Msg ok = b.next();
  EXPECT_EQ(ok->view.body(), early->view.body());
}

TEST(MediaCall, Trunk488FailsOverToTheNextCodecInANewInvite) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg first = sim.trunk.next_request("INVITE");
  EXPECT_NE(first->view.body().find("RTP/AVP 0 126\r\n"), std::string_view::npos);
  sim.from_trunk(sim.trunk.respond(first->view, 488, "Not Acceptable Here"));
  EXPECT_EQ(sim.trunk.next()->view.method_text(), "ACK");
  Msg second = sim.trunk.next_request("INVITE");
  EXPECT_NE(second->view.body().find("m=audio 40002 RTP/AVP 8 126\r\n"), std::string_view::npos) << second->view.body();
  EXPECT_EQ(second->view.value(sip::HeaderId::call_id), first->view.value(sip::HeaderId::call_id));
  EXPECT_EQ(sip::from_tag(second->view), sip::from_tag(first->view));
  EXPECT_EQ(sip::cseq(second->view)->number, sip::cseq(first->view)->number + 1);
  EXPECT_TRUE(b.inbox.empty()) << "the browser hears nothing of the refused codec";
  const std::string pcma =
      sdp_with(sdp_with(kAnswer, "m=audio 6000 RTP/AVP 0 8 101", "m=audio 6000 RTP/AVP 8 101"), "a=rtpmap:0 PCMU/8000\r\n", "");
  sim.from_trunk(sim.trunk.respond(second->view, 200, "OK", pcma));
  Msg ok = b.next();
  ASSERT_EQ(ok->view.status_code(), 200);
  EXPECT_NE(ok->view.body().find("m=audio 3478 UDP/TLS/RTP/SAVPF 8 126"), std::string_view::npos) << ok->view.body();
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.value(sip::HeaderId::call_id), first->view.value(sip::HeaderId::call_id));
}

TEST(MediaCall, TrunkRefusingEveryCodecIs488WithTheReason) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  sim.from_trunk(sim.trunk.respond(sim.trunk.next_request("INVITE")->view, 488, "Not Acceptable Here"));
  sim.from_trunk(sim.trunk.respond(sim.trunk.next_request("INVITE")->view, 606, "Not Acceptable"));
  Msg r = b.next_response(488);
  EXPECT_EQ(r->view.reason_phrase(), "Not Acceptable Here: the trunk refused PCMU, PCMA");
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].code, 488);
  EXPECT_TRUE(sim.media.live.empty());
}

TEST(MediaCall, CodecsPreferenceChoosesWhatTheTrunkIsOffered) {
  SimOptions o;
  o.codecs = {"G722", "PCMU"};
  Sim sim(o);
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  EXPECT_NE(inv->view.body().find("m=audio 40002 RTP/AVP 9 126\r\na=rtpmap:9 G722/8000\r\n"), std::string_view::npos)
      << inv->view.body();
}

TEST(MediaCall, OfferWithoutAConfiguredCodecIs488WithAWarning) {
  Sim sim;  // PCMU, PCMA
  Browser& b = sim.browser("alice");
  BrowserCall call;
  std::string g722_only = sdp_with(kOffer, "111 63 9 0 8 13 110 126", "9 126");
  Msg r = sim.invite(b, call, g722_only);
  EXPECT_EQ(r->view.status_code(), 488);
  EXPECT_EQ(r->view.reason_phrase(), "Not Acceptable Here: no codec this edge uses (PCMU, PCMA) offered");
  EXPECT_NE(header_value(r->view, "Warning").find("305 "), std::string::npos);
  EXPECT_TRUE(sim.trunk.inbox.empty());
}

TEST(MediaCall, TrunkAnswerWithNothingInCommonFailsOverThenEndsTheCallWithAReason) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  const std::string g729 = "v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                           "m=audio 6000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
  Msg inv = sim.trunk.next_request("INVITE");
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", g729));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");
  Msg bye = sim.trunk.next_request("BYE");
  EXPECT_NE(header_value(bye->view, "Reason").find("cause=488"), std::string::npos);
  // The next codec in a new dialog: same Call-ID, a new From tag.
  Msg again = sim.trunk.next_request("INVITE");
  EXPECT_NE(again->view.body().find("RTP/AVP 8 126"), std::string_view::npos);
  EXPECT_NE(sip::from_tag(again->view), sip::from_tag(inv->view));
  EXPECT_TRUE(b.inbox.empty());
  sim.from_trunk(sim.trunk.respond(bye->view, 200, "OK"));
  sim.trunk.tag = "second-dialog";
  sim.from_trunk(sim.trunk.respond(again->view, 200, "OK", g729));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");
  Msg bye2 = sim.trunk.next_request("BYE");
  Msg r = b.next();
  EXPECT_EQ(r->view.status_code(), 502);
  EXPECT_NE(r->view.reason_phrase().find("no codec in common"), std::string_view::npos) << r->view.reason_phrase();
  EXPECT_TRUE(sim.media.live.empty());
  sim.from_trunk(sim.trunk.respond(bye2->view, 200, "OK"));
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(MediaCall, NoFreeMediaPortsIs503) {
  Sim sim;
  sim.media.capacity = 0;
  Browser& b = sim.browser("alice");
  const auto before = edge::kCallsNoMedia.total();
  BrowserCall call;
  Msg r = sim.invite(b, call);
  EXPECT_EQ(r->view.status_code(), 503);
  EXPECT_EQ(r->view.reason_phrase(), "Media ports exhausted");
  EXPECT_NE(header_value(r->view, "Warning").find("no free RTP port pair"), std::string::npos);
  EXPECT_EQ(edge::kCallsNoMedia.total(), before + 1);
  EXPECT_TRUE(sim.trunk.inbox.empty());
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].code, 503);
}

TEST(MediaCall, BrowserHoldIsReofferedToTheTrunkAndAnsweredFromTheMediaState) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  // JsSIP's hold: a new o= version, a=sendonly.
  const std::string hold = reoffer(3, "sendonly");
  sim.in_dialog(b, c.call, "INVITE", c.call.cseq + 1, "application/sdp", hold);
  Msg reinv = sim.trunk.next_request("INVITE");
  expect_trunk_offer(reinv->view.body(), "sendonly");
  EXPECT_EQ(sdp_version(reinv->view.body()), "2");
  EXPECT_EQ(reinv->view.value(sip::HeaderId::call_id), c.trunk_invite->view.value(sip::HeaderId::call_id));
  const std::string held = sdp_with(sdp_with(kAnswer, "2353687637", "2353687638"), "a=sendrecv", "a=recvonly");
  sim.from_trunk(sim.trunk.respond(reinv->view, 200, "OK", held));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");
  Msg ok = b.next();
  ASSERT_EQ(ok->view.status_code(), 200);
  expect_browser_answer(ok->view.body(), "recvonly");
  EXPECT_EQ(std::stoull(sdp_version(ok->view.body())), std::stoull(sdp_version(c.answer)) + 1);
  EXPECT_EQ(sim.media.only().directions.back(), media::Direction::sendonly);
  sim.in_dialog(b, c.call, "ACK", c.call.cseq + 1);
  EXPECT_TRUE(sim.trunk.inbox.empty());

  // The same offer again (a refresh by re-INVITE): answered here, the same SDP.
  sim.in_dialog(b, c.call, "INVITE", c.call.cseq + 2, "application/sdp", hold);
  Msg local = b.next();
  EXPECT_EQ(local->view.status_code(), 200);
  EXPECT_EQ(local->view.body(), ok->view.body());
  EXPECT_TRUE(sim.trunk.inbox.empty());
  sim.in_dialog(b, c.call, "ACK", c.call.cseq + 2);

  // Resume: sendrecv again, both ways.
  const std::string resume = reoffer(4, "sendrecv");
  sim.in_dialog(b, c.call, "INVITE", c.call.cseq + 3, "application/sdp", resume);
  Msg reinv2 = sim.trunk.next_request("INVITE");
  expect_trunk_offer(reinv2->view.body(), "sendrecv");
  sim.from_trunk(sim.trunk.respond(reinv2->view, 200, "OK", sdp_with(kAnswer, "2353687637", "2353687639")));
  Msg ok2 = b.next();
  ASSERT_EQ(ok2->view.status_code(), 200);
  expect_browser_answer(ok2->view.body(), "sendrecv");
  EXPECT_EQ(sim.media.only().directions.back(), media::Direction::sendrecv);
}

TEST(MediaCall, BrowserReofferRefusedByTheTrunkKeepsTheSession) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  const std::string hold = reoffer(3, "inactive");
  sim.in_dialog(b, c.call, "INVITE", c.call.cseq + 1, "application/sdp", hold);
  Msg reinv = sim.trunk.next_request("INVITE");
  sim.from_trunk(sim.trunk.respond(reinv->view, 488, "Not Acceptable Here"));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");
  Msg r = b.next();
  EXPECT_EQ(r->view.status_code(), 488);
  EXPECT_TRUE(r->view.body().empty());
  EXPECT_EQ(sim.media.only().directions.back(), media::Direction::sendrecv);
  // A session refresh toward the trunk later offers the session as it stands (sendrecv).
  sim.in_dialog(b, c.call, "UPDATE", c.call.cseq + 2, {}, {}, {"Session-Expires: 90;refresher=uac"});
  EXPECT_EQ(b.next()->view.status_code(), 200);
  EXPECT_TRUE(sim.trunk.inbox.empty());
}

TEST(MediaCall, TrunkReInviteIsAnsweredHereAndItsHoldReachesTheBrowser) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  // A new RTP address, same direction: answered here; the browser is not bothered.
  const std::string moved = sdp_with(sdp_with(kAnswer, "2353687637", "2353687638"), "6000", "6002");
  sim.from_trunk(sim.trunk.request("INVITE", c.trunk_invite->view, 2, moved));
  Msg ok = sim.trunk.next();
  ASSERT_EQ(ok->view.status_code(), 200);
  expect_trunk_offer(ok->view.body(), "sendrecv");
  EXPECT_TRUE(b.inbox.empty());
  EXPECT_EQ(*sim.media.only().trunk_rtp, core::SockAddr::ipv4_loopback(6002));
  // The trunk does not ACK at first: the 2xx is retransmitted over UDP until it does.
  sim.advance(milliseconds(600));
  EXPECT_EQ(sim.trunk.next()->view.status_code(), 200);
  sim.from_trunk(sim.trunk.request("ACK", c.trunk_invite->view, 2));

  // The trunk holds (sendonly): our answer is recvonly, the browser may only receive, and it
  // hears of it in a re-INVITE with our SDP (a=sendonly from our side).
  const std::string hold = sdp_with(sdp_with(moved, "2353687638", "2353687639"), "a=sendrecv", "a=sendonly");
  sim.from_trunk(sim.trunk.request("INVITE", c.trunk_invite->view, 3, hold));
  Msg ok2 = sim.trunk.next();
  ASSERT_EQ(ok2->view.status_code(), 200);
  expect_trunk_offer(ok2->view.body(), "recvonly");
  EXPECT_EQ(sim.media.only().directions.back(), media::Direction::recvonly);
  Msg reinv = b.next();
  ASSERT_TRUE(reinv->view.is_request());
  EXPECT_EQ(reinv->view.method_text(), "INVITE");
  expect_browser_answer(reinv->view.body(), "sendonly");
  b.send(edge::build_response(reinv->view, 200, "OK", {}, {}, "application/sdp",
                              reoffer(3, "recvonly")));
  Msg ack = b.next();
  EXPECT_EQ(ack->view.method_text(), "ACK");
}

TEST(MediaCall, TrunkReInviteChangingTheCodecReachesTheBrowserAsAReoffer) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  // The trunk moves the call to PCMA (a transfer inside the carrier, say): RFC 3264 §8.3.2.
  const std::string pcma = sdp_with(sdp_with(sdp_with(kAnswer, "2353687637", "2353687638"), "m=audio 6000 RTP/AVP 0 8 101",
                                             "m=audio 6000 RTP/AVP 8 101"),
                                    "a=rtpmap:0 PCMU/8000\r\n", "");
  sim.from_trunk(sim.trunk.request("INVITE", c.trunk_invite->view, 2, pcma));
  Msg ok = sim.trunk.next();
  ASSERT_EQ(ok->view.status_code(), 200);
  EXPECT_NE(ok->view.body().find("RTP/AVP 8 101"), std::string_view::npos) << ok->view.body();
  EXPECT_EQ(sim.media.only().codecs.codecs[0].name, "PCMA");
  Msg reinv = b.next();
  ASSERT_TRUE(reinv->view.is_request());
  EXPECT_EQ(reinv->view.method_text(), "INVITE");
  EXPECT_NE(reinv->view.body().find("m=audio 3478 UDP/TLS/RTP/SAVPF 8 126"), std::string_view::npos) << reinv->view.body();
  sim.from_trunk(sim.trunk.request("ACK", c.trunk_invite->view, 2));
}

TEST(MediaCall, TrunkReInviteWithoutOfferGetsOursAndItsAckAnswers) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  sim.from_trunk(sim.trunk.request("INVITE", c.trunk_invite->view, 2));
  Msg ok = sim.trunk.next();
  ASSERT_EQ(ok->view.status_code(), 200);
  expect_trunk_offer(ok->view.body(), "sendrecv");
  const std::string moved = sdp_with(sdp_with(kAnswer, "2353687637", "2353687638"), "6000", "6004");
  sim.from_trunk(sim.trunk.request("ACK", c.trunk_invite->view, 2, moved));
  EXPECT_EQ(*sim.media.only().trunk_rtp, core::SockAddr::ipv4_loopback(6004));
  EXPECT_TRUE(b.inbox.empty());
  sim.advance(seconds(2));
  EXPECT_TRUE(sim.trunk.inbox.empty()) << "the 2xx is not resent once ACKed";
}

TEST(MediaCall, DtmfInfoBecomesRfc4733TowardTheTrunk) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  const auto before = edge::kDtmfInfoConverted.total();
  // JsSIP's INFO (session.sendDTMF with the default transport).
  sim.in_dialog(b, c.call, "INFO", c.call.cseq + 1, "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n");
  Msg ok = b.next();
  EXPECT_EQ(ok->view.status_code(), 200);
  sim.in_dialog(b, c.call, "INFO", c.call.cseq + 2, "application/dtmf", "#");
  EXPECT_EQ(b.next()->view.status_code(), 200);
  EXPECT_TRUE(sim.trunk.inbox.empty()) << "no INFO reaches the trunk";
  const auto& dtmf = sim.media.only().dtmf;
  ASSERT_EQ(dtmf.size(), 2u);
  EXPECT_EQ(dtmf[0], std::make_pair('5', 160u));
  EXPECT_EQ(dtmf[1], std::make_pair('#', 100u));
  EXPECT_EQ(edge::kDtmfInfoConverted.total(), before + 2);

  // Not a digit: 400 with the reason.
  sim.in_dialog(b, c.call, "INFO", c.call.cseq + 3, "application/dtmf-relay", "Signal=X\r\nDuration=100\r\n");
  Msg bad = b.next();
  EXPECT_EQ(bad->view.status_code(), 400);
  EXPECT_EQ(bad->view.reason_phrase(), "Bad DTMF: Signal is not a DTMF digit");
  EXPECT_EQ(sim.media.only().dtmf.size(), 2u);
}

TEST(MediaCall, DtmfInfoIsRelayedWhenTheTrunkTookNoTelephoneEvent) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  const std::string plain = sdp_with(sdp_with(kAnswer, "m=audio 6000 RTP/AVP 0 8 101", "m=audio 6000 RTP/AVP 0 8"),
                                     "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n", "");
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", plain));
  Msg ok = b.next();
  ASSERT_EQ(ok->view.status_code(), 200);
  call.to_tag = std::string(sip::to_tag(ok->view));
  sim.in_dialog(b, call, "ACK", call.cseq);
  sim.in_dialog(b, call, "INFO", call.cseq + 1, "application/dtmf-relay", "Signal=7\r\nDuration=100\r\n");
  Msg info = sim.trunk.next_request("INFO");
  EXPECT_EQ(info->view.body(), "Signal=7\r\nDuration=100\r\n");
  sim.from_trunk(sim.trunk.respond(info->view, 200, "OK"));
  EXPECT_EQ(b.next()->view.status_code(), 200);
  EXPECT_TRUE(sim.media.only().dtmf.empty());
}

TEST(MediaCall, ConsentLostHangsUpBothLegsWithAReason) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  sim.advance(seconds(40));  // the tab is gone; the bridge notices after 30 s without consent
  const auto before = edge::kCallsMediaEnded.total();
  sim.media.on_ended(sim.media.live.begin()->first, media::MediaEnd::consent_lost);
  Msg bye_t = sim.trunk.next_request("BYE");
  EXPECT_EQ(bye_t->view.value(sip::HeaderId::call_id), c.trunk_invite->view.value(sip::HeaderId::call_id));
  EXPECT_NE(header_value(bye_t->view, "Reason").find("consent lost"), std::string::npos) << bye_t->bytes;
  Msg bye_b = b.next();
  ASSERT_TRUE(bye_b->view.is_request());
  EXPECT_EQ(bye_b->view.method_text(), "BYE");
  EXPECT_NE(header_value(bye_b->view, "Reason"), "");
  EXPECT_EQ(edge::kCallsMediaEnded.total(), before + 1);
  EXPECT_TRUE(sim.media.live.empty());
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "consent lost");
  EXPECT_EQ(sim.cdrs[0].duration_s, 40);
  sim.from_trunk(sim.trunk.respond(bye_t->view, 200, "OK"));
  sim.advance(seconds(40));  // the browser never answers its BYE (the tab is gone)
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(MediaCall, DtlsFailureWhileRingingFailsTheInviteAndCancelsTheTrunk) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  ASSERT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  sim.from_trunk(sim.trunk.respond(inv->view, 183, "Session Progress", kAnswer));
  EXPECT_EQ(b.next()->view.status_code(), 183);
  sim.media.on_ended(sim.media.live.begin()->first, media::MediaEnd::dtls_failed);
  Msg r = b.next();
  EXPECT_EQ(r->view.status_code(), 480);
  EXPECT_EQ(r->view.reason_phrase(), "Temporarily Unavailable: DTLS failed");
  Msg cancel = sim.trunk.next_request("CANCEL");
  sim.from_trunk(sim.trunk.respond(cancel->view, 200, "OK"));
  sim.from_trunk(sim.trunk.respond(inv->view, 487, "Request Terminated"));
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "DTLS failed");
  EXPECT_TRUE(sim.media.live.empty());
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(MediaCall, EveryWayACallEndsReleasesItsMediaSession) {
  Sim sim;
  sim.media.capacity = 100;
  const auto released_before = edge::kMediaSessionsReleased.total();
  int calls = 0;
  // Browser hangs up, trunk hangs up.
  {
    Browser& b = sim.browser("a");
    Connected c = connect_call(sim, b);
    sim.in_dialog(b, c.call, "BYE", c.call.cseq + 1);
    sim.from_trunk(sim.trunk.respond(sim.trunk.next_request("BYE")->view, 200, "OK"));
    ++calls;
  }
  {
    Browser& b = sim.browser("b");
    Connected c = connect_call(sim, b);
    sim.from_trunk(sim.trunk.request("BYE", c.trunk_invite->view, 1));
    b.send(edge::build_response(b.next()->view, 200, "OK", {}));
    ++calls;
  }
  // Busy, cancelled while ringing, WebSocket gone while ringing and after the answer.
  {
    Browser& b = sim.browser("c");
    BrowserCall call;
    sim.invite(b, call);
    sim.from_trunk(sim.trunk.respond(sim.trunk.next_request("INVITE")->view, 486, "Busy Here"));
    ++calls;
  }
  {
    Browser& b = sim.browser("d");
    BrowserCall call;
    sim.invite(b, call);
    Msg inv = sim.trunk.next_request("INVITE");
    sim.from_trunk(sim.trunk.respond(inv->view, 180, "Ringing"));
    b.send(b.request("CANCEL", call.ruri, call.call_id, call.from_tag, call.to, call.cseq, {}, {}, {}, call.invite_branch));
    sim.from_trunk(sim.trunk.respond(sim.trunk.next_request("CANCEL")->view, 200, "OK"));
    sim.from_trunk(sim.trunk.respond(inv->view, 487, "Request Terminated"));
    ++calls;
  }
  {
    Browser& b = sim.browser("e");
    BrowserCall call;
    sim.invite(b, call);
    sim.from_trunk(sim.trunk.respond(sim.trunk.next_request("INVITE")->view, 180, "Ringing"));
    sim.close_flow(b);
    ++calls;
  }
  {
    Browser& b = sim.browser("f");
    connect_call(sim, b);
    sim.close_flow(b);
    ++calls;
  }
  // The trunk never answers (Timer B), and a session timer that runs out.
  {
    sim.drop_to_trunk = [](std::string_view bytes) { return bytes.starts_with("INVITE "); };
    Browser& b = sim.browser("g");
    BrowserCall call;
    sim.invite(b, call);
    sim.advance(seconds(33));
    sim.drop_to_trunk = {};
    ++calls;
  }
  {
    Browser& b = sim.browser("h");
    connect_call(sim, b);
    sim.advance(seconds(91));
    ++calls;
  }
  sim.advance(seconds(60));
  ASSERT_EQ(sim.cdrs.size(), static_cast<std::size_t>(calls));
  EXPECT_TRUE(sim.media.live.empty()) << sim.media.live.size() << " media sessions leaked";
  EXPECT_EQ(sim.media.released.size(), static_cast<std::size_t>(calls));
  EXPECT_EQ(edge::kMediaSessionsReleased.total(), released_before + static_cast<std::uint64_t>(calls));
}

}  // namespace
}  // namespace webtrunk::sim

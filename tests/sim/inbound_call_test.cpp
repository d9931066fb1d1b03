// Calls from the trunk to registered browsers (edge/inbound_call.hpp), whole calls on the fake clock:
// the trunk (sipp-like UAC) calls a user, every browser registered as that user rings, the first
// 2xx wins.
#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

// The trunk's offer as sipp's uac_pcap scenario sends it: PCMU, PCMA, telephone-event.
const std::string kTrunkOffer =
    "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n";

// Chromium's answer to the edge's offer (a=setup:active: the edge stays the DTLS server).
const std::string kBrowserAnswer =
    "v=0\r\no=- 1904810274573520196 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "a=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 101\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Brw1\r\na=ice-pwd:browserpassword0123456789\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "02:FA:96:EF:A1:32:50:67:82:18:D9:88:A0:22:E1:55:07:7B:18:ED:7D:31:3D:89:C8:E8:48:B7:31:9F:8A:38\r\n"
    "a=setup:active\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n";

struct TrunkCall {
  std::string call_id = "inbound-1@127.0.0.1";
  std::string tag = "sippfrom1";
  std::string invite;
  std::string to_tag;  // the edge's
};

std::string trunk_invite(TrunkCall& c, std::string_view user, std::string_view sdp = kTrunkOffer) {
  std::string out;
  sip::MessageWriter w(out);
  w.request_line("INVITE", fmt::format("sip:{}@127.0.0.1:5070", user));
  w.header("Via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-inbound-1");
  w.header("Max-Forwards", "70");
  w.header("From", fmt::format("<sip:15550001111@127.0.0.1:5080>;tag={}", c.tag));
  w.header("To", fmt::format("<sip:{}@127.0.0.1:5070>", user));
  w.header("Call-ID", c.call_id);
  w.header("CSeq", "1 INVITE");
  w.header("Contact", "<sip:sipp@127.0.0.1:5080>");
  if (!sdp.empty()) w.header("Content-Type", "application/sdp");
  w.finish(sdp);
  c.invite = out;
  return out;
}

// A request from the trunk inside the call (ACK, BYE, CANCEL).
std::string trunk_request(const TrunkCall& c, std::string_view method, std::uint32_t cs, bool with_tag,
                          std::string_view branch) {
  std::string out;
  sip::MessageWriter w(out);
  w.request_line(method, "sip:edge@127.0.0.1:5070");
  w.header("Via", fmt::format("SIP/2.0/UDP 127.0.0.1:5080;branch={}", branch));
  w.header("Max-Forwards", "70");
  w.header("From", fmt::format("<sip:15550001111@127.0.0.1:5080>;tag={}", c.tag));
  w.header("To", with_tag ? fmt::format("<sip:alice@127.0.0.1:5070>;tag={}", c.to_tag) : "<sip:alice@127.0.0.1:5070>");
  w.header("Call-ID", c.call_id);
  w.header("CSeq", fmt::format("{} {}", cs, method));
  w.finish({});
  return out;
}

// The browser's response to the edge's request `req` (its own To tag `tag`).
std::string browser_response(const sip::MessageView& req, int code, std::string_view reason, std::string_view tag,
                             std::string_view sdp = {}) {
  const std::vector<std::pair<std::string_view, std::string_view>> h{{"Contact", "<sip:agent@x.invalid;transport=ws>"}};
  return edge::build_response(req, code, reason, tag, h, sdp.empty() ? "" : "application/sdp", sdp);
}

// A request from the browser in the dialog its 2xx to `inv` made (From: its tag, To: ours).
std::string browser_request(const sip::MessageView& inv, std::string_view tag, std::string_view method,
                            std::uint32_t cs, std::string_view ctype = {}, std::string_view body = {}) {
  std::string out;
  sip::MessageWriter w(out);
  w.request_line(method, "sip:edge@127.0.0.1:5070;transport=ws");
  w.header("Via", fmt::format("SIP/2.0/WSS x.invalid;branch=z9hG4bKbrowser{}{}", method, cs));
  w.header("Max-Forwards", "70");
  w.header("From", fmt::format("{};tag={}", inv.value(sip::HeaderId::to), tag));
  w.header("To", inv.value(sip::HeaderId::from));
  w.header("Call-ID", inv.value(sip::HeaderId::call_id));
  w.header("CSeq", fmt::format("{} {}", cs, method));
  if (!ctype.empty()) w.header("Content-Type", ctype);
  w.finish(body);
  return out;
}

Browser& registered(Sim& sim, std::string_view user, std::string_view instance) {
  Browser& b = sim.browser(user);
  b.instance = std::string(instance);
  Msg r = sim.register_(b);
  EXPECT_EQ(r->view.status_code(), 200) << r->view.raw();
  return b;
}

Msg next_request(Browser& b, std::string_view method) {
  while (!b.inbox.empty()) {
    Msg m = b.next();
    if (m->view.is_request() && m->view.method_text() == method) return m;
  }
  ADD_FAILURE() << "browser " << b.user << ": no " << method;
  return std::make_unique<OwnedMessage>("SIP/2.0 999 Nothing\r\n\r\n");
}

Msg trunk_final(Trunk& t) {
  while (!t.inbox.empty()) {
    Msg m = t.next();
    if (m->view.is_response() && m->view.status_code() >= 200) return m;
  }
  ADD_FAILURE() << "trunk: no final response";
  return std::make_unique<OwnedMessage>("SIP/2.0 999 Nothing\r\n\r\n");
}

// Two tabs registered as alice; the trunk calls alice; both get the INVITE.
struct TwoRinging {
  Browser& a;
  Browser& b;
  TrunkCall c;
  Msg inv_a;
  Msg inv_b;
};

TwoRinging ring_two(Sim& sim) {
  Browser& a = registered(sim, "alice", "inst-a");
  Browser& b = registered(sim, "alice", "inst-b");
  TrunkCall c;
  sim.from_trunk(trunk_invite(c, "alice"));
  Msg inv_a = next_request(a, "INVITE");
  Msg inv_b = next_request(b, "INVITE");
  return TwoRinging{a, b, std::move(c), std::move(inv_a), std::move(inv_b)};
}

// Whether a final response waits in the trunk's inbox (consumed up to it).
bool trunk_got_final(Trunk& t) {
  while (!t.inbox.empty()) {
    Msg m = t.next();
    if (m->view.is_response() && m->view.status_code() >= 200) return true;
  }
  return false;
}

TEST(InboundCall, InviteFromAnAddressThatIsNoTrunkIs403) {
  Sim sim;
  registered(sim, "alice", "inst-a");
  TrunkCall c;
  sim.core->handle_trunk_datagram(sim.now, core::SockAddr::ipv4_loopback(5999), trunk_invite(c, "alice"));
  auto t = sim.core->poll_transmit();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->addr, core::SockAddr::ipv4_loopback(5999));
  OwnedMessage r(t->bytes);
  EXPECT_EQ(r.view.status_code(), 403);
  EXPECT_EQ(r.view.reason_phrase(), "Forbidden: not a configured trunk");
  EXPECT_FALSE(sim.core->poll_transmit().has_value());  // nothing rang
  EXPECT_TRUE(sim.media.live.empty());
}

TEST(InboundCall, NobodyRegisteredIs480NamingTheUser) {
  Sim sim;
  TrunkCall c;
  sim.from_trunk(trunk_invite(c, "bob"));
  Msg r = trunk_final(sim.trunk);
  EXPECT_EQ(r->view.status_code(), 480);
  EXPECT_EQ(r->view.reason_phrase(), "Temporarily Unavailable: bob is not registered");
  sim.from_trunk(trunk_request(c, "ACK", 1, false, "z9hG4bK-inbound-1"));
  sim.advance(std::chrono::seconds(40));
  EXPECT_EQ(sim.core->poll_timeout(), sim.core->registrar().next_expiry());  // the call is gone
}

TEST(InboundCall, OneBrowserAnswersMediaBridgedBothWaysThenTrunkHangsUp) {
  Sim sim;
  Browser& agent = registered(sim, "alice", "inst-a");
  TrunkCall c;
  sim.from_trunk(trunk_invite(c, "alice"));

  Msg inv = next_request(agent, "INVITE");
  const std::string offer(inv->view.body());
  // The edge offers the browser ICE-lite + DTLS actpass, the trunk's codec chosen by --codecs
  // (PCMU first), telephone-event, rtcp-mux, BUNDLE.
  for (std::string_view line : {"a=ice-lite", "a=group:BUNDLE 0", "m=audio 3478 UDP/TLS/RTP/SAVPF 0 101",
                                "a=setup:actpass", "a=rtcp-mux", "a=rtpmap:0 PCMU/8000",
                                "a=rtpmap:101 telephone-event/8000", "a=mid:0", "typ host"}) {
    EXPECT_NE(offer.find(line), std::string::npos) << line << " not in\n" << offer;
  }
  EXPECT_EQ(offer.find("PCMA"), std::string::npos) << offer;
  EXPECT_EQ(inv->view.request_uri(), "sip:uoggfa7q@9v41u07uh5vh.invalid;transport=ws");

  agent.send(browser_response(inv->view, 180, "Ringing", "agenttag"));
  Msg ringing = sim.trunk.next();
  while (ringing->view.status_code() == 100) ringing = sim.trunk.next();
  EXPECT_EQ(ringing->view.status_code(), 180);
  c.to_tag = std::string(sip::to_tag(ringing->view));
  EXPECT_FALSE(c.to_tag.empty());

  agent.send(browser_response(inv->view, 200, "OK", "agenttag", kBrowserAnswer));
  Msg ack = next_request(agent, "ACK");
  EXPECT_EQ(sip::to_tag(ack->view), "agenttag");
  Msg ok = trunk_final(sim.trunk);
  EXPECT_EQ(ok->view.status_code(), 200);
  EXPECT_EQ(sip::to_tag(ok->view), c.to_tag);
  const std::string answer(ok->view.body());
  expect_trunk_offer(answer, "sendrecv");
  EXPECT_NE(answer.find("m=audio 40002 RTP/AVP 0 101"), std::string::npos) << answer;

  // The media session: the browser's ICE and fingerprint, the trunk's RTP address and codec.
  ASSERT_EQ(sim.media.live.size(), 1u);
  const auto& s = sim.media.live.begin()->second;
  ASSERT_FALSE(s.browser.empty());
  EXPECT_EQ(s.browser.back().ice.ufrag, "Brw1");
  ASSERT_TRUE(s.trunk_rtp.has_value());
  EXPECT_EQ(*s.trunk_rtp, core::SockAddr::ipv4_loopback(6000));

  sim.from_trunk(trunk_request(c, "ACK", 1, true, "z9hG4bK-inbound-ack"));
  sim.from_trunk(trunk_request(c, "BYE", 2, true, "z9hG4bK-inbound-bye"));
  Msg bye_ok = trunk_final(sim.trunk);
  EXPECT_EQ(bye_ok->view.status_code(), 200);
  Msg bye = next_request(agent, "BYE");
  agent.send(browser_response(bye->view, 200, "OK", {}));
  EXPECT_TRUE(sim.media.live.empty());
  sim.advance(std::chrono::seconds(40));
  EXPECT_EQ(sim.core->poll_timeout(), sim.core->registrar().next_expiry());
}

TEST(InboundCall, BrowserHangsUpTheAnsweredCall) {
  Sim sim;
  Browser& agent = registered(sim, "alice", "inst-a");
  TrunkCall c;
  sim.from_trunk(trunk_invite(c, "alice"));
  Msg inv = next_request(agent, "INVITE");
  agent.send(browser_response(inv->view, 200, "OK", "agenttag", kBrowserAnswer));
  Msg ok = trunk_final(sim.trunk);
  c.to_tag = std::string(sip::to_tag(ok->view));
  sim.from_trunk(trunk_request(c, "ACK", 1, true, "z9hG4bK-inbound-ack"));
  Msg ack = next_request(agent, "ACK");
  agent.send(browser_request(inv->view, "agenttag", "BYE", 1));
  Msg r = agent.next_response(200);
  EXPECT_EQ(r->view.status_code(), 200);
  Msg trunk_bye = sim.trunk.next_request("BYE");
  EXPECT_EQ(sip::call_id(trunk_bye->view), c.call_id);
  EXPECT_EQ(sip::from_tag(trunk_bye->view), c.to_tag);
  EXPECT_TRUE(sim.media.live.empty());
}

TEST(InboundCall, TwoBrowsersRingFirst200WinsOtherIsCancelled) {
  Sim sim;
  auto [a, b, c, inv_a, inv_b] = ring_two(sim);
  EXPECT_EQ(inv_a->view.body(), inv_b->view.body());  // one offer, one media session
  a.send(browser_response(inv_a->view, 180, "Ringing", "tag-a"));
  b.send(browser_response(inv_b->view, 180, "Ringing", "tag-b"));

  b.send(browser_response(inv_b->view, 200, "OK", "tag-b", kBrowserAnswer));
  Msg ack = next_request(b, "ACK");
  Msg cancel = next_request(a, "CANCEL");
  EXPECT_EQ(sip::call_id(cancel->view), sip::call_id(inv_a->view));
  a.send(browser_response(cancel->view, 200, "OK", "tag-a"));
  a.send(browser_response(inv_a->view, 487, "Request Terminated", "tag-a"));
  Msg a_ack = next_request(a, "ACK");  // the transaction's ACK for the 487
  EXPECT_EQ(sip::to_tag(a_ack->view), "tag-a");
  Msg ok = trunk_final(sim.trunk);
  EXPECT_EQ(ok->view.status_code(), 200);
  EXPECT_EQ(sim.trunk.inbox.size(), 0u);  // one final for the trunk, nothing else
}

TEST(InboundCall, RacingSecond200IsAckedAndHungUp) {
  Sim sim;
  auto [a, b, c, inv_a, inv_b] = ring_two(sim);
  a.send(browser_response(inv_a->view, 200, "OK", "tag-a", kBrowserAnswer));
  b.send(browser_response(inv_b->view, 200, "OK", "tag-b", kBrowserAnswer));  // crossed our CANCEL
  next_request(a, "ACK");
  Msg b_ack = next_request(b, "ACK");
  EXPECT_EQ(sip::to_tag(b_ack->view), "tag-b");
  Msg b_bye = next_request(b, "BYE");
  EXPECT_EQ(sip::to_tag(b_bye->view), "tag-b");
  b.send(browser_response(b_bye->view, 200, "OK", {}));
  Msg ok = trunk_final(sim.trunk);
  EXPECT_EQ(ok->view.status_code(), 200);
  EXPECT_FALSE(trunk_got_final(sim.trunk)) << "one 200 only";
}

TEST(InboundCall, BusyBrowserGives486AndA603WinsOverIt) {
  {
    Sim sim;
    Browser& a = registered(sim, "alice", "inst-a");
    TrunkCall c;
    sim.from_trunk(trunk_invite(c, "alice"));
    Msg inv = next_request(a, "INVITE");
    a.send(browser_response(inv->view, 486, "Busy Here", "tag-a"));
    Msg r = trunk_final(sim.trunk);
    EXPECT_EQ(r->view.status_code(), 486);
    EXPECT_EQ(r->view.reason_phrase(), "Busy Here");
    EXPECT_TRUE(sim.media.live.empty());
  }
  {
    Sim sim;
    auto [a, b, c, inv_a, inv_b] = ring_two(sim);
    a.send(browser_response(inv_a->view, 486, "Busy Here", "tag-a"));
    EXPECT_FALSE(trunk_got_final(sim.trunk)) << "b still rings";
    b.send(browser_response(inv_b->view, 603, "Decline", "tag-b"));
    Msg r = trunk_final(sim.trunk);
    EXPECT_EQ(r->view.status_code(), 603);  // RFC 3261 §16.7: a 6xx wins
  }
}

TEST(InboundCall, CancelFromTheTrunkStopsTheRingingEverywhere) {
  Sim sim;
  auto [a, b, c, inv_a, inv_b] = ring_two(sim);
  a.send(browser_response(inv_a->view, 180, "Ringing", "tag-a"));
  b.send(browser_response(inv_b->view, 180, "Ringing", "tag-b"));
  sim.trunk.inbox.clear();
  sim.from_trunk(trunk_request(c, "CANCEL", 1, false, "z9hG4bK-inbound-1"));
  Msg cancel_ok = sim.trunk.next();
  EXPECT_EQ(cancel_ok->view.status_code(), 200);
  EXPECT_EQ(sip::cseq(cancel_ok->view)->method, sip::Method::cancel);
  Msg r = trunk_final(sim.trunk);
  EXPECT_EQ(r->view.status_code(), 487);
  for (auto [br, inv, tag] : {std::tuple{&a, &inv_a, "tag-a"}, std::tuple{&b, &inv_b, "tag-b"}}) {
    Msg cancel = next_request(*br, "CANCEL");
    br->send(browser_response(cancel->view, 200, "OK", tag));
    br->send(browser_response((*inv)->view, 487, "Request Terminated", tag));
  }
  sim.from_trunk(trunk_request(c, "ACK", 1, false, "z9hG4bK-inbound-1"));
  EXPECT_TRUE(sim.media.live.empty());
  sim.advance(std::chrono::seconds(40));
  EXPECT_EQ(sim.core->poll_timeout(), sim.core->registrar().next_expiry());  // nothing left
}

TEST(InboundCall, NobodyAnsweringWithinMaxRingingIs408AndTheBrowsersAreCancelled) {
  Sim sim;
  auto [a, b, c, inv_a, inv_b] = ring_two(sim);
  a.send(browser_response(inv_a->view, 180, "Ringing", "tag-a"));
  b.send(browser_response(inv_b->view, 180, "Ringing", "tag-b"));
  sim.advance(std::chrono::minutes(3) - std::chrono::seconds(1));
  EXPECT_FALSE(trunk_got_final(sim.trunk));
  sim.advance(std::chrono::seconds(2));
  Msg r = trunk_final(sim.trunk);
  EXPECT_EQ(r->view.status_code(), 408);
  EXPECT_EQ(r->view.reason_phrase(), "Request Timeout: nobody answered");
  next_request(a, "CANCEL");
  next_request(b, "CANCEL");
  EXPECT_TRUE(sim.media.live.empty());
}

// Two shards in one process (edge/shard_note.hpp): the trunk's INVITE reaches shard 0, alice has
// a tab on each shard. Shard 0 coordinates: its media session, its trunk leg; shard 1 carries
// the SIP of its tab.
struct TwoShards {
  Sim s0{[] {
    SimOptions o;
    o.shards = 2;
    return o;
  }()};
  Sim s1{[] {
    SimOptions o;
    o.shard = 1;
    o.shards = 2;
    return o;
  }()};
  TwoShards() { Sim::link({&s0, &s1}); }
};

TEST(InboundCall, ForkAcrossTwoShardsTheRemoteTabAnswersAndTheTrunkHangsUp) {
  TwoShards sh;
  Browser& a = registered(sh.s0, "alice", "inst-a");
  Browser& b = registered(sh.s1, "alice", "inst-b");
  TrunkCall c;
  sh.s0.from_trunk(trunk_invite(c, "alice"));
  Msg inv_a = next_request(a, "INVITE");
  Msg inv_b = next_request(b, "INVITE");
  EXPECT_EQ(inv_a->view.body(), inv_b->view.body());  // one offer: the media session of shard 0
  EXPECT_EQ(sip::call_id(inv_a->view), sip::call_id(inv_b->view));
  EXPECT_EQ(sh.s1.core->remote_calls(), 1u);
  EXPECT_TRUE(sh.s1.media.live.empty());  // nothing of the call's media on shard 1

  a.send(browser_response(inv_a->view, 180, "Ringing", "tag-a"));  // a CANCEL waits for a provisional
  b.send(browser_response(inv_b->view, 180, "Ringing", "tag-b"));
  Msg ringing = sh.s0.trunk.next();
  while (ringing->view.status_code() == 100) ringing = sh.s0.trunk.next();
  EXPECT_EQ(ringing->view.status_code(), 180);
  b.send(browser_response(inv_b->view, 200, "OK", "tag-b", kBrowserAnswer));
  Msg ack = next_request(b, "ACK");
  EXPECT_EQ(sip::to_tag(ack->view), "tag-b");
  Msg cancel = next_request(a, "CANCEL");
  a.send(browser_response(cancel->view, 200, "OK", "tag-a"));
  a.send(browser_response(inv_a->view, 487, "Request Terminated", "tag-a"));
  Msg ok = trunk_final(sh.s0.trunk);
  ASSERT_EQ(ok->view.status_code(), 200);
  c.to_tag = std::string(sip::to_tag(ok->view));
  ASSERT_EQ(sh.s0.media.live.size(), 1u);
  EXPECT_EQ(sh.s0.media.live.begin()->second.browser.back().ice.ufrag, "Brw1");

  sh.s0.from_trunk(trunk_request(c, "ACK", 1, true, "z9hG4bK-inbound-ack"));
  sh.s0.from_trunk(trunk_request(c, "BYE", 2, true, "z9hG4bK-inbound-bye"));
  EXPECT_EQ(trunk_final(sh.s0.trunk)->view.status_code(), 200);
  Msg bye = next_request(b, "BYE");
  b.send(browser_response(bye->view, 200, "OK", {}));
  EXPECT_TRUE(sh.s0.media.live.empty());
  sh.s0.advance(std::chrono::seconds(40));
  EXPECT_EQ(sh.s0.core->poll_timeout(), sh.s0.core->registrar().next_expiry());  // the call is gone
  EXPECT_EQ(sh.s1.core->remote_calls(), 0u);  // and shard 1 forgot it
}

TEST(InboundCall, TwoShardsAnsweringAtOnceOneWinsTheOtherGetsAckAndBye) {
  TwoShards sh;
  Browser& a = registered(sh.s0, "alice", "inst-a");
  Browser& b = registered(sh.s1, "alice", "inst-b");
  TrunkCall c;
  sh.s0.from_trunk(trunk_invite(c, "alice"));
  Msg inv_a = next_request(a, "INVITE");
  Msg inv_b = next_request(b, "INVITE");
  // Shard 1's 200 arrives first, shard 0's crosses the CANCEL.
  b.send(browser_response(inv_b->view, 200, "OK", "tag-b", kBrowserAnswer));
  a.send(browser_response(inv_a->view, 200, "OK", "tag-a", kBrowserAnswer));
  next_request(b, "ACK");
  Msg a_ack = next_request(a, "ACK");
  EXPECT_EQ(sip::to_tag(a_ack->view), "tag-a");
  Msg a_bye = next_request(a, "BYE");
  EXPECT_EQ(sip::to_tag(a_bye->view), "tag-a");
  a.send(browser_response(a_bye->view, 200, "OK", {}));
  EXPECT_TRUE(std::none_of(b.inbox.begin(), b.inbox.end(), [](const Msg& m) { return m->view.method_text() == "BYE"; }))
      << "the winner keeps its call";
  Msg ok = trunk_final(sh.s0.trunk);
  EXPECT_EQ(ok->view.status_code(), 200);
  EXPECT_FALSE(trunk_got_final(sh.s0.trunk)) << "one 200 only";
  ASSERT_EQ(sh.s0.media.live.size(), 1u);
}

TEST(InboundCall, TrunkCancelWhileRingingOnTwoShardsCancelsBoth) {
  TwoShards sh;
  Browser& a = registered(sh.s0, "alice", "inst-a");
  Browser& b = registered(sh.s1, "alice", "inst-b");
  TrunkCall c;
  sh.s0.from_trunk(trunk_invite(c, "alice"));
  Msg inv_a = next_request(a, "INVITE");
  Msg inv_b = next_request(b, "INVITE");
  a.send(browser_response(inv_a->view, 180, "Ringing", "tag-a"));
  b.send(browser_response(inv_b->view, 180, "Ringing", "tag-b"));
  sh.s0.trunk.inbox.clear();
  sh.s0.from_trunk(trunk_request(c, "CANCEL", 1, false, "z9hG4bK-inbound-1"));
  EXPECT_EQ(sh.s0.trunk.next()->view.status_code(), 200);
  EXPECT_EQ(trunk_final(sh.s0.trunk)->view.status_code(), 487);
  for (auto [br, inv, tag] : {std::tuple{&a, &inv_a, "tag-a"}, std::tuple{&b, &inv_b, "tag-b"}}) {
    Msg cancel = next_request(*br, "CANCEL");
    br->send(browser_response(cancel->view, 200, "OK", tag));
    br->send(browser_response((*inv)->view, 487, "Request Terminated", tag));
    EXPECT_EQ(sip::to_tag(next_request(*br, "ACK")->view), tag);
  }
  sh.s0.from_trunk(trunk_request(c, "ACK", 1, false, "z9hG4bK-inbound-1"));
  EXPECT_TRUE(sh.s0.media.live.empty());
  sh.s0.advance(std::chrono::seconds(40));
  EXPECT_EQ(sh.s0.core->poll_timeout(), sh.s0.core->registrar().next_expiry());
  EXPECT_EQ(sh.s1.core->remote_calls(), 0u);
}

TEST(InboundCall, NobodyRegisteredOnAnyShardIs480AndARemoteTabAloneRings) {
  {
    TwoShards sh;
    TrunkCall c;
    sh.s0.from_trunk(trunk_invite(c, "bob"));
    Msg r = trunk_final(sh.s0.trunk);
    EXPECT_EQ(r->view.status_code(), 480);
    EXPECT_EQ(r->view.reason_phrase(), "Temporarily Unavailable: bob is not registered");
    EXPECT_TRUE(sh.s0.media.live.empty());
  }
  {
    TwoShards sh;
    Browser& b = registered(sh.s1, "alice", "inst-b");
    TrunkCall c;
    sh.s0.from_trunk(trunk_invite(c, "alice"));
    Msg inv = next_request(b, "INVITE");
    b.send(browser_response(inv->view, 486, "Busy Here", "tag-b"));
    EXPECT_EQ(trunk_final(sh.s0.trunk)->view.status_code(), 486);
  }
}

TEST(InboundCall, AShardThatNeverAnswersTheLookupCountsAsNobodyAfterASecond) {
  TwoShards sh;
  registered(sh.s1, "alice", "inst-b");
  TrunkCall c;
  // Shard 1's lane is full: the lookup never reaches it.
  sh.s0.core->handle_trunk_datagram(sh.s0.now, sh.s0.trunk.addr, trunk_invite(c, "alice"));
  while (auto t = sh.s0.core->poll_transmit()) sh.s0.trunk.inbox.push_back(std::make_unique<OwnedMessage>(t->bytes));
  ASSERT_TRUE(sh.s0.core->poll_shard_note().has_value());
  EXPECT_FALSE(sh.s0.core->poll_shard_note().has_value());
  EXPECT_FALSE(trunk_got_final(sh.s0.trunk));
  sh.s0.advance(std::chrono::milliseconds(999));
  EXPECT_FALSE(trunk_got_final(sh.s0.trunk));
  sh.s0.advance(std::chrono::milliseconds(2));
  Msg r = trunk_final(sh.s0.trunk);
  EXPECT_EQ(r->view.status_code(), 480);
  EXPECT_TRUE(sh.s0.media.live.empty());
}

TEST(InboundCall, RemoteTabDisconnectingWhileRingingIs480) {
  TwoShards sh;
  Browser& b = registered(sh.s1, "alice", "inst-b");
  TrunkCall c;
  sh.s0.from_trunk(trunk_invite(c, "alice"));
  next_request(b, "INVITE");
  sh.s1.close_flow(b);
  EXPECT_EQ(trunk_final(sh.s0.trunk)->view.status_code(), 480);
  EXPECT_EQ(sh.s1.core->remote_calls(), 0u);
  EXPECT_TRUE(sh.s0.media.live.empty());
}

TEST(InboundCall, EarlyAnswerFromTheBrowserIsA183WithTheSdpThe200Repeats) {
  Sim sim;
  Browser& agent = registered(sim, "alice", "inst-a");
  TrunkCall c;
  sim.from_trunk(trunk_invite(c, "alice"));
  Msg inv = next_request(agent, "INVITE");
  agent.send(browser_response(inv->view, 183, "Session Progress", "agenttag", kBrowserAnswer));
  Msg early = sim.trunk.next();
  while (early->view.status_code() == 100) early = sim.trunk.next();
  ASSERT_EQ(early->view.status_code(), 183);
  const std::string early_sdp(early->view.body());
  EXPECT_NE(early_sdp.find("m=audio 40002 RTP/AVP 0 101"), std::string::npos) << early_sdp;
  // The media runs before the answer: ICE/DTLS with the browser, RTP toward the trunk.
  ASSERT_EQ(sim.media.live.size(), 1u);
  EXPECT_EQ(sim.media.live.begin()->second.browser.back().ice.ufrag, "Brw1");
  ASSERT_TRUE(sim.media.live.begin()->second.trunk_rtp.has_value());
  EXPECT_TRUE(sim.trunk.inbox.empty()) << "no 180 after the 183";

  agent.send(browser_response(inv->view, 180, "Ringing", "agenttag"));
  EXPECT_TRUE(sim.trunk.inbox.empty()) << "one provisional to the trunk";
  agent.send(browser_response(inv->view, 200, "OK", "agenttag", kBrowserAnswer));
  Msg ok = trunk_final(sim.trunk);
  ASSERT_EQ(ok->view.status_code(), 200);
  EXPECT_EQ(ok->view.body(), early_sdp);  // RFC 3261 §13.2.1: the same answer
  EXPECT_EQ(sip::to_tag(ok->view), sip::to_tag(early->view));
}

TEST(InboundCall, PlainRingingIs180WithoutSdp) {
  Sim sim;
  Browser& agent = registered(sim, "alice", "inst-a");
  TrunkCall c;
  sim.from_trunk(trunk_invite(c, "alice"));
  Msg inv = next_request(agent, "INVITE");
  agent.send(browser_response(inv->view, 180, "Ringing", "agenttag"));
  Msg r = sim.trunk.next();
  while (r->view.status_code() == 100) r = sim.trunk.next();
  EXPECT_EQ(r->view.status_code(), 180);
  EXPECT_TRUE(r->view.body().empty());
  EXPECT_FALSE(sim.media.live.begin()->second.trunk_rtp.has_value());  // no media before the answer
}

// An answered call from the trunk to `b` (on `sim`, or on another shard of `coordinator`).
Msg answered(Sim& coordinator, Browser& b, TrunkCall& c) {
  coordinator.from_trunk(trunk_invite(c, "alice"));
  Msg inv = next_request(b, "INVITE");
  b.send(browser_response(inv->view, 200, "OK", "agenttag", kBrowserAnswer));
  next_request(b, "ACK");
  Msg ok = trunk_final(coordinator.trunk);
  EXPECT_EQ(ok->view.status_code(), 200);
  c.to_tag = std::string(sip::to_tag(ok->view));
  coordinator.from_trunk(trunk_request(c, "ACK", 1, true, "z9hG4bK-inbound-ack"));
  return inv;
}

TEST(InboundCall, BrowserHoldsAndResumesWithReInviteAnsweredFromTheMediaState) {
  Sim sim;
  Browser& agent = registered(sim, "alice", "inst-a");
  TrunkCall c;
  Msg inv = answered(sim, agent, c);
  const auto& s = sim.media.live.begin()->second;
  const std::string hold = sdp_with(sdp_with(kBrowserAnswer, " 2 IN IP4", " 3 IN IP4"), "a=sendrecv", "a=sendonly");
  agent.send(browser_request(inv->view, "agenttag", "INVITE", 2, "application/sdp", hold));
  Msg r = agent.next_response(200);
  EXPECT_NE(r->view.body().find("a=recvonly"), std::string::npos) << r->view.body();
  EXPECT_NE(r->view.body().find("a=setup:passive"), std::string::npos) << r->view.body();
  ASSERT_FALSE(s.directions.empty());
  EXPECT_EQ(s.directions.back(), media::Direction::recvonly);  // the edge only takes from the browser
  const std::string resume = sdp_with(kBrowserAnswer, " 2 IN IP4", " 4 IN IP4");
  agent.send(browser_request(inv->view, "agenttag", "INVITE", 3, "application/sdp", resume));
  r = agent.next_response(200);
  EXPECT_NE(r->view.body().find("a=sendrecv"), std::string::npos) << r->view.body();
  EXPECT_EQ(s.directions.back(), media::Direction::sendrecv);
  // JsSIP's session refresh: an UPDATE without SDP.
  agent.send(browser_request(inv->view, "agenttag", "UPDATE", 4));
  r = agent.next_response(200);
  EXPECT_TRUE(r->view.body().empty());
  EXPECT_TRUE(sim.trunk.inbox.empty()) << "the trunk leg is untouched";
  // An old CSeq is refused (RFC 3261 §12.2.2).
  agent.send(browser_request(inv->view, "agenttag", "UPDATE", 1));
  EXPECT_EQ(agent.next()->view.status_code(), 500);
}

TEST(InboundCall, BrowserDtmfInfoBecomesRfc4733TowardTheTrunkFromAnotherShardToo) {
  TwoShards sh;
  Browser& agent = registered(sh.s1, "alice", "inst-b");
  TrunkCall c;
  Msg inv = answered(sh.s0, agent, c);
  agent.send(browser_request(inv->view, "agenttag", "INFO", 2, "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"));
  EXPECT_EQ(agent.next_response(200)->view.status_code(), 200);
  const auto& s = sh.s0.media.live.begin()->second;
  ASSERT_EQ(s.dtmf.size(), 1u);
  EXPECT_EQ(s.dtmf[0], (std::pair<char, std::uint32_t>{'5', 160}));
  agent.send(browser_request(inv->view, "agenttag", "INFO", 3, "application/dtmf-relay", "Signal=\r\n"));
  EXPECT_EQ(agent.next()->view.status_code(), 400);
  agent.send(browser_request(inv->view, "agenttag", "INFO", 4, "application/json", "{}"));
  EXPECT_EQ(agent.next()->view.status_code(), 501);
}

TEST(InboundCall, TrunkInfoIsAnswered501AndNeverReachesTheBrowser) {
  // The trunk's DTMF travels as RFC 4733 in the media; its SIP INFO (DTMF or anything else) has no
  // meaning the edge relays to a browser: 501 on the trunk leg, the call goes on.
  Sim sim;
  Browser& agent = registered(sim, "alice", "inst-a");
  TrunkCall c;
  answered(sim, agent, c);
  std::string info = trunk_request(c, "INFO", 2, true, "z9hG4bK-trunk-info");
  const std::string body = "Signal=5\r\nDuration=160\r\n";
  info = sdp_with(info, "Content-Length: 0\r\n", "Content-Type: application/dtmf-relay\r\nContent-Length: " +
                                                      std::to_string(body.size()) + "\r\n");
  sim.from_trunk(info + body);
  Msg r = trunk_final(sim.trunk);
  EXPECT_EQ(r->view.status_code(), 501) << r->view.raw();
  EXPECT_EQ(sip::cseq(r->view)->method, sip::Method::info);
  sim.from_trunk(trunk_request(c, "INFO", 3, true, "z9hG4bK-trunk-info-2"));  // no body
  EXPECT_EQ(trunk_final(sim.trunk)->view.status_code(), 501);
  sim.advance(std::chrono::seconds(1));
  EXPECT_TRUE(agent.inbox.empty()) << "nothing reached the browser";
  EXPECT_EQ(sim.media.live.size(), 1u) << "the call goes on";
}

TEST(InboundCall, TrunkHoldReInviteIsAnsweredAndItsAckAbsorbed) {
  Sim sim;
  Browser& agent = registered(sim, "alice", "inst-a");
  TrunkCall c;
  answered(sim, agent, c);
  const auto& s = sim.media.live.begin()->second;
  std::string reinvite = trunk_request(c, "INVITE", 3, true, "z9hG4bK-trunk-hold");
  const std::string hold = sdp_with(sdp_with(kTrunkOffer, "2353687637", "2353687638"), "a=sendrecv", "a=sendonly");
  reinvite = sdp_with(reinvite, "\r\n\r\n", "\r\nContent-Type: application/sdp\r\nContent-Length: " +
                                                std::to_string(hold.size()) + "\r\n\r\n" + hold);
  reinvite = sdp_with(reinvite, "Content-Length: 0\r\n", "");
  sim.from_trunk(reinvite);
  Msg r = trunk_final(sim.trunk);
  ASSERT_EQ(r->view.status_code(), 200) << r->view.raw();
  EXPECT_NE(r->view.body().find("a=recvonly"), std::string::npos) << r->view.body();
  EXPECT_EQ(s.directions.back(), media::Direction::sendonly);  // the edge only sends to the browser
  sim.advance(std::chrono::milliseconds(600));
  EXPECT_EQ(trunk_final(sim.trunk)->view.status_code(), 200) << "the 2xx again until the ACK";
  sim.from_trunk(trunk_request(c, "ACK", 3, true, "z9hG4bK-trunk-hold-ack"));
  sim.advance(std::chrono::seconds(40));
  EXPECT_FALSE(trunk_got_final(sim.trunk));
  EXPECT_TRUE(agent.inbox.empty()) << "no BYE: the call lives on";
  EXPECT_EQ(sim.media.live.size(), 1u);
}

TEST(InboundCall, TrunkOfferingOnHoldIsAnsweredRecvonly) {
  Sim sim;
  Browser& agent = registered(sim, "alice", "inst-a");
  TrunkCall c;
  sim.from_trunk(trunk_invite(c, "alice", sdp_with(kTrunkOffer, "a=sendrecv", "a=sendonly")));
  Msg inv = next_request(agent, "INVITE");
  EXPECT_NE(inv->view.body().find("a=sendonly"), std::string::npos) << inv->view.body();  // the browser only hears
  agent.send(browser_response(inv->view, 200, "OK", "agenttag", sdp_with(kBrowserAnswer, "a=sendrecv", "a=recvonly")));
  Msg ok = trunk_final(sim.trunk);
  ASSERT_EQ(ok->view.status_code(), 200);
  EXPECT_NE(ok->view.body().find("a=recvonly"), std::string::npos) << ok->view.body();
}

}  // namespace
}  // namespace webtrunk::sim

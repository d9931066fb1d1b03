// An INVITE over 1,300 bytes to a UDP trunk (RFC 3261 §18.1.1), on a fake clock: on a route with
// tcp-fallback=yes it leaves over TCP to the same address (Via SIP/2.0/TCP) and the rest of the call
// follows (ACK, BYE); without the option it leaves over UDP, as today, and is counted. A small
// INVITE on a tcp-fallback route stays on UDP.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

Sim::Options route(std::string_view options) {
  Sim::Options o;
  o.routes = fmt::format("* udp:127.0.0.1:5080 {}\n", options);
  o.routes_file = true;
  return o;
}

// A called number long enough (a carrier's routing prefix, say) that the edge's INVITE (Request-URI
// and To) is longer than 1,300 bytes.
BrowserCall long_number_call() {
  const std::string number = "1555" + std::string(300, '1');
  BrowserCall c;
  c.to = fmt::format("<sip:{}@edge.test>", number);
  c.ruri = fmt::format("sip:{}@edge.test", number);
  return c;
}

// Answers the trunk INVITE, has the browser ACK, then hangs up from the browser; returns the BYE the
// trunk got.
Msg answer_and_hang_up(Sim& sim, Browser& b, BrowserCall& call, const Msg& inv) {
  sim.from_trunk(sim.trunk.respond(inv->view, 200, "OK", kAnswer));
  Msg ack = sim.trunk.next_request("ACK");
  EXPECT_EQ(ack->view.value(sip::HeaderId::call_id), inv->view.value(sip::HeaderId::call_id));
  Msg ok = b.next();
  EXPECT_EQ(ok->view.status_code(), 200);
  call.to_tag = std::string(sip::to_tag(ok->view));
  sim.in_dialog(b, call, "ACK", call.cseq);
  sim.in_dialog(b, call, "BYE", ++call.cseq);
  Msg bye = sim.trunk.next_request("BYE");
  EXPECT_TRUE(header_value(bye->view, "Via").starts_with(header_value(inv->view, "Via").substr(0, 12)))
      << header_value(bye->view, "Via");
  return bye;
}

TEST(TrunkTcpFallback, BigInviteOnAFallbackRouteGoesOverTcpAndTheCallFollows) {
  const auto fallbacks0 = edge::kTrunkTcpFallbacks.total();
  const auto oversize0 = edge::kTrunkUdpOversize.total();
  Sim sim(route("tcp-fallback=yes"));
  Browser& b = sim.browser("alice");
  BrowserCall call = long_number_call();
  EXPECT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  EXPECT_GT(inv->bytes.size(), 1300u);
  EXPECT_TRUE(header_value(inv->view, "Via").starts_with("SIP/2.0/TCP ")) << header_value(inv->view, "Via");
  EXPECT_EQ(sim.trunk.over_udp, 0u);
  EXPECT_EQ(sim.trunk.over_tcp, 1u);
  EXPECT_EQ(edge::kTrunkTcpFallbacks.total(), fallbacks0 + 1);
  EXPECT_EQ(edge::kTrunkUdpOversize.total(), oversize0);

  answer_and_hang_up(sim, b, call, inv);
  EXPECT_EQ(sim.trunk.over_udp, 0u) << "ACK and BYE follow the INVITE's transport";
  EXPECT_EQ(sim.trunk.over_tcp, 3u);
}

TEST(TrunkTcpFallback, BigInviteWithoutTheOptionGoesOverUdpAndIsCounted) {
  const auto fallbacks0 = edge::kTrunkTcpFallbacks.total();
  const auto oversize0 = edge::kTrunkUdpOversize.total();
  Sim sim(route(""));
  Browser& b = sim.browser("alice");
  BrowserCall call = long_number_call();
  EXPECT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  EXPECT_GT(inv->bytes.size(), 1300u);
  EXPECT_TRUE(header_value(inv->view, "Via").starts_with("SIP/2.0/UDP ")) << header_value(inv->view, "Via");
  EXPECT_EQ(sim.trunk.over_tcp, 0u);
  EXPECT_EQ(edge::kTrunkUdpOversize.total(), oversize0 + 1);
  EXPECT_EQ(edge::kTrunkTcpFallbacks.total(), fallbacks0);
  answer_and_hang_up(sim, b, call, inv);
  EXPECT_EQ(sim.trunk.over_tcp, 0u);
}

TEST(TrunkTcpFallback, SmallInviteOnAFallbackRouteStaysOnUdp) {
  const auto oversize0 = edge::kTrunkUdpOversize.total();
  Sim sim(route("tcp-fallback=yes"));
  Browser& b = sim.browser("alice");
  BrowserCall call;
  EXPECT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  EXPECT_LE(inv->bytes.size(), 1300u);
  EXPECT_TRUE(header_value(inv->view, "Via").starts_with("SIP/2.0/UDP ")) << header_value(inv->view, "Via");
  EXPECT_EQ(sim.trunk.over_tcp, 0u);
  EXPECT_EQ(edge::kTrunkUdpOversize.total(), oversize0);
}

TEST(TrunkTcpFallback, RouteOptionAndFlagParse) {
  auto t = edge::RouteTable::parse("* udp:127.0.0.1:5080 tcp-fallback=yes\n1555 udp:127.0.0.2:5080\n", "routes");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->lookup("4412345")->tcp_fallback);
  EXPECT_FALSE(t->lookup("15551234")->tcp_fallback);
  auto bad = edge::RouteTable::parse("* udp:127.0.0.1:5080 tcp-fallback=maybe\n", "routes");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("unknown field 'tcp-fallback=maybe'"), std::string::npos) << bad.error().message;
  auto single = edge::RouteTable::single("udp:127.0.0.1:5080", {}, {}, false, 600, true);
  ASSERT_TRUE(single.ok());
  EXPECT_TRUE(single->lookup("1")->tcp_fallback);
}

}  // namespace
}  // namespace webtrunk::sim

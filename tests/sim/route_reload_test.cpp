// A new route table while calls are up (--routes reloaded: app/routes_reloader.hpp): the call in
// progress keeps its trunk to the end, new calls go by the new table, and the trunk-side port
// follows the new table once no call holds the old one.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::seconds;

std::shared_ptr<const edge::RouteTable> table(std::string_view content) {
  auto t = edge::RouteTable::parse(content, "routes");
  EXPECT_TRUE(t) << (t ? "" : t.error().message);
  return std::make_shared<const edge::RouteTable>(std::move(*t));
}

std::string options_from(const Trunk& t) {
  return fmt::format(
      "OPTIONS sip:edge@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK-ka\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:trunk@{}>;tag=1\r\nTo: <sip:edge@127.0.0.1>\r\nCall-ID: ka-1\r\n"
      "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
      t.addr.to_string(), t.addr.to_string());
}

TEST(RouteReload, CallInProgressKeepsItsTrunkAndNewCallsTakeTheNewOne) {
  Sim::Options o;
  o.routes_file = true;
  o.routes = "1555 udp:127.0.0.1:5080\n";
  Sim sim(o);
  Browser& b = sim.browser("alice");
  Connected first = connect_call(sim, b);

  sim.core->set_routes(table("1555 udp:127.0.0.2:5080\n"));
  EXPECT_EQ(sim.core->routes().routes().front().trunk.spec, "udp:127.0.0.2:5080");

  // A new call goes to the new trunk, with the new trunk in its Request-URI and CDR.
  Connected second = connect_call(sim, b, kOffer, &sim.trunk_b);
  EXPECT_EQ(second.trunk_invite->view.request_uri(), "sip:15551234567@127.0.0.2:5080");
  EXPECT_TRUE(sim.trunk.inbox.empty()) << "nothing of the new call reached the old trunk";

  // The old trunk still speaks in its call, though the new table does not name it: its BYE is
  // answered and the browser gets it.
  sim.advance(seconds(5));
  sim.from_trunk(sim.trunk.request("BYE", first.trunk_invite->view, 1));
  EXPECT_EQ(sim.trunk.next()->view.status_code(), 200);
  Msg bye = b.next();
  ASSERT_TRUE(bye->view.is_request());
  EXPECT_EQ(bye->view.value(sip::HeaderId::call_id), first.call.call_id);
  b.send(edge::build_response(bye->view, 200, "OK", {}));

  // The browser hangs up the second call: the BYE goes to the new trunk.
  sim.in_dialog(b, second.call, "BYE", second.call.cseq + 1);
  EXPECT_EQ(b.next()->view.status_code(), 200);
  Msg bye_b = sim.trunk_b.next_request("BYE");
  sim.from_trunk(sim.trunk_b, sim.trunk_b.respond(bye_b->view, 200, "OK"));
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
  ASSERT_EQ(sim.cdrs.size(), 2u);
  EXPECT_EQ(sim.cdrs[0].trunk, "udp:127.0.0.1:5080");
  EXPECT_EQ(sim.cdrs[0].end_reason, "trunk hung up");
  EXPECT_EQ(sim.cdrs[1].trunk, "udp:127.0.0.2:5080");
  EXPECT_EQ(sim.cdrs[1].end_reason, "browser hung up");

  // No call holds the old table any more: the old trunk is a stranger on the trunk port, the new
  // one is answered.
  const auto refused = edge::kTrunkPortRefused.total();
  sim.from_trunk(sim.trunk, options_from(sim.trunk));
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_EQ(edge::kTrunkPortRefused.total() - refused, 1);
  sim.from_trunk(sim.trunk_b, options_from(sim.trunk_b));
  EXPECT_EQ(sim.trunk_b.next()->view.status_code(), 200);
}

TEST(RouteReload, OnlyTheNewTablesTrunksMayStartCallsToBrowsers) {
  Sim::Options o;
  o.routes_file = true;
  o.routes = "1555 udp:127.0.0.1:5080\n";
  Sim sim(o);
  Browser& b = sim.browser("alice");
  Connected up = connect_call(sim, b);  // holds the old table: the old trunk's requests still pass
  sim.core->set_routes(table("* udp:127.0.0.2:5080\n"));
  const std::string invite = fmt::format(
      "INVITE sip:alice@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-in1\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:+15550001@127.0.0.1>;tag=in1\r\nTo: <sip:alice@127.0.0.1>\r\n"
      "Call-ID: inbound-1\r\nCSeq: 1 INVITE\r\nContact: <sip:127.0.0.1:5080>\r\nContent-Type: application/sdp\r\n"
      "Content-Length: {}\r\n\r\n{}",
      kAnswer.size(), kAnswer);
  sim.from_trunk(sim.trunk, invite);
  Msg r = sim.trunk.next();
  EXPECT_EQ(r->view.status_code(), 403) << r->bytes;
  EXPECT_NE(r->view.reason_phrase().find("not a configured trunk"), std::string_view::npos);
  sim.in_dialog(b, up.call, "BYE", up.call.cseq + 1);
  EXPECT_EQ(b.next()->view.status_code(), 200);
}

}  // namespace
}  // namespace webtrunk::sim

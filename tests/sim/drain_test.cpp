// The edge's graceful drain in the SIP layer (CallController::begin_drain / hang_up_all) on a fake
// clock: what a browser and the trunk see when the edge shuts down (README "Shutdown and restarts").
// The timing (drain timeout, second signal) is edge/shard_drain's, covered against the real binary
// in tests/integration/drain.test.js.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::seconds;

constexpr std::string_view kReason = "SIP;cause=503;text=\"Edge shutting down\"";

TEST(Drain, NewInvitesAndRegistersGet503WithRetryAfter) {
  Sim sim;
  Browser& b = sim.browser("alice");
  ASSERT_EQ(sim.register_(b)->view.status_code(), 200);
  sim.core->begin_drain(5);
  EXPECT_TRUE(sim.core->draining());

  BrowserCall call;
  Msg r = sim.invite(b, call);
  EXPECT_EQ(r->view.status_code(), 503);
  EXPECT_EQ(r->view.reason_phrase(), "Service Unavailable: draining");
  EXPECT_EQ(header_value(r->view, "Retry-After"), "5");
  Msg reg = sim.register_(b);
  EXPECT_EQ(reg->view.status_code(), 503);
  EXPECT_EQ(header_value(reg->view, "Retry-After"), "5");
  EXPECT_TRUE(sim.trunk.inbox.empty());  // nothing reached the trunk
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(Drain, EstablishedCallGoesOnThenGetsByeOnBothLegsWithTheReason) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  sim.core->begin_drain(5);
  // The call is untouched while the edge drains: an UPDATE refresh is still answered.
  sim.advance(seconds(20));
  sim.in_dialog(b, c.call, "UPDATE", c.call.cseq + 1, {}, {}, {"Session-Expires: 90;refresher=uac", "Supported: timer"});
  EXPECT_EQ(b.next()->view.status_code(), 200);
  EXPECT_EQ(sim.core->live_calls(), 1u);
  EXPECT_TRUE(sim.cdrs.empty());

  EXPECT_EQ(sim.core->hang_up_all(sim.now), 1u);
  sim.deliver();
  Msg bye_t = sim.trunk.next_request("BYE");
  EXPECT_EQ(header_value(bye_t->view, "Reason"), kReason);
  Msg bye_b = b.next();
  ASSERT_TRUE(bye_b->view.is_request());
  EXPECT_EQ(bye_b->view.method_text(), "BYE");
  EXPECT_EQ(header_value(bye_b->view, "Reason"), kReason);
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "edge shutdown");
  EXPECT_EQ(sim.cdrs[0].code, 200);
  EXPECT_EQ(sim.cdrs[0].duration_s, 20);
  EXPECT_EQ(sim.core->live_calls(), 0u);

  // Both answer: nothing is left to wait for (what the shard waits for before closing the
  // WebSockets), and the call is gone once the trunk side's retransmission guard ends.
  EXPECT_EQ(sim.core->unanswered_requests(), 2u);
  sim.from_trunk(sim.trunk.respond(bye_t->view, 200, "OK"));
  b.send(edge::build_response(bye_b->view, 200, "OK", {}));
  EXPECT_EQ(sim.core->unanswered_requests(), 0u);
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(Drain, RingingCallGets503AndTheTrunkACancel) {
  Sim sim;
  Browser& b = sim.browser("alice");
  BrowserCall call;
  EXPECT_EQ(sim.invite(b, call)->view.status_code(), 100);
  Msg inv = sim.trunk.next_request("INVITE");
  sim.from_trunk(sim.trunk.respond(inv->view, 180, "Ringing"));
  EXPECT_EQ(b.next()->view.status_code(), 180);

  sim.core->begin_drain(5);
  EXPECT_EQ(sim.core->hang_up_all(sim.now), 1u);
  sim.deliver();
  Msg r = b.next_response(503);
  EXPECT_EQ(r->view.reason_phrase(), "Service Unavailable: edge shutting down");
  Msg cancel = sim.trunk.next_request("CANCEL");
  EXPECT_EQ(cancel->view.value(sip::HeaderId::call_id), inv->view.value(sip::HeaderId::call_id));
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "edge shutdown");
  EXPECT_EQ(sim.cdrs[0].code, 503);
  EXPECT_EQ(sim.cdrs[0].answer, 0);

  // The trunk confirms the CANCEL and ends its INVITE 487; the edge ACKs and the call is gone.
  sim.from_trunk(sim.trunk.respond(cancel->view, 200, "OK"));
  sim.from_trunk(sim.trunk.respond(inv->view, 487, "Request Terminated"));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");
  EXPECT_EQ(sim.core->unanswered_requests(), 0u);
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(Drain, HangUpWithNoCallsEndsNothing) {
  Sim sim;
  sim.core->begin_drain(5);
  EXPECT_EQ(sim.core->hang_up_all(sim.now), 0u);
  EXPECT_TRUE(sim.cdrs.empty());
}

}  // namespace
}  // namespace webtrunk::sim

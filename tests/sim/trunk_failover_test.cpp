// A trunk by name with two targets (as its SRV records would give them), on a fake clock: RFC 3263
// §4.3 failover of the INVITE to the second target when the first answers 503, times out or is
// unreachable; the browser hears of the last failure only when every target failed; a name that
// does not resolve is 503 at once. The real binary with dnsmasq and two sipp trunks:
// tests/integration/trunk_dns.test.js.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::seconds;

Sim::Options by_name() {
  Sim::Options o;
  o.routes = "udp:trunk.test";
  return o;
}

// What the resolver would publish for trunk.test: sim.trunk first, then sim.trunk_b.
void publish_targets(Sim& sim) {
  const edge::TrunkTarget* t = sim.core->routes().lookup("15551234567");
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->by_name());
  t->targets->store(std::make_shared<const edge::TrunkTargets>(edge::TrunkTargets{
      {{sip::Transport::udp, sim.trunk.addr}, {sip::Transport::udp, sim.trunk_b.addr}}, {}}));
}

std::string_view header(const Msg& m, sip::HeaderId h) { return m->view.value(h); }

std::string_view branch_of(const Msg& m) {
  const std::string_view via = header(m, sip::HeaderId::via);
  const auto at = via.find("branch=");
  return at == std::string_view::npos ? std::string_view{} : via.substr(at + 7, via.find(';', at) - at - 7);
}

// The second target's INVITE is the same call: Call-ID and From (tag) kept, a new branch and a
// higher CSeq, the Request-URI naming the trunk by its name (RFC 3263 §4.3).
void expect_same_call(const Msg& first, const Msg& second) {
  EXPECT_EQ(header(first, sip::HeaderId::call_id), header(second, sip::HeaderId::call_id));
  EXPECT_EQ(header(first, sip::HeaderId::from), header(second, sip::HeaderId::from));
  EXPECT_NE(branch_of(first), branch_of(second));
  EXPECT_LT(sip::cseq(first->view)->number, sip::cseq(second->view)->number);
  EXPECT_EQ(second->view.request_uri(), "sip:15551234567@trunk.test");
}

void answer_from_b(Sim& sim, Browser& b, BrowserCall& call, const Msg& inv) {
  sim.from_trunk(sim.trunk_b, sim.trunk_b.respond(inv->view, 180, "Ringing"));
  EXPECT_EQ(b.next()->view.status_code(), 180);
  sim.from_trunk(sim.trunk_b, sim.trunk_b.respond(inv->view, 200, "OK", kAnswer));
  EXPECT_EQ(sim.trunk_b.next_request("ACK")->view.value(sip::HeaderId::call_id), header(inv, sip::HeaderId::call_id));
  Msg ok = b.next();
  EXPECT_EQ(ok->view.status_code(), 200);
  EXPECT_TRUE(sim.cdrs.empty());
  call.to_tag = std::string(sip::to_tag(ok->view));
  sim.in_dialog(b, call, "ACK", call.cseq);
}

// A call toward trunk.test with its two targets published.
class TrunkFailover : public ::testing::Test {
 protected:
  TrunkFailover() : sim(by_name()), b(sim.browser("alice")) { publish_targets(sim); }

  // The browser's INVITE (the edge answers 100 at once); returns the edge's INVITE at the first target.
  Msg start_call() {
    EXPECT_EQ(sim.invite(b, call)->view.status_code(), 100);
    return sim.trunk.next_request("INVITE");
  }
  // ICMP port unreachable from the first target; returns the INVITE the second one gets.
  Msg first_unreachable() {
    sim.core->handle_trunk_unreachable(sim.now, sim.trunk.addr);
    sim.deliver();
    return sim.trunk_b.next_request("INVITE");
  }

  Sim sim;
  Browser& b;
  BrowserCall call;
};

TEST_F(TrunkFailover, FirstTargetAnswers503SecondAnswersTheCall) {
  const auto failovers = edge::kCallsTrunkFailover.total();
  Msg first = start_call();
  EXPECT_EQ(first->view.request_uri(), "sip:15551234567@trunk.test");
  sim.from_trunk(sim.trunk, sim.trunk.respond(first->view, 503, "Service Unavailable"));
  EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");  // the 503's ACK (RFC 3261 §17.1.1.3)
  EXPECT_TRUE(b.inbox.empty());  // the browser hears nothing of the first target
  Msg second = sim.trunk_b.next_request("INVITE");
  expect_same_call(first, second);
  EXPECT_EQ(edge::kCallsTrunkFailover.total(), failovers + 1);
  answer_from_b(sim, b, call, second);
  // In-dialog requests go where the dialog is: the second target.
  sim.in_dialog(b, call, "BYE", call.cseq + 1);
  EXPECT_EQ(b.next()->view.status_code(), 200);
  EXPECT_EQ(sim.trunk_b.next_request("BYE")->view.method_text(), "BYE");
  EXPECT_TRUE(sim.trunk.inbox.empty());
}

TEST_F(TrunkFailover, FirstTargetTimesOutSecondAnswers) {
  Msg first = start_call();
  // The first target never answers (its retransmissions are lost too).
  const std::string lost(branch_of(first));
  sim.drop_to_trunk = [lost](std::string_view bytes) { return bytes.find(lost) != std::string_view::npos; };
  sim.advance(seconds(33));  // Timer B = 64*T1
  EXPECT_TRUE(b.inbox.empty());
  Msg second = sim.trunk_b.next_request("INVITE");
  expect_same_call(first, second);
  answer_from_b(sim, b, call, second);
}

TEST_F(TrunkFailover, FirstTargetUnreachableSecondAnswers) {
  Msg first = start_call();
  Msg second = first_unreachable();
  expect_same_call(first, second);
  answer_from_b(sim, b, call, second);
}

TEST_F(TrunkFailover, EveryTargetFailsTheBrowserGetsTheLastFailure) {
  start_call();
  Msg second = first_unreachable();
  sim.from_trunk(sim.trunk_b, sim.trunk_b.respond(second->view, 503, "Overloaded"));
  Msg r = b.next_response(503);
  EXPECT_EQ(r->view.reason_phrase(), "Overloaded");
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].code, 503);
}

TEST_F(TrunkFailover, AFinalOtherThan503DoesNotFailOver) {
  Msg first = start_call();
  sim.from_trunk(sim.trunk, sim.trunk.respond(first->view, 486, "Busy Here"));
  EXPECT_EQ(b.next_response(486)->view.reason_phrase(), "Busy Here");
  EXPECT_TRUE(sim.trunk_b.inbox.empty());
}

TEST(TrunkName, UnresolvedNameIs503AtOnceWithTheReason) {
  Sim sim(by_name());
  const edge::TrunkTarget* t = sim.core->routes().lookup("1");
  ASSERT_NE(t, nullptr);
  t->targets->store(std::make_shared<const edge::TrunkTargets>(edge::TrunkTargets{{}, "NXDOMAIN for trunk.test"}));
  const auto refused = edge::kCallsTrunkUnresolved.total();
  Browser& b = sim.browser("alice");
  BrowserCall call;
  Msg r = sim.invite(b, call);
  EXPECT_EQ(r->view.status_code(), 503);
  EXPECT_EQ(r->view.reason_phrase(), "Service Unavailable: trunk unresolved (NXDOMAIN for trunk.test)");
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_EQ(edge::kCallsTrunkUnresolved.total(), refused + 1);
}

}  // namespace
}  // namespace webtrunk::sim

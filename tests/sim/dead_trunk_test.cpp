// A dead trunk, on a fake clock (README "Dead trunks"): OPTIONS keep-alives mark a trunk down and
// up (TrunkPinger inside CallController), a call toward a down trunk gets 503 at once, and an
// answered call whose trunk stops answering its in-dialog OPTIONS (--call-ping) ends with a BYE to
// the browser. The real binary with a killed sipp: tests/integration/dead_trunk.test.js.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Sim::Options with_call_ping(core::Duration every) {
  Sim::Options o;
  o.call_ping = every;
  return o;
}

Sim::Options with_trunk_ping(core::Duration every, unsigned failures) {
  Sim::Options o;
  o.ping_trunks = true;
  o.trunk_ping.interval = every;
  o.trunk_ping.timeout = seconds(5);
  o.trunk_ping.failures_to_down = failures;
  return o;
}

// The next in-dialog OPTIONS of the call `c` made (skips retransmissions already read).
Msg next_probe(Sim& sim, const Connected& c) {
  Msg o = sim.trunk.next_request("OPTIONS");
  EXPECT_EQ(o->view.value(sip::HeaderId::call_id), c.trunk_invite->view.value(sip::HeaderId::call_id));
  EXPECT_FALSE(sip::to_tag(o->view).empty()) << o->bytes;  // in the dialog
  return o;
}

// Advances `d` while the browser refreshes its session (an UPDATE every 20 s; JsSIP's every 45 s
// with Session-Expires 90), so that only the trunk can end the call.
void advance_refreshing(Sim& sim, Browser& b, Connected& c, core::Duration d) {
  const core::Instant until = sim.now + d;
  while (sim.now < until && sim.core->live_calls() > 0) {
    sim.advance(std::min<core::Duration>(seconds(20), until - sim.now));
    if (sim.core->live_calls() == 0) break;
    sim.in_dialog(b, c.call, "UPDATE", ++c.call.cseq, {}, {}, {"Session-Expires: 90;refresher=uac", "Supported: timer"});
  }
}

bool has_bye(const Browser& b) {
  for (const auto& m : b.inbox) {
    if (m->view.is_request() && m->view.method_text() == "BYE") return true;
  }
  return false;
}

// The BYE the browser got, and what it says.
void expect_browser_bye(Browser& b, std::string_view reason) {
  bool seen = false;
  while (!b.inbox.empty()) {
    Msg m = b.next();
    if (m->view.is_request() && m->view.method_text() == "BYE") {
      EXPECT_EQ(header_value(m->view, "Reason"), reason);
      seen = true;
    }
  }
  EXPECT_TRUE(seen) << "no BYE to the browser";
}

TEST(DeadTrunk, TrunkThatStopsAnsweringMidCallEndsItWithinPingPlusTimeout) {
  Sim sim(with_call_ping(seconds(30)));
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);

  // Alive: the trunk answers the first probe (405 too would do), the call goes on.
  advance_refreshing(sim, b, c, seconds(30));
  Msg p1 = next_probe(sim, c);
  sim.from_trunk(sim.trunk.respond(p1->view, 405, "Method Not Allowed"));
  EXPECT_FALSE(has_bye(b));
  EXPECT_EQ(sim.core->live_calls(), 1u);

  // Gone: the next probe goes unanswered (retransmitted until Timer F, 64*T1 = 32 s).
  const core::Instant last_answer = sim.now;
  advance_refreshing(sim, b, c, seconds(30));
  next_probe(sim, c);
  advance_refreshing(sim, b, c, seconds(31));
  EXPECT_EQ(sim.core->live_calls(), 1u) << "before Timer F";
  EXPECT_FALSE(has_bye(b));
  advance_refreshing(sim, b, c, seconds(2));
  EXPECT_EQ(sim.core->live_calls(), 0u);
  EXPECT_LE(sim.now - last_answer, seconds(30 + 32 + 1));
  expect_browser_bye(b, "SIP;cause=408;text=\"Trunk not answering\"");
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "trunk not answering");
  EXPECT_EQ(sim.cdrs[0].code, 200);
  // After a timeout the trunk gets a BYE as well (a network that lost only the OPTIONS).
  sim.trunk.next_request("BYE");
}

TEST(DeadTrunk, UnreachableTrunkEndsTheCallAtTheNextProbe) {
  Sim sim(with_call_ping(seconds(10)));
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  sim.advance(seconds(10));
  next_probe(sim, c);
  // ICMP port unreachable for the probe (the trunk process is gone).
  sim.core->handle_trunk_unreachable(sim.now, sim.trunk.addr);
  sim.deliver();
  expect_browser_bye(b, "SIP;cause=408;text=\"Trunk not answering\"");
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "trunk not answering");
  // Nobody listens there: no BYE toward it.
  EXPECT_TRUE(sim.trunk.inbox.empty());
}

TEST(DeadTrunk, TrunkThatLostTheDialogAnswers481AndTheCallEnds) {
  Sim sim(with_call_ping(seconds(10)));
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  sim.advance(seconds(10));
  Msg p = next_probe(sim, c);
  sim.from_trunk(sim.trunk.respond(p->view, 481, "Call/Transaction Does Not Exist"));
  expect_browser_bye(b, "SIP;cause=481;text=\"Trunk lost the call\"");
  EXPECT_TRUE(sim.trunk.inbox.empty());
  ASSERT_EQ(sim.cdrs.size(), 1u);
}

TEST(DeadTrunk, NoProbesWhenCallPingIsOff) {
  Sim sim;
  Browser& b = sim.browser("alice");
  Connected c = connect_call(sim, b);
  advance_refreshing(sim, b, c, seconds(600));
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_EQ(sim.core->live_calls(), 1u);
}

// The keep-alives the trunk got so far, answered (or not) with `code`; returns how many.
int answer_pings(Sim& sim, int code) {
  int n = 0;
  std::string last_branch;
  while (!sim.trunk.inbox.empty()) {
    Msg m = sim.trunk.next();
    EXPECT_TRUE(m->view.is_request() && m->view.method_text() == "OPTIONS") << m->bytes;
    EXPECT_TRUE(sip::to_tag(m->view).empty());  // out of any dialog
    EXPECT_EQ(m->view.request_uri(), "sip:127.0.0.1:5080");
    const auto key = sip::TransactionKey::of_request(m->view);
    if (key && key->branch != last_branch) ++n;  // retransmissions share the branch
    if (key) last_branch = std::string(key->branch);
    if (code != 0) sim.from_trunk(sim.trunk.respond(m->view, code, "Whatever"));
  }
  return n;
}

TEST(TrunkPing, KeepAlivesMarkTheTrunkDownThenCallsGet503AtOnceAndUpOnTheFirstAnswer) {
  Sim sim(with_trunk_ping(seconds(10), 3));
  std::vector<std::pair<core::SockAddr, bool>> changes;
  sim.core->on_trunk_state = [&](const core::SockAddr& a, bool up) {
    changes.emplace_back(a, up);
    return true;
  };
  Browser& b = sim.browser("alice");
  sim.advance(milliseconds(1));
  EXPECT_EQ(answer_pings(sim, 200), 1);  // one at start
  EXPECT_TRUE(changes.empty());           // trunks start up

  // Three keep-alives in a row unanswered (5 s each): down after the third.
  for (int i = 0; i < 3; ++i) {
    sim.advance(seconds(10));
    EXPECT_GE(answer_pings(sim, 0), 1);  // with the last one's retransmissions
    if (i < 2) {
      EXPECT_FALSE(sim.core->trunk_down(sim.trunk.addr)) << i;
    }
  }
  sim.advance(seconds(5));
  answer_pings(sim, 0);
  EXPECT_TRUE(sim.core->trunk_down(sim.trunk.addr));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].first, sim.trunk.addr);
  EXPECT_FALSE(changes[0].second);

  // A call now: 503 with the reason and Retry-After at once, nothing toward the trunk.
  BrowserCall call;
  Msg r = sim.invite(b, call);
  EXPECT_EQ(r->view.status_code(), 503);
  EXPECT_EQ(r->view.reason_phrase(), "Service Unavailable: trunk not answering");
  EXPECT_EQ(header_value(r->view, "Retry-After"), "10");
  EXPECT_TRUE(sim.trunk.inbox.empty());
  ASSERT_EQ(sim.cdrs.size(), 1u);
  EXPECT_EQ(sim.cdrs[0].end_reason, "trunk down");

  // The first answer of any kind (404 here) brings it back, and calls go through again.
  sim.advance(seconds(5));
  EXPECT_EQ(answer_pings(sim, 404), 1);
  EXPECT_FALSE(sim.core->trunk_down(sim.trunk.addr));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(changes[1].second);
  BrowserCall again;
  EXPECT_EQ(sim.invite(b, again)->view.status_code(), 100);
  sim.trunk.next_request("INVITE");
}

TEST(TrunkPing, UnreachableAnd503CountAsFailuresAndAnUndeliveredChangeIsReportedAgain) {
  Sim sim(with_trunk_ping(seconds(10), 2));
  int reports = 0;
  bool deliver = false;
  sim.core->on_trunk_state = [&](const core::SockAddr&, bool up) {
    EXPECT_FALSE(up);
    ++reports;
    return deliver;
  };
  sim.advance(milliseconds(1));
  answer_pings(sim, 503);  // the trunk says it is out of service
  EXPECT_FALSE(sim.core->trunk_down(sim.trunk.addr));
  sim.advance(seconds(10));
  EXPECT_EQ(answer_pings(sim, 0), 1);
  sim.core->handle_trunk_unreachable(sim.now, sim.trunk.addr);  // ICMP for it: fails now
  sim.deliver();
  EXPECT_TRUE(sim.core->trunk_down(sim.trunk.addr));
  EXPECT_EQ(reports, 1);
  // The other shards did not get it (mailbox full): reported again after the next keep-alive.
  deliver = true;
  sim.advance(seconds(10));
  answer_pings(sim, 0);
  sim.core->handle_trunk_unreachable(sim.now, sim.trunk.addr);
  sim.deliver();
  EXPECT_EQ(reports, 2);
  sim.advance(seconds(10));
  answer_pings(sim, 0);
  sim.core->handle_trunk_unreachable(sim.now, sim.trunk.addr);
  sim.deliver();
  EXPECT_EQ(reports, 2);  // delivered: no repeat
}

}  // namespace
}  // namespace webtrunk::sim

namespace webtrunk::sim {
namespace {

// --routes reloaded (SIGHUP): the keep-alives follow the new table at once, and a trunk no route
// names any more is not left marked down on every shard.
TEST(TrunkPing, ReloadedRoutesArePingedAndADroppedDownTrunkIsReportedUp) {
  Sim sim(with_trunk_ping(seconds(10), 1));
  std::vector<std::pair<core::SockAddr, bool>> changes;
  sim.core->on_trunk_state = [&](const core::SockAddr& a, bool up) {
    changes.emplace_back(a, up);
    return true;
  };
  sim.advance(milliseconds(1));
  EXPECT_EQ(answer_pings(sim, 0), 1);
  sim.advance(seconds(5));
  answer_pings(sim, 0);
  ASSERT_TRUE(sim.core->trunk_down(sim.trunk.addr));

  auto t = edge::RouteTable::parse("* udp:127.0.0.2:5080\n", "routes");
  ASSERT_TRUE(t);
  sim.core->set_routes(std::make_shared<const edge::RouteTable>(std::move(*t)));
  EXPECT_FALSE(sim.core->trunk_down(sim.trunk.addr));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[1].first, sim.trunk.addr);
  EXPECT_TRUE(changes[1].second);

  sim.advance(milliseconds(1));
  EXPECT_TRUE(sim.trunk.inbox.empty());  // the old trunk is no longer pinged
  ASSERT_FALSE(sim.trunk_b.inbox.empty());
  Msg ping = sim.trunk_b.next();
  EXPECT_EQ(ping->view.method_text(), "OPTIONS");
  EXPECT_EQ(ping->view.request_uri(), "sip:127.0.0.2:5080");
}

}  // namespace
}  // namespace webtrunk::sim

// Concurrent call limits as a browser sees them (edge/call_limits.hpp): the token's calls= claim
// holds an account, --max-calls-per-token a token id; over either the INVITE gets 403 and the trunk
// sees nothing; a call that ends gives its place back.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::seconds;

Token claims_token(std::string_view user, std::optional<std::uint32_t> calls) {
  auth::MintClaims c{"shop", {"1555*"}, 3600};
  c.max_calls = calls;
  auto t = auth::mint_edge_token(kK1, kUnix0 + 600, user, c);
  EXPECT_TRUE(t.ok());
  return Token{t->username, t->password};
}

void hang_up(Sim& sim, Browser& b, Connected& c) {
  sim.in_dialog(b, c.call, "BYE", c.call.cseq + 1);
  EXPECT_EQ(b.next()->view.status_code(), 200);
  Msg bye = sim.trunk.next_request("BYE");
  sim.from_trunk(sim.trunk.respond(bye->view, 200, "OK"));
}

TEST(CallLimits, AccountOverItsCallsClaimIs403AndNothingReachesTheTrunk) {
  Sim sim;
  // Two agents of one account, each on its own WebSocket; the account may hold 2 calls.
  Browser& a = sim.browser("alice");
  a.token = claims_token("alice", 2);
  Browser& b = sim.browser("bob");
  b.token = claims_token("bob", 2);
  Connected c1 = connect_call(sim, a);
  Connected c2 = connect_call(sim, b);
  EXPECT_EQ(sim.core->active_calls(), 2u);

  BrowserCall third;
  Msg r = sim.invite(a, third);
  EXPECT_EQ(r->view.status_code(), 403);
  EXPECT_EQ(r->view.reason_phrase(), "Forbidden: too many calls for this account");
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_EQ(sim.core->active_calls(), 2u);
  EXPECT_EQ(sim.media.next_id, 3u) << "no media session was opened for the refused call";

  // One call ends: its place is free again (at once, not when its transactions are reaped).
  hang_up(sim, a, c1);
  Connected c3 = connect_call(sim, b);
  hang_up(sim, b, c2);
  hang_up(sim, b, c3);
  sim.advance(seconds(40));
  EXPECT_EQ(sim.core->active_calls(), 0u);
}

TEST(CallLimits, LegacyTokenHeldByMaxCallsPerToken) {
  Sim::Options o;
  o.call_limits.max_calls_per_token = 1;
  Sim sim(o);
  Browser& a = sim.browser("alice");
  a.token = Token::legacy("alice", kUnix0 + 3600);
  Connected c1 = connect_call(sim, a);
  // The same token from a second tab.
  Browser& again = sim.browser("alice");
  again.token = a.token;
  BrowserCall second;
  Msg r = sim.invite(again, second);
  EXPECT_EQ(r->view.status_code(), 403);
  EXPECT_EQ(r->view.reason_phrase(), "Forbidden: too many calls for this account");
  EXPECT_TRUE(sim.trunk.inbox.empty());
  // Another user is not affected.
  Browser& other = sim.browser("bob");
  other.token = Token::legacy("bob", kUnix0 + 3600);
  Connected c2 = connect_call(sim, other);
  EXPECT_EQ(sim.core->active_calls(), 2u);
  // A refused call leaves a CDR saying why.
  bool seen = false;
  for (const auto& cdr : sim.cdrs) seen = seen || (cdr.code == 403 && cdr.end_reason == "too many calls");
  EXPECT_TRUE(seen);
}

TEST(CallLimits, ClaimsTokenWithoutCallsIsHeldPerTokenAndTheShareIsPerShard) {
  Sim::Options o;
  o.call_limits.max_calls_per_token = 4;
  o.call_limits.shards = 2;  // this shard admits ceil(4 / 2) = 2
  Sim sim(o);
  Browser& a = sim.browser("alice");
  a.token = claims_token("alice", std::nullopt);
  Connected c1 = connect_call(sim, a);
  Connected c2 = connect_call(sim, a);
  BrowserCall third;
  Msg r = sim.invite(a, third);
  EXPECT_EQ(r->view.status_code(), 403);
  EXPECT_EQ(sim.core->active_calls(), 2u);
}

TEST(CallLimits, CallThatFailsAtTheTrunkGivesItsPlaceBack) {
  Sim sim;
  Browser& a = sim.browser("alice");
  a.token = claims_token("alice", 1);
  for (int i = 0; i < 3; ++i) {
    BrowserCall call;
    ASSERT_EQ(sim.invite(a, call)->view.status_code(), 100);
    Msg inv = sim.trunk.next_request("INVITE");
    sim.from_trunk(sim.trunk.respond(inv->view, 486, "Busy Here"));
    EXPECT_EQ(sim.trunk.next_request("ACK")->view.method_text(), "ACK");
    EXPECT_EQ(a.next()->view.status_code(), 486);
  }
  Connected c = connect_call(sim, a);  // the refused-at-the-trunk calls hold no place
  EXPECT_EQ(c.answer.empty(), false);
}

}  // namespace
}  // namespace webtrunk::sim

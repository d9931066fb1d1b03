// The edge REGISTERs with a trunk named by its host (register=yes on "udp:trunk.test"; the targets
// published as the resolver would: sim.trunk first, then sim.trunk_b), on a fake clock: it waits
// while the name has no target and says why, registers at the first target, moves to the next one
// at once on timeout, 503 or unreachable (RFC 3263 §4.3), starts each new attempt at the first
// target of the list published then, and keeps the name in the Request-URI and the AOR. A TLS
// trunk's Contact says ;transport=tls.
#include <gtest/gtest.h>

#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using State = edge::TrunkRegistrations::State;

struct PasswordFile : TrunkPasswordFile {
  PasswordFile() : TrunkPasswordFile("trunk_register_failover_test_pw", "failover-s3cret") {}
};

Sim::Options by_name(const PasswordFile& pw, std::string_view trunk = "udp:trunk.test") {
  Sim::Options o;
  o.routes = fmt::format("* {} user=acme password-file={} register=yes\n", trunk, pw.path);
  o.routes_file = true;
  o.register_trunks = true;
  return o;
}

void publish(Sim& sim, std::vector<edge::ResolvedTarget> list, std::string error = {}) {
  const edge::TrunkTarget* t = sim.core->routes().lookup("15551234567");
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->by_name());
  t->targets->store(std::make_shared<const edge::TrunkTargets>(edge::TrunkTargets{std::move(list), std::move(error)}));
}

// sim.trunk first, then sim.trunk_b.
void publish_both(Sim& sim, sip::Transport tr = sip::Transport::udp) {
  publish(sim, {{tr, sim.trunk.addr}, {tr, sim.trunk_b.addr}});
}

edge::TrunkRegistrations::Status status(Sim& sim) {
  auto st = sim.core->trunk_registrations(sim.now);
  EXPECT_EQ(st.size(), 1u);
  return st.empty() ? edge::TrunkRegistrations::Status{} : st[0];
}

std::uint32_t cseq_of(const Msg& m) { return sip::cseq(m->view)->number; }

// The REGISTER to the next target is the same registration: Call-ID and From kept, CSeq counting
// up, the Request-URI and the AOR naming the trunk by its name.
void expect_same_registration(const Msg& first, const Msg& next) {
  EXPECT_EQ(next->view.value(sip::HeaderId::call_id), first->view.value(sip::HeaderId::call_id));
  EXPECT_EQ(header_value(next->view, "From"), header_value(first->view, "From"));
  EXPECT_GT(cseq_of(next), cseq_of(first));
  EXPECT_EQ(next->view.request_uri(), "sip:trunk.test");
  EXPECT_EQ(header_value(next->view, "To"), "<sip:acme@trunk.test>");
}

void grant(Sim& sim, Trunk& at, const Msg& reg, std::string_view expires) {
  sim.from_trunk(at, at.respond(reg->view, 200, "OK", {}, {{"Expires", expires}}));
}

TEST(TrunkRegisterByName, WaitsWhileTheNameIsUnresolvedThenRegistersAtTheFirstTarget) {
  PasswordFile pw;
  Sim sim(by_name(pw));
  publish(sim, {}, "NXDOMAIN for trunk.test");
  sim.advance(core::Duration::zero());
  auto st = status(sim);
  EXPECT_EQ(st.state, State::resolving);
  EXPECT_EQ(edge::TrunkRegistrations::state_name(st.state), "resolving");
  EXPECT_EQ(st.last_error, "trunk unresolved (NXDOMAIN for trunk.test)");
  sim.advance(seconds(10));
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_TRUE(sim.trunk_b.inbox.empty());

  publish_both(sim);
  sim.advance(seconds(1));  // looked at again within a second
  Msg reg = sim.trunk.next_request("REGISTER");
  EXPECT_TRUE(sim.trunk_b.inbox.empty());
  EXPECT_EQ(reg->view.request_uri(), "sip:trunk.test");  // RFC 3263 §4.3: the URI keeps the name
  EXPECT_EQ(header_value(reg->view, "To"), "<sip:acme@trunk.test>");
  EXPECT_EQ(header_value(reg->view, "Contact"), "<sip:acme@127.0.0.1:5070>");
  EXPECT_TRUE(header_value(reg->view, "Via").starts_with("SIP/2.0/UDP ")) << header_value(reg->view, "Via");
  grant(sim, sim.trunk, reg, "600");
  st = status(sim);
  EXPECT_EQ(st.state, State::registered);
  EXPECT_EQ(st.last_error, "");
}

TEST(TrunkRegisterByName, TimeoutMovesToTheNextTargetAtOnceAndTheRefreshStartsAtTheFirstAgain) {
  PasswordFile pw;
  const auto failovers0 = edge::kTrunkRegisterFailovers.total();
  const auto timeouts0 = edge::kTrunkRegisterFailedTimeout.total();
  Sim sim(by_name(pw));
  publish_both(sim);
  sim.advance(core::Duration::zero());
  Msg first = sim.trunk.next_request("REGISTER");
  sim.advance(seconds(31));
  EXPECT_TRUE(sim.trunk_b.inbox.empty());
  sim.advance(seconds(1));  // Timer F (64*T1)
  Msg second = sim.trunk_b.next_request("REGISTER");
  expect_same_registration(first, second);
  EXPECT_EQ(edge::kTrunkRegisterFailovers.total(), failovers0 + 1);
  EXPECT_EQ(edge::kTrunkRegisterFailedTimeout.total(), timeouts0 + 1);
  grant(sim, sim.trunk_b, second, "60");
  EXPECT_EQ(status(sim).state, State::registered);

  // The refresh at half the grant: the first target again (it may be back).
  sim.trunk.inbox.clear();
  sim.advance(seconds(30));
  Msg refresh = sim.trunk.next_request("REGISTER");
  expect_same_registration(first, refresh);
  EXPECT_TRUE(sim.trunk_b.inbox.empty());
  grant(sim, sim.trunk, refresh, "60");
  EXPECT_EQ(status(sim).state, State::registered);
}

TEST(TrunkRegisterByName, A503ThenUnreachableFailsAfterTheLastTargetAndRetriesFromTheFirst) {
  PasswordFile pw;
  const auto failovers0 = edge::kTrunkRegisterFailovers.total();
  const auto rejected0 = edge::kTrunkRegisterFailedRejected.total();
  Sim sim(by_name(pw));
  publish_both(sim);
  sim.advance(core::Duration::zero());
  Msg first = sim.trunk.next_request("REGISTER");
  sim.from_trunk(sim.trunk, sim.trunk.respond(first->view, 503, "Service Unavailable"));
  Msg second = sim.trunk_b.next_request("REGISTER");
  expect_same_registration(first, second);
  EXPECT_EQ(edge::kTrunkRegisterFailovers.total(), failovers0 + 1);
  EXPECT_EQ(edge::kTrunkRegisterFailedRejected.total(), rejected0 + 1);

  // The last target unreachable: no third target, so the registration fails and backs off.
  sim.core->handle_trunk_unreachable(sim.now, sim.trunk_b.addr);
  sim.deliver();
  EXPECT_TRUE(sim.trunk.inbox.empty());
  auto st = status(sim);
  EXPECT_EQ(st.state, State::failed);
  EXPECT_EQ(st.last_error, "unreachable");
  EXPECT_EQ(edge::kTrunkRegisterFailovers.total(), failovers0 + 1);
  sim.trunk_b.inbox.clear();
  sim.advance(milliseconds(4900));
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_TRUE(sim.trunk_b.inbox.empty());
  sim.advance(milliseconds(100));  // the 5 s backoff: from the first target again
  Msg retry = sim.trunk.next_request("REGISTER");
  expect_same_registration(first, retry);
  grant(sim, sim.trunk, retry, "600");
  EXPECT_EQ(status(sim).state, State::registered);
}

TEST(TrunkRegisterByName, TheNextAttemptTakesTheListPublishedThen) {
  PasswordFile pw;
  Sim sim(by_name(pw));
  publish_both(sim);
  sim.advance(core::Duration::zero());
  Msg first = sim.trunk.next_request("REGISTER");
  grant(sim, sim.trunk, first, "60");

  // The name now resolves to trunk_b alone: the refresh goes there.
  publish(sim, {{sip::Transport::udp, sim.trunk_b.addr}});
  sim.advance(seconds(30));
  Msg refresh = sim.trunk_b.next_request("REGISTER");
  expect_same_registration(first, refresh);
  EXPECT_TRUE(sim.trunk.inbox.empty());
  grant(sim, sim.trunk_b, refresh, "60");

  // Unresolved at the next refresh: the registration in force stays up until it expires, then
  // the state says why.
  publish(sim, {}, "timeout");
  sim.advance(seconds(30));
  auto st = status(sim);
  EXPECT_EQ(st.state, State::registered);
  EXPECT_EQ(st.last_error, "trunk unresolved (timeout)");
  sim.advance(seconds(30));
  st = status(sim);
  EXPECT_EQ(st.state, State::resolving);
  EXPECT_EQ(st.last_error, "trunk unresolved (timeout)");
  EXPECT_TRUE(sim.trunk.inbox.empty());
  EXPECT_TRUE(sim.trunk_b.inbox.empty());
}

TEST(TrunkRegisterByName, TlsTrunkContactAndViaSayTls) {
  PasswordFile pw;
  Sim sim(by_name(pw, "tls:trunk.test"));
  publish_both(sim, sip::Transport::tls);
  sim.advance(core::Duration::zero());
  Msg reg = sim.trunk.next_request("REGISTER");
  EXPECT_EQ(header_value(reg->view, "Contact"), "<sip:acme@127.0.0.1:5070;transport=tls>");
  EXPECT_TRUE(header_value(reg->view, "Via").starts_with("SIP/2.0/TLS ")) << header_value(reg->view, "Via");
  EXPECT_EQ(reg->view.request_uri(), "sip:trunk.test");
  // The binding the trunk lists back is ours: granted for what it says.
  sim.from_trunk(sim.trunk, sim.trunk.respond(reg->view, 200, "OK", {},
                                              {{"Contact", "<sip:acme@127.0.0.1:5070;transport=tls>;expires=120"}}));
  auto st = status(sim);
  EXPECT_EQ(st.state, State::registered);
  EXPECT_EQ(st.expires_in_s, 120);
}

}  // namespace
}  // namespace webtrunk::sim

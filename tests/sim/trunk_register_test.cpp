// The edge REGISTERs with a trunk that wants it (register=yes; edge/trunk_registrations.hpp), on a
// fake clock: the challenge answered, the refresh at half the granted time, 423 Min-Expires,
// failures retried after a growing backoff, refused credentials stop it, drain and reload remove it.
// The real binary against sipp as the registrar: tests/integration/trunk_register.test.js.
#include <gtest/gtest.h>

#include "auth/digest.hpp"
#include "sip/auth_params.hpp"
#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::string_view kPassword = "register-s3cret";

struct PasswordFile : TrunkPasswordFile {
  PasswordFile() : TrunkPasswordFile("trunk_register_test_pw", kPassword) {}
};

Sim::Options registering(const PasswordFile& pw, std::string_view extra = "") {
  Sim::Options o;
  o.routes = fmt::format("* udp:127.0.0.1:5080 user=acme password-file={} register=yes {}\n", pw.path, extra);
  o.routes_file = true;
  o.register_trunks = true;
  return o;
}

std::string challenge(std::string_view nonce) {
  return fmt::format("Digest realm=\"trunk.example\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"", nonce);
}

std::uint32_t cseq_of(const Msg& m) { return sip::cseq(m->view)->number; }

// The next REGISTER the trunk got (retransmissions of earlier ones skipped), at the edge's time.
Msg next_register(Sim& sim) {
  sim.advance(core::Duration::zero());
  return sim.trunk.next_request("REGISTER");
}

// Answers `reg` 401, checks the credentialed REGISTER that follows, answers it `code` with `extra`.
Msg authenticate(Sim& sim, const Msg& reg, std::string_view nonce) {
  sim.from_trunk(sim.trunk.respond(reg->view, 401, "Unauthorized", {}, {{"WWW-Authenticate", challenge(nonce)}}));
  Msg again = sim.trunk.next_request("REGISTER");
  EXPECT_EQ(again->view.value(sip::HeaderId::call_id), reg->view.value(sip::HeaderId::call_id));
  EXPECT_EQ(cseq_of(again), cseq_of(reg) + 1);
  const sip::HeaderField* h = again->view.find("Authorization");
  EXPECT_NE(h, nullptr) << again->bytes;
  if (h == nullptr) return again;
  sip::AuthParams p;
  EXPECT_TRUE(sip::parse_auth(h->value, p)) << h->value;
  const auth::DigestCredentials c = auth::digest_credentials_from([&](std::string_view n) { return p.get(n); });
  EXPECT_EQ(c.username, "acme");
  EXPECT_EQ(c.nonce, nonce);
  EXPECT_EQ(c.uri, "sip:127.0.0.1:5080");
  EXPECT_EQ(auth::check_digest(c, "REGISTER", kPassword), auth::DigestStatus::ok);
  EXPECT_EQ(again->bytes.find(kPassword), std::string::npos);
  return again;
}

void grant(Sim& sim, const Msg& reg, std::string_view expires) {
  sim.from_trunk(sim.trunk.respond(reg->view, 200, "OK", {}, {{"Expires", expires}}));
}

TEST(TrunkRegister, ChallengeThenGrantedSixtySecondsRefreshesAtThirty) {
  PasswordFile pw;
  const auto up0 = edge::kTrunkRegistrationsUp.total();
  const auto refreshes0 = edge::kTrunkRegisterRefreshes.total();
  Sim sim(registering(pw));
  Msg first = next_register(sim);
  EXPECT_EQ(first->view.request_uri(), "sip:127.0.0.1:5080");
  EXPECT_EQ(header_value(first->view, "To"), "<sip:acme@127.0.0.1>");
  EXPECT_TRUE(header_value(first->view, "From").starts_with("<sip:acme@127.0.0.1>;tag="));
  EXPECT_EQ(header_value(first->view, "Contact"), "<sip:acme@127.0.0.1:5070>");  // where INVITEs reach the edge
  EXPECT_EQ(header_value(first->view, "Expires"), "600");
  EXPECT_EQ(first->view.find("Authorization"), nullptr);

  Msg second = authenticate(sim, first, "n-reg-1");
  // The trunk grants less than asked (RFC 3261 §10.2.4: our Contact's expires wins over Expires).
  sim.from_trunk(sim.trunk.respond(second->view, 200, "OK", {},
                                   {{"Contact", "<sip:acme@127.0.0.1:5070>;expires=60"}, {"Expires", "600"}}));
  EXPECT_EQ(edge::kTrunkRegistrationsUp.total(), up0 + 1);
  auto st = sim.core->trunk_registrations(sim.now);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].state, edge::TrunkRegistrations::State::registered);
  EXPECT_EQ(st[0].expires_in_s, 60);

  sim.advance(seconds(29));
  EXPECT_TRUE(sim.trunk.inbox.empty()) << sim.trunk.inbox.front()->bytes;
  sim.advance(seconds(1));
  Msg refresh = sim.trunk.next_request("REGISTER");
  EXPECT_EQ(refresh->view.value(sip::HeaderId::call_id), first->view.value(sip::HeaderId::call_id));
  EXPECT_EQ(cseq_of(refresh), cseq_of(second) + 1);
  Msg refresh2 = authenticate(sim, refresh, "n-reg-2");
  grant(sim, refresh2, "60");
  EXPECT_EQ(edge::kTrunkRegisterRefreshes.total(), refreshes0 + 1);
  EXPECT_EQ(edge::kTrunkRegistrationsUp.total(), up0 + 1);
  sim.core.reset();
  EXPECT_EQ(edge::kTrunkRegistrationsUp.total(), up0);
}

TEST(TrunkRegister, IntervalTooBriefAsksAgainWithMinExpires) {
  PasswordFile pw;
  Sim sim(registering(pw, "register-expires=60"));
  Msg first = next_register(sim);
  EXPECT_EQ(header_value(first->view, "Expires"), "60");
  sim.from_trunk(sim.trunk.respond(first->view, 423, "Interval Too Brief", {}, {{"Min-Expires", "1200"}}));
  Msg again = sim.trunk.next_request("REGISTER");
  EXPECT_EQ(header_value(again->view, "Expires"), "1200");
  EXPECT_EQ(cseq_of(again), cseq_of(first) + 1);
  grant(sim, again, "1200");
  // Refreshes keep asking for what the trunk needs.
  sim.advance(seconds(600));
  EXPECT_EQ(header_value(sim.trunk.next_request("REGISTER")->view, "Expires"), "1200");
}

TEST(TrunkRegister, TimeoutAnd503AreRetriedAfterABackoff) {
  PasswordFile pw;
  const auto timeouts0 = edge::kTrunkRegisterFailedTimeout.total();
  const auto rejected0 = edge::kTrunkRegisterFailedRejected.total();
  Sim sim(registering(pw));
  Msg first = next_register(sim);
  // Unanswered: retransmitted (RFC 3261 §17.1.2.2), then Timer F (32 s) fails it.
  sim.advance(seconds(32));
  EXPECT_EQ(edge::kTrunkRegisterFailedTimeout.total(), timeouts0 + 1);
  sim.trunk.inbox.clear();
  sim.advance(milliseconds(4900));
  EXPECT_TRUE(sim.trunk.inbox.empty());
  sim.advance(milliseconds(200));  // 5 s after the failure
  Msg second = sim.trunk.next_request("REGISTER");
  EXPECT_EQ(second->view.value(sip::HeaderId::call_id), first->view.value(sip::HeaderId::call_id));
  sim.from_trunk(sim.trunk.respond(second->view, 503, "Service Unavailable"));
  EXPECT_EQ(edge::kTrunkRegisterFailedRejected.total(), rejected0 + 1);
  auto st = sim.core->trunk_registrations(sim.now);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].state, edge::TrunkRegistrations::State::failed);
  EXPECT_EQ(st[0].last_error, "503 Service Unavailable");
  sim.advance(milliseconds(9900));
  EXPECT_TRUE(sim.trunk.inbox.empty());  // twice the backoff now
  sim.advance(milliseconds(100));
  Msg third = sim.trunk.next_request("REGISTER");
  grant(sim, third, "600");
  EXPECT_EQ(sim.core->trunk_registrations(sim.now)[0].state, edge::TrunkRegistrations::State::registered);

}

TEST(TrunkRegister, BackoffDoublesUpToFiveMinutes) {
  PasswordFile pw;
  Sim sim(registering(pw));
  // A trunk that refuses every REGISTER: the gaps between attempts, to the second (the
  // retransmissions of one, sent before the 503 came, are not attempts).
  std::vector<std::int64_t> gaps;
  core::Instant last = sim.now;
  std::uint32_t last_cseq = 0;
  for (int s = 0; s < 2000; ++s) {
    sim.advance(seconds(1));
    while (!sim.trunk.inbox.empty()) {
      Msg r = sim.trunk.next();
      if (!r->view.is_request() || cseq_of(r) == last_cseq) continue;
      last_cseq = cseq_of(r);
      gaps.push_back(std::chrono::duration_cast<seconds>(sim.now - last).count());
      last = sim.now;
      sim.from_trunk(sim.trunk.respond(r->view, 503, "Service Unavailable"));
    }
  }
  const std::vector<std::int64_t> want{1, 5, 10, 20, 40, 80, 160, 300, 300, 300, 300, 300};
  ASSERT_GE(gaps.size(), want.size());
  gaps.resize(want.size());
  EXPECT_EQ(gaps, want);
}

TEST(TrunkRegister, SecondChallengeWithTheSameNonceStopsIt) {
  PasswordFile pw;
  const auto auth0 = edge::kTrunkRegisterFailedAuth.total();
  Sim sim(registering(pw));
  Msg first = next_register(sim);
  Msg second = authenticate(sim, first, "n-same");
  sim.from_trunk(sim.trunk.respond(second->view, 401, "Unauthorized", {}, {{"WWW-Authenticate", challenge("n-same")}}));
  EXPECT_EQ(edge::kTrunkRegisterFailedAuth.total(), auth0 + 1);
  auto st = sim.core->trunk_registrations(sim.now);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].state, edge::TrunkRegistrations::State::stopped);
  EXPECT_EQ(st[0].last_error, "credentials refused");
  sim.advance(seconds(3600));
  EXPECT_TRUE(sim.trunk.inbox.empty());  // no hammering with wrong credentials

  // A reload (the password file fixed) starts it again.
  auto table = edge::RouteTable::parse(registering(pw).routes, "routes");
  ASSERT_TRUE(table.ok());
  sim.core->set_routes(std::make_shared<const edge::RouteTable>(std::move(*table)));
  Msg again = next_register(sim);
  EXPECT_EQ(again->view.value(sip::HeaderId::call_id), first->view.value(sip::HeaderId::call_id));
}

TEST(TrunkRegister, DrainUnregistersAndWaitsForTheAnswer) {
  PasswordFile pw;
  const auto up0 = edge::kTrunkRegistrationsUp.total();
  Sim sim(registering(pw));
  Msg first = next_register(sim);
  grant(sim, authenticate(sim, first, "n-d"), "600");
  EXPECT_EQ(edge::kTrunkRegistrationsUp.total(), up0 + 1);

  sim.core->begin_drain(5);
  sim.core->unregister_trunks(sim.now);
  sim.deliver();
  Msg bye = sim.trunk.next_request("REGISTER");
  EXPECT_EQ(header_value(bye->view, "Expires"), "0");
  EXPECT_EQ(header_value(bye->view, "Contact"), "<sip:acme@127.0.0.1:5070>");
  EXPECT_EQ(bye->view.value(sip::HeaderId::call_id), first->view.value(sip::HeaderId::call_id));
  EXPECT_EQ(edge::kTrunkRegistrationsUp.total(), up0);
  EXPECT_EQ(sim.core->unanswered_requests(), 1u);  // the drain's settle phase waits for it
  // Challenged too: answered once.
  Msg bye2 = authenticate(sim, bye, "n-d2");
  EXPECT_EQ(header_value(bye2->view, "Expires"), "0");
  sim.from_trunk(sim.trunk.respond(bye2->view, 200, "OK"));
  EXPECT_EQ(sim.core->unanswered_requests(), 0u);
  EXPECT_TRUE(sim.core->trunk_registrations(sim.now).empty());
  sim.advance(seconds(3600));
  EXPECT_TRUE(sim.trunk.inbox.empty());  // nothing registers again
}

TEST(TrunkRegister, ReloadStartsNewRegistrationsAndRemovesDroppedOnes) {
  PasswordFile pw;
  Sim sim(registering(pw));
  Msg first = next_register(sim);
  grant(sim, authenticate(sim, first, "n-r"), "600");

  // The route now names the other trunk: the first forgets us, the second gets a REGISTER.
  auto table = edge::RouteTable::parse(
      fmt::format("* udp:127.0.0.2:5080 user=acme password-file={} register=yes\n", pw.path), "routes");
  ASSERT_TRUE(table.ok());
  sim.core->set_routes(std::make_shared<const edge::RouteTable>(std::move(*table)));
  sim.advance(core::Duration::zero());
  Msg bye = sim.trunk.next_request("REGISTER");
  EXPECT_EQ(header_value(bye->view, "Expires"), "0");
  Msg hello = sim.trunk_b.next_request("REGISTER");
  EXPECT_EQ(header_value(hello->view, "Expires"), "600");
  EXPECT_EQ(hello->view.request_uri(), "sip:127.0.0.2:5080");
  EXPECT_NE(hello->view.value(sip::HeaderId::call_id), first->view.value(sip::HeaderId::call_id));
  sim.from_trunk(sim.trunk.respond(bye->view, 200, "OK"));
  sim.from_trunk(sim.trunk_b, sim.trunk_b.respond(hello->view, 200, "OK", {}, {{"Expires", "600"}}));
  auto st = sim.core->trunk_registrations(sim.now);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].spec, "udp:127.0.0.2:5080");
  EXPECT_EQ(st[0].state, edge::TrunkRegistrations::State::registered);

  // Dropped and named again before its un-REGISTER was answered: registered again, and the
  // un-REGISTER in flight is forgotten (its late 200 changes nothing).
  auto back = [&](std::string_view host) {
    auto t = edge::RouteTable::parse(
        fmt::format("* udp:{}:5080 user=acme password-file={} register=yes\n", host, pw.path), "routes");
    EXPECT_TRUE(t.ok());
    sim.core->set_routes(std::make_shared<const edge::RouteTable>(std::move(*t)));
    sim.advance(core::Duration::zero());
  };
  back("127.0.0.1");
  Msg bye_b = sim.trunk_b.next_request("REGISTER");
  EXPECT_EQ(header_value(bye_b->view, "Expires"), "0");
  back("127.0.0.2");
  Msg again = sim.trunk_b.next_request("REGISTER");
  EXPECT_EQ(header_value(again->view, "Expires"), "600");
  EXPECT_EQ(again->view.value(sip::HeaderId::call_id), hello->view.value(sip::HeaderId::call_id));
  sim.from_trunk(sim.trunk_b, sim.trunk_b.respond(bye_b->view, 200, "OK"));
  sim.from_trunk(sim.trunk_b, sim.trunk_b.respond(again->view, 200, "OK", {}, {{"Expires", "600"}}));
  // (127.0.0.1, registering meanwhile, is un-registering now.)
  st = sim.core->trunk_registrations(sim.now);
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].spec, "udp:127.0.0.2:5080");
  EXPECT_EQ(st[0].state, edge::TrunkRegistrations::State::registered);
  EXPECT_EQ(st[1].state, edge::TrunkRegistrations::State::unregistering);
}

}  // namespace
}  // namespace webtrunk::sim

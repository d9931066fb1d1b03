// media::Relay on virtual time, no sockets: an emulated browser (bench/tools/media_browser.hpp:
// libnice STUN checks, an OpenSSL DTLS client, SRTP) and an emulated trunk exchange datagrams with
// the relay through handle_datagram()/poll_transmit(); deadlines come from poll_timeout() and are
// met by handle_timeout() at the time the test chooses. The glue on real sockets is
// tests/media/bridge_test.cpp.
#include "media/relay.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <optional>
#include <vector>

#include "bench/tools/media_browser.hpp"
#include "media/rtp.hpp"
#include "tests/media/media_test_support.hpp"

namespace webtrunk::media {
namespace {

using namespace std::chrono_literals;
using core::SockAddr;

constexpr SessionId kSession = 7;

using test::browser_ice;
using test::opus_pcmu_dtmf;

std::size_t write_rtp(std::span<std::byte> out, std::uint8_t pt, std::uint16_t seq, std::uint32_t ts,
                      std::uint32_t ssrc, std::size_t payload_len) {
  return test::write_rtp(out, pt, false, seq, ts, ssrc, payload_len);
}

// One datagram the relay sent, copied out with where it came from.
struct Sent {
  RelayPort from;
  SockAddr to;
  std::vector<std::byte> data;
  bool in_place = false;
};

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto id = DtlsIdentity::generate();
    ASSERT_TRUE(id) << id.error().message;
    identity = id.value();
  }

  void make_relay(RelayConfig cfg = {}) {
    cfg.identity = identity;
    relay.emplace(cfg);
    LocalMedia lm;
    lm.ice = IceCredentials{"edgeUfrg", "edgepasswordedgepassword"};
    lm.fingerprint = identity->fingerprint_sha256();
    lm.browser_addr = edge_addr;
    lm.trunk_addr = SockAddr::ipv4_loopback(20000);
    relay->add_session(now, kSession, lm);
  }
  void answer(const bench::BrowserTls& browser_tls) {
    relay->set_browser_remote(kSession, BrowserRemote{browser_ice(), browser_tls.fingerprint()});
    relay->set_trunk_remote(now, kSession, trunk_addr, opus_pcmu_dtmf());
  }

  // Hands `bytes` to the relay as received on `port` from `peer`, with `tailroom` spare bytes.
  std::vector<Sent> deliver(RelayPort port, const SockAddr& peer, std::span<const std::byte> bytes,
                            std::size_t tailroom = 64) {
    rxbuf.assign(bytes.begin(), bytes.end());
    rxbuf.resize(bytes.size() + tailroom);
    RxBuf rx(std::span(rxbuf.data(), bytes.size()), tailroom);
    relay->handle_datagram(now, port, peer, rx);
    return drain(&rx);
  }
  std::vector<Sent> drain(const RxBuf* rx = nullptr) {
    std::vector<Sent> out;
    while (auto t = relay->poll_transmit()) {
      if (t->in_place) {
        EXPECT_TRUE(rx != nullptr && rx->contains(t->data)) << "an in-place transmit outside the received buffer";
      }
      out.push_back(Sent{t->from, t->to, std::vector<std::byte>(t->data.begin(), t->data.end()), t->in_place});
    }
    return out;
  }
  // Runs the relay's timers up to `until`, as a shard would.
  std::vector<Sent> advance_to(core::Instant until) {
    std::vector<Sent> out;
    for (int i = 0; i < 100000; ++i) {
      const auto at = relay->poll_timeout();
      if (!at || *at > until) break;
      now = std::max(now, *at);
      relay->handle_timeout(now);
      for (Sent& s : drain()) out.push_back(std::move(s));
    }
    now = until;
    return out;
  }
  std::vector<std::pair<SessionId, MediaEnd>> events() {
    std::vector<std::pair<SessionId, MediaEnd>> out;
    while (auto e = relay->poll_event()) out.push_back(*e);
    return out;
  }

  // ICE (a nominating check) and DTLS between the emulated browser and the relay, no sockets.
  void set_up(bench::EmulatedBrowser& b) {
    std::array<std::byte, 512> req{};
    const std::size_t n = b.make_check(req, true);
    auto reply = deliver(RelayPort{}, browser_addr, std::span(req.data(), n));
    ASSERT_EQ(reply.size(), 1u);
    EXPECT_FALSE(reply[0].in_place);
    EXPECT_TRUE(reply[0].to == browser_addr);
    ASSERT_TRUE(b.check_answered(reply[0].data));
    ASSERT_TRUE(b.start_dtls());
    for (int i = 0; i < 20 && !b.connected() && b.error().empty(); ++i) {
      while (auto d = b.poll_dtls()) {
        for (const Sent& s : deliver(RelayPort{}, browser_addr, *d)) b.on_dtls(s.data);
      }
    }
    while (auto d = b.poll_dtls()) (void)deliver(RelayPort{}, browser_addr, *d);
    ASSERT_TRUE(b.connected()) << b.error();
    ASSERT_TRUE(relay->stats(kSession)->dtls_connected);
  }

  // A session with the browser's offer and the trunk's answer set, ICE and DTLS done.
  void connect(RelayConfig cfg = {}) {
    tls = bench::BrowserTls::make();
    ASSERT_TRUE(tls);
    make_relay(cfg);
    answer(*tls);
    em = std::make_unique<bench::EmulatedBrowser>(*tls, browser_ice(), relay->local(kSession)->ice,
                                                  identity->fingerprint_sha256());
    set_up(*em);
  }

  std::vector<Sent> browser_sends(bench::EmulatedBrowser& b, std::uint8_t pt, std::uint16_t seq) {
    std::array<std::byte, 1500> buf{};
    const std::size_t n = write_rtp(buf, pt, seq, seq * 160u, 0x1234, 160);
    auto r = b.tx().protect_rtp(buf, n);
    EXPECT_TRUE(r);
    return deliver(RelayPort{}, browser_addr, std::span(buf.data(), r ? r.value() : 0));
  }
  std::vector<Sent> trunk_sends(std::uint8_t pt, std::uint16_t seq, const SockAddr& from, std::size_t tailroom = 64) {
    std::array<std::byte, 200> buf{};
    const std::size_t n = write_rtp(buf, pt, seq, seq * 160u, 0x9999, 160);
    return deliver(RelayPort{PortKind::trunk_rtp, kSession}, from, std::span(buf.data(), n), tailroom);
  }

  core::Instant now = core::Instant{} + 1000s;
  std::shared_ptr<DtlsIdentity> identity;
  std::optional<Relay> relay;
  std::vector<std::byte> rxbuf;
  std::unique_ptr<bench::BrowserTls> tls;
  std::unique_ptr<bench::EmulatedBrowser> em;
  SockAddr edge_addr = SockAddr::ipv4_loopback(40000);
  SockAddr browser_addr = SockAddr::ipv4_loopback(50000);
  SockAddr trunk_addr = SockAddr::ipv4_loopback(30000);
};

TEST_F(RelayTest, AudioGoesBothWaysMappedAndInPlace) {
  ASSERT_NO_FATAL_FAILURE(connect());

  // Browser Opus (111) -> trunk as 96, unprotected in place, from the session's trunk RTP port.
  auto out = browser_sends(*em, 111, 500);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].in_place);
  EXPECT_EQ(out[0].from.kind, PortKind::trunk_rtp);
  EXPECT_EQ(out[0].from.session, kSession);
  EXPECT_TRUE(out[0].to == trunk_addr);
  auto h = parse_rtp(out[0].data);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->payload_type, 96);
  EXPECT_EQ(h->seq, 500);
  EXPECT_EQ(out[0].data.size(), 12u + 160u);

  // Trunk PCMU -> browser, protected in place into the tailroom, to the selected path.
  out = trunk_sends(0, 77, trunk_addr);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].in_place);
  EXPECT_EQ(out[0].from.kind, PortKind::browser);
  EXPECT_TRUE(out[0].to == browser_addr);
  auto r = em->rx().unprotect_rtp(out[0].data, out[0].data.size());
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), 12u + 160u);
  EXPECT_EQ(parse_rtp(std::span(out[0].data.data(), r.value()))->seq, 77);

  const auto st = relay->stats(kSession);
  EXPECT_EQ(st->browser_rx, 1u);
  EXPECT_EQ(st->trunk_tx, 1u);
  EXPECT_EQ(st->trunk_rx, 1u);
  EXPECT_EQ(st->browser_tx, 1u);
}

TEST_F(RelayTest, TrunkPacketsFromElsewhereOrWithoutTailroomAreDroppedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(connect());
  ASSERT_EQ(trunk_sends(0, 1, trunk_addr).size(), 1u);  // from its SDP address: nothing latches any more
  const std::uint64_t dropped = relay->stats(kSession)->dropped;
  EXPECT_TRUE(trunk_sends(0, 1, SockAddr::ipv4_loopback(30002)).empty());
  EXPECT_TRUE(trunk_sends(0, 2, trunk_addr, 4).empty());  // no room for the SRTP tag
  EXPECT_TRUE(trunk_sends(55, 3, trunk_addr).empty());    // not in the codec map
  EXPECT_EQ(relay->stats(kSession)->dropped, dropped + 3);
  EXPECT_EQ(relay->stats(kSession)->browser_tx, 1u);
}

// A trunk whose RTP comes from another port than its SDP says (NAT, or a media server that sends
// from one port and receives on another): on a per-call port the first packet from the SDP's IP
// moves the session there, both ways, once. Another IP never does.
TEST_F(RelayTest, PerCallPortLatchesTheTrunksActualPortOnceFromItsIpOnly) {
  ASSERT_NO_FATAL_FAILURE(connect());
  const std::uint64_t latched = kMediaTrunkLatched.total();
  const auto elsewhere = SockAddr::parse("127.0.0.2:30000");
  ASSERT_TRUE(elsewhere);
  EXPECT_TRUE(trunk_sends(0, 1, elsewhere.value()).empty()) << "another IP must not latch";
  EXPECT_EQ(kMediaTrunkLatched.total(), latched);

  const SockAddr actual = SockAddr::ipv4_loopback(31234);
  auto out = trunk_sends(0, 2, actual);
  ASSERT_EQ(out.size(), 1u) << "the trunk's IP from another port latches";
  EXPECT_TRUE(out[0].to == browser_addr);
  EXPECT_EQ(kMediaTrunkLatched.total(), latched + 1);
  out = browser_sends(*em, 0, 10);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].to == actual) << "symmetric RTP: the browser's audio follows the latched address";

  EXPECT_TRUE(trunk_sends(0, 3, trunk_addr).empty()) << "latched once: the SDP port no longer counts";
  EXPECT_TRUE(trunk_sends(0, 4, SockAddr::ipv4_loopback(31236)).empty());
  EXPECT_EQ(trunk_sends(0, 5, actual).size(), 1u);

  // A new SDP from the trunk (re-INVITE) starts over at its address.
  relay->set_trunk_remote(now, kSession, trunk_addr, opus_pcmu_dtmf());
  EXPECT_EQ(trunk_sends(0, 6, trunk_addr).size(), 1u);
  EXPECT_TRUE(trunk_sends(0, 7, actual).empty());
}

TEST_F(RelayTest, SharedTrunkPortFindsTheSessionByTheTrunksExactAddress) {
  RelayConfig cfg;
  cfg.shared_trunk_port = true;
  ASSERT_NO_FATAL_FAILURE(connect(cfg));
  const SessionId other = kSession + 1;
  const SockAddr other_trunk = SockAddr::ipv4_loopback(30100);
  LocalMedia lm = *relay->local(kSession);
  lm.ice.ufrag = "otherUfr";
  relay->add_session(now, other, lm);
  relay->set_trunk_remote(now, other, other_trunk, opus_pcmu_dtmf());

  const RelayPort shared{PortKind::trunk_rtp, 0};
  std::array<std::byte, 200> buf{};
  const std::size_t n = write_rtp(buf, 0, 1, 160, 0x9999, 160);
  auto out = deliver(shared, trunk_addr, std::span(buf.data(), n));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].to == browser_addr);
  EXPECT_EQ(relay->stats(kSession)->trunk_rx, 1u);
  EXPECT_TRUE(deliver(shared, other_trunk, std::span(buf.data(), n)).empty());  // not set up: no path yet
  EXPECT_EQ(relay->stats(other)->trunk_rx, 1u);
  EXPECT_EQ(relay->stats(kSession)->trunk_rx, 1u);

  const std::uint64_t not_pinned = kMediaDropNotPinned.total();
  EXPECT_TRUE(deliver(shared, SockAddr::ipv4_loopback(30002), std::span(buf.data(), n)).empty())
      << "no latching on the shared port: another port of the trunk's IP could be any call";
  EXPECT_EQ(kMediaDropNotPinned.total(), not_pinned + 1);

  // What goes to the trunk leaves from the shared port.
  out = browser_sends(*em, 0, 10);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].from.kind, PortKind::trunk_rtp);
  EXPECT_EQ(out[0].from.session, 0u);
  EXPECT_TRUE(out[0].to == trunk_addr);

  // RTCP on the shared RTCP port, from the trunk's RTP port + 1.
  std::array<std::byte, 64> rr{};
  rr[0] = std::byte{0x80};
  rr[1] = std::byte{201};
  core::store_be16(rr.data() + 2, 1);
  SockAddr trunk_rtcp = trunk_addr;
  trunk_rtcp.set_port(static_cast<std::uint16_t>(trunk_addr.port() + 1));
  EXPECT_EQ(deliver(RelayPort{PortKind::trunk_rtcp, 0}, trunk_rtcp, std::span(rr.data(), 8)).size(), 1u);
  EXPECT_TRUE(deliver(RelayPort{PortKind::trunk_rtcp, 0}, trunk_addr, std::span(rr.data(), 8)).empty());

  relay->remove_session(kSession);
  EXPECT_TRUE(deliver(shared, trunk_addr, std::span(buf.data(), n)).empty());
  EXPECT_EQ(kMediaDropNotPinned.total(), not_pinned + 3);
}

// Two calls whose trunk SDP names the same media address: the shared port cannot tell them apart
// by source, so neither gets anything from it (never the other call's audio) until one goes.
TEST_F(RelayTest, SharedTrunkPortRefusesAnAddressTwoSessionsShareUntilOneGoes) {
  RelayConfig cfg;
  cfg.shared_trunk_port = true;
  ASSERT_NO_FATAL_FAILURE(connect(cfg));
  const std::uint64_t conflicts = kMediaTrunkAddressConflicts.total();
  const SessionId other = kSession + 1;
  LocalMedia lm = *relay->local(kSession);
  lm.ice.ufrag = "otherUfr";
  relay->add_session(now, other, lm);
  relay->set_trunk_remote(now, other, trunk_addr, opus_pcmu_dtmf());
  EXPECT_EQ(kMediaTrunkAddressConflicts.total(), conflicts + 1);

  const RelayPort shared{PortKind::trunk_rtp, 0};
  std::array<std::byte, 200> buf{};
  const std::size_t n = write_rtp(buf, 0, 1, 160, 0x9999, 160);
  EXPECT_TRUE(deliver(shared, trunk_addr, std::span(buf.data(), n)).empty());
  EXPECT_EQ(relay->stats(kSession)->trunk_rx, 0u);
  EXPECT_EQ(relay->stats(other)->trunk_rx, 0u);

  relay->remove_session(other);
  EXPECT_EQ(deliver(shared, trunk_addr, std::span(buf.data(), n)).size(), 1u);
  EXPECT_EQ(relay->stats(kSession)->trunk_rx, 1u);
}

TEST_F(RelayTest, NothingReachesTheBrowserBeforeDtls) {
  tls = bench::BrowserTls::make();
  ASSERT_TRUE(tls);
  make_relay();
  answer(*tls);
  EXPECT_TRUE(trunk_sends(0, 1, trunk_addr).empty());
  EXPECT_EQ(relay->stats(kSession)->dropped, 1u);
}

TEST_F(RelayTest, BrowserThatNeverFinishesDtlsEndsAsMediaSetupTimeout) {
  tls = bench::BrowserTls::make();
  ASSERT_TRUE(tls);
  make_relay();  // default: 10 s from the trunk's answer
  advance_to(now + 60s);  // ringing without an answer: no limit yet
  EXPECT_TRUE(events().empty());
  answer(*tls);
  advance_to(now + 9s);
  EXPECT_TRUE(events().empty());
  advance_to(now + 2s);
  const auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].first, kSession);
  EXPECT_EQ(ev[0].second, MediaEnd::media_setup_timeout);
  EXPECT_EQ(to_string(ev[0].second), "media setup timeout");
  // Ended: even a late browser gets nowhere, and nothing is reported twice.
  advance_to(now + 10s);
  EXPECT_TRUE(events().empty());
}

TEST_F(RelayTest, ConnectedSessionOutlivesTheSetupTimeout) {
  ASSERT_NO_FATAL_FAILURE(connect());
  // Media keeps consent (RFC 7675 §5.1) for 25 s of virtual time, one packet a second.
  for (std::uint16_t i = 0; i < 25; ++i) {
    advance_to(now + 1s);
    (void)browser_sends(*em, 0, static_cast<std::uint16_t>(100 + i));
  }
  EXPECT_TRUE(events().empty());
}

TEST_F(RelayTest, TrunkSilenceEndsAsTrunkRtpTimeoutWhenConfigured) {
  RelayConfig cfg;
  cfg.trunk_rtp_timeout = 5s;
  ASSERT_NO_FATAL_FAILURE(connect(cfg));
  for (std::uint16_t i = 0; i < 8; ++i) {  // 8 s of trunk RTP every second: alive
    advance_to(now + 1s);
    (void)trunk_sends(0, i, trunk_addr);
    (void)browser_sends(*em, 0, i);
  }
  EXPECT_TRUE(events().empty());
  for (int i = 0; i < 4; ++i) {  // the browser keeps talking, the trunk goes silent
    advance_to(now + 1s);
    (void)browser_sends(*em, 0, static_cast<std::uint16_t>(50 + i));
  }
  EXPECT_TRUE(events().empty());
  advance_to(now + 2s);
  const auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].second, MediaEnd::trunk_rtp_timeout);
  EXPECT_TRUE(browser_sends(*em, 0, 99).empty());  // nothing flows after the end
}

TEST_F(RelayTest, TrunkRtpTimeoutIsOffByDefault) {
  ASSERT_NO_FATAL_FAILURE(connect());
  for (std::uint16_t i = 0; i < 20; ++i) {
    advance_to(now + 1s);
    (void)browser_sends(*em, 0, i);
  }
  EXPECT_TRUE(events().empty());
}

TEST_F(RelayTest, ConsentLapseEndsTheSession) {
  ASSERT_NO_FATAL_FAILURE(connect());
  advance_to(now + 29s);
  EXPECT_TRUE(events().empty());
  advance_to(now + 2s);
  const auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].second, MediaEnd::consent_lost);
}

TEST_F(RelayTest, DtmfGoesOutEvery20msAndTheAudioSequenceContinuesAfterIt) {
  ASSERT_NO_FATAL_FAILURE(connect());
  auto first = browser_sends(*em, 0, 1000);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(relay->send_dtmf(now, kSession, '5', 100));
  std::vector<Sent> dtmf = drain();
  for (Sent& s : advance_to(now + 300ms)) dtmf.push_back(std::move(s));
  // 100 ms at 20 ms a packet: 5 updates, the last (E bit) three times (RFC 4733 §2.5.1.4).
  ASSERT_EQ(dtmf.size(), 7u);
  std::uint16_t seq = 1000;
  for (const Sent& s : dtmf) {
    EXPECT_FALSE(s.in_place);
    EXPECT_TRUE(s.to == trunk_addr);
    auto h = parse_rtp(s.data);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->payload_type, 101);
    EXPECT_EQ(h->seq, ++seq);
  }
  auto next = browser_sends(*em, 0, 1001);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(parse_rtp(next[0].data)->seq, seq + 1);
}

TEST_F(RelayTest, StunForAnUnknownUfragIsDroppedAndBindsNothing) {
  tls = bench::BrowserTls::make();
  ASSERT_TRUE(tls);
  make_relay();
  answer(*tls);
  bench::EmulatedBrowser stranger(*tls, browser_ice(), IceCredentials{"otherUfr", "edgepasswordedgepassword"},
                                  identity->fingerprint_sha256());
  std::array<std::byte, 512> req{};
  const std::size_t n = stranger.make_check(req, true);
  EXPECT_TRUE(deliver(RelayPort{}, browser_addr, std::span(req.data(), n)).empty());
  EXPECT_FALSE(relay->stats(kSession)->ice_selected);
}

TEST_F(RelayTest, ReplayedAndForgedBrowserPacketsAreDroppedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(connect());
  std::array<std::byte, 1500> buf{};
  const std::size_t n = write_rtp(buf, 0, 50, 50, 9, 160);
  auto r = em->tx().protect_rtp(buf, n);
  ASSERT_TRUE(r);
  const std::vector<std::byte> once(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.value()));
  const auto replay0 = kMediaDropReplay.total();
  const auto auth0 = kMediaDropAuth.total();
  EXPECT_EQ(deliver(RelayPort{}, browser_addr, once).size(), 1u);
  EXPECT_TRUE(deliver(RelayPort{}, browser_addr, once).empty());  // the same packet again
  std::vector<std::byte> forged = once;
  forged[3] = std::byte{51};  // a new sequence number under the old tag
  EXPECT_TRUE(deliver(RelayPort{}, browser_addr, forged).empty());
  EXPECT_EQ(kMediaDropReplay.total() - replay0, 1);
  EXPECT_EQ(kMediaDropAuth.total() - auth0, 1);
  EXPECT_EQ(relay->stats(kSession)->dropped, 2u);
}

TEST_F(RelayTest, HoldDropsTheDirectionThatMustNotFlow) {
  ASSERT_NO_FATAL_FAILURE(connect());
  relay->set_direction(kSession, Direction::sendonly);  // the browser put the call on hold
  EXPECT_EQ(browser_sends(*em, 0, 10).size(), 1u) << "sendonly: the browser's music on hold reaches the trunk";
  EXPECT_TRUE(trunk_sends(0, 1, trunk_addr).empty()) << "sendonly: nothing from the trunk reaches the browser";
  relay->set_direction(kSession, Direction::sendrecv);
  EXPECT_EQ(trunk_sends(0, 2, trunk_addr).size(), 1u);
}

TEST_F(RelayTest, RtcpGoesBothWaysOnTheTrunksRtcpPort) {
  ASSERT_NO_FATAL_FAILURE(connect());
  // A receiver report (RFC 3550 §6.4.2) with no report blocks.
  std::array<std::byte, 64> rr{};
  rr[0] = std::byte{0x80};
  rr[1] = std::byte{201};
  core::store_be16(rr.data() + 2, 1);
  core::store_be32(rr.data() + 4, 0x9999);
  SockAddr trunk_rtcp = trunk_addr;
  trunk_rtcp.set_port(static_cast<std::uint16_t>(trunk_addr.port() + 1));
  auto out = deliver(RelayPort{PortKind::trunk_rtcp, kSession}, trunk_rtcp, std::span(rr.data(), 8));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].in_place);
  EXPECT_TRUE(out[0].to == browser_addr);
  auto back = em->rx().unprotect_rtcp(out[0].data, out[0].data.size());
  ASSERT_TRUE(back);
  EXPECT_EQ(back.value(), 8u);

  auto p = em->tx().protect_rtcp(rr, 8);
  ASSERT_TRUE(p);
  out = deliver(RelayPort{}, browser_addr, std::span(rr.data(), p.value()));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].from.kind, PortKind::trunk_rtcp);
  EXPECT_TRUE(out[0].to == trunk_rtcp);
  EXPECT_EQ(out[0].data.size(), 8u);
}

TEST_F(RelayTest, WrongFingerprintEndsTheSessionAsDtlsFailed) {
  tls = bench::BrowserTls::make();
  ASSERT_TRUE(tls);
  auto other = bench::BrowserTls::make();
  ASSERT_TRUE(other);
  make_relay();
  answer(*other);  // the SDP names another certificate than the one the browser shows
  bench::EmulatedBrowser b(*tls, browser_ice(), relay->local(kSession)->ice, identity->fingerprint_sha256());
  std::array<std::byte, 512> req{};
  ASSERT_EQ(deliver(RelayPort{}, browser_addr, std::span(req.data(), b.make_check(req, true))).size(), 1u);
  ASSERT_TRUE(b.start_dtls());
  std::vector<std::pair<SessionId, MediaEnd>> ev;
  for (int i = 0; i < 20 && !b.connected() && b.error().empty() && ev.empty(); ++i) {
    bool sent = false;
    while (auto d = b.poll_dtls()) {
      sent = true;
      for (const Sent& x : deliver(RelayPort{}, browser_addr, *d)) b.on_dtls(x.data);
    }
    for (const auto& e : events()) ev.push_back(e);
    if (!sent) break;
  }
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].second, MediaEnd::dtls_failed);
  EXPECT_FALSE(relay->stats(kSession)->dtls_connected);
  EXPECT_TRUE(trunk_sends(0, 1, trunk_addr).empty());
}

}  // namespace
}  // namespace webtrunk::media

// media::Relay on virtual time, no sockets: an emulated browser (bench/tools/media_browser.hpp:
// libnice STUN checks, an OpenSSL DTLS client, SRTP) and an emulated trunk exchange datagrams with
// the relay through handle_datagram()/poll_transmit(); deadlines come from poll_timeout() and are
// met by handle_timeout() at the time the test chooses. The glue on real sockets is
// tests/media/bridge_test.cpp.
#include "media/relay.hpp"

#include <fmt/format.h>
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
  void set_up(bench::EmulatedBrowser& b) { handshake(b, browser_addr, kSession); }
  void handshake(bench::EmulatedBrowser& b, const SockAddr& from, SessionId id) {
    std::array<std::byte, 512> req{};
    const std::size_t n = b.make_check(req, true);
    auto reply = deliver(RelayPort{}, from, std::span(req.data(), n));
    ASSERT_EQ(reply.size(), 1u);
    EXPECT_FALSE(reply[0].in_place);
    EXPECT_TRUE(reply[0].to == from);
    ASSERT_TRUE(b.check_answered(reply[0].data));
    ASSERT_TRUE(b.start_dtls());
    for (int i = 0; i < 20 && !b.connected() && b.error().empty(); ++i) {
      while (auto d = b.poll_dtls()) {
        for (const Sent& s : deliver(RelayPort{}, from, *d)) b.on_dtls(s.data);
      }
    }
    while (auto d = b.poll_dtls()) (void)deliver(RelayPort{}, from, *d);
    ASSERT_TRUE(b.connected()) << b.error();
    ASSERT_TRUE(relay->stats(id)->dtls_connected);
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
      << "both calls heard their SDP address: no call of that IP waits to latch";
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
  // From an unknown port of that IP: the one call still waiting for RTCP (the other) latches it.
  EXPECT_TRUE(deliver(RelayPort{PortKind::trunk_rtcp, 0}, trunk_addr, std::span(rr.data(), 8)).empty());
  EXPECT_EQ(relay->stats(other)->trunk_rx, 2u);

  relay->remove_session(kSession);
  EXPECT_TRUE(deliver(shared, trunk_addr, std::span(buf.data(), n)).empty());
  EXPECT_EQ(kMediaDropNotPinned.total(), not_pinned + 2);
}

// A second session beside the fixture's, with its own browser (ICE + DTLS done) and trunk SDP.
struct SecondCall {
  SessionId id = 0;
  SockAddr browser;
  std::unique_ptr<bench::BrowserTls> tls;
  std::unique_ptr<bench::EmulatedBrowser> em;
};

class SharedTrunkTest : public RelayTest {
 protected:
  void SetUp() override {
    RelayTest::SetUp();
    RelayConfig cfg;
    cfg.shared_trunk_port = true;
    ASSERT_NO_FATAL_FAILURE(connect(cfg));
  }
  // Adds a session whose trunk SDP says `trunk` and connects its own emulated browser.
  void add_call(SecondCall& c, SessionId id, const SockAddr& trunk, std::uint16_t browser_port) {
    c.id = id;
    c.browser = SockAddr::ipv4_loopback(browser_port);
    LocalMedia lm = *relay->local(kSession);
    lm.ice.ufrag = fmt::format("ufrag{}", id);
    relay->add_session(now, id, lm);
    c.tls = bench::BrowserTls::make();
    ASSERT_TRUE(c.tls);
    relay->set_browser_remote(id, BrowserRemote{browser_ice(), c.tls->fingerprint()});
    relay->set_trunk_remote(now, id, trunk, opus_pcmu_dtmf());
    c.em = std::make_unique<bench::EmulatedBrowser>(*c.tls, browser_ice(), lm.ice, identity->fingerprint_sha256());
    ASSERT_NO_FATAL_FAILURE(handshake(*c.em, c.browser, id));
  }
  // RTP from the trunk with `ssrc` on the shared RTP port: the browser it reached, or none.
  std::optional<SockAddr> trunk_rtp(const SockAddr& from, std::uint32_t ssrc, std::uint16_t seq = 1) {
    std::array<std::byte, 200> buf{};
    const std::size_t n = write_rtp(buf, 0, seq, seq * 160u, ssrc, 160);
    auto out = deliver(RelayPort{PortKind::trunk_rtp, 0}, from, std::span(buf.data(), n));
    if (out.size() != 1) return std::nullopt;
    return out[0].to;
  }
  // The fixture's browser sends an RTCP receiver report: does it leave toward `want`?
  bool browser_sends_rtcp_to(const SockAddr& want) {
    std::array<std::byte, 128> buf{};
    buf[0] = std::byte{0x80};
    buf[1] = std::byte{201};
    core::store_be16(buf.data() + 2, 1);
    core::store_be32(buf.data() + 4, 0x1234);
    auto r = em->tx().protect_rtcp(buf, 8);
    if (!r) return false;
    auto out = deliver(RelayPort{}, browser_addr, std::span(buf.data(), r.value()));
    return out.size() == 1 && out[0].to == want && out[0].from.kind == PortKind::trunk_rtcp;
  }
  std::optional<SockAddr> trunk_rtcp(const SockAddr& from, std::uint32_t ssrc) {
    std::array<std::byte, 8> rr{};
    rr[0] = std::byte{0x80};
    rr[1] = std::byte{201};
    core::store_be16(rr.data() + 2, 1);
    core::store_be32(rr.data() + 4, ssrc);
    auto out = deliver(RelayPort{PortKind::trunk_rtcp, 0}, from, rr);
    if (out.size() != 1) return std::nullopt;
    return out[0].to;
  }
};

// A trunk that sends RTP from another port than its SDP says, and RTCP from that port + 1 (or any
// other port of its IP): on the shared port the only call of that IP still waiting latches to it,
// both ways, like a per-call port.
TEST_F(SharedTrunkTest, TrunkSendingFromAnotherPortLatchesTheOnlyWaitingCallOfItsIp) {
  const std::uint64_t latched = kMediaTrunkLatched.total();
  const SockAddr actual = SockAddr::ipv4_loopback(31234);
  auto to = trunk_rtp(actual, 0x1111);
  ASSERT_TRUE(to) << "the trunk's IP from another port latches the call waiting on it";
  EXPECT_TRUE(*to == browser_addr);
  EXPECT_EQ(kMediaTrunkLatched.total(), latched + 1);
  auto out = browser_sends(*em, 0, 10);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].to == actual) << "what goes to the trunk follows";
  EXPECT_EQ(out[0].from.session, 0u);

  const std::uint64_t not_pinned = kMediaDropNotPinned.total();
  EXPECT_FALSE(trunk_rtp(trunk_addr, 0x1111)) << "latched once: the SDP port no longer counts";
  EXPECT_FALSE(trunk_rtp(SockAddr::ipv4_loopback(31236), 0x1111)) << "nor another port: nobody waits";
  EXPECT_EQ(kMediaDropNotPinned.total(), not_pinned + 2);
  EXPECT_TRUE(trunk_rtp(actual, 0x1111, 2));

  // RTCP from the latched port + 1 (not the SDP's + 1) latches the RTCP side the same way.
  const SockAddr actual_rtcp = SockAddr::ipv4_loopback(31235);
  ASSERT_TRUE(trunk_rtcp(actual_rtcp, 0x1111));
  EXPECT_EQ(kMediaTrunkLatched.total(), latched + 2);
  EXPECT_TRUE(browser_sends_rtcp_to(actual_rtcp));

  // A new SDP from the trunk (re-INVITE) starts over at its address.
  relay->set_trunk_remote(now, kSession, trunk_addr, opus_pcmu_dtmf());
  EXPECT_TRUE(trunk_rtp(trunk_addr, 0x1111, 3));
  EXPECT_FALSE(trunk_rtp(actual, 0x1111, 4));
  relay->remove_session(kSession);
  EXPECT_FALSE(trunk_rtp(trunk_addr, 0x1111, 5));
}

// RTCP on the SDP's RTP port + 1, on the shared RTCP port; RTCP that an RTP port sends is not RTCP.
TEST_F(SharedTrunkTest, RtcpFromTheTrunksRtpPortPlusOneReachesItsCall) {
  SockAddr rtcp = trunk_addr;
  rtcp.set_port(static_cast<std::uint16_t>(trunk_addr.port() + 1));
  auto to = trunk_rtcp(rtcp, 0x1111);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == browser_addr);
  EXPECT_TRUE(browser_sends_rtcp_to(rtcp));
  const std::uint64_t not_pinned = kMediaDropNotPinned.total();
  EXPECT_FALSE(trunk_rtcp(SockAddr::ipv4_loopback(31001), 0x1111)) << "RTCP heard: nothing waits any more";
  EXPECT_EQ(kMediaDropNotPinned.total(), not_pinned + 1);
}

// Two calls of one trunk IP wait and a packet comes from a port neither SDP names: nobody can
// tell whose it is, so it is dropped and counted until each call's own packets resolve it.
TEST_F(SharedTrunkTest, UnknownSourceWithTwoCallsWaitingOnItsIpIsDroppedUntilResolved) {
  SecondCall b;
  const SockAddr b_trunk = SockAddr::ipv4_loopback(30100);
  ASSERT_NO_FATAL_FAILURE(add_call(b, kSession + 1, b_trunk, 50100));
  const std::uint64_t ambiguous = kMediaDropTrunkAmbiguous.total();
  const SockAddr elsewhere = SockAddr::ipv4_loopback(31000);
  EXPECT_FALSE(trunk_rtp(elsewhere, 0xaaaa));
  EXPECT_EQ(kMediaDropTrunkAmbiguous.total(), ambiguous + 1);
  EXPECT_EQ(relay->stats(kSession)->trunk_rx, 0u);
  EXPECT_EQ(relay->stats(b.id)->trunk_rx, 0u);

  // B hears its SDP address: only the fixture's call waits now, and the unknown source is its.
  auto to = trunk_rtp(b_trunk, 0xbbbb);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == b.browser);
  to = trunk_rtp(elsewhere, 0xaaaa, 2);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == browser_addr);
  EXPECT_EQ(kMediaDropTrunkAmbiguous.total(), ambiguous + 1);

  // RTCP from an unknown port while both wait on RTCP: the sender SSRC names the call.
  to = trunk_rtcp(SockAddr::ipv4_loopback(31001), 0xbbbb);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == b.browser);
}

// Two calls to the same trunk media address (IP and port): told apart by SSRC, each learnt from
// the first packet while it is the only call there without one; a new SSRC once all have theirs
// goes to the call whose trunk SDP came last (a re-INVITE may change it). Never the other's audio.
TEST_F(SharedTrunkTest, TwoCallsToTheSameTrunkAddressAreToldApartBySsrc) {
  ASSERT_TRUE(trunk_rtp(trunk_addr, 0xaaaa)) << "alone on the address: A learns its SSRC";
  const std::uint64_t conflicts = kMediaTrunkAddressConflicts.total();
  SecondCall b;
  ASSERT_NO_FATAL_FAILURE(add_call(b, kSession + 1, trunk_addr, 50100));
  EXPECT_EQ(kMediaTrunkAddressConflicts.total(), conflicts + 1);

  auto to = trunk_rtp(trunk_addr, 0xbbbb);
  ASSERT_TRUE(to) << "B is the only call there without an SSRC: it learns this one";
  EXPECT_TRUE(*to == b.browser);
  for (std::uint16_t seq = 2; seq < 6; ++seq) {
    to = trunk_rtp(trunk_addr, 0xaaaa, seq);
    ASSERT_TRUE(to);
    EXPECT_TRUE(*to == browser_addr);
    to = trunk_rtp(trunk_addr, 0xbbbb, seq);
    ASSERT_TRUE(to);
    EXPECT_TRUE(*to == b.browser);
  }
  EXPECT_EQ(relay->stats(kSession)->trunk_rx, 5u);
  EXPECT_EQ(relay->stats(b.id)->trunk_rx, 5u);

  // RTCP from the address + 1 goes by its sender SSRC too.
  SockAddr rtcp = trunk_addr;
  rtcp.set_port(static_cast<std::uint16_t>(trunk_addr.port() + 1));
  to = trunk_rtcp(rtcp, 0xaaaa);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == browser_addr);
  to = trunk_rtcp(rtcp, 0xbbbb);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == b.browser);

  // Both calls send to the same trunk address from the shared port.
  auto out = browser_sends(*em, 0, 10);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].to == trunk_addr);

  // A re-INVITE of A, after which the trunk's stream for A has a new SSRC: A takes it.
  relay->set_trunk_remote(now, kSession, trunk_addr, opus_pcmu_dtmf());
  to = trunk_rtp(trunk_addr, 0xcccc, 10);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == browser_addr);
  to = trunk_rtp(trunk_addr, 0xbbbb, 10);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == b.browser) << "B keeps its own";
  EXPECT_FALSE(trunk_rtp(trunk_addr, 0xaaaa, 11) == b.browser) << "A's old SSRC never reaches B";

  // One goes: the other has the address alone.
  relay->remove_session(kSession);
  to = trunk_rtp(trunk_addr, 0xbbbb, 12);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == b.browser);
}

// Two calls that both join the address before the trunk sends: the first packet with an SSRC
// nobody has is ambiguous (either call could own it) and dropped and counted.
TEST_F(SharedTrunkTest, TwoNewCallsOnOneAddressWaitForTheirOwnSsrc) {
  SecondCall b;
  ASSERT_NO_FATAL_FAILURE(add_call(b, kSession + 1, trunk_addr, 50100));
  const std::uint64_t ambiguous = kMediaDropTrunkAmbiguous.total();
  EXPECT_FALSE(trunk_rtp(trunk_addr, 0xaaaa));
  EXPECT_EQ(kMediaDropTrunkAmbiguous.total(), ambiguous + 1);
  EXPECT_EQ(relay->stats(kSession)->trunk_rx + relay->stats(b.id)->trunk_rx, 0u);
  relay->remove_session(b.id);
  EXPECT_TRUE(trunk_rtp(trunk_addr, 0xaaaa, 2));
}

// Every call past kMaxSessionsPerTrunkAddress on one trunk address is refused on the shared port
// (counted) and the ones already there keep their audio.
TEST_F(SharedTrunkTest, CallsSharingOneTrunkAddressAreBounded) {
  ASSERT_TRUE(trunk_rtp(trunk_addr, 0xaaaa));
  LocalMedia lm = *relay->local(kSession);
  for (std::size_t i = 1; i < kMaxSessionsPerTrunkAddress; ++i) {
    lm.ice.ufrag = fmt::format("fill{}", i);
    relay->add_session(now, kSession + i, lm);
    relay->set_trunk_remote(now, kSession + i, trunk_addr, opus_pcmu_dtmf());
  }
  const std::uint64_t full = kMediaTrunkAddressFull.total();
  lm.ice.ufrag = "onetoomany";
  const SessionId extra = kSession + kMaxSessionsPerTrunkAddress;
  relay->add_session(now, extra, lm);
  relay->set_trunk_remote(now, extra, trunk_addr, opus_pcmu_dtmf());
  EXPECT_EQ(kMediaTrunkAddressFull.total(), full + 1);
  auto to = trunk_rtp(trunk_addr, 0xaaaa, 2);
  ASSERT_TRUE(to);
  EXPECT_TRUE(*to == browser_addr);
  relay->remove_session(kSession + 1);  // room again: a new SDP from the trunk gets it in
  relay->set_trunk_remote(now, extra, trunk_addr, opus_pcmu_dtmf());
  EXPECT_EQ(kMediaTrunkAddressFull.total(), full + 1);
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

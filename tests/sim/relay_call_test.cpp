// Whole calls with the real media relay (media::Relay behind FakeMedia::use_relay()) on the sim's
// virtual clock: the browser sets the call up over SIP, then does what Chromium does with the edge's
// answer (an ICE check to the candidate, a DTLS client handshake, SRTP; the emulated browser of
// bench/tools/media_browser.hpp), and the trunk sends plain RTP to the port the edge's offer named.
// Asserted is what each side gets: the audio both ways with each leg's payload type numbers, the
// RFC 4733 events a SIP INFO turns into, and no media once the call is over. No sockets.
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "bench/tools/media_browser.hpp"
#include "core/bytes.hpp"
#include "media/rtp.hpp"
#include "sip_sim.hpp"

namespace webtrunk::sim {
namespace {

using std::chrono::milliseconds;

// kOffer's ICE credentials: the emulated browser must use what its SDP said.
const media::IceCredentials kBrowserIce{"aj7f", "+BmAjVNCJqk/MfBiI+1h9OHK"};
const core::SockAddr kBrowserAddr = core::SockAddr::ipv4_loopback(58206);  // kOffer's candidate
const core::SockAddr kTrunkMedia = core::SockAddr::ipv4_loopback(6000);    // kAnswer's c= and m=

// The value of the first "a=NAME:" line of an SDP.
std::string sdp_attr(std::string_view sdp, std::string_view name) {
  const std::string key = fmt::format("a={}:", name);
  const auto at = sdp.find(key);
  if (at == std::string_view::npos) return {};
  const auto from = at + key.size();
  return std::string(sdp.substr(from, sdp.find("\r\n", from) - from));
}

std::size_t write_rtp(std::span<std::byte> out, std::uint8_t pt, std::uint16_t seq, std::uint32_t ssrc) {
  out[0] = std::byte{0x80};
  out[1] = std::byte{pt};
  core::store_be16(out.data() + 2, seq);
  core::store_be32(out.data() + 4, seq * 160u);
  core::store_be32(out.data() + 8, ssrc);
  for (std::size_t i = 0; i < 160; ++i) out[12 + i] = static_cast<std::byte>((seq + i) & 0xff);
  return 12 + 160;
}

std::uint8_t pt_of(std::span<const std::byte> rtp) { return static_cast<std::uint8_t>(rtp[1]) & 0x7f; }

class RelayCall : public ::testing::Test {
 protected:
  void SetUp() override {
    auto id = media::DtlsIdentity::generate();
    ASSERT_TRUE(id) << id.error().message;
    media::RelayConfig cfg;
    cfg.identity = id.value();
    cfg.shared_trunk_port = shared_trunk_port();
    sim.media.use_relay(&sim.now, cfg);
    tls = bench::BrowserTls::make();
    ASSERT_TRUE(tls);
  }

  virtual bool shared_trunk_port() const { return false; }

  // The browser calls with its own certificate's fingerprint in kOffer; the trunk answers kAnswer.
  void call() {
    Browser& b = sim.browser("alice");
    browser = &b;
    connected = connect_call(sim, b, sdp_with(kOffer, kBrowserFingerprint, tls->fingerprint()));
    session = sim.media.next_id - 1;
  }

  // What Chromium does with the edge's answer: a nominating check to its candidate, then DTLS.
  void browser_connects() { connect_browser(connected, em, kBrowserAddr); }
  void connect_browser(const Connected& c, std::unique_ptr<bench::EmulatedBrowser>& out, const core::SockAddr& from) {
    const std::string& answer = c.answer;
    out = std::make_unique<bench::EmulatedBrowser>(
        *tls, kBrowserIce, media::IceCredentials{sdp_attr(answer, "ice-ufrag"), sdp_attr(answer, "ice-pwd")},
        sdp_attr(answer, "fingerprint").substr(std::string_view("sha-256 ").size()));
    std::array<std::byte, 512> req{};
    const std::size_t n = out->make_check(req, true);
    auto reply = sim.media.deliver(media::RelayPort{}, from, std::span(req.data(), n));
    ASSERT_EQ(reply.size(), 1u);
    EXPECT_EQ(reply[0].to, from);
    ASSERT_TRUE(out->check_answered(reply[0].data));
    ASSERT_TRUE(out->start_dtls());
    for (int i = 0; i < 20 && !out->connected() && out->error().empty(); ++i) {
      while (auto d = out->poll_dtls()) {
        for (const RelaySent& s : sim.media.deliver(media::RelayPort{}, from, *d)) {
          EXPECT_EQ(s.to, from);
          out->on_dtls(s.data);
        }
      }
    }
    while (auto d = out->poll_dtls()) (void)sim.media.deliver(media::RelayPort{}, from, *d);
    ASSERT_TRUE(out->connected()) << out->error();
  }

  // An SRTP packet from the browser; what the relay sent for it.
  std::vector<RelaySent> browser_sends(std::uint8_t pt, std::uint16_t seq) {
    return browser_sends(*em, kBrowserAddr, pt, seq);
  }
  std::vector<RelaySent> browser_sends(bench::EmulatedBrowser& b, const core::SockAddr& from, std::uint8_t pt,
                                       std::uint16_t seq) {
    std::array<std::byte, 1500> buf{};
    auto r = b.tx().protect_rtp(buf, write_rtp(buf, pt, seq, 0x1234));
    EXPECT_TRUE(r);
    return sim.media.deliver(media::RelayPort{}, from, std::span(buf.data(), r ? r.value() : 0));
  }
  // Plain RTP from the trunk's media address to the session's trunk RTP port.
  std::vector<RelaySent> trunk_sends(std::uint8_t pt, std::uint16_t seq) {
    std::array<std::byte, 200> buf{};
    return sim.media.deliver(media::RelayPort{media::PortKind::trunk_rtp, session}, kTrunkMedia,
                             std::span(buf.data(), write_rtp(buf, pt, seq, 0x9999)));
  }

  // Shared mode: RTP from `from` with `ssrc` on the one trunk RTP port; the browser and payload
  // (decrypted with `b`'s keys) it reached, if any.
  std::optional<core::SockAddr> shared_trunk_sends(const core::SockAddr& from, std::uint32_t ssrc, std::uint16_t seq,
                                                   bench::EmulatedBrowser* b = nullptr) {
    std::array<std::byte, 200> buf{};
    auto out = sim.media.deliver(media::RelayPort{media::PortKind::trunk_rtp, 0}, from,
                                 std::span(buf.data(), write_rtp(buf, 0, seq, ssrc)));
    if (out.size() != 1) return std::nullopt;
    if (b != nullptr) {
      std::vector<std::byte> pkt = out[0].data;
      auto plain = b->rx().unprotect_rtp(pkt, pkt.size());
      EXPECT_TRUE(plain) << "the browser could not decrypt what the edge sent it";
      if (plain) {
        EXPECT_EQ(core::load_be16(pkt.data() + 2), seq);
      }
    }
    return out[0].to;
  }

  Sim sim;
  std::unique_ptr<bench::BrowserTls> tls;
  std::unique_ptr<bench::EmulatedBrowser> em;
  Browser* browser = nullptr;
  Connected connected;
  media::SessionId session = 0;
};

TEST_F(RelayCall, AudioFlowsBothWaysWithEachLegsPayloadTypesAndStopsWithTheCall) {
  call();
  // The trunk's early audio has nowhere to go before the browser finished DTLS.
  EXPECT_TRUE(trunk_sends(0, 1).empty());
  ASSERT_NO_FATAL_FAILURE(browser_connects());

  // Browser -> trunk: unprotected, to the address of the trunk's SDP, from the port the edge offered.
  auto up = browser_sends(0, 100);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].to, kTrunkMedia);
  EXPECT_EQ(up[0].from.kind, media::PortKind::trunk_rtp);
  EXPECT_EQ(up[0].from.session, session);
  ASSERT_EQ(up[0].data.size(), 172u);
  EXPECT_EQ(pt_of(up[0].data), 0);
  EXPECT_EQ(static_cast<std::uint8_t>(up[0].data[12 + 5]), 105) << "the payload as the browser sent it";

  // Telephone-event: 126 in the browser's SDP, 101 in the trunk's (kAnswer); each way mapped.
  auto dtmf_up = browser_sends(126, 101);
  ASSERT_EQ(dtmf_up.size(), 1u);
  EXPECT_EQ(pt_of(dtmf_up[0].data), 101);

  // Trunk -> browser: protected for the browser, which authenticates and decrypts it.
  for (std::uint8_t pt : {std::uint8_t{0}, std::uint8_t{101}}) {
    auto down = trunk_sends(pt, static_cast<std::uint16_t>(200 + pt));
    ASSERT_EQ(down.size(), 1u);
    EXPECT_EQ(down[0].to, kBrowserAddr);
    EXPECT_EQ(down[0].from.kind, media::PortKind::browser);
    std::vector<std::byte> pkt = down[0].data;
    auto plain = em->rx().unprotect_rtp(pkt, pkt.size());
    ASSERT_TRUE(plain) << "the browser could not decrypt what the edge sent";
    EXPECT_EQ(plain.value(), 172u);
    EXPECT_EQ(pt_of(pkt), pt == 0 ? 0 : 126);
  }
  // RTP from elsewhere than the trunk's SDP address goes nowhere.
  std::array<std::byte, 200> stray{};
  EXPECT_TRUE(sim.media
                  .deliver(media::RelayPort{media::PortKind::trunk_rtp, session}, core::SockAddr::ipv4_loopback(6666),
                           std::span(stray.data(), write_rtp(stray, 0, 300, 0x9999)))
                  .empty());
  EXPECT_EQ(sim.media.relay->stats(session)->dropped, 2u) << "the early packet and the stray one";

  sim.in_dialog(*browser, connected.call, "BYE", connected.call.cseq + 1);
  EXPECT_EQ(browser->next()->view.status_code(), 200);
  EXPECT_EQ(sim.media.relay->sessions(), 0u) << "the relay's session ends with the call";
  EXPECT_TRUE(browser_sends(0, 102).empty());
  EXPECT_TRUE(trunk_sends(0, 202).empty());
}

TEST_F(RelayCall, SipInfoDtmfReachesTheTrunkAsRfc4733EventsEvery20msOnVirtualTime) {
  call();
  ASSERT_NO_FATAL_FAILURE(browser_connects());
  ASSERT_EQ(browser_sends(0, 100).size(), 1u);
  const std::size_t before = sim.media.sent.size();

  // JsSIP's INFO (session.sendDTMF with the default transport): 160 ms of '5'.
  sim.in_dialog(*browser, connected.call, "INFO", connected.call.cseq + 1, "application/dtmf-relay",
                "Signal=5\r\nDuration=160\r\n");
  EXPECT_EQ(browser->next()->view.status_code(), 200);
  EXPECT_TRUE(sim.trunk.inbox.empty()) << "no INFO reaches the trunk";
  std::vector<std::pair<core::Instant, std::vector<std::byte>>> events;
  const core::Instant start = sim.now;
  for (int i = 0; i < 25; ++i) {  // 500 ms of virtual time, 20 ms a step
    for (std::size_t k = before + events.size(); k < sim.media.sent.size(); ++k) {
      EXPECT_EQ(sim.media.sent[k].to, kTrunkMedia);
      events.emplace_back(sim.now, sim.media.sent[k].data);
    }
    sim.advance(milliseconds(20));
  }
  // RFC 4733 §2.5: PT 101 (the trunk's), event 5; a packet every 20 ms with the duration so far, up
  // to 160 ms (1280 at 8 kHz): 7 updates, then the last (E bit) three times (§2.5.1.4).
  ASSERT_EQ(events.size(), 10u);
  std::uint16_t duration = 0;
  for (const auto& [at, pkt] : events) {
    ASSERT_EQ(pkt.size(), 16u);
    EXPECT_EQ(pt_of(pkt), 101);
    EXPECT_EQ(static_cast<std::uint8_t>(pkt[12]), 5);
    EXPECT_LE(at - start, milliseconds(300)) << "all of it within the digit and its end packets";
    EXPECT_GE(core::load_be16(pkt.data() + 14), duration) << "the duration only grows";
    duration = core::load_be16(pkt.data() + 14);
  }
  EXPECT_EQ(static_cast<std::uint8_t>(events.front().second[1]) & 0x80, 0x80) << "the first carries the marker bit";
  EXPECT_EQ(events[1].first - events[0].first, milliseconds(20));
  int ends = 0;
  for (const auto& [at, pkt] : events) {
    if ((static_cast<std::uint8_t>(pkt[13]) & 0x80) != 0) {
      ++ends;
      EXPECT_EQ(core::load_be16(pkt.data() + 14), 1280);
    }
  }
  EXPECT_EQ(ends, 3);
  // The browser's audio after the digit keeps its own numbering toward the trunk (no gap or jump
  // the trunk's jitter buffer would see as loss).
  auto after = browser_sends(0, 101);
  ASSERT_EQ(after.size(), 1u);
  const std::uint16_t last_event_seq = core::load_be16(events.back().second.data() + 2);
  EXPECT_EQ(core::load_be16(after[0].data.data() + 2), static_cast<std::uint16_t>(last_event_seq + 1));
}

// --trunk-rtp-mode shared: one trunk-side RTP port for every call of the shard, demultiplexed by
// the trunk's source address (and SSRC when calls share one).
class SharedRelayCall : public RelayCall {
 protected:
  bool shared_trunk_port() const override { return true; }
};

// A trunk that sends its RTP from another port than its SDP names: the call latches to it, its
// browser hears it and the browser's audio goes there, from the shared port.
TEST_F(SharedRelayCall, TrunkSendingFromAnotherPortThanItsSdpIsHeardAndAnswered) {
  call();
  ASSERT_NO_FATAL_FAILURE(browser_connects());
  const core::SockAddr actual = core::SockAddr::ipv4_loopback(6010);
  auto to = shared_trunk_sends(actual, 0x9999, 1, em.get());
  ASSERT_TRUE(to) << "the trunk's audio from another port of its IP is lost";
  EXPECT_EQ(*to, kBrowserAddr);
  auto up = browser_sends(0, 100);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].to, actual) << "the browser's audio follows the trunk's actual port";
  EXPECT_EQ(up[0].from.session, 0u) << "from the shared port";
  EXPECT_FALSE(shared_trunk_sends(core::SockAddr::ipv4_loopback(6020), 0x9999, 2)) << "latched once";
}

// Two calls whose trunk answers name the same media address (kAnswer for both): each browser gets
// its own call's audio, told apart by the trunk's SSRCs, before and after the other call ends.
TEST_F(SharedRelayCall, TwoCallsToTheSameTrunkMediaAddressEachGetTheirOwnAudio) {
  call();
  ASSERT_NO_FATAL_FAILURE(browser_connects());
  ASSERT_TRUE(shared_trunk_sends(kTrunkMedia, 0xaaaa, 1, em.get()));

  Browser& bob = sim.browser("bob");
  const Connected bob_call = connect_call(sim, bob, sdp_with(kOffer, kBrowserFingerprint, tls->fingerprint()));
  const media::SessionId bob_session = sim.media.next_id - 1;
  ASSERT_NE(bob_session, session);
  const core::SockAddr bob_addr = core::SockAddr::ipv4_loopback(58207);
  std::unique_ptr<bench::EmulatedBrowser> bob_em;
  ASSERT_NO_FATAL_FAILURE(connect_browser(bob_call, bob_em, bob_addr));

  auto to = shared_trunk_sends(kTrunkMedia, 0xbbbb, 1, bob_em.get());
  ASSERT_TRUE(to);
  EXPECT_EQ(*to, bob_addr);
  for (std::uint16_t seq = 2; seq < 10; ++seq) {
    to = shared_trunk_sends(kTrunkMedia, 0xaaaa, seq, em.get());
    ASSERT_TRUE(to);
    EXPECT_EQ(*to, kBrowserAddr);
    to = shared_trunk_sends(kTrunkMedia, 0xbbbb, seq, bob_em.get());
    ASSERT_TRUE(to);
    EXPECT_EQ(*to, bob_addr);
  }
  auto up = browser_sends(*bob_em, bob_addr, 0, 100);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].to, kTrunkMedia);

  sim.in_dialog(*browser, connected.call, "BYE", connected.call.cseq + 1);
  EXPECT_EQ(browser->next()->view.status_code(), 200);
  to = shared_trunk_sends(kTrunkMedia, 0xbbbb, 20, bob_em.get());
  ASSERT_TRUE(to);
  EXPECT_EQ(*to, bob_addr);
  EXPECT_FALSE(shared_trunk_sends(kTrunkMedia, 0xaaaa, 21) == kBrowserAddr) << "no audio to an ended call";
}

}  // namespace
}  // namespace webtrunk::sim

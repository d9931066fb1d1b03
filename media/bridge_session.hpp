// The state MediaBridge keeps per media session, shared by media/bridge.cpp (sessions, relay,
// session end) and media/bridge_dtmf.cpp (RFC 4733 from SIP INFO). Internal to the bridge: the
// call controller sees only SessionId and media/types.hpp.
//
// Lifetimes: a BridgeSession lives from MediaBridge::create() to release(), at a fixed address
// (held by unique_ptr) because the lookup maps and its ports' handlers point to it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "media/bridge.hpp"

namespace webtrunk::media::bridge_detail {

constexpr std::uint8_t kNoPt = 0xff;  // no mapping for this payload type
// RFC 4733 §2.5.1.2: updates at the audio packet interval; §2.5.1.4: the final packet three times.
constexpr auto kDtmfInterval = std::chrono::milliseconds(20);
constexpr unsigned kDtmfEndPackets = 3;
constexpr std::uint8_t kDtmfVolume = 10;  // -10 dBm0, what browsers send (RFC 4733 §2.3.4)
constexpr std::size_t kMaxQueuedDigits = 16;
constexpr std::uint32_t kDtmfMinMs = 40;
constexpr std::uint32_t kDtmfMaxMs = 5000;

}  // namespace webtrunk::media::bridge_detail

namespace webtrunk::media {

// One trunk-side socket of a session: tells the bridge which session and whether RTP or RTCP.
class TrunkPort final : public core::UdpHandler {
 public:
  TrunkPort(MediaBridge& bridge, BridgeSession& session, bool rtcp) : bridge_(bridge), session_(session), rtcp_(rtcp) {}
  void on_datagram(core::Shard&, core::UdpId, const core::SockAddr& peer, std::span<std::byte> payload) override {
    bridge_.on_trunk_datagram(session_, rtcp_, peer, payload);
  }

 private:
  MediaBridge& bridge_;
  BridgeSession& session_;
  bool rtcp_;
};

struct DtmfDigit {
  std::uint8_t event = 0;
  std::uint32_t duration_ms = 0;
};

struct BridgeSession {
  BridgeSession(MediaBridge& bridge, SessionId session_id, const IceCredentials& creds, core::Duration consent)
      : id(session_id), ice(creds, consent), rtp_port(bridge, *this, false), rtcp_port(bridge, *this, true) {
    to_trunk_pt.fill(bridge_detail::kNoPt);
    to_browser_pt.fill(bridge_detail::kNoPt);
  }

  SessionId id;
  LocalMedia local;
  IceLiteAgent ice;
  // Made at the browser's ClientHello, not before: a live SSL object costs ~11 KB, and sessions of
  // calls still ringing may never get that far.
  std::unique_ptr<DtlsEndpoint> dtls;
  std::optional<std::string> remote_fingerprint;  // from the browser's SDP
  std::unique_ptr<SrtpTransform> srtp_rx;  // unprotects what the browser sends
  std::unique_ptr<SrtpTransform> srtp_tx;  // protects what goes to the browser
  std::optional<SrtpProfile> profile;
  core::SockAddr dtls_peer;  // where DTLS flights go: the last address DTLS came from
  core::TimerHandle dtls_timer;
  std::optional<core::Instant> dtls_timer_at;
  std::vector<core::SockAddr> paths;  // addresses bound to this session by valid checks

  TrunkPort rtp_port;
  TrunkPort rtcp_port;
  core::UdpId rtp_udp;
  core::UdpId rtcp_udp;
  std::uint16_t port = 0;
  core::SockAddr trunk_rtp;   // pinned from the trunk's SDP
  core::SockAddr trunk_rtcp;  // its port + 1
  std::array<std::uint8_t, 128> to_trunk_pt{};
  std::array<std::uint8_t, 128> to_browser_pt{};
  std::optional<std::uint8_t> trunk_dtmf_pt;
  std::uint32_t dtmf_clock = 8000;
  Direction direction = Direction::sendrecv;

  std::optional<MediaEnd> ending;  // found, not yet reported
  bool ended = false;              // reported through on_ended: nothing flows any more
  MediaSessionStats st;

  // The RTP stream toward the trunk, so injected DTMF continues it (RFC 4733 §2.1: same SSRC,
  // next sequence numbers, the stream's current timestamp).
  std::uint32_t ssrc = 0;
  std::uint16_t last_seq = 0;  // highest sequence number sent to the trunk
  std::uint32_t last_ts = 0;
  core::Instant last_ts_at;
  std::uint16_t seq_offset = 0;  // added to the browser's sequence numbers: one per injected packet
  bool seen_rtp = false;
  bool injected = false;

  std::deque<DtmfDigit> digits;
  bool dtmf_active = false;
  bool dtmf_first = false;
  std::uint8_t dtmf_event = 0;
  std::uint32_t dtmf_ts = 0;
  std::uint32_t dtmf_total = 0;  // samples
  std::uint32_t dtmf_sent = 0;   // duration of the last packet sent, samples
  unsigned dtmf_end_sent = 0;
  core::TimerHandle dtmf_timer;
};

}  // namespace webtrunk::media

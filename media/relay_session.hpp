// The state Relay keeps per media session, shared by media/relay.cpp (sessions, relay, session
// end) and media/relay_dtmf.cpp (RFC 4733 from SIP INFO). Internal to the relay: the call
// controller sees only SessionId and media/types.hpp.
//
// Lifetimes: a RelaySession lives from Relay::add_session() to remove_session(), at a fixed
// address (held by unique_ptr) because the lookup maps point to it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "media/relay.hpp"

namespace webtrunk::media::relay_detail {

constexpr std::uint8_t kNoPt = 0xff;  // no mapping for this payload type
// RFC 4733 §2.5.1.2: updates at the audio packet interval; §2.5.1.4: the final packet three times.
constexpr auto kDtmfInterval = std::chrono::milliseconds(20);
constexpr unsigned kDtmfEndPackets = 3;
constexpr std::uint8_t kDtmfVolume = 10;  // -10 dBm0, what browsers send (RFC 4733 §2.3.4)
constexpr std::size_t kMaxQueuedDigits = 16;
constexpr std::uint32_t kDtmfMinMs = 40;
constexpr std::uint32_t kDtmfMaxMs = 5000;

}  // namespace webtrunk::media::relay_detail

namespace webtrunk::media {

struct DtmfDigit {
  std::uint8_t event = 0;
  std::uint32_t duration_ms = 0;
};

struct RelaySession {
  RelaySession(SessionId session_id, const IceCredentials& creds, core::Duration consent)
      : id(session_id), ice(creds, consent) {
    to_trunk_pt.fill(relay_detail::kNoPt);
    to_browser_pt.fill(relay_detail::kNoPt);
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
  std::vector<core::SockAddr> paths;  // addresses bound to this session by valid checks

  core::SockAddr trunk_rtp;   // from the trunk's SDP, or where it latched (per-call ports)
  core::SockAddr trunk_rtcp;  // its port + 1, or where it latched
  // A packet was accepted from trunk_rtp / trunk_rtcp: no latching any more (until a new SDP).
  bool trunk_rtp_fixed = false;
  bool trunk_rtcp_fixed = false;
  bool trunk_registered = false;  // shared trunk port: trunk_rtp/trunk_rtcp are in the relay's maps
  std::optional<std::uint32_t> trunk_ssrc;  // shared trunk port: the SSRC of the trunk's RTP, once heard
  std::uint64_t trunk_answer = 0;           // shared trunk port: when its trunk SDP came (higher: later)
  std::array<std::uint8_t, 128> to_trunk_pt{};
  std::array<std::uint8_t, 128> to_browser_pt{};
  std::optional<std::uint8_t> trunk_dtmf_pt;
  std::uint32_t dtmf_clock = 8000;
  Direction direction = Direction::sendrecv;

  bool ended = false;  // reported through poll_event: nothing flows any more
  // Set when the trunk's answer arrives: DTLS must be connected by then (media_setup_timeout).
  std::optional<core::Instant> setup_deadline;
  // The trunk's last RTP/RTCP (or its answer, before any): for trunk_rtp_timeout.
  std::optional<core::Instant> trunk_heard;
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

  // Digits waiting (at most kMaxQueuedDigits). A vector: an empty std::deque already holds ~600 bytes.
  std::vector<DtmfDigit> digits;
  bool dtmf_active = false;
  bool dtmf_first = false;
  std::uint8_t dtmf_event = 0;
  std::uint32_t dtmf_ts = 0;
  std::uint32_t dtmf_total = 0;  // samples
  std::uint32_t dtmf_sent = 0;   // duration of the last packet sent, samples
  unsigned dtmf_end_sent = 0;
  std::optional<core::Instant> dtmf_at;  // the next RFC 4733 packet (or the next digit's start)
  bool dtmf_next_digit = false;          // dtmf_at starts the next digit rather than sending a packet
};

}  // namespace webtrunk::media

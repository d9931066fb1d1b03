// The vocabulary the media module shares with the rest of the edge (issue 4): SRTP key material
// as DTLS exports it, ICE credentials, the codec mapping between the two legs, and MediaSessions,
// the interface through which the call controller (edge/, sans-IO) drives one shard's media
// sessions. media/bridge.hpp implements it on a real shard (around media/relay.hpp, the sans-IO
// relay); the simulations fake it.
//
// Who writes what (docs/media.md): srtp.* and rtp.* the SRTP transform and RTP/RTCP views;
// ice_lite.* and dtls.* the ICE-lite agent and the DTLS endpoint; relay.* the relay (demux, path
// binding, SRTP, mapping, RFC 4733, media timeouts), bridge.* its shard glue; the SDP lives in
// sip/sdp.* (data) and edge/media_sdp.* (offer/answer from call state).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/socket.hpp"

namespace webtrunk::media {

// ---- SRTP key material (RFC 5764 §4.2) ----

enum class SrtpProfile : std::uint8_t {
  aes_cm_128_hmac_sha1_80,  // SRTP_AES128_CM_SHA1_80, 16-byte key, 14-byte salt, 10-byte tag
  aead_aes_128_gcm,         // SRTP_AEAD_AES_128_GCM (RFC 7714), 16-byte key, 12-byte salt, 16-byte tag
  aead_aes_256_gcm,         // SRTP_AEAD_AES_256_GCM, 32-byte key, 12-byte salt, 16-byte tag
};

constexpr std::size_t srtp_key_len(SrtpProfile p) noexcept {
  return p == SrtpProfile::aead_aes_256_gcm ? 32 : 16;
}
constexpr std::size_t srtp_salt_len(SrtpProfile p) noexcept {
  return p == SrtpProfile::aes_cm_128_hmac_sha1_80 ? 14 : 12;
}
// Bytes SRTP adds to an RTP packet (the auth tag).
constexpr std::size_t srtp_rtp_overhead(SrtpProfile p) noexcept {
  return p == SrtpProfile::aes_cm_128_hmac_sha1_80 ? 10 : 16;
}
// Bytes SRTCP adds to an RTCP packet (E flag + index, and the tag).
constexpr std::size_t srtp_rtcp_overhead(SrtpProfile p) noexcept { return 4 + srtp_rtp_overhead(p); }
// The most any profile adds: the tailroom a protect-in-place buffer needs.
inline constexpr std::size_t kSrtpMaxOverhead = 20;

std::string_view to_string(SrtpProfile p) noexcept;  // "AES_CM_128_HMAC_SHA1_80", ...

// One direction's master key and salt.
struct SrtpKeys {
  SrtpProfile profile = SrtpProfile::aes_cm_128_hmac_sha1_80;
  std::array<std::uint8_t, 32> key{};  // srtp_key_len(profile) bytes used
  std::array<std::uint8_t, 14> salt{};  // srtp_salt_len(profile) bytes used
};

// The two directions from the DTLS exporter ("EXTRACTOR-dtls_srtp"), laid out as RFC 5764 §4.2:
// client key | server key | client salt | server salt. We are the DTLS server: `tx` protects what
// the edge sends (server write keys), `rx` unprotects what the browser sends (client write keys).
struct SrtpKeyPair {
  SrtpKeys tx;
  SrtpKeys rx;
};
// `material` must be 2 * (key + salt) bytes for `profile`.
core::Result<SrtpKeyPair> split_dtls_srtp_keys(SrtpProfile profile, const std::uint8_t* material,
                                               std::size_t len, bool we_are_server);

// ---- ICE ----

struct IceCredentials {
  std::string ufrag;  // local: 8 ice-chars, random
  std::string pwd;    // local: 24 ice-chars, random
};

// ---- The two legs' codecs ----

// One payload type carried on both legs, with each side's number for it.
struct CodecMapping {
  std::uint8_t browser_pt = 0;
  std::uint8_t trunk_pt = 0;
  std::uint32_t clock_rate = 8000;
  std::string name;  // "PCMU", "PCMA", "G722", "opus", "telephone-event"
};

struct CodecMap {
  std::vector<CodecMapping> codecs;  // audio codecs, then telephone-event if both sides have it
  // The trunk's telephone-event payload type (RFC 4733), if it took one; used for DTMF from INFO.
  std::optional<std::uint8_t> trunk_dtmf_pt;
  std::optional<std::uint8_t> browser_dtmf_pt;
};

enum class Direction : std::uint8_t { sendrecv, sendonly, recvonly, inactive };
std::string_view to_string(Direction d) noexcept;

// ---- MediaSessions: what the call controller asks of a shard's media ----

using SessionId = std::uint64_t;  // 0 is never a session

// What the edge puts in its SDP toward each side; fixed for the session's life.
struct LocalMedia {
  IceCredentials ice;
  std::string fingerprint;      // "sha-256" fingerprint of the edge's DTLS certificate, "AB:CD:..."
  core::SockAddr browser_addr;  // the host candidate: --public-ip and the shard's media port
  core::SockAddr trunk_addr;    // the trunk-side RTP address (port even; RTCP on port + 1)
};

// What the browser's SDP said (edge/media_sdp.hpp reads it).
struct BrowserRemote {
  IceCredentials ice;
  std::string fingerprint_sha256;  // "AB:CD:...", upper or lower case
};

// Why a session ended by itself.
enum class MediaEnd : std::uint8_t {
  consent_lost,  // RFC 7675: 30 s without a valid ICE check or SRTP from the browser
  dtls_failed,   // handshake failed or the fingerprint did not match
  media_setup_timeout,  // ICE + DTLS not done within --media-setup-timeout of the trunk's answer
  trunk_rtp_timeout,    // no RTP/RTCP from the trunk for --trunk-rtp-timeout
};
std::string_view to_string(MediaEnd e) noexcept;

struct MediaSessionStats {
  std::uint64_t browser_rx = 0;  // SRTP packets from the browser, unprotected
  std::uint64_t browser_tx = 0;  // SRTP packets to the browser
  std::uint64_t trunk_rx = 0;    // RTP packets from the trunk
  std::uint64_t trunk_tx = 0;    // RTP packets to the trunk
  std::uint64_t dropped = 0;     // auth/replay failures, unknown payload types, no path yet
  bool ice_selected = false;
  bool dtls_connected = false;
  std::optional<SrtpProfile> profile;
};

class MediaSessions {
 public:
  virtual ~MediaSessions() = default;
  // A new session: ICE credentials made, a trunk RTP port pair taken. Fails when the shard's
  // --rtp-ports slice is used up (the caller answers 503).
  virtual core::Result<SessionId> create() = 0;
  virtual const LocalMedia* local(SessionId id) const = 0;
  // The browser's ICE credentials and certificate fingerprint (from its offer; again on re-offers).
  virtual void set_browser_remote(SessionId id, const BrowserRemote& remote) = 0;
  // The trunk's RTP address from its SDP (symmetric RTP, pinned; no learning) and the codec map.
  virtual void set_trunk_remote(SessionId id, const core::SockAddr& rtp, const CodecMap& codecs) = 0;
  // Hold and resume: what the browser may send and receive (what the trunk side negotiated).
  virtual void set_direction(SessionId id, Direction d) = 0;
  // One DTMF digit ('0'-'9', '*', '#', 'A'-'D') toward the trunk as RFC 4733 events.
  virtual bool send_dtmf(SessionId id, char digit, std::uint32_t duration_ms) = 0;
  // Ends the session: its port pair and buffers come back; no callback follows.
  virtual void release(SessionId id) = 0;
  virtual std::optional<MediaSessionStats> stats(SessionId id) const = 0;

  // Set by the owner: a session ended by itself (the call must hang up both legs).
  std::function<void(SessionId, MediaEnd)> on_ended;
};

}  // namespace webtrunk::media

// MediaBridge: one shard's media sessions on real sockets (issue 4, the relay). It implements
// MediaSessions (media/types.hpp) for the call controller and is the UdpHandler of the shard's
// browser-side media port.
//
// Browser side: ONE UDP socket per shard carries every browser's media (like a single-port WebRTC
// server). A datagram is sorted by its first byte (RFC 7983, media/rtp.hpp classify()):
//   STUN  -> the session whose local ufrag the USERNAME names (stun_request_local_ufrag); its
//            IceLiteAgent answers; a valid check binds the sender's address to the session;
//   DTLS  -> the session bound to the sender's address; its DtlsEndpoint; once connected the SRTP
//            keys are taken and the SSL object is gone;
//   RTP/RTCP (SRTP/SRTCP, rtcp-mux) -> the session bound to the sender's address; unprotected in
//            place, payload type mapped, sent to the trunk from the SAME receive buffer
//            (Shard::forward, no copy).
// Trunk side: an RTP/RTCP port pair per session from the shard's slice of --rtp-ports. Packets
// count only from the address the trunk's SDP gave (symmetric RTP, pinned, no learning); they are
// mapped, protected in place into the receive buffer's tailroom and forwarded to the browser's
// selected ICE path.
//
// Every rejected packet is dropped and counted (the kMedia* metrics below and the session's
// stats().dropped); nothing goes to the browser before DTLS is connected. A shard timer checks
// consent freshness (RFC 7675) and DTLS failure and reports either once through on_ended.
//
// Threading and lifetimes: one MediaBridge per shard, created and used on the shard's thread only;
// the Shard must outlive it. Destroying it closes every session's sockets without callbacks; that
// queues io_uring cancels on the Shard, so destroy it on the shard's thread (or after the loop has
// ended, with fewer sessions than the ring has SQ entries / 2, else the cancels cannot be submitted
// from a foreign thread and the sockets close only with the Shard).
// LocalMedia pointers from local() are valid until release() of that session. on_ended is called
// from the shard's timer, never from inside a MediaSessions call; the callee may call release().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/metrics.hpp"
#include "core/reactor.hpp"
#include "core/socket.hpp"
#include "media/dtls.hpp"
#include "media/ice_lite.hpp"
#include "media/port_pool.hpp"
#include "media/srtp.hpp"
#include "media/types.hpp"

namespace webtrunk::media {

inline const core::Counter kMediaToTrunk{"webtrunk_media_to_trunk_total",
                                         "RTP/RTCP packets relayed from browsers to trunks"};
inline const core::Counter kMediaToBrowser{"webtrunk_media_to_browser_total",
                                           "SRTP/SRTCP packets relayed from trunks to browsers"};
inline const core::Counter kMediaDropAuth{"webtrunk_media_dropped_auth_total",
                                          "browser SRTP/SRTCP that failed authentication"};
inline const core::Counter kMediaDropReplay{"webtrunk_media_dropped_replay_total",
                                            "browser SRTP/SRTCP replayed or too old"};
inline const core::Counter kMediaDropMalformed{
    "webtrunk_media_dropped_malformed_total",
    "media datagrams with an unknown first byte (RFC 7983), a bad RTP/RTCP header or no room for the SRTP tag"};
inline const core::Counter kMediaDropUnknownSession{
    "webtrunk_media_dropped_unknown_session_total",
    "browser-side datagrams from an address no valid ICE check bound, or STUN for an unknown ufrag"};
inline const core::Counter kMediaDropNotPinned{"webtrunk_media_dropped_not_pinned_total",
                                               "trunk-side datagrams not from the trunk's SDP address"};
inline const core::Counter kMediaDropNoPath{
    "webtrunk_media_dropped_no_path_total",
    "media with nowhere to go yet: no selected ICE path, DTLS not connected or no trunk address"};
inline const core::Counter kMediaDropUnknownPt{"webtrunk_media_dropped_unknown_pt_total",
                                               "RTP with a payload type the codec map does not carry"};
inline const core::Counter kMediaDropDirection{"webtrunk_media_dropped_direction_total",
                                               "RTP in a direction the session's hold state stops"};
inline const core::Counter kMediaDropEnded{"webtrunk_media_dropped_ended_total",
                                           "media for a session that already ended (consent lost, DTLS failed)"};
inline const core::Counter kMediaDtmfPackets{"webtrunk_media_dtmf_packets_total",
                                             "RFC 4733 packets the edge made toward trunks (from SIP INFO)"};
inline const core::Gauge kMediaSessionsActive{"webtrunk_media_sessions_active", "media sessions open"};
inline const core::Counter kMediaSessionsRefused{"webtrunk_media_sessions_refused_total",
                                                 "media sessions refused: the shard's RTP ports are used up"};
inline const core::Counter kMediaDtlsOk{"webtrunk_media_dtls_ok_total", "DTLS handshakes completed"};
inline const core::Counter kMediaDtlsFailed{"webtrunk_media_dtls_failed_total",
                                            "DTLS handshakes failed (or alerts after connect)"};
inline const core::Counter kMediaConsentLost{"webtrunk_media_consent_lost_total",
                                             "sessions ended because ICE consent expired (RFC 7675)"};

struct MediaConfig {
  core::SockAddr browser_listen;  // this shard's browser-side UDP socket (all browser media of the shard)
  std::string public_ip;          // the host candidate's address (empty: browser_listen's address)
  // Address trunk-side RTP sockets bind to (port ignored; unset: browser_listen's address). It is
  // LocalMedia::trunk_addr, the c= line toward the trunk, so give a concrete address, not 0.0.0.0.
  core::SockAddr trunk_bind;
  std::uint16_t rtp_port_min = 0, rtp_port_max = 0;  // this shard's slice of --rtp-ports (pairs: even RTP, odd RTCP)
  SrtpEngine engine = SrtpEngine::own;
  std::shared_ptr<DtlsIdentity> identity;
  core::Duration consent_timeout = std::chrono::seconds(30);
  // How often the consent/DTLS-failure check runs; the end of a session is seen this late at most.
  core::Duration check_interval = std::chrono::seconds(1);
  // Socket buffers of the browser-side socket (one socket carries every browser of the shard).
  int browser_socket_buffer = 4 << 20;
};

struct BridgeSession;
class TrunkPort;

class MediaBridge final : public MediaSessions, public core::UdpHandler {
 public:
  // Binds the browser-side socket and starts the consent timer. On the shard's thread.
  static core::Result<std::unique_ptr<MediaBridge>> open(core::Shard& shard, MediaConfig cfg);
  ~MediaBridge() override;
  MediaBridge(const MediaBridge&) = delete;
  MediaBridge& operator=(const MediaBridge&) = delete;

  // ---- MediaSessions ----
  core::Result<SessionId> create() override;
  const LocalMedia* local(SessionId id) const override;
  void set_browser_remote(SessionId id, const BrowserRemote& remote) override;
  void set_trunk_remote(SessionId id, const core::SockAddr& rtp, const CodecMap& codecs) override;
  // `d` is the browser's view: sendonly lets only browser -> trunk RTP through, recvonly only
  // trunk -> browser, inactive neither. RTCP flows either way (RFC 3264 §5.1).
  void set_direction(SessionId id, Direction d) override;
  // RFC 4733 toward the trunk (needs the trunk's telephone-event payload type and its address):
  // packets every 20 ms with growing duration, the last one (E bit) sent three times (§2.5.1.4).
  // Digits asked for while one plays are queued (up to 16).
  bool send_dtmf(SessionId id, char digit, std::uint32_t duration_ms) override;
  void release(SessionId id) override;
  std::optional<MediaSessionStats> stats(SessionId id) const override;

  core::SockAddr browser_address() const;  // bound address of the browser-side socket
  std::size_t sessions() const noexcept { return sessions_.size(); }
  std::size_t free_port_pairs() const noexcept { return ports_.free_pairs(); }

  // core::UdpHandler: the browser-side socket.
  void on_datagram(core::Shard& shard, core::UdpId id, const core::SockAddr& peer,
                   std::span<std::byte> payload) override;

 private:
  friend class TrunkPort;  // a session's trunk-side socket handler (media/bridge_session.hpp)
  // The trunk side's datagrams, from the session's port handlers.
  void on_trunk_datagram(BridgeSession& s, bool rtcp, const core::SockAddr& peer, std::span<std::byte> payload);

  MediaBridge(core::Shard& shard, MediaConfig cfg);

  struct AddrHash {
    std::size_t operator()(const core::SockAddr& a) const noexcept;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  BridgeSession* find(SessionId id) const noexcept;
  void on_stun(const core::SockAddr& peer, std::span<std::byte> pkt);
  void on_dtls(BridgeSession& s, const core::SockAddr& peer, std::span<const std::byte> pkt);
  void on_srtp(BridgeSession& s, const core::SockAddr& peer, std::span<std::byte> payload, bool rtcp);
  void bind_path(BridgeSession& s, const core::SockAddr& peer);
  void pump_dtls(BridgeSession& s);
  void arm_dtls_timer(BridgeSession& s);
  void dtmf_tick(SessionId id);
  void start_next_digit(BridgeSession& s);
  void arm_check();
  void end_soon(BridgeSession& s, MediaEnd why);
  void check_sessions();
  void drop(BridgeSession* s, const core::Counter& why) noexcept;

  core::Shard& shard_;
  MediaConfig cfg_;
  core::UdpId browser_udp_;
  core::SockAddr browser_addr_;     // bound
  core::SockAddr candidate_addr_;   // what LocalMedia::browser_addr says (public_ip)
  PortPool ports_;
  std::uint64_t next_id_ = 1;
  core::TimerHandle check_timer_;
  core::TimerHandle end_timer_;
  std::vector<std::pair<SessionId, MediaEnd>> ending_;  // check_sessions()'s scratch
  std::unordered_map<SessionId, std::unique_ptr<BridgeSession>> sessions_;
  std::unordered_map<std::string, BridgeSession*, StringHash, std::equal_to<>> by_ufrag_;
  std::unordered_map<core::SockAddr, BridgeSession*, AddrHash> by_peer_;
  std::array<std::byte, kIceMaxReply> stun_out_{};
};

}  // namespace webtrunk::media

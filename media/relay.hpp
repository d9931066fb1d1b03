// media::Relay: one shard's media sessions as a sans-IO object. It owns no socket and reads no
// clock: the glue (media/bridge.hpp on a real shard, or a test on virtual time) hands it each
// datagram with the local port it came in on, and polls it for datagrams to send, the next
// deadline and sessions that ended by themselves.
//
//   relay.handle_datagram(now, port, peer, rx);       // rx: the datagram and its tailroom
//   while (auto t = relay.poll_transmit()) send(*t);   // t->in_place: bytes inside rx, no copy
//   timer at relay.poll_timeout() -> relay.handle_timeout(now);
//   while (auto e = relay.poll_event()) on_ended(e->first, e->second);
//
// Browser side: ONE local port carries every browser's media (like a single-port WebRTC server).
// A datagram is sorted by its first byte (RFC 7983, media/rtp.hpp classify()):
//   STUN  -> the session whose local ufrag the USERNAME names; its IceLiteAgent answers; a valid
//            check binds the sender's address to the session (path binding);
//   DTLS  -> the session bound to the sender's address; its DtlsEndpoint; once connected the SRTP
//            keys are taken and the SSL object is gone;
//   RTP/RTCP (SRTP/SRTCP, rtcp-mux) -> the session bound to the sender's address; unprotected in
//            place, payload type and sequence mapped, sent to the trunk from the same buffer.
// Trunk side, one of two modes (RelayConfig::shared_trunk_port, --trunk-rtp-mode):
//   per-call: an RTP/RTCP port pair per session (RelayPort::session names it). Packets count from
//            the address the trunk's SDP gave; a trunk that sends from another port of the SAME
//            IP is latched once: the first packet from that IP on the session's port, if nothing
//            came from the SDP address before, moves the session to the sender's address (RTP
//            and RTCP each; symmetric RTP, RFC 4961: what goes to the trunk follows). Another IP
//            never latches; a new trunk SDP (set_trunk_remote) may latch again.
//   shared:  ONE RTP port and ONE RTCP port (its +1) for every session of the shard, the session
//            found by the trunk's source address (RelayPort::session is 0), in this order:
//            1. the source is a session's trunk address (its SDP's, +1 for RTCP, or where it
//               latched): that session; if several sessions have that address (two calls to the
//               same trunk media address), the one whose trunk SSRC the packet carries; else the
//               only one whose SSRC is not known yet (it learns it); else, when all know theirs,
//               the session whose trunk SDP came last (a re-INVITE may change the SSRC);
//            2. an unknown source: the sessions whose trunk SDP has that IP and that have heard
//               nothing from the trunk yet (RTP and RTCP each): if one, it latches to the source
//               (like per-call ports; what goes to the trunk follows); if several, the one whose
//               trunk SSRC the packet carries (RTCP from a latched RTP stream), else the only one
//               whose SSRC is unknown; otherwise the packet is dropped and counted
//               (kMediaDropTrunkAmbiguous) until the calls' own packets resolve it (each
//               latches or hears its SDP address) or one ends.
//            RTCP from a trunk whose a=rtcp names another port of the same IP latches the same
//            way. At most kMaxSessionsPerTrunkAddress sessions share one trunk address: a session
//            past that gets no trunk media on the shared port (kMediaTrunkAddressFull; use
//            --trunk-rtp-mode per-call for such a trunk). Other tables hold one entry per session.
// Trunk packets are then mapped, protected in place into the tailroom and sent to the browser's
// selected ICE path.
//
// Sessions end by themselves (poll_event) when ICE consent lapses (RFC 7675), DTLS fails, the
// browser does not finish ICE + DTLS within media_setup_timeout of the trunk's answer, or the
// trunk sends no RTP for trunk_rtp_timeout (off by default, like rtpengine's --timeout).
// Every rejected packet is dropped and counted (the kMedia* metrics and the session's
// stats().dropped); nothing goes to the browser before DTLS is connected.
//
// Lifetimes: the spans poll_transmit() returns are valid until the next call into the relay other
// than poll_transmit(), and those marked in_place only while `rx` of the handle_datagram() that
// made them is; drain poll_transmit() after every handle_datagram(), handle_timeout() and
// send_dtmf(). A session lives from add_session() to remove_session(); after it ended it drops
// every packet until removed.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/socket.hpp"
#include "media/dtls.hpp"
#include "media/ice_lite.hpp"
#include "media/rx_buf.hpp"
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
inline const core::Counter kMediaTrunkLatched{
    "webtrunk_media_trunk_latched_total",
    "per-call trunk ports that moved to the trunk's actual source port (same IP as its SDP, first packet)"};
inline const core::Counter kMediaTrunkAddressConflicts{
    "webtrunk_media_trunk_address_conflicts_total",
    "shared trunk port: a session's trunk SDP named an address another live session has (told apart by SSRC)"};
inline const core::Counter kMediaTrunkAddressFull{
    "webtrunk_media_trunk_address_full_total",
    "shared trunk port: sessions refused because kMaxSessionsPerTrunkAddress already share their trunk address"};
inline const core::Counter kMediaDropTrunkAmbiguous{
    "webtrunk_media_dropped_trunk_ambiguous_total",
    "shared trunk port: trunk packets that several waiting sessions could own (dropped until it resolves)"};
// Shared trunk port: sessions one trunk media address may carry (told apart by SSRC, a linear scan).
inline constexpr std::size_t kMaxSessionsPerTrunkAddress = 64;
inline const core::Counter kMediaDropDirection{"webtrunk_media_dropped_direction_total",
                                               "RTP in a direction the session's hold state stops"};
inline const core::Counter kMediaDropEnded{"webtrunk_media_dropped_ended_total",
                                           "media for a session that already ended (consent lost, DTLS failed)"};
inline const core::Counter kMediaDtmfPackets{"webtrunk_media_dtmf_packets_total",
                                             "RFC 4733 packets the edge made toward trunks (from SIP INFO)"};
inline const core::Counter kMediaDtlsOk{"webtrunk_media_dtls_ok_total", "DTLS handshakes completed"};
inline const core::Counter kMediaDtlsFailed{"webtrunk_media_dtls_failed_total",
                                            "DTLS handshakes failed (or alerts after connect)"};
inline const core::Counter kMediaConsentLost{"webtrunk_media_consent_lost_total",
                                             "sessions ended because ICE consent expired (RFC 7675)"};
inline const core::Counter kMediaSetupTimeouts{
    "webtrunk_media_setup_timeouts_total",
    "sessions ended because the browser did not finish ICE and DTLS within --media-setup-timeout"};
inline const core::Counter kMediaTrunkRtpTimeouts{
    "webtrunk_media_trunk_rtp_timeouts_total",
    "sessions ended because the trunk sent no RTP for --trunk-rtp-timeout"};

struct RelayConfig {
  std::shared_ptr<DtlsIdentity> identity;
  SrtpEngine engine = SrtpEngine::own;
  core::Duration consent_timeout = std::chrono::seconds(30);
  // From the trunk's answer (set_trunk_remote) to DTLS connected; zero: no limit.
  core::Duration media_setup_timeout = std::chrono::seconds(10);
  // Trunk RTP silence that ends the call; zero: off.
  core::Duration trunk_rtp_timeout = core::Duration::zero();
  // How often consent and the timeouts above are checked; an end is seen this late at most.
  core::Duration check_interval = std::chrono::seconds(1);
  // One trunk-side RTP/RTCP port pair for all sessions, demultiplexed by the trunk's address
  // (RelayPort::session 0); false: a pair per session.
  bool shared_trunk_port = false;
};

// Which local port a datagram came in on or leaves from.
enum class PortKind : std::uint8_t { browser, trunk_rtp, trunk_rtcp };
struct RelayPort {
  PortKind kind = PortKind::browser;
  SessionId session = 0;  // 0 for a port every session shares (the browser port; shared trunk ports)
};

struct Transmit {
  RelayPort from;  // a trunk port with session 0 in shared mode
  core::SockAddr to;
  std::span<const std::byte> data;
  bool in_place = false;  // data lies in the RxBuf being handled: forward it from there
};

struct RelaySession;

class Relay {
 public:
  explicit Relay(RelayConfig cfg);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // ---- sessions (the glue takes the ids, ICE credentials and trunk ports) ----
  [[nodiscard]] bool has_ufrag(std::string_view ufrag) const noexcept { return by_ufrag_.contains(ufrag); }
  // `local.ice` is this session's ICE credentials (ufrag unique, see has_ufrag()).
  void add_session(core::Instant now, SessionId id, LocalMedia local);
  void remove_session(SessionId id) noexcept;
  [[nodiscard]] const LocalMedia* local(SessionId id) const noexcept;
  void set_browser_remote(SessionId id, const BrowserRemote& remote);
  void set_trunk_remote(core::Instant now, SessionId id, const core::SockAddr& rtp, const CodecMap& codecs);
  void set_direction(SessionId id, Direction d) noexcept;
  // RFC 4733 toward the trunk: packets every 20 ms with growing duration, the last one (E bit)
  // three times (§2.5.1.4). Digits asked for while one plays are queued (up to 16).
  [[nodiscard]] bool send_dtmf(core::Instant now, SessionId id, char digit, std::uint32_t duration_ms);
  [[nodiscard]] std::optional<MediaSessionStats> stats(SessionId id) const;
  [[nodiscard]] std::size_t sessions() const noexcept { return sessions_.size(); }

  // ---- sans-IO ----
  void handle_datagram(core::Instant now, RelayPort port, const core::SockAddr& peer, RxBuf& rx) noexcept;
  void handle_timeout(core::Instant now);
  [[nodiscard]] std::optional<Transmit> poll_transmit() noexcept;
  [[nodiscard]] std::optional<core::Instant> poll_timeout() const noexcept;
  [[nodiscard]] std::optional<std::pair<SessionId, MediaEnd>> poll_event() noexcept;

 private:
  struct AddrHash {
    std::size_t operator()(const core::SockAddr& a) const noexcept;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Pending {
    RelayPort from;
    core::SockAddr to;
    std::span<const std::byte> view;  // in the RxBuf (in_place) or in `owned`
    std::vector<std::byte> owned;
    bool in_place = false;
  };

  RelaySession* find(SessionId id) const noexcept;
  void start_output() noexcept;
  void emit_in_place(RelayPort from, const core::SockAddr& to, std::span<const std::byte> view);
  void emit_copy(RelayPort from, const core::SockAddr& to, std::span<const std::byte> data);
  void on_browser(core::Instant now, const core::SockAddr& peer, RxBuf& rx) noexcept;
  void on_trunk(core::Instant now, RelaySession& s, bool rtcp, const core::SockAddr& peer, RxBuf& rx) noexcept;
  RelaySession* trunk_sender(bool rtcp, const core::SockAddr& peer, std::span<const std::byte> pkt) noexcept;
  void trunk_heard_at(RelaySession& s, bool rtcp, const core::SockAddr& peer) noexcept;
  // The port a session's packets leave from toward the trunk (session 0 when shared).
  RelayPort trunk_port(PortKind kind, const RelaySession& s) const noexcept;
  void register_trunk(RelaySession& s);
  void unregister_trunk(RelaySession& s) noexcept;
  using SessionsByAddr = std::unordered_map<core::SockAddr, std::vector<RelaySession*>, AddrHash>;
  static void unlist(SessionsByAddr& m, const core::SockAddr& key, const RelaySession* s) noexcept;
  void on_stun(core::Instant now, const core::SockAddr& peer, std::span<std::byte> pkt) noexcept;
  void on_dtls(core::Instant now, RelaySession& s, const core::SockAddr& peer, std::span<const std::byte> pkt);
  void on_srtp(core::Instant now, RelaySession& s, const core::SockAddr& peer, RxBuf& rx, bool rtcp) noexcept;
  void bind_path(RelaySession& s, const core::SockAddr& peer);
  void pump_dtls(core::Instant now, RelaySession& s);
  void update_timed(RelaySession& s);
  void dtmf_tick(core::Instant now, RelaySession& s);
  void start_next_digit(core::Instant now, RelaySession& s);
  void end(RelaySession& s, MediaEnd why);
  void check_sessions(core::Instant now);
  void drop(RelaySession* s, const core::Counter& why) noexcept;

  RelayConfig cfg_;
  std::optional<core::Instant> next_check_;
  std::unordered_map<SessionId, std::unique_ptr<RelaySession>> sessions_;
  std::unordered_map<std::string, RelaySession*, StringHash, std::equal_to<>> by_ufrag_;
  std::unordered_map<core::SockAddr, RelaySession*, AddrHash> by_peer_;
  // Shared trunk port, [0] RTP and [1] RTCP: sessions by their trunk address (SDP or latched;
  // several when calls share it), and by IP (port 0) those that heard nothing from the trunk yet.
  std::array<SessionsByAddr, 2> by_trunk_;
  std::array<SessionsByAddr, 2> waiting_;
  std::uint64_t trunk_answers_ = 0;  // orders the sessions' trunk SDPs (RelaySession::trunk_answer)
  // Sessions with a DTLS or DTMF deadline (few: those in a handshake or playing a digit), so
  // poll_timeout() looks at them and not at every session.
  std::unordered_set<SessionId> timed_;
  std::vector<Pending> out_;
  std::size_t out_next_ = 0;
  std::vector<std::pair<SessionId, MediaEnd>> events_;
  std::size_t events_next_ = 0;
  std::array<std::byte, kIceMaxReply> stun_out_{};
};

}  // namespace webtrunk::media

// MediaBridge: one shard's media sessions on real sockets. It implements MediaSessions
// (media/types.hpp) for the call controller and is thin glue between the shard and media::Relay
// (media/relay.hpp), the sans-IO relay that does the demux, ICE, DTLS, SRTP and mapping.
//
// Sockets: ONE browser-side UDP socket per shard carries every browser's media. Trunk side
// (MediaConfig::trunk_rtp_mode, --trunk-rtp-mode): per_call gives each session an RTP/RTCP port
// pair from the shard's slice of --rtp-ports; shared opens ONE pair (the slice's first free one)
// for every session of the shard, the relay telling calls apart by the trunk's address (see
// media/relay.hpp for what each mode accepts from real trunks). Every datagram goes to the
// relay with the RxBuf (payload + tailroom) it arrived in; the relay's transmits marked in_place
// leave from that very buffer (Shard::forward, no copy), the others (STUN replies, DTLS flights,
// RFC 4733 packets) are copies through Shard::send_to, counted in kMediaCopiedSends. One shard
// timer follows the relay's poll_timeout().
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
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/metrics.hpp"
#include "core/reactor.hpp"
#include "core/socket.hpp"
#include "media/dtls.hpp"
#include "media/port_pool.hpp"
#include "media/relay.hpp"
#include "media/types.hpp"

namespace webtrunk::media {

inline const core::Counter kMediaCopiedSends{
    "webtrunk_media_copied_sends_total",
    "media datagrams sent as a copy rather than from their receive buffer (STUN replies, DTLS flights, RFC 4733)"};
inline const core::Gauge kMediaSessionsActive{"webtrunk_media_sessions_active", "media sessions open"};
inline const core::Counter kMediaSessionsRefused{"webtrunk_media_sessions_refused_total",
                                                 "media sessions refused: the shard's RTP ports are used up"};
inline const core::Counter kMediaPortsBorrowed{"webtrunk_media_ports_borrowed_total",
                                               "RTP port pairs taken from another shard's slice (this shard's were used up)"};

enum class TrunkRtpMode : std::uint8_t { per_call, shared };
std::optional<TrunkRtpMode> parse_trunk_rtp_mode(std::string_view text) noexcept;

struct MediaConfig {
  core::SockAddr browser_listen;  // this shard's browser-side UDP socket (all browser media of the shard)
  std::string public_ip;          // the host candidate's address (empty: browser_listen's address)
  // Address trunk-side RTP sockets bind to (port ignored; unset: browser_listen's address). It is
  // LocalMedia::trunk_addr, the c= line toward the trunk, so give a concrete address, not 0.0.0.0.
  core::SockAddr trunk_bind;
  std::uint16_t rtp_port_min = 0, rtp_port_max = 0;  // this shard's slice of --rtp-ports (pairs: even RTP, odd RTCP)
  // The whole --rtp-ports range: pairs are borrowed from it once the slice is used up
  // (media/port_pool.hpp); 0, 0: no borrowing.
  std::uint16_t rtp_borrow_min = 0, rtp_borrow_max = 0;
  SrtpEngine engine = SrtpEngine::own;
  std::shared_ptr<DtlsIdentity> identity;
  core::Duration consent_timeout = std::chrono::seconds(30);
  // From the trunk's answer to DTLS connected (zero: no limit); trunk RTP silence (zero: off).
  core::Duration media_setup_timeout = std::chrono::seconds(10);
  core::Duration trunk_rtp_timeout = core::Duration::zero();
  // How often consent and the media timeouts are checked; the end of a session is seen this late at most.
  core::Duration check_interval = std::chrono::seconds(1);
  // Socket buffers of the browser-side socket (one socket carries every browser of the shard), and
  // of the shared trunk-side sockets.
  int browser_socket_buffer = 4 << 20;
  TrunkRtpMode trunk_rtp_mode = TrunkRtpMode::shared;
  // Kernel arrival stamps on every media socket (UdpOptions::rx_timestamps): the shard's
  // udp_delay() then holds each relayed packet's time from arrival to its send. Off by default:
  // it costs CPU per packet (bench/RESULTS.md) and nothing in `webtrunk edge` reads it yet;
  // bench_media_relay turns it on (--rx-stamps).
  bool rx_timestamps = false;
};

// The UDP receive rings of an edge shard: the main ring sized for SIP over UDP (a JsSIP INVITE
// with Chrome's SDP is 2-3 kB, offers with video reach 8 kB; features.md §2.7), 512 buffers of
// 8 KiB + 64, and the small-buffer ring every MediaBridge socket receives into (UdpOptions::
// small_buffers), 1024 of 2 KiB: an RTP packet with its SRTP tag, a STUN check or a DTLS flight
// fragment (browsers keep those under their ~1200-byte MTU). The kernel takes provided buffers in
// ring order, so the ring is the relay's cache working set (bench/RESULTS.md, "Small-buffer
// ring"). `webtrunk edge` and bench_media_relay both call this, so the bench measures what ships.
void set_edge_udp_buffers(core::ShardConfig& sc);

class TrunkPort;
struct TrunkPorts;

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
  std::size_t sessions() const noexcept { return trunk_.size(); }
  std::size_t free_port_pairs() const noexcept { return ports_.free_pairs(); }

  // core::UdpHandler: the browser-side socket.
  void on_datagram(core::Shard& shard, core::UdpId id, const core::SockAddr& peer,
                   std::span<std::byte> payload) override;

 private:
  friend class TrunkPort;  // a session's trunk-side socket handler
  MediaBridge(core::Shard& shard, MediaConfig cfg);

  // Hands one datagram to the relay, then sends what it made.
  void deliver(RelayPort port, const core::SockAddr& peer, std::span<std::byte> payload);
  // Binds the pair at `port` (RTP) and port + 1 (RTCP) for `t`; false if either is taken.
  bool bind_pair(TrunkPorts& t, std::uint16_t port, bool borrowed, const core::UdpOptions& opts);
  // A pair from this shard's slice of the range, else one borrowed from the rest of it.
  bool take_pair(TrunkPorts& t, const core::UdpOptions& opts);
  // Sends the relay's transmits, follows its deadline and queues its events for on_ended.
  void flush();
  void arm_timer();
  void close_pair(TrunkPorts& t);

  core::Shard& shard_;
  MediaConfig cfg_;
  Relay relay_;
  core::UdpId browser_udp_;
  core::SockAddr browser_addr_;     // bound
  core::SockAddr candidate_addr_;   // what LocalMedia::browser_addr says (public_ip)
  PortPool ports_;
  std::uint64_t next_id_ = 1;
  core::TimerHandle timer_;
  std::optional<core::Instant> timer_at_;
  core::TimerHandle end_timer_;
  std::vector<std::pair<SessionId, MediaEnd>> ending_;  // from the relay, not yet reported
  // Each session's own port pair; nullptr in shared mode, where every session uses shared_.
  std::unordered_map<SessionId, std::unique_ptr<TrunkPorts>> trunk_;
  std::unique_ptr<TrunkPorts> shared_;
};

}  // namespace webtrunk::media

// EdgeShard: the glue between one shard's reactor and its CallController (edge/call_controller.hpp). It opens the
// shard's trunk-side UDP socket (--sip-listen, port --sip-port + k), feeds CallController with WebSocket
// messages (from WsFrontDoor's Sink), flow ends, datagrams and the ends of media sessions (the
// shard's MediaBridge on_ended), sends CallController's output through WsFrontDoor::send_text,
// Shard::send_to or a trunk's TCP connection, and keeps one timer on the shard's wheel armed at
// CallController::poll_timeout().
//
// TCP trunks (routes "tcp:HOST:PORT"): one outbound connection per trunk address per shard
// (Shard::connect_tcp), made when the first message goes there and reused by every call of the
// shard; messages queue on it while it connects. RFC 3261 §18.3 framing (sip::StreamFramer);
// requests the trunk sends on it are handled as from the trunk's address, a double-CRLF ping gets a
// CRLF pong (RFC 5626 §4.4.1). A connect that fails (refused, reset, kTrunkConnectTimeout) fails
// every call waiting on it with 503 "trunk unreachable (connection refused)" etc.; the next connect
// waits a backoff (kTrunkBackoffMin doubling to kTrunkBackoffMax; messages meanwhile fail the same
// way at once). A connection that ends after it was up ends the calls it carried
// (CallController::handle_trunk_connection_lost). A connection that received nothing for
// --trunk-crlf-ping gets a CRLFCRLF ping; no CRLF pong within 10 s closes it like a reset
// (edge/crlf_keepalive.hpp, RFC 5626 §4.4.1). Bounds: kMaxTrunkLinks addresses per shard,
// kMaxTrunkOutput bytes queued per connection, sip::kMaxMessageSize per received message (a
// bigger or unframeable one closes the connection); each is counted.
//
// TLS trunks (routes "tls:HOST:PORT"): the same links, made with Shard::connect_tls and the trunk
// client context (set_trunk_tls: --trunk-ca, --trunk-tls-cert/--trunk-tls-key, system CAs), the
// certificate checked against the route's HOST (its name, or its IP address). A link counts as up
// once the handshake is done. A handshake that fails (certificate not trusted, name mismatch, an
// alert such as a client certificate the trunk wanted) fails the waiting calls with 503 "trunk
// unreachable (TLS: ...)" and the same backoff, counted in webtrunk_trunk_tls_failures_total; so
// does an alert that ends a connection before the trunk sent anything (TLS 1.3 servers check a
// client certificate after the client's handshake is done). Each link keeps the session of its
// last connection and resumes it on the next connect (RFC 8446 §2.2).
//
// Lifetimes: lives as long as the shard (owned by run_edge next to the front door); the front door
// must outlive it too. Everything runs on the shard's thread.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "core/log_sampler.hpp"
#include "core/reactor.hpp"
#include "core/tls_context.hpp"
#include "edge/call_controller.hpp"
#include "edge/crlf_keepalive.hpp"
#include "edge/ws_front_door.hpp"
#include "sip/stream_framer.hpp"

namespace webtrunk::edge {

inline const core::Counter kSipSendFailures{"webtrunk_sip_send_failures_total",
                                            "SIP messages that could not be sent (flow gone, no UDP send slot)"};

inline const core::Counter kTrunkTcpConnectFailures{
    "webtrunk_trunk_tcp_connect_failures_total", "connects to TCP trunks that failed (refused, reset, timed out)"};
inline const core::Counter kTrunkTcpLost{"webtrunk_trunk_tcp_lost_total",
                                         "established TCP trunk connections that ended (closed or reset by the trunk)"};
inline const core::Counter kTrunkTcpBadFraming{
    "webtrunk_trunk_tcp_bad_framing_total",
    "TCP trunk connections closed for a message without Content-Length, unparseable or over the size limit"};
inline const core::Counter kTrunkTcpOverflow{
    "webtrunk_trunk_tcp_output_full_total", "SIP messages to a TCP trunk dropped: its connection had too much queued"};
inline const core::Counter kTrunkTlsFailures{
    "webtrunk_trunk_tls_failures_total",
    "TLS trunk connections that failed their handshake (certificate not trusted, name mismatch, alert)"};
inline const core::Counter kTrunkCrlfPings{"webtrunk_trunk_crlf_pings_total",
                                           "CRLF keep-alives sent on idle TCP trunk connections"};
inline const core::Counter kTrunkCrlfDead{"webtrunk_trunk_crlf_pong_timeouts_total",
                                          "TCP trunk connections closed: no CRLF pong within 10 s of a ping"};
inline const core::Gauge kTrunkTcpConnections{"webtrunk_trunk_tcp_connections", "connections to TCP trunks, all shards"};

inline constexpr std::size_t kMaxTrunkLinks = 64;
inline constexpr std::size_t kMaxTrunkOutput = 4 << 20;
inline constexpr core::Duration kTrunkConnectTimeout = std::chrono::seconds(3);
inline constexpr core::Duration kTrunkBackoffMin = std::chrono::milliseconds(250);
inline constexpr core::Duration kTrunkBackoffMax = std::chrono::seconds(30);

class EdgeShard final : public core::UdpHandler, public core::TcpHandler {
 public:
  EdgeShard() = default;

  // Binds the trunk-side UDP socket (port 0: the kernel picks one) and returns the bound address,
  // which the CallController must put in its Via and Contact. Call from the shard's init, then set_core().
  core::Result<core::SockAddr> open(core::Shard& shard, const core::SockAddr& local);
  void set_core(std::unique_ptr<CallController> core) noexcept { core_ = std::move(core); }
  void set_front_door(WsFrontDoor* door) noexcept { door_ = door; }
  // The client context of TLS trunks (shared read-only by every shard); without one a tls: route's
  // calls fail with 503 "trunk unreachable (TLS not configured)".
  void set_trunk_tls(std::shared_ptr<const core::TlsContext> ctx) noexcept { trunk_tls_ = std::move(ctx); }
  // CRLF keep-alives on TCP trunk connections quiet this long (zero: off). Before any connection.
  void set_crlf_ping(core::Duration interval) noexcept { crlf_ping_ = interval; }
  // Arms the timer for what the CallController does by itself (trunk keep-alives). After set_core().
  void start(core::Shard& shard) { flush(shard); }
  // Every shard's EdgeShard, indexed by shard (this one included), for the cross-shard notes of
  // calls from a trunk (edge/shard_note.hpp). The vector must outlive the shards' loops and be
  // filled before any loop runs.
  void set_peers(const std::vector<std::unique_ptr<EdgeShard>>* peers) noexcept { peers_ = peers; }
  // A note from another shard, run on this shard's thread (posted by that shard's flush).
  void on_shard_note(core::Shard& shard, ShardNote note);

  // The front door's Sink calls these.
  void on_ws_message(core::Shard& shard, core::ConnId flow, const core::WsMessage& msg);
  void on_flow_closed(core::Shard& shard, core::ConnId flow);
  // The shard's MediaBridge::on_ended calls this (from its timer, outside any MediaSessions call).
  void on_media_ended(core::Shard& shard, media::SessionId id, media::MediaEnd why);

  void on_datagram(core::Shard& shard, core::UdpId id, const core::SockAddr& peer,
                   std::span<std::byte> payload) override;
  // ICMP port/host unreachable for a datagram to `dest` (IP_RECVERR on the trunk-side socket).
  void on_unreachable(core::Shard& shard, core::UdpId id, const core::SockAddr& dest, int error) override;

  // TCP trunk connections (outbound only: on_accept refuses).
  bool on_accept(core::Shard& shard, core::ConnId id, const core::SockAddr& peer) override;
  void on_connected(core::Shard& shard, core::ConnId id) override;
  void on_data(core::Shard& shard, core::ConnId id, std::span<const std::byte> data) override;
  void on_closed(core::Shard& shard, core::ConnId id, int reason) override;
  void on_tls_failed(core::Shard& shard, core::ConnId id, core::TlsFailure failure, std::string_view reason) override;

  // Graceful drain: ends every live call (CallController::hang_up_all) and sends what that wrote.
  std::size_t hang_up_all(core::Shard& shard);
  // Graceful drain begins: new calls and registrations are refused, the edge's registrations with
  // trunks are removed (CallController::begin_drain, unregister_trunks).
  void begin_drain(core::Shard& shard, std::uint32_t retry_after_s);

  CallController& sip() noexcept { return *core_; }
  // A reloaded routing table (SIGHUP, file watch): new calls use it; keep-alives follow it at once.
  void set_routes(core::Shard& shard, std::shared_ptr<const RouteTable> routes);

 private:
  struct TrunkLink {
    core::SockAddr addr;
    core::ConnId conn;  // generation 0: no connection
    bool connected = false;
    sip::StreamFramer framer;
    core::Duration backoff{};
    core::Instant retry_at{};  // no new connect before this
    int last_error = 0;        // errno of the last failed connect
    std::string last_why;      // its text for the browser's 503 ("" : from last_error)
    bool tls = false;          // a tls: trunk
    bool received = false;     // something came from the trunk on this connection
    std::string tls_failed;    // the TLS failure of this connection ("" if none)
    core::TlsSession session;  // TLS: resumed by the next connection
    CrlfKeepAlive keepalive;
    bool keepalive_failed = false;  // closed for a missing pong (on_closed reports it as a timeout)
    // Made for tcp-fallback calls to a UDP trunk: only their messages use it (others to that
    // address stay on UDP, as their Via says).
    bool fallback = false;
  };
  struct Unreachable {
    core::SockAddr addr;
    int error;
    std::string why;  // for the 503's reason ("": from error)
    bool fallback = false;  // a link for tcp-fallback calls: only they fail
  };

  void flush(core::Shard& shard);
  // Sends to a TCP trunk; a failure to reach it is appended to `failed`.
  bool send_tcp(core::Shard& shard, const core::SockAddr& to, std::string_view bytes, std::vector<Unreachable>& failed);
  bool is_tcp(const core::SockAddr& to) const;
  TrunkLink* link_of(core::ConnId id);
  // Pings quiet links, closes those whose pong is late, and arms keepalive_timer_ at the next deadline.
  void run_keepalives(core::Shard& shard);

  std::unique_ptr<CallController> core_;
  WsFrontDoor* door_ = nullptr;
  const std::vector<std::unique_ptr<EdgeShard>>* peers_ = nullptr;
  core::UdpId udp_;
  core::TimerHandle timer_;
  std::optional<core::Instant> armed_;
  core::Duration crlf_ping_{};
  core::TimerHandle keepalive_timer_;
  std::optional<core::Instant> keepalive_armed_;
  core::LogSampler log_sampler_;  // send failures: one line per destination per interval
  std::vector<std::unique_ptr<TrunkLink>> links_;  // TCP and TLS trunks, at most kMaxTrunkLinks
  std::shared_ptr<const core::TlsContext> trunk_tls_;
};

}  // namespace webtrunk::edge

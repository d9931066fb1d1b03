// WsFrontDoor: one per shard. Accepts TCP connections on the shard's WebSocket listeners, runs a
// core::WsConnection on each, answers /healthz and /metrics on the same port, and hands every
// complete WebSocket message to the SIP layer through a MessageSink.
//
// It is where the port's limits (README "Limits", EdgeLimits) are enforced:
// - admission (core::AdmissionControl): connections per shard and per source, connection and
//   unauthenticated-request rates with a ban; a refused connection is closed right after accept;
// - per connection: the WsConnection's bounds (message, frame, send queue counted with the
//   socket's backlog, partial-message deadline, pings and idle timeout); a connection the edge
//   closes is aborted if the peer has not finished the close handshake (or read its output) within
//   --ws-close-timeout;
// - per shard: the sum of what peers can grow (buffers and send queues) under
//   --max-memory-per-shard, past which the growing connection is closed with 1013.
// Refusals and closes are counted in metrics and logged at most once per source per interval.
//
// Lifetimes: the front door must outlive its listeners and connections (it lives as long as the
// shard). The text handed to the sink is valid only during the call.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "core/admission_control.hpp"
#include "core/log_sampler.hpp"
#include "core/metrics.hpp"
#include "core/reactor.hpp"
#include "core/tls_context.hpp"
#include "core/ws_connection.hpp"
#include "edge/edge_config.hpp"

namespace webtrunk::edge {

inline const core::Gauge kTcpConnections{"webtrunk_tcp_connections", "TCP connections open on the WebSocket port"};
inline const core::Gauge kWsConnections{"webtrunk_ws_connections", "WebSocket connections open (upgraded)"};
inline const core::Counter kWsAcceptedTotal{"webtrunk_ws_accepted_total", "TCP connections accepted"};
inline const core::Counter kWsTimeoutsTotal{"webtrunk_ws_timeouts_total",
                                            "connections dropped: no upgrade in time, or close handshake unanswered"};
inline const core::Counter kHttpRequestsTotal{"webtrunk_http_requests_total", "plain HTTP requests answered"};
inline const core::Counter kWsRefusedShardFullTotal{"webtrunk_ws_refused_shard_full_total",
                                                    "connections refused: --max-connections open on the shard"};
inline const core::Counter kWsRefusedAddressFullTotal{
    "webtrunk_ws_refused_address_full_total", "connections refused: --max-connections-per-address open from the source"};
inline const core::Counter kWsRefusedRateTotal{
    "webtrunk_ws_refused_rate_total", "connections refused: over --max-new-connections-per-address (source banned)"};
inline const core::Counter kWsRefusedBannedTotal{"webtrunk_ws_refused_banned_total",
                                                 "connections refused: the source is banned (--ban-time)"};
inline const core::Counter kWsRefusedMemoryTotal{"webtrunk_ws_refused_memory_total",
                                                 "connections refused: the shard is over --max-memory-per-shard"};
inline const core::Counter kWsClosedRequestRateTotal{
    "webtrunk_ws_closed_request_rate_total",
    "WebSocket connections closed 1008: over --max-unauth-requests-per-address (source banned)"};
inline const core::Counter kWsClosedMemoryTotal{
    "webtrunk_ws_closed_memory_total", "WebSocket connections closed 1013: the shard is over --max-memory-per-shard"};
inline const core::Gauge kWsBufferedBytes{"webtrunk_ws_buffered_bytes",
                                          "bytes held for WebSocket peers: buffers and send queues"};

class WsFrontDoor final : public core::TcpHandler {
 public:
  // The SIP layer (written by the signalling issue) gets each whole message and each flow's end.
  struct Sink {
    std::function<void(core::Shard&, core::ConnId, const core::WsMessage&)> on_message;
    std::function<void(core::Shard&, core::ConnId)> on_flow_closed;
  };

  WsFrontDoor(const EdgeConfig& config, Sink sink);

  // `tls` set: a wss:// (and https://) port with that context.
  core::Result<void> listen(core::Shard& shard, const core::SockAddr& addr,
                            std::shared_ptr<const core::TlsContext> tls = nullptr);
  // New TLS handshakes on this shard's wss ports use `tls` (a reload); established connections keep theirs.
  void set_tls(core::Shard& shard, std::shared_ptr<const core::TlsContext> tls);

  // Sends one text message on an open WebSocket (a SIP message from the edge). False if gone, or
  // if the peer's send queue is full (the connection is then being closed with 1008).
  bool send_text(core::Shard& shard, core::ConnId id, std::string_view text);
  // Starts the close handshake; the socket is dropped if the peer does not answer in time.
  void close(core::Shard& shard, core::ConnId id, std::uint16_t code, std::string_view reason);

  // The SIP layer calls this for each request on a flow it has not marked trusted. False: the
  // source is over --max-unauth-requests-per-address, the connection is being closed (1008) and
  // the request must be dropped.
  [[nodiscard]] bool admit_request(core::Shard& shard, core::ConnId id);
  // The flow authenticated (registered): its requests no longer count against the rate.
  void mark_trusted(core::ConnId id) noexcept;
  bool trusted(core::ConnId id) noexcept;

  bool on_accept(core::Shard& shard, core::ConnId id, const core::SockAddr& peer) override;
  void on_data(core::Shard& shard, core::ConnId id, std::span<const std::byte> data) override;
  void on_closed(core::Shard& shard, core::ConnId id, int reason) override;

  // Graceful drain (README "Shutdown and restarts"): from now on /healthz answers 503 "draining"
  // and WebSocket upgrades 503 with Retry-After, so a load balancer takes the node out while the
  // connections already open carry on.
  void set_draining() noexcept { draining_ = true; }
  // The end of a drain: the listeners close and every connection gets a 1001 (going away) close.
  void shut_down(core::Shard& shard);

  std::size_t open_connections() const noexcept { return open_; }
  std::size_t buffered_bytes() const noexcept { return buffered_; }

 private:
  struct Entry {
    core::ConnId id;
    core::WsConnection ws;
    std::uint64_t source = 0;     // core::address_key of the peer
    std::size_t accounted = 0;    // this connection's share of buffered_
    core::TimerHandle timer;      // upgrade deadline, then the WebSocket's, then the close deadline
    std::optional<core::Instant> timer_at;  // when `timer` fires, while it is the WebSocket's deadline
    bool upgraded = false;
    bool closing = false;  // the close deadline is armed
    bool trusted = false;
  };

  Entry* find(core::ConnId id) noexcept;
  void drain(core::Shard& shard, Entry& e);
  void flush(core::Shard& shard, Entry& e);
  void account(core::Shard& shard, Entry& e);
  void answer_http(core::Shard& shard, Entry& e, const core::WsHttpRequest& req);
  void arm_abort(core::Shard& shard, Entry& e, core::Duration after);
  void arm_deadline(core::Shard& shard, Entry& e);

  const EdgeConfig& config_;
  core::WsConfig ws_config_;
  Sink sink_;
  core::AdmissionControl admission_;
  core::LogSampler log_sampler_;
  std::vector<std::optional<Entry>> conns_;  // by ConnId::index
  std::size_t open_ = 0;
  std::size_t buffered_ = 0;  // sum of Entry::accounted
  std::vector<core::ListenerId> listeners_;
  bool draining_ = false;
  std::vector<core::ListenerId> tls_listeners_;
};

}  // namespace webtrunk::edge

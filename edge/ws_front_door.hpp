// WsFrontDoor: one per shard. Accepts TCP connections on the shard's WebSocket listeners, runs a
// core::WsConnection on each, answers /healthz and /metrics on the same port, and hands every
// complete WebSocket message to the SIP layer through a MessageSink.
//
// Lifetimes: the front door must outlive its listeners and connections (it lives as long as the
// shard). The text handed to the sink is valid only during the call.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "core/metrics.hpp"
#include "core/reactor.hpp"
#include "core/ws_connection.hpp"
#include "edge/edge_config.hpp"

namespace webtrunk::edge {

inline const core::Gauge kTcpConnections{"webtrunk_tcp_connections", "TCP connections open on the WebSocket port"};
inline const core::Gauge kWsConnections{"webtrunk_ws_connections", "WebSocket connections open (upgraded)"};
inline const core::Counter kWsAcceptedTotal{"webtrunk_ws_accepted_total", "TCP connections accepted"};
inline const core::Counter kWsTimeoutsTotal{"webtrunk_ws_timeouts_total",
                                            "connections dropped: no upgrade in time, or close handshake unanswered"};
inline const core::Counter kHttpRequestsTotal{"webtrunk_http_requests_total", "plain HTTP requests answered"};

class WsFrontDoor final : public core::TcpHandler {
 public:
  // The SIP layer (written by the signalling issue) gets each whole message and each flow's end.
  struct Sink {
    std::function<void(core::Shard&, core::ConnId, const core::WsMessage&)> on_message;
    std::function<void(core::Shard&, core::ConnId)> on_flow_closed;
  };

  WsFrontDoor(const EdgeConfig& config, Sink sink);

  core::Result<void> listen(core::Shard& shard, const core::SockAddr& addr);

  // Sends one text message on an open WebSocket (a SIP message from the edge). False if gone.
  bool send_text(core::Shard& shard, core::ConnId id, std::string_view text);
  // Starts the close handshake; the socket is dropped if the peer does not answer in time.
  void close(core::Shard& shard, core::ConnId id, std::uint16_t code, std::string_view reason);

  bool on_accept(core::Shard& shard, core::ConnId id, const core::SockAddr& peer) override;
  void on_data(core::Shard& shard, core::ConnId id, std::span<const std::byte> data) override;
  void on_closed(core::Shard& shard, core::ConnId id, int reason) override;

  std::size_t open_connections() const noexcept { return open_; }

 private:
  struct Entry {
    core::ConnId id;
    core::WsConnection ws;
    core::TimerHandle timer;  // upgrade deadline, then (if we close) the close-handshake deadline
    bool upgraded = false;
  };

  Entry* find(core::ConnId id) noexcept;
  void drain(core::Shard& shard, Entry& e);
  void flush(core::Shard& shard, Entry& e);
  void answer_http(core::Shard& shard, Entry& e, const core::WsHttpRequest& req);
  void arm_timer(core::Shard& shard, Entry& e, core::Duration after);

  const EdgeConfig& config_;
  core::WsConfig ws_config_;
  Sink sink_;
  std::vector<std::optional<Entry>> conns_;  // by ConnId::index
  std::size_t open_ = 0;
};

}  // namespace webtrunk::edge

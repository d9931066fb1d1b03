#include "edge/ws_front_door.hpp"

#include <algorithm>
#include <array>

#include "core/log.hpp"

namespace webtrunk::edge {
namespace {
// A client that has not finished its upgrade by then is dropped (slow-loris guard).
constexpr core::Duration kUpgradeDeadline = std::chrono::seconds(10);
}  // namespace

WsFrontDoor::WsFrontDoor(const EdgeConfig& config, Sink sink) : config_(config), sink_(std::move(sink)) {
  ws_config_.limits.max_head_bytes = config.max_head_bytes;
  ws_config_.limits.max_frame_bytes = config.max_message_bytes;
  ws_config_.limits.max_message_bytes = config.max_message_bytes;
  if (!config.allowed_origins.empty()) {
    ws_config_.origin_policy = [this](const core::WsUpgradeRequest& req) {
      const auto& allowed = config_.allowed_origins;
      return std::find(allowed.begin(), allowed.end(), req.origin) != allowed.end();
    };
  }
}

core::Result<void> WsFrontDoor::listen(core::Shard& shard, const core::SockAddr& addr) {
  auto l = shard.listen_tcp(addr, *this);
  if (!l) return l.error();
  return {};
}

WsFrontDoor::Entry* WsFrontDoor::find(core::ConnId id) noexcept {
  if (id.index >= conns_.size() || !conns_[id.index] || !(conns_[id.index]->id == id)) return nullptr;
  return &*conns_[id.index];
}

bool WsFrontDoor::on_accept(core::Shard& shard, core::ConnId id, const core::SockAddr& peer) {
  if (id.index >= conns_.size()) conns_.resize(std::max<std::size_t>(id.index + 1, conns_.size() * 2));
  conns_[id.index].emplace(Entry{id, core::WsConnection(ws_config_), {}});
  ++open_;
  kTcpConnections.inc();
  kWsAcceptedTotal.inc();
  arm_timer(shard, *conns_[id.index], kUpgradeDeadline);
  core::log(core::LogLevel::debug, "ws.accept", "conn={} peer={}", id.index, peer.to_string());
  return true;
}

void WsFrontDoor::arm_timer(core::Shard& shard, Entry& e, core::Duration after) {
  shard.cancel_timer(e.timer);
  core::ConnId id = e.id;
  e.timer = shard.add_timer(after, [this, &shard, id] {
    if (Entry* x = find(id)) {
      x->timer = {};
      kWsTimeoutsTotal.inc();
      core::log(core::LogLevel::info, "ws.timeout", "conn={} dropped: {}", id.index,
                x->ws.is_open() ? "close handshake unanswered" : "no WebSocket upgrade in time");
      shard.abort(id);
    }
  });
}

void WsFrontDoor::on_data(core::Shard& shard, core::ConnId id, std::span<const std::byte> data) {
  Entry* e = find(id);
  if (e == nullptr) return;
  // The view is the shard's provided receive buffer, writable and ours for this call: the
  // WebSocket codec unmasks payloads in place there (RFC 6455 §5.3) instead of copying them.
  std::span<std::byte> writable(const_cast<std::byte*>(data.data()), data.size());
  e->ws.handle_bytes(shard.now(), writable);
  drain(shard, *e);
}

void WsFrontDoor::drain(core::Shard& shard, Entry& e) {
  core::ConnId id = e.id;
  while (auto ev = e.ws.poll_event()) {
    if (auto* m = std::get_if<core::WsMessage>(&*ev)) {
      if (sink_.on_message) sink_.on_message(shard, id, *m);
      if (find(id) == nullptr) return;  // the sink closed it
    } else if (auto* u = std::get_if<core::WsUpgraded>(&*ev)) {
      shard.cancel_timer(e.timer);
      e.timer = {};
      e.upgraded = true;
      kWsConnections.inc();
      core::log(core::LogLevel::debug, "ws.upgraded", "conn={} path={} origin={}", id.index, u->path, u->origin);
    } else if (auto* h = std::get_if<core::WsHttpRequest>(&*ev)) {
      answer_http(shard, e, *h);
    } else if (auto* r = std::get_if<core::WsRejected>(&*ev)) {
      core::log(core::LogLevel::info, "ws.rejected", "conn={} status={} why={}", id.index, r->status, r->why);
    } else if (auto* c = std::get_if<core::WsClosed>(&*ev)) {
      core::log(core::LogLevel::debug, "ws.closed", "conn={} code={} remote={} reason={}", id.index, c->code,
                c->remote, c->reason);
    }
  }
  flush(shard, e);
}

void WsFrontDoor::flush(core::Shard& shard, Entry& e) {
  auto out = e.ws.pending_output();
  if (!out.empty()) {
    shard.send(e.id, out);
    e.ws.consume_output(out.size());
  }
  if (e.ws.wants_close()) shard.close(e.id);
}

void WsFrontDoor::answer_http(core::Shard& shard, Entry& e, const core::WsHttpRequest& req) {
  (void)shard;
  kHttpRequestsTotal.inc();
  std::string_view path = req.target.substr(0, req.target.find('?'));
  bool ok = true;
  if (req.method != "GET" && req.method != "HEAD") {
    std::array<core::HttpHeader, 1> h{{{"Allow", "GET, HEAD"}}};
    ok = e.ws.send_http_response(405, h, "only GET and HEAD are served here\n");
  } else if (path == "/healthz") {
    std::array<core::HttpHeader, 1> h{{{"Content-Type", "text/plain"}}};
    ok = e.ws.send_http_response(200, h, "ok\n");
  } else if (path == "/metrics") {
    std::array<core::HttpHeader, 1> h{{{"Content-Type", "text/plain; version=0.0.4"}}};
    ok = e.ws.send_http_response(200, h, core::render_metrics());
  } else {
    std::array<core::HttpHeader, 1> h{{{"Content-Type", "text/plain"}}};
    ok = e.ws.send_http_response(404, h,
                                 "not found: this port serves WebSocket (subprotocol sip), /healthz and /metrics\n");
  }
  if (!ok) core::log(core::LogLevel::warn, "http.answer_failed", "conn={} target={}", e.id.index, req.target);
}

bool WsFrontDoor::send_text(core::Shard& shard, core::ConnId id, std::string_view text) {
  Entry* e = find(id);
  if (e == nullptr || !e->ws.send_text(text)) return false;
  flush(shard, *e);
  return true;
}

void WsFrontDoor::close(core::Shard& shard, core::ConnId id, std::uint16_t code, std::string_view reason) {
  Entry* e = find(id);
  if (e == nullptr) return;
  e->ws.close(code, reason);
  flush(shard, *e);
  if (find(id) != nullptr && !e->ws.wants_close()) {
    arm_timer(shard, *e, std::chrono::milliseconds(config_.ws_close_timeout_ms));
  }
}

void WsFrontDoor::on_closed(core::Shard& shard, core::ConnId id, int reason) {
  Entry* e = find(id);
  if (e == nullptr) return;
  shard.cancel_timer(e->timer);
  bool was_open = e->upgraded;
  conns_[id.index].reset();
  --open_;
  kTcpConnections.dec();
  if (was_open) kWsConnections.dec();
  core::log(core::LogLevel::debug, "ws.gone", "conn={} reason={}", id.index, reason);
  if (was_open && sink_.on_flow_closed) sink_.on_flow_closed(shard, id);
}

}  // namespace webtrunk::edge

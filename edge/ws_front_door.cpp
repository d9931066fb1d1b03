#include "edge/ws_front_door.hpp"

#include <algorithm>
#include <array>

#include "core/log.hpp"

namespace webtrunk::edge {
namespace {
// A client that has not finished its upgrade by then is dropped (slow-loris guard).
constexpr core::Duration kUpgradeDeadline = std::chrono::seconds(10);

const core::Counter& refusal_counter(core::Admit a) noexcept {
  switch (a) {
    case core::Admit::shard_full: return kWsRefusedShardFullTotal;
    case core::Admit::address_full: return kWsRefusedAddressFullTotal;
    case core::Admit::rate: return kWsRefusedRateTotal;
    case core::Admit::ok:
    case core::Admit::banned: break;
  }
  return kWsRefusedBannedTotal;
}
}  // namespace

WsFrontDoor::WsFrontDoor(const EdgeConfig& config, Sink sink)
    : config_(config),
      sink_(std::move(sink)),
      admission_(config.limits.admission),
      log_sampler_(config.limits.log_sample_interval) {
  ws_config_.limits.max_head_bytes = config.max_head_bytes;
  ws_config_.limits.max_frame_bytes = config.max_message_bytes;
  ws_config_.limits.max_message_bytes = config.max_message_bytes;
  ws_config_.limits.max_output_bytes = config.limits.max_send_queue;
  ws_config_.limits.partial_timeout = config.limits.partial_timeout;
  ws_config_.limits.ping_interval = config.limits.ping_interval;
  ws_config_.limits.idle_timeout = config.limits.idle_timeout;
  if (!config.allowed_origins.empty()) {
    ws_config_.origin_policy = [this](const core::WsUpgradeRequest& req) {
      const auto& allowed = config_.allowed_origins;
      return std::find(allowed.begin(), allowed.end(), req.origin) != allowed.end();
    };
  }
  ws_config_.unavailable = [this] { return draining_; };
}

core::Result<void> WsFrontDoor::listen(core::Shard& shard, const core::SockAddr& addr,
                                       std::shared_ptr<const core::TlsContext> tls) {
  const bool is_tls = tls != nullptr;
  auto l = shard.listen_tcp(addr, *this, {}, std::move(tls));
  if (!l) return l.error();
  listeners_.push_back(*l);
  if (is_tls) tls_listeners_.push_back(*l);
  return {};
}

void WsFrontDoor::set_tls(core::Shard& shard, std::shared_ptr<const core::TlsContext> tls) {
  for (const auto id : tls_listeners_) shard.set_listener_tls(id, tls);
}

void WsFrontDoor::shut_down(core::Shard& shard) {
  draining_ = true;
  for (core::ListenerId l : listeners_) shard.close_listener(l);
  listeners_.clear();
  tls_listeners_.clear();
  std::vector<core::ConnId> ids;
  for (const auto& e : conns_) {
    if (e) ids.push_back(e->id);
  }
  for (core::ConnId id : ids) {
    Entry* e = find(id);
    if (e == nullptr) continue;
    if (e->upgraded) {
      close(shard, id, core::kWsCloseGoingAway, "server shutting down");
    } else {
      shard.close(id);  // an HTTP request or an upgrade in progress: nothing to say goodbye to
    }
  }
}

WsFrontDoor::Entry* WsFrontDoor::find(core::ConnId id) noexcept {
  if (id.index >= conns_.size() || !conns_[id.index] || !(conns_[id.index]->id == id)) return nullptr;
  return &*conns_[id.index];
}

bool WsFrontDoor::on_accept(core::Shard& shard, core::ConnId id, const core::SockAddr& peer) {
  const std::uint64_t source = core::address_key(peer);
  if (buffered_ > config_.limits.max_memory_per_shard) {
    kWsRefusedMemoryTotal.inc();
    core::log_sampled(log_sampler_, shard.now(), source, core::LogLevel::warn, "ws.refused",
                      "peer={} why=memory buffered={}", peer.to_string(), buffered_);
    return false;
  }
  const core::Admit verdict = admission_.admit(shard.now(), source);
  if (verdict != core::Admit::ok) {
    refusal_counter(verdict).inc();
    core::log_sampled(log_sampler_, shard.now(), source, core::LogLevel::warn, "ws.refused", "peer={} why={}",
                      peer.to_string(), core::to_string(verdict));
    return false;
  }
  if (id.index >= conns_.size()) conns_.resize(std::max<std::size_t>(id.index + 1, conns_.size() * 2));
  conns_[id.index].emplace(Entry{id, core::WsConnection(ws_config_), source, 0, {}, {}, false, false, false});
  ++open_;
  kTcpConnections.inc();
  kWsAcceptedTotal.inc();
  arm_abort(shard, *conns_[id.index], kUpgradeDeadline);
  conns_[id.index]->closing = false;  // the upgrade deadline, not a close
  core::log(core::LogLevel::debug, "ws.accept", "conn={} peer={}", id.index, peer.to_string());
  return true;
}

void WsFrontDoor::arm_abort(core::Shard& shard, Entry& e, core::Duration after) {
  shard.cancel_timer(e.timer);
  e.timer_at.reset();
  e.closing = true;
  core::ConnId id = e.id;
  e.timer = shard.add_timer(after, [this, &shard, id] {
    if (Entry* x = find(id)) {
      x->timer = {};
      kWsTimeoutsTotal.inc();
      core::log_sampled(log_sampler_, shard.now(), x->source, core::LogLevel::info, "ws.timeout", "conn={} dropped: {}",
                        id.index, x->upgraded ? "close handshake unanswered" : "no WebSocket upgrade in time");
      shard.abort(id);
    }
  });
}

// The WebSocket's next deadline (partial message, ping, idle) on the shard's wheel. A wake-up that
// is armed earlier than needed is kept: handle_timeout() then finds nothing due and the next one
// is armed, so data arriving costs no timer work.
void WsFrontDoor::arm_deadline(core::Shard& shard, Entry& e) {
  if (e.closing || !e.upgraded) return;
  const std::optional<core::Instant> next = e.ws.poll_timeout();
  if (!next || (e.timer_at && *e.timer_at <= *next)) return;
  shard.cancel_timer(e.timer);
  e.timer_at = *next;
  core::ConnId id = e.id;
  const core::Instant now = shard.now();
  e.timer = shard.add_timer(*next > now ? *next - now : core::Duration::zero(), [this, &shard, id] {
    Entry* x = find(id);
    if (x == nullptr) return;
    x->timer = {};
    x->timer_at.reset();
    x->ws.set_transport_backlog(shard.output_queued(id));
    x->ws.handle_timeout(shard.now());
    drain(shard, *x);
  });
}

void WsFrontDoor::on_data(core::Shard& shard, core::ConnId id, std::span<const std::byte> data) {
  Entry* e = find(id);
  if (e == nullptr) return;
  // The view is the shard's provided receive buffer, writable and ours for this call: the
  // WebSocket codec unmasks payloads in place there (RFC 6455 §5.3) instead of copying them.
  std::span<std::byte> writable(const_cast<std::byte*>(data.data()), data.size());
  e->ws.set_transport_backlog(shard.output_queued(id));
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
      e.closing = false;
      e.upgraded = true;
      kWsConnections.inc();
      core::log(core::LogLevel::debug, "ws.upgraded", "conn={} path={} origin={}", id.index, u->path, u->origin);
    } else if (auto* h = std::get_if<core::WsHttpRequest>(&*ev)) {
      answer_http(shard, e, *h);
    } else if (auto* r = std::get_if<core::WsRejected>(&*ev)) {
      core::log_sampled(log_sampler_, shard.now(), e.source, core::LogLevel::info, "ws.rejected",
                        "conn={} status={} why={}", id.index, r->status, r->why);
    } else if (auto* c = std::get_if<core::WsClosed>(&*ev)) {
      if (c->remote) {
        core::log(core::LogLevel::debug, "ws.closed", "conn={} code={} remote=true reason={}", id.index, c->code,
                  c->reason);
      } else {
        core::log_sampled(log_sampler_, shard.now(), e.source, core::LogLevel::info, "ws.closed",
                          "conn={} code={} reason={}", id.index, c->code, c->reason);
      }
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
  if (e.ws.wants_close()) {
    shard.close(e.id);
    // A peer that does not read never lets the close finish: drop it after the close timeout.
    if (!e.closing && shard.output_queued(e.id) > 0) {
      arm_abort(shard, e, config_.limits.close_timeout);
    }
  }
  account(shard, e);
  arm_deadline(shard, e);
}

// Keeps buffered_ up to date with this connection's share, and enforces the shard's ceiling on
// the connection that grows past it. A share is refreshed at each event on the connection (and at
// least every --ws-ping-interval), so a send queue that drained meanwhile is counted until then:
// the sum errs on the high side.
void WsFrontDoor::account(core::Shard& shard, Entry& e) {
  const std::size_t now_bytes = e.ws.heap_bytes() + shard.output_queued(e.id);
  const bool grew = now_bytes > e.accounted;
  buffered_ = buffered_ - e.accounted + now_bytes;
  kWsBufferedBytes.add(static_cast<std::int64_t>(now_bytes) - static_cast<std::int64_t>(e.accounted));
  e.accounted = now_bytes;
  if (grew && buffered_ > config_.limits.max_memory_per_shard && e.ws.is_open()) {
    kWsClosedMemoryTotal.inc();
    core::log_sampled(log_sampler_, shard.now(), e.source, core::LogLevel::warn, "ws.closed",
                      "conn={} code=1013 reason=memory buffered={}", e.id.index, buffered_);
    close(shard, e.id, core::kWsCloseTryAgainLater, "server busy: try again later");
  }
}

void WsFrontDoor::answer_http(core::Shard& shard, Entry& e, const core::WsHttpRequest& req) {
  (void)shard;
  kHttpRequestsTotal.inc();
  std::string_view path = req.target.substr(0, req.target.find('?'));
  bool ok = true;
  // With --admin-listen the counters are not for whoever reaches the browser port.
  const bool admin_here = config_.admin_listen.empty();
  if (req.method != "GET" && req.method != "HEAD") {
    std::array<core::HttpHeader, 1> h{{{"Allow", "GET, HEAD"}}};
    ok = e.ws.send_http_response(405, h, "only GET and HEAD are served here\n");
  } else if (!admin_here) {
    std::array<core::HttpHeader, 1> h{{{"Content-Type", "text/plain"}}};
    ok = e.ws.send_http_response(404, h, "not found: this port serves WebSocket (subprotocol sip)\n");
  } else if (path == "/healthz") {
    std::array<core::HttpHeader, 1> h{{{"Content-Type", "text/plain"}}};
    ok = draining_ ? e.ws.send_http_response(503, h, "draining\n") : e.ws.send_http_response(200, h, "ok\n");
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
  if (e == nullptr) return false;
  e->ws.set_transport_backlog(shard.output_queued(id));
  const bool sent = e->ws.send_text(text);
  if (!sent && e->ws.wants_close() && !e->closing) {
    // The send queue is full: the connection was failed with 1008 (counted there). Events are not
    // polled here (this may run inside the sink, during drain), so the line is written here.
    core::log_sampled(log_sampler_, shard.now(), e->source, core::LogLevel::info, "ws.closed",
                      "conn={} code=1008 reason=send queue full queued={}", id.index, shard.output_queued(id));
  }
  flush(shard, *e);
  return sent;
}

void WsFrontDoor::close(core::Shard& shard, core::ConnId id, std::uint16_t code, std::string_view reason) {
  Entry* e = find(id);
  if (e == nullptr) return;
  e->ws.close(code, reason);
  if (!e->ws.wants_close()) arm_abort(shard, *e, config_.limits.close_timeout);
  flush(shard, *e);
}

bool WsFrontDoor::admit_request(core::Shard& shard, core::ConnId id) {
  Entry* e = find(id);
  if (e == nullptr) return false;
  if (e->trusted) return true;
  if (admission_.unauthenticated_request(shard.now(), e->source)) return true;
  kWsClosedRequestRateTotal.inc();
  core::log_sampled(log_sampler_, shard.now(), e->source, core::LogLevel::warn, "ws.closed",
                    "conn={} code=1008 reason=unauthenticated request rate; source banned", id.index);
  close(shard, id, core::kWsClosePolicy, "too many requests: try again later");
  return false;
}

void WsFrontDoor::mark_trusted(core::ConnId id) noexcept {
  if (Entry* e = find(id)) e->trusted = true;
}

bool WsFrontDoor::trusted(core::ConnId id) noexcept {
  const Entry* e = find(id);
  return e != nullptr && e->trusted;
}

void WsFrontDoor::on_closed(core::Shard& shard, core::ConnId id, int reason) {
  Entry* e = find(id);
  if (e == nullptr) return;
  shard.cancel_timer(e->timer);
  bool was_open = e->upgraded;
  admission_.release(e->source);
  buffered_ -= e->accounted;
  kWsBufferedBytes.add(-static_cast<std::int64_t>(e->accounted));
  conns_[id.index].reset();
  --open_;
  kTcpConnections.dec();
  if (was_open) kWsConnections.dec();
  core::log(core::LogLevel::debug, "ws.gone", "conn={} reason={}", id.index, reason);
  if (was_open && sink_.on_flow_closed) sink_.on_flow_closed(shard, id);
}

}  // namespace webtrunk::edge

#include "edge/edge_shard.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "core/log_sampler.hpp"

namespace webtrunk::edge {

core::Result<core::SockAddr> EdgeShard::open(core::Shard& shard, const core::SockAddr& local) {
  core::UdpOptions opts;
  opts.recv_buffer = 4 << 20;  // bursts of INVITEs and retransmissions
  opts.recv_errors = true;     // a trunk that is not listening answers ICMP port unreachable
  auto id = shard.open_udp(local, *this, opts);
  if (!id) return id.error();
  udp_ = *id;
  return shard.udp_address(udp_);
}

void EdgeShard::on_ws_message(core::Shard& shard, core::ConnId flow, const core::WsMessage& msg) {
  // Until the flow has registered, each message counts against its source's request rate.
  if (door_ != nullptr && !door_->trusted(flow) && !door_->admit_request(shard, flow)) return;
  core_->handle_ws_message(shard.now(), flow, msg.text());
  if (door_ != nullptr && core_->registrar().has_flow(flow)) door_->mark_trusted(flow);
  flush(shard);
}

void EdgeShard::on_flow_closed(core::Shard& shard, core::ConnId flow) {
  core_->handle_flow_closed(shard.now(), flow);
  flush(shard);
}

void EdgeShard::on_media_ended(core::Shard& shard, media::SessionId id, media::MediaEnd why) {
  if (!core_) return;
  core_->handle_media_ended(shard.now(), id, why);
  flush(shard);
}

void EdgeShard::on_datagram(core::Shard& shard, core::UdpId, const core::SockAddr& peer, std::span<std::byte> payload) {
  if (!core_) return;
  core_->handle_trunk_datagram(shard.now(),
                               peer, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
  flush(shard);
}

std::size_t EdgeShard::hang_up_all(core::Shard& shard) {
  const std::size_t n = core_->hang_up_all(shard.now());
  flush(shard);
  return n;
}

void EdgeShard::begin_drain(core::Shard& shard, std::uint32_t retry_after_s) {
  core_->begin_drain(retry_after_s);
  core_->unregister_trunks(shard.now());
  flush(shard);
}

void EdgeShard::on_unreachable(core::Shard& shard, core::UdpId, const core::SockAddr& dest, int error) {
  if (!core_) return;
  core_->handle_trunk_unreachable(shard.now(), dest, error);
  flush(shard);
}

void EdgeShard::set_routes(core::Shard& shard, std::shared_ptr<const RouteTable> routes) {
  if (!core_) return;
  core_->set_routes(std::move(routes));
  flush(shard);
}

void EdgeShard::on_shard_note(core::Shard& shard, ShardNote note) {
  if (!core_) return;
  core_->handle_shard_note(shard.now(), std::move(note));
  flush(shard);
}

namespace {

// For the browser's 503 reason phrase: "trunk unreachable (connection refused)".
std::string_view connect_error_text(int error) {
  switch (error) {
    case ECONNREFUSED: return "connection refused";
    case ETIMEDOUT: return "connect timeout";
    case ECONNRESET: return "connection reset";
    case EHOSTUNREACH: return "host unreachable";
    case ENETUNREACH: return "network unreachable";
    case EMFILE:
    case ENFILE: return "no file descriptors";
    default: return "connect failed";
  }
}

}  // namespace

bool EdgeShard::is_tcp(const core::SockAddr& to) const {
  if (core_->routes().is_tcp_trunk(to)) return true;
  // A route reloaded away while calls still use its connection.
  return std::any_of(links_.begin(), links_.end(),
                     [&](const auto& l) { return l->addr == to && l->conn.generation != 0 && !l->fallback; });
}

EdgeShard::TrunkLink* EdgeShard::link_of(core::ConnId id) {
  for (auto& l : links_) {
    if (l->conn == id) return l.get();
  }
  return nullptr;
}

bool EdgeShard::send_tcp(core::Shard& shard, const core::SockAddr& to, std::string_view bytes,
                         std::vector<Unreachable>& failed) {
  const bool fallback = !core_->routes().is_tcp_trunk(to);  // for tcp-fallback calls to a UDP trunk
  auto it = std::find_if(links_.begin(), links_.end(), [&](const auto& l) { return l->addr == to; });
  if (it == links_.end()) {
    if (links_.size() >= kMaxTrunkLinks) {
      failed.push_back({to, EMFILE, {}, fallback});
      return false;
    }
    links_.push_back(std::make_unique<TrunkLink>());
    links_.back()->addr = to;
    links_.back()->fallback = fallback;
    links_.back()->keepalive = CrlfKeepAlive(crlf_ping_);
    it = std::prev(links_.end());
  }
  TrunkLink& l = **it;
  if (l.conn.generation == 0) {
    if (shard.now() < l.retry_at) {
      failed.push_back({to, l.last_error, l.last_why, fallback});
      return false;
    }
    const TrunkTarget* tls = core_->routes().tls_trunk(to);
    l.tls = tls != nullptr;  // a new connection is made only while a route names the trunk
    if (l.tls && !trunk_tls_) {
      failed.push_back({to, EPROTO, "TLS not configured", fallback});
      return false;
    }
    auto id = l.tls ? shard.connect_tls(to, *this, kTrunkConnectTimeout, trunk_tls_, tls->host, l.session)
                    : shard.connect_tcp(to, *this, kTrunkConnectTimeout);
    if (!id) {
      failed.push_back({to, id.error().code, {}, fallback});
      return false;
    }
    l.conn = *id;
    l.connected = false;
    l.received = false;
    l.tls_failed.clear();
    kTrunkTcpConnections.inc();
  }
  if (shard.output_queued(l.conn) + bytes.size() > kMaxTrunkOutput) {
    kTrunkTcpOverflow.inc();
    return false;
  }
  return shard.send(l.conn, std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
}

bool EdgeShard::on_accept(core::Shard&, core::ConnId, const core::SockAddr&) { return false; }

void EdgeShard::on_connected(core::Shard& shard, core::ConnId id) {
  TrunkLink* l = link_of(id);
  if (l == nullptr) return;
  l->connected = true;
  // TLS: the backoff ends with the trunk's first message, since a TLS 1.3 trunk may still refuse
  // our certificate after the handshake.
  if (!l->tls) {
    l->backoff = {};
    l->retry_at = {};
  }
  l->keepalive.start(shard.now());
  core::log(core::LogLevel::info, "sip.trunk_connected", "shard={} trunk={}:{}", shard.index(), l->tls ? "tls" : "tcp",
            l->addr.to_string());
  run_keepalives(shard);
}

void EdgeShard::on_data(core::Shard& shard, core::ConnId id, std::span<const std::byte> data) {
  TrunkLink* l = link_of(id);
  if (l == nullptr || !core_) return;
  if (l->tls && !l->received) {
    l->session = shard.tls_session(id);  // TLS 1.3 tickets come after the handshake
    l->backoff = {};
    l->retry_at = {};
  }
  l->received = true;
  const bool pong_due = l->keepalive.awaiting_pong();
  l->keepalive.on_received(shard.now());  // any bytes prove the trunk is there, a pong included
  l->framer.feed(data);
  for (;;) {
    const sip::StreamFramer::Next n = l->framer.next();
    if (n.kind == sip::StreamFramer::Kind::none) break;
    if (n.kind == sip::StreamFramer::Kind::pong) continue;
    if (n.kind == sip::StreamFramer::Kind::ping) {
      (void)shard.send(id, std::as_bytes(std::span<const char>("\r\n", 2)));  // RFC 5626 §4.4.1 pong
      continue;
    }
    if (n.kind == sip::StreamFramer::Kind::invalid) {
      kTrunkTcpBadFraming.inc();
      core::log_sampled(log_sampler_, shard.now(), core::address_key(l->addr), core::LogLevel::warn,
                        "sip.trunk_bad_framing", "trunk=tcp:{} reason={}", l->addr.to_string(), n.reason);
      (void)shard.abort(id);
      break;
    }
    core_->handle_trunk_datagram(shard.now(), l->addr, n.message);
  }
  // Bytes move this link's deadline later, and the timer armed for the earlier one finds nothing
  // due and re-arms, so no walk over every link per read; but the answer to a ping can bring the next
  // ping (interval after it) before the pong's deadline (10 s after the ping).
  if (pong_due) run_keepalives(shard);
  flush(shard);
}

void EdgeShard::on_closed(core::Shard& shard, core::ConnId id, int reason) {
  TrunkLink* l = link_of(id);
  if (l == nullptr) return;
  kTrunkTcpConnections.dec();
  // A TLS failure before the trunk said anything is a failed connect too: a TLS 1.3 server that
  // wanted a client certificate refuses it only after our side of the handshake was done.
  const bool was_up = l->connected && (l->tls_failed.empty() || l->received);
  l->conn = {};
  l->connected = false;
  l->framer = sip::StreamFramer{};
  l->keepalive.stop();
  if (l->keepalive_failed) {
    l->keepalive_failed = false;
    reason = -ETIMEDOUT;
  }
  if (!core_) return;
  if (!was_up) {
    const int error = reason == -ECANCELED || reason == 0 ? ECONNRESET : -reason;
    if (l->tls_failed.empty()) kTrunkTcpConnectFailures.inc();
    l->backoff = std::clamp(l->backoff * 2, kTrunkBackoffMin, kTrunkBackoffMax);
    l->retry_at = shard.now() + l->backoff;
    l->last_error = error;
    l->last_why = l->tls_failed.empty() ? std::string(connect_error_text(error)) : "TLS: " + l->tls_failed;
    if (!l->tls_failed.empty()) l->session = nullptr;  // a failed connection's session is not resumable
    core_->handle_trunk_unreachable(shard.now(), l->addr, error, l->last_why, l->fallback);
  } else {
    kTrunkTcpLost.inc();
    core::log(core::LogLevel::info, "sip.trunk_disconnected", "shard={} trunk={}:{} reason={}", shard.index(),
              l->tls ? "tls" : "tcp", l->addr.to_string(),
              !l->tls_failed.empty() ? l->tls_failed : reason == 0 ? "closed" : std::strerror(-reason));
    core_->handle_trunk_connection_lost(shard.now(), l->addr, reason);
  }
  run_keepalives(shard);
  flush(shard);
}

void EdgeShard::on_tls_failed(core::Shard&, core::ConnId id, core::TlsFailure, std::string_view reason) {
  TrunkLink* l = link_of(id);
  if (l == nullptr) return;
  if (!l->received) kTrunkTlsFailures.inc();
  l->tls_failed = std::string(reason);  // the 503's reason, once on_closed follows
}

void EdgeShard::run_keepalives(core::Shard& shard) {
  const core::Instant now = shard.now();
  std::optional<core::Instant> next;
  for (auto& lp : links_) {
    TrunkLink& l = *lp;
    switch (l.keepalive.poll(now)) {
      case CrlfKeepAlive::Action::none: break;
      case CrlfKeepAlive::Action::ping:
        // RFC 5626 §4.4.1: the ping is a double CRLF, the pong one CRLF.
        l.framer.expect_pong();
        kTrunkCrlfPings.inc();
        (void)shard.send(l.conn, std::as_bytes(std::span<const char>("\r\n\r\n", 4)));
        break;
      case CrlfKeepAlive::Action::dead:
        kTrunkCrlfDead.inc();
        core::log(core::LogLevel::warn, "sip.trunk_keepalive_failed", "shard={} trunk={}:{} why=\"no CRLF pong in {} s\"",
                  shard.index(), l.tls ? "tls" : "tcp", l.addr.to_string(),
                  std::chrono::duration_cast<std::chrono::seconds>(CrlfKeepAlive::kPongTimeout).count());
        l.keepalive_failed = true;
        (void)shard.abort(l.conn);  // on_closed ends its calls, as for a reset
        break;
    }
    if (const auto d = l.keepalive.next_deadline(); d && (!next || *d < *next)) next = d;
  }
  if (next == keepalive_armed_) return;
  shard.cancel_timer(keepalive_timer_);
  keepalive_timer_ = {};
  keepalive_armed_ = next;
  if (!next) return;
  const core::Duration after = *next > now ? *next - now : core::Duration::zero();
  keepalive_timer_ = shard.add_timer(after, [this, &shard] {
    keepalive_timer_ = {};
    keepalive_armed_.reset();
    run_keepalives(shard);
    flush(shard);
  });
}

void EdgeShard::flush(core::Shard& shard) {
  // Unreachable TCP trunks fail their calls, which may send more (to browsers): a few rounds at most.
  for (int round = 0; round < 4; ++round) {
    std::vector<Unreachable> failed;
    while (auto t = core_->poll_transmit()) {
      bool ok = false;
      if (t->to == SipTransmit::To::flow) {
        ok = door_ != nullptr && door_->send_text(shard, t->flow, t->bytes);
      } else if (t->transport != sip::Transport::udp || is_tcp(t->addr)) {
        const std::size_t before = failed.size();
        ok = send_tcp(shard, t->addr, t->bytes, failed);
        if (!ok && failed.size() > before) continue;  // reported as unreachable below
      } else {
        ok = shard.send_to(udp_, t->addr, std::as_bytes(std::span<const char>(t->bytes.data(), t->bytes.size())));
      }
      if (!ok) {
        kSipSendFailures.inc();
        core::log_sampled(log_sampler_, shard.now(), t->to == SipTransmit::To::flow ? 0 : core::address_key(t->addr),
                          core::LogLevel::warn, "sip.send_failed", "to={} bytes={}",
                          t->to == SipTransmit::To::flow ? "ws" : t->addr.to_string(), t->bytes.size());
      }
    }
    if (failed.empty()) break;
    // One report per address: every call waiting on it fails at once.
    for (std::size_t i = 0; i < failed.size(); ++i) {
      const auto first = std::find_if(failed.begin(), failed.end(),
                                      [&](const Unreachable& u) { return u.addr == failed[i].addr; });
      if (first != failed.begin() + static_cast<std::ptrdiff_t>(i)) continue;
      core_->handle_trunk_unreachable(shard.now(), failed[i].addr, failed[i].error,
                                      failed[i].why.empty() ? connect_error_text(failed[i].error) : failed[i].why,
                                      failed[i].fallback);
    }
  }
  // Notes for other shards (calls from a trunk forked to their browsers), after what made them.
  while (auto n = core_->poll_shard_note()) {
    EdgeShard* to = peers_ != nullptr && n->to < peers_->size() ? (*peers_)[n->to].get() : nullptr;
    // The task must be copyable (std::function): the note is shared, moved out once it runs.
    auto note = std::make_shared<ShardNote>(std::move(*n));
    if (to == nullptr || !shard.post(note->to, [to, note](core::Shard& sh) { to->on_shard_note(sh, std::move(*note)); })) {
      kShardNotesDropped.inc();
      core::log_sampled(log_sampler_, shard.now(), note->to, core::LogLevel::warn, "sip.shard_note_dropped",
                        "to_shard={} kind={}", note->to, static_cast<int>(note->kind));
    }
  }
  const std::optional<core::Instant> next = core_->poll_timeout();
  if (next == armed_) return;
  shard.cancel_timer(timer_);
  timer_ = {};
  armed_ = next;
  if (!next) return;
  const core::Duration after = *next > shard.now() ? *next - shard.now() : core::Duration::zero();
  timer_ = shard.add_timer(after, [this, &shard] {
    timer_ = {};
    armed_.reset();
    core_->handle_timeout(shard.now());
    flush(shard);
  });
}

}  // namespace webtrunk::edge

// The reactor's TLS connection path: a connection accepted on a TLS listener (or made by
// connect_tls) runs a TlsStream on the shard's thread between the socket and the handler (the
// other half of reactor.cpp's TCP).
#include <cerrno>
#include <variant>

#include "core/reactor.hpp"
#include "core/reactor_internal.hpp"

namespace webtrunk::core {
using namespace reactor_detail;  // NOLINT(google-build-using-namespace): the reactor's own internals

void Shard::set_listener_tls(ListenerId id, std::shared_ptr<const TlsContext> tls) {
  if (id.index >= listeners_.size() || !tls) return;
  Listener& l = listeners_[id.index];
  if (l.tls) l.tls = std::move(tls);
}

bool Shard::is_tls(ConnId id) const {
  const Conn* c = live_conn(id);
  return c != nullptr && c->tls != nullptr;
}

TlsSession Shard::tls_session(ConnId id) const {
  const Conn* c = live_conn(id);
  return c != nullptr && c->tls ? c->tls->stream.session() : nullptr;
}

void Shard::start_tls(Conn& c, const Listener& l) {
  c.tls = std::make_unique<TlsConn>(TlsStream::server(l.tls, now_));
  arm_tls_timer(c);
}

void Shard::arm_tls_timer(Conn& c) {
  TlsConn& t = *c.tls;
  const auto at = t.stream.poll_timeout();
  if (!at) return;
  const ConnId id{c.recv_op.index, c.generation};
  t.timer = timers_.insert(*at, [this, id] {
    Conn* conn = live_conn(id);
    if (conn == nullptr || !conn->tls) return;
    conn->tls->timer = {};
    conn->tls->stream.handle_timeout(now_);
    pump_tls(*conn);
  });
}

void Shard::end_tls(Conn& c) {
  if (!c.tls) return;
  if (c.tls->timer) (void)timers_.cancel(c.tls->timer);
  c.tls.reset();
}

void Shard::deliver(Conn& c, std::span<const std::byte> data) {
  if (!c.tls) {
    c.handler->on_data(*this, ConnId{c.recv_op.index, c.generation}, data);
    return;
  }
  c.tls->stream.handle_bytes(now_, data);
  pump_tls(c);
}

// Hands the stream's events on: decrypted data to the handler, the end of the stream (close_notify,
// failure) to the close path once what TLS wants sent (alert, close_notify) has gone out.
void Shard::pump_tls(Conn& c) {
  TlsConn& t = *c.tls;
  const ConnId id{c.recv_op.index, c.generation};
  while (auto ev = t.stream.poll_event()) {
    if (auto* d = std::get_if<TlsData>(&*ev)) {
      if (!(c.flags & kClosing)) c.handler->on_data(*this, id, d->bytes);
    } else if (std::holds_alternative<TlsHandshakeDone>(*ev)) {
      if (t.timer) (void)timers_.cancel(t.timer);
      t.timer = {};
      if (!t.early.empty()) {
        const std::vector<std::byte> early = std::move(t.early);
        t.early = {};
        if (!tls_send(c, early)) fail_conn(c, -EPROTO);
      }
      if (t.outbound && !(c.flags & kClosing)) c.handler->on_connected(*this, id);
    } else if (const auto* f = std::get_if<TlsFailed>(&*ev)) {
      // Counted (webtrunk_tls_failures_total and the reason's own counter) and logged, rate
      // limited, by the stream.
      if (c.reason == 0) c.reason = -EPROTO;
      c.handler->on_tls_failed(*this, id, f->failure, f->reason);
    }
    // TlsClosed: the peer's close_notify; ours is queued and the connection ends below.
  }
  tls_take_output(c);
  if (t.stream.wants_close() && !(c.flags & kClosing)) {
    c.flags |= kClosing;
    maybe_finish(c);
  }
}

bool Shard::tls_send(Conn& c, std::span<const std::byte> data) {
  TlsStream& s = c.tls->stream;
  if (!s.is_open()) {
    if (s.wants_close()) return false;
    // Handshaking: a handler may greet a peer from on_accept; it goes out once the keys exist.
    c.tls->early.insert(c.tls->early.end(), data.begin(), data.end());
    return true;
  }
  while (!data.empty()) {
    const std::size_t n = s.write(data);
    tls_take_output(c);  // keeps the stream's own output small, so write() keeps taking
    if (n == 0) return false;
    data = data.subspan(n);
  }
  return true;
}

void Shard::tls_take_output(Conn& c) {
  TlsStream& s = c.tls->stream;
  const auto out = s.pending_output();
  if (out.empty()) return;
  if (!(c.flags & kAborting)) {
    c.pending.insert(c.pending.end(), out.begin(), out.end());
    queue_flush(c);
  }
  s.consume_output(out.size());
}

void Shard::tls_close(Conn& c) {
  c.tls->stream.close();  // close_notify (RFC 8446 §6.1), sent before the socket closes
  tls_take_output(c);
}

}  // namespace webtrunk::core

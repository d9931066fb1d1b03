// The reactor's outbound TCP path: connect_tcp() makes a non-blocking socket and connects it with
// IORING_OP_CONNECT; once connected the connection is an ordinary Conn (reactor.cpp's receive,
// send and close paths), reported to its handler like an accepted one. connect_tls() puts a client
// TlsStream on it (reactor_tls.cpp): the ClientHello waits in the send queue for the connect.
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "core/reactor.hpp"
#include "core/reactor_internal.hpp"

namespace webtrunk::core {
using namespace reactor_detail;  // NOLINT(google-build-using-namespace): the reactor's own internals

namespace {
const Counter kConnectFailures{"webtrunk_tcp_connect_failures_total",
                               "Outbound TCP connects that failed (refused, unreachable, timed out)"};
}  // namespace

Result<ConnId> Shard::connect_tcp(const SockAddr& peer, TcpHandler& handler, Duration timeout) {
  const int fd = ::socket(peer.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{errno, "socket() for an outbound connection"};
  (void)sys_setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);  // SIP messages are small
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) {
    (void)sys_close(fd);
    return Error{EBUSY, "no submission queue entry for a connect"};
  }
  Conn& c = alloc_conn();
  c.fd = fd;
  c.handler = &handler;
  c.flags = kLive | kConnecting | kSending;
  c.reason = 0;
  c.out_offset = 0;
  c.connecting = std::make_unique<Connecting>();
  c.connecting->peer = peer;
  const ConnId id{c.recv_op.index, c.generation};
  c.send_op.fn = &Shard::on_connect_cqe;
  io_uring_prep_connect(sqe, fd, c.connecting->peer.data(), c.connecting->peer.size());
  set_op(sqe, &c.send_op);
  c.connecting->timer = add_timer(timeout, [this, id] {
    Conn* conn = live_conn(id);
    if (conn == nullptr || !conn->connecting) return;
    conn->connecting->timer = {};
    kConnectFailures.inc();
    fail_conn(*conn, -ETIMEDOUT);  // cancels the connect; its CQE finishes the release
  });
  ++conn_count_;
  return id;
}

Result<ConnId> Shard::connect_tls(const SockAddr& peer, TcpHandler& handler, Duration timeout,
                                  std::shared_ptr<const TlsContext> tls, std::string_view host, TlsSession resume) {
  auto id = connect_tcp(peer, handler, timeout);
  if (!id) return id;
  Conn& c = *live_conn(*id);
  c.tls = std::make_unique<TlsConn>(TlsStream::client(std::move(tls), now_, host, std::move(resume)));
  c.tls->outbound = true;
  if (c.tls->stream.wants_close()) {  // could not even be set up (logged by the stream)
    fail_conn(c, -EPROTO);
    return id;
  }
  arm_tls_timer(c);
  tls_take_output(c);  // the ClientHello, sent once the connect completes
  return id;
}

void Shard::on_connect_cqe(Shard& s, Op& op, const io_uring_cqe& cqe) {
  Conn& c = s.conns_[op.index];
  c.send_op.fn = &Shard::on_send_cqe;
  c.flags &= static_cast<std::uint16_t>(~(kSending | kConnecting));
  if (c.connecting) {
    if (c.connecting->timer) (void)s.timers_.cancel(c.connecting->timer);
    c.connecting.reset();
  }
  if (cqe.res < 0) {
    if (!(c.flags & kAborting)) kConnectFailures.inc();
    s.fail_conn(c, cqe.res);  // keeps the reason of an earlier abort or deadline
    return;
  }
  if (c.flags & kAborting) {
    s.maybe_finish(c);
    return;
  }
  if (!(c.flags & kClosing)) s.arm_recv(c);
  if (!c.pending.empty()) s.queue_flush(c);
  const ConnId id{op.index, c.generation};
  if (!c.tls) c.handler->on_connected(s, id);  // TLS: once the handshake is done (pump_tls)
  s.maybe_finish(c);  // closed before (or from inside on_connected)
}

}  // namespace webtrunk::core

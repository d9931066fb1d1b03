// bench_sip_load, part 4c (--trunk-transport tcp|tls): the emulated trunk on a stream. A listener on
// 127.0.0.1:0 takes the edge's connections (one per shard per trunk, reused for every call), frames
// what arrives by Content-Length (RFC 3261 §18.3, sip::StreamFramer) and hands each message to the
// TrunkEmulator, whose answers go back on the connection the request came in on (RFC 3261
// §18.2.2). A double-CRLF keep-alive ping gets a CRLF pong (RFC 5626 §4.4.1). With TLS each
// connection is a core::TlsStream in server mode on a certificate given to open() (the tool makes
// one at start, signed by a CA of its own that the edge gets as --trunk-ca).
//
// It owns an epoll set of its own (the listener and the connections); that set's descriptor is what
// the generator's loop waits on, and on_readable() serves whatever is ready in it.
//
// Bounds: at most kMaxConnections connections (one more is closed at once and counted in
// `anomalies`); a connection's unsent answers are bounded by what the edge asked for (the edge
// reads them as fast as it sends requests; a connection holding more than kMaxUnsent bytes is
// closed and counted). A framing error or a failed TLS handshake closes the connection (counted); a
// handshake that stalls is not timed out (the one client is the edge under test, for one run).
//
// Lifetimes: the TrunkEmulator given to the constructor must outlive this object. Sockets and the
// epoll set are closed by the destructor.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/socket.hpp"
#include "core/tls_certificate.hpp"
#include "core/tls_context.hpp"
#include "core/tls_stream.hpp"
#include "sip/stream_framer.hpp"
#include "sip_load_trunk.hpp"

namespace webtrunk::bench {

class TrunkStreamServer {
 public:
  static constexpr std::size_t kMaxConnections = 64;
  static constexpr std::size_t kMaxUnsent = 16 << 20;

  // Odd traffic (refused connections, framing errors, TLS failures, resets): counted, fails no call
  // by itself (the calls on a lost connection fail on their own).
  std::map<std::string, std::uint64_t> anomalies;

  explicit TrunkStreamServer(TrunkEmulator& answers) : answers_(answers), ep_(::epoll_create1(EPOLL_CLOEXEC)) {}
  ~TrunkStreamServer() {
    for (auto& c : conns_) {
      if (c) ::close(c->fd);
    }
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (ep_ >= 0) ::close(ep_);
  }
  TrunkStreamServer(const TrunkStreamServer&) = delete;
  TrunkStreamServer& operator=(const TrunkStreamServer&) = delete;

  // Listens on 127.0.0.1:0. `tls`: the server certificate and key (PEM); null: plain TCP. The
  // TrunkEmulator's Contact is set to this port and transport.
  bool open(const core::TlsPem* tls, std::string& err) {
    if (ep_ < 0) {
      err = fmt::format("trunk epoll: {}", std::strerror(errno));
      return false;
    }
    if (tls != nullptr) {
      core::TlsServerConfig cfg;
      cfg.certs.push_back(core::TlsCertFiles{"trunk.crt", "trunk.key", tls->cert, tls->key});
      cfg.alpn.clear();  // SIP over TLS has no ALPN id
      auto ctx = core::TlsContext::server(cfg);
      if (!ctx) {
        err = "trunk TLS context: " + ctx.error().message;
        return false;
      }
      tls_ = *ctx;
    }
    core::TcpListenOptions lo;
    lo.reuse_port = false;
    auto sock = core::open_tcp_listener(core::SockAddr::ipv4_loopback(0), lo);
    if (!sock) {
      err = "trunk listener: " + sock.error().message;
      return false;
    }
    listen_fd_ = sock->release();
    set_nonblocking(listen_fd_);
    auto local = core::local_address(listen_fd_);
    port_ = local ? local->port() : 0;
    answers_.set_contact(port_, tls_ ? "TLS" : "TCP");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, listen_fd_, &ev);
    return port_ != 0;
  }
  // The epoll set: readable when the listener or a connection has something to do.
  int fd() const noexcept { return ep_; }
  std::uint16_t port() const noexcept { return port_; }
  std::uint64_t connections_accepted() const noexcept { return accepted_; }

  // Serves everything ready now (accepts, reads and answers, sends what waited), without blocking.
  void on_readable() {
    for (int round = 0; round < 16; ++round) {
      const int n = ::epoll_wait(ep_, evs_.data(), static_cast<int>(evs_.size()), 0);
      if (n <= 0) return;
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = evs_[i].data.u64;
        if (tag == kListenerTag) {
          accept_all();
        } else if (tag < conns_.size() && conns_[tag]) {
          serve(static_cast<std::size_t>(tag), evs_[i].events);
        }
      }
      if (static_cast<std::size_t>(n) < evs_.size()) return;
    }
  }

 private:
  static constexpr std::uint64_t kListenerTag = UINT64_MAX;
  static constexpr std::size_t kReadSize = 64 * 1024;

  struct Conn {
    int fd = -1;
    sip::StreamFramer framer;
    std::optional<core::TlsStream> tls;
    std::string out;  // plaintext answers not yet sent (TLS: not yet taken by the stream)
    std::size_t out_pos = 0;
    bool want_out = false;  // EPOLLOUT is in its epoll events
  };

  static void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          ++anomalies[fmt::format("trunk accept: {}", std::strerror(errno))];
        }
        return;
      }
      std::size_t slot = 0;
      while (slot < conns_.size() && conns_[slot]) ++slot;
      if (slot >= kMaxConnections) {
        ++anomalies["trunk connection refused: too many connections"];
        ::close(fd);
        continue;
      }
      if (slot == conns_.size()) conns_.emplace_back();
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      if (tls_) c->tls.emplace(core::TlsStream::server(tls_, core::monotonic_now()));
      conns_[slot] = std::move(c);
      ++accepted_;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u64 = slot;
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    }
  }

  void serve(std::size_t slot, std::uint32_t events) {
    Conn& c = *conns_[slot];
    if ((events & EPOLLIN) != 0) {
      if (!read_all(c)) return close_conn(slot);
    }
    if (!flush(c)) return close_conn(slot);
    if ((events & (EPOLLHUP | EPOLLERR)) != 0 && (events & EPOLLIN) == 0) return close_conn(slot);
    update_events(slot);
  }

  // Reads until the socket would block; false: the connection is over (EOF, error, bad framing).
  bool read_all(Conn& c) {
    for (;;) {
      const ssize_t r = ::recv(c.fd, rbuf_.data(), rbuf_.size(), MSG_DONTWAIT);
      if (r == 0) return false;  // the edge closed it (it does at the end of a run)
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == EINTR) continue;
        ++anomalies[fmt::format("trunk connection: {}", std::strerror(errno))];
        return false;
      }
      const std::int64_t now = mono_ns();
      const std::span<const std::byte> bytes(rbuf_.data(), static_cast<std::size_t>(r));
      if (!c.tls) {
        if (!take(c, bytes, now)) return false;
        continue;
      }
      c.tls->handle_bytes(core::monotonic_now(), bytes);
      while (auto ev = c.tls->poll_event()) {
        if (const auto* d = std::get_if<core::TlsData>(&*ev)) {
          if (!take(c, d->bytes, now)) return false;
        } else if (const auto* f = std::get_if<core::TlsFailed>(&*ev)) {
          ++anomalies[fmt::format("trunk TLS: {} ({})", core::tls_failure_name(f->failure), f->reason)];
          return false;
        } else if (std::holds_alternative<core::TlsClosed>(*ev)) {
          return false;
        }
      }
    }
  }

  // Frames received plaintext and answers every whole message; false on a framing error.
  bool take(Conn& c, std::span<const std::byte> bytes, std::int64_t now) {
    c.framer.feed(bytes);
    for (;;) {
      const sip::StreamFramer::Next next = c.framer.next();
      switch (next.kind) {
        case sip::StreamFramer::Kind::none:
          return true;
        case sip::StreamFramer::Kind::ping:
          c.out += "\r\n";
          break;
        case sip::StreamFramer::Kind::pong:  // the trunk never pings, so never expects a pong
          break;
        case sip::StreamFramer::Kind::invalid:
          ++anomalies[fmt::format("trunk stream framing: {}", next.reason)];
          return false;
        case sip::StreamFramer::Kind::message:
          answers_.answer(next.message, now, 0, scratch_);
          for (const auto& a : scratch_) c.out += a;
          scratch_.clear();
          break;
      }
    }
  }

  // Sends what waits, as far as the socket takes it; false on a send error or too much unsent.
  bool flush(Conn& c) {
    for (;;) {
      bool progress = false;
      if (c.tls) {
        while (c.out_pos < c.out.size()) {
          const std::size_t n = c.tls->write(std::as_bytes(std::span(c.out).subspan(c.out_pos)));
          if (n == 0) break;
          c.out_pos += n;
          progress = true;
        }
        const std::span<const std::byte> wire = c.tls->pending_output();
        if (!wire.empty()) {
          const ssize_t r = send_some(c.fd, wire.data(), wire.size());
          if (r < 0) return false;
          c.tls->consume_output(static_cast<std::size_t>(r));
          progress = progress || r > 0;
        }
      } else if (c.out_pos < c.out.size()) {
        const ssize_t r =
            send_some(c.fd, reinterpret_cast<const std::byte*>(c.out.data()) + c.out_pos, c.out.size() - c.out_pos);
        if (r < 0) return false;
        c.out_pos += static_cast<std::size_t>(r);
        progress = r > 0;
      }
      if (c.out_pos == c.out.size()) {
        c.out.clear();
        c.out_pos = 0;
      }
      if (!progress) break;
    }
    if (c.out.size() - c.out_pos > kMaxUnsent) {
      ++anomalies["trunk connection closed: answers not read"];
      return false;
    }
    return true;
  }

  // Bytes sent (0: the socket is full), or -1 on an error (counted).
  ssize_t send_some(int fd, const std::byte* p, std::size_t n) {
    const ssize_t r = ::send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0) return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    ++anomalies[fmt::format("trunk send: {}", std::strerror(errno))];
    return -1;
  }

  bool unsent(const Conn& c) const {
    return c.out_pos < c.out.size() || (c.tls && !c.tls->pending_output().empty());
  }

  void update_events(std::size_t slot) {
    Conn& c = *conns_[slot];
    const bool want = unsent(c);
    if (want == c.want_out) return;
    c.want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u);
    ev.data.u64 = slot;
    ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void close_conn(std::size_t slot) {
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, conns_[slot]->fd, nullptr);
    ::close(conns_[slot]->fd);
    conns_[slot].reset();
  }

  TrunkEmulator& answers_;
  int ep_ = -1;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::shared_ptr<const core::TlsContext> tls_;
  std::vector<std::unique_ptr<Conn>> conns_;  // by epoll tag; null: a free slot
  std::uint64_t accepted_ = 0;
  std::array<epoll_event, 64> evs_{};
  std::array<std::byte, kReadSize> rbuf_{};
  std::vector<std::string> scratch_;  // the answers to one message
};

}  // namespace webtrunk::bench

// bench_sip_load, part 3: the emulated browsers' transport. WsClients holds N WebSocket client
// connections to the edge (RFC 6455 client side: the upgrade with Sec-WebSocket-Protocol: sip as
// Chrome sends it, masked text frames out, unmasked frames in) on a caller's epoll set, non-blocking.
//
// With enable_tls() the connections are WSS: each does a real TLS handshake (OpenSSL client, TLS 1.2
// or 1.3, no SNI for an IP literal, as browsers) before its upgrade, and resumes the session of the
// previous connection as a browser does with the tickets it got from the same server. The server's
// certificate is not verified (the bench made it; a browser's chain check costs the browser, not
// the edge).
//
// Messages queued with send_text() during a loop turn go out with one send(2) (one SSL_write) per
// connection in flush_dirty(); a tag given with a message is reported to on_written with the monotonic and
// realtime clocks read just before that send(2) (the "INVITE in" stamp of the latency figure).
//
// Lifetimes: the text passed to on_message is valid only during the call (it lies in the receive
// buffer). The callbacks must outlive the WsClients; they may call send_text() but not connect().
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base64.hpp"
#include "core/clock.hpp"
#include "core/websocket_frame.hpp"
#include "sip_load_edge.hpp"

namespace webtrunk::bench {

class WsClients {
 public:
  std::function<void(std::uint32_t client, std::string_view text)> on_message;
  std::function<void(std::uint32_t client, std::string_view why)> on_lost;  // once per client
  std::function<void(std::uint32_t tag, std::int64_t mono, std::int64_t real)> on_written;

  WsClients(int epoll_fd, std::uint64_t seed) : ep_(epoll_fd), rng_(seed) {
    rules_.require_mask = false;  // §5.1: servers never mask
    rules_.max_payload = 1 << 20;
  }
  ~WsClients() {
    close_all();
    if (session_ != nullptr) SSL_SESSION_free(session_);
    if (tls_ != nullptr) SSL_CTX_free(tls_);
  }

  // Connect over TLS (before connect()). False with `err` if OpenSSL cannot set up a client.
  bool enable_tls(std::string& err) {
    tls_ = SSL_CTX_new(TLS_client_method());
    if (tls_ == nullptr) {
      err = "SSL_CTX_new failed";
      return false;
    }
    SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION);
    SSL_CTX_set_verify(tls_, SSL_VERIFY_NONE, nullptr);
    // A write may stop part way on a full socket and be retried from a grown tx buffer.
    SSL_CTX_set_mode(tls_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};  // as Chrome asks for wss
    SSL_CTX_set_alpn_protos(tls_, alpn, sizeof(alpn));
    return true;
  }
  // TLS handshakes made by connect(), and how many of them resumed a session.
  std::uint32_t tls_handshakes() const noexcept { return handshakes_; }
  std::uint32_t tls_resumed() const noexcept { return resumed_; }
  WsClients(const WsClients&) = delete;
  WsClients& operator=(const WsClients&) = delete;

  // Connects and upgrades `n` clients to 127.0.0.1:port, blocking (before any clock runs), then
  // registers each on the epoll set with data.u64 = its index. False with `err` on the first failure.
  bool connect(std::uint32_t n, std::uint16_t port, std::string& err) {
    clients_.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      Client& c = clients_[i];
      c.fd = connect_loopback(port);
      if (c.fd < 0) {
        err = fmt::format("browser {}: connect: {}", i, std::strerror(-c.fd));
        return false;
      }
      const int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // as Chrome
      timeval tv{5, 0};
      ::setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      if (tls_ != nullptr && !handshake(c, i, err)) return false;
      std::array<std::byte, 16> key{};
      for (auto& x : key) x = static_cast<std::byte>(rng_());
      // The capture's upgrade (run-a-jssip-basic.txt), Host and key ours.
      const std::string req = fmt::format(
          "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: Upgrade\r\nPragma: no-cache\r\n"
          "Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
          "Gecko) HeadlessChrome/156.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: http://127.0.0.1:35297\r\n"
          "Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
          "Accept-Language: en-US,en;q=0.9\r\nSec-WebSocket-Key: {}\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Protocol: sip\r\n\r\n",
          port, core::base64_encode(key));
      if (send_some(c, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
        err = fmt::format("browser {}: sending the upgrade failed", i);
        return false;
      }
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t got = recv_some(c, buf, sizeof(buf));
        if (got <= 0) {
          err = fmt::format("browser {}: no upgrade response ({})", i, got == 0 ? "EOF" : std::strerror(errno));
          return false;
        }
        head.append(buf, static_cast<std::size_t>(got));
      }
      if (head.rfind("HTTP/1.1 101", 0) != 0 || head.find("Sec-WebSocket-Protocol: sip") == std::string::npos) {
        err = fmt::format("browser {}: upgrade refused: {}", i, head.substr(0, head.find("\r\n")));
        return false;
      }
      if (c.ssl != nullptr) {  // the ticket came with the 101 at the latest: the next browser resumes
        if (SSL_SESSION* got = SSL_get1_session(c.ssl)) {
          if (session_ != nullptr) SSL_SESSION_free(session_);
          session_ = got;
        }
      }
      c.rx.resize(1 << 16);
      const std::size_t extra = head.size() - (head.find("\r\n\r\n") + 4);
      std::memcpy(c.rx.data(), head.data() + head.size() - extra, extra);  // frames right behind the 101
      c.rx_len = extra;
      ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    }
    return true;
  }

  std::size_t size() const noexcept { return clients_.size(); }
  bool lost(std::uint32_t i) const noexcept { return clients_[i].dead; }

  // Queues one masked text frame; `tag` (if not UINT32_MAX) is reported to on_written at its send.
  void send_text(std::uint32_t i, std::string_view text, std::uint32_t tag = UINT32_MAX) {
    Client& c = clients_[i];
    if (c.dead) return;
    const std::array<std::byte, 4> key{static_cast<std::byte>(rng_()), static_cast<std::byte>(rng_()),
                                       static_cast<std::byte>(rng_()), static_cast<std::byte>(rng_())};
    core::append_client_frame(c.tx, core::WsOpcode::text, std::as_bytes(std::span(text.data(), text.size())), key);
    if (tag != UINT32_MAX) c.tags.push_back(tag);
    mark_dirty(i);
  }

  // Writes what this turn queued: one send(2) per connection (EPOLLOUT when the socket is full).
  void flush_dirty() {
    flushing_.swap(dirty_);  // a callback run by flush() may queue more: that goes to dirty_
    for (std::uint32_t i : flushing_) flush(i);
    flushing_.clear();
  }

  // An epoll event for client `i`.
  void on_event(std::uint32_t i, std::uint32_t events) {
    if (clients_[i].dead) return;
    if ((events & EPOLLOUT) != 0) flush(i);
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) read(i);
  }

  void close_all() {
    for (auto& c : clients_) {
      if (c.ssl != nullptr) SSL_free(c.ssl);
      c.ssl = nullptr;
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
    }
  }

 private:
  struct Client {
    int fd = -1;
    SSL* ssl = nullptr;  // with enable_tls()
    bool dead = false;
    bool dirty = false;
    bool want_out = false;
    std::vector<std::byte> rx;
    std::size_t rx_len = 0;
    std::vector<std::byte> tx;
    std::size_t tx_off = 0;
    std::vector<std::uint32_t> tags;  // messages in tx whose send time is wanted
  };

  // The blocking TLS handshake of a new connection (its socket still blocking, 5 s receive timeout).
  bool handshake(Client& c, std::uint32_t i, std::string& err) {
    c.ssl = SSL_new(tls_);
    if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) {
      err = fmt::format("browser {}: SSL_new failed", i);
      return false;
    }
    if (session_ != nullptr) SSL_set_session(c.ssl, session_);
    if (SSL_connect(c.ssl) != 1) {
      char why[256];
      ERR_error_string_n(ERR_get_error(), why, sizeof(why));
      err = fmt::format("browser {}: TLS handshake failed: {}", i, why);
      return false;
    }
    ++handshakes_;
    if (SSL_session_reused(c.ssl) == 1) ++resumed_;
    return true;
  }

  // send(2) or SSL_write: bytes taken, or -1 with errno (EAGAIN: retry when writable).
  static ssize_t send_some(Client& c, const void* p, std::size_t n) {
    if (c.ssl == nullptr) return ::send(c.fd, p, n, MSG_NOSIGNAL);  // non-blocking once connected
    const int r = SSL_write(c.ssl, p, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
    if (r > 0) return r;
    return ssl_failed(c, r);
  }
  // recv(2) or SSL_read: bytes read, 0 at the end, or -1 with errno (EAGAIN: nothing more now).
  static ssize_t recv_some(Client& c, void* p, std::size_t n) {
    if (c.ssl == nullptr) return ::recv(c.fd, p, n, 0);
    const int r = SSL_read(c.ssl, p, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
    if (r > 0) return r;
    const int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) return 0;
    return ssl_failed(c, r);
  }
  static ssize_t ssl_failed(Client& c, int r) {
    const int e = SSL_get_error(c.ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      errno = EAGAIN;
    } else if (e != SSL_ERROR_SYSCALL) {
      errno = EPROTO;
    }
    return -1;
  }

  void mark_dirty(std::uint32_t i) {
    if (!clients_[i].dirty) {
      clients_[i].dirty = true;
      dirty_.push_back(i);
    }
  }

  void lose(std::uint32_t i, std::string_view why) {
    Client& c = clients_[i];
    if (c.dead) return;
    c.dead = true;
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    if (on_lost) on_lost(i, why);
  }

  void want_out(Client& c, std::uint32_t i, bool on) {
    if (c.want_out == on) return;
    c.want_out = on;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.u64 = i;
    ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void flush(std::uint32_t i) {
    Client& c = clients_[i];
    c.dirty = false;
    if (c.dead || c.tx_off == c.tx.size()) return;
    if (!c.tags.empty()) {
      const std::int64_t mono = mono_ns();
      const std::int64_t real = real_ns();
      for (std::uint32_t t : c.tags) on_written(t, mono, real);
      c.tags.clear();
    }
    while (c.tx_off < c.tx.size()) {
      const ssize_t n = send_some(c, c.tx.data() + c.tx_off, c.tx.size() - c.tx_off);
      if (n > 0) {
        c.tx_off += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return want_out(c, i, true);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return lose(i, fmt::format("send: {}", std::strerror(errno)));
      }
    }
    c.tx.clear();
    c.tx_off = 0;
    want_out(c, i, false);
  }

  void read(std::uint32_t i) {
    Client& c = clients_[i];
    for (;;) {
      if (c.rx.size() - c.rx_len < 16384) c.rx.resize(c.rx.size() * 2);
      const ssize_t n = recv_some(c, c.rx.data() + c.rx_len, c.rx.size() - c.rx_len);
      if (n == 0) return lose(i, "the edge closed the connection");
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return lose(i, fmt::format("recv: {}", std::strerror(errno)));
      }
      c.rx_len += static_cast<std::size_t>(n);
      // Level-triggered: the rest comes with the next event. Not over TLS: what OpenSSL already
      // decrypted makes no event, and SSL_read returns one record at a time; read until EAGAIN.
      if (c.ssl == nullptr && c.rx_len < c.rx.size()) break;
    }
    std::size_t off = 0;
    while (off < c.rx_len && !c.dead) {
      const std::span<const std::byte> avail(c.rx.data() + off, c.rx_len - off);
      core::WsFrameHeader h;
      const auto r = core::parse_frame_header(avail, rules_, h);
      if (r.status == core::ParseStatus::invalid) return lose(i, fmt::format("bad frame from the edge: {}", r.why));
      if (r.status == core::ParseStatus::incomplete || h.frame_size() > avail.size()) break;
      const auto payload = avail.subspan(h.header_size, static_cast<std::size_t>(h.payload_size));
      if (h.opcode == core::WsOpcode::text || h.opcode == core::WsOpcode::binary) {
        on_message(i, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
      } else if (h.opcode == core::WsOpcode::ping) {
        core::append_client_frame(c.tx, core::WsOpcode::pong, payload, {});
        mark_dirty(i);
      } else if (h.opcode == core::WsOpcode::close) {
        return lose(i, "the edge sent a close frame");
      }
      off += static_cast<std::size_t>(h.frame_size());
    }
    if (off > 0 && !c.dead) {
      std::memmove(c.rx.data(), c.rx.data() + off, c.rx_len - off);
      c.rx_len -= off;
    }
  }

  int ep_;
  std::mt19937_64 rng_;
  SSL_CTX* tls_ = nullptr;
  SSL_SESSION* session_ = nullptr;  // the last connection's, for the next one to resume
  std::uint32_t handshakes_ = 0, resumed_ = 0;
  core::WsFrameRules rules_;
  std::vector<Client> clients_;
  std::vector<std::uint32_t> dirty_;
  std::vector<std::uint32_t> flushing_;
};

}  // namespace webtrunk::bench

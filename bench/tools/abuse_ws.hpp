// bench_abuse: the clients' plumbing, shared by the calls (abuse.cpp) and the floods
// (abuse_floods.cpp): random text, loopback addresses, blocking TCP from a chosen source address,
// and a blocking WebSocket client.
// Lifetimes: a Ws owns its socket (closed by its destructor); rng() is one generator per process.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "core/base64.hpp"
#include "core/websocket_frame.hpp"

namespace webtrunk::bench::abuse {

inline std::mt19937_64& rng() {
  static std::mt19937_64 r{std::random_device{}()};
  return r;
}
inline std::string rnd(std::size_t n, std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789") {
  std::string s(n, 'x');
  for (auto& c : s) c = alphabet[rng()() % alphabet.size()];
  return s;
}

inline sockaddr_in loopback(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

// The WebSocket upgrade of a JsSIP page (subprotocol sip), with a fresh key.
inline std::string upgrade_request(std::uint16_t port) {
  std::array<std::byte, 16> key{};
  for (auto& x : key) x = static_cast<std::byte>(rng()());
  return fmt::format(
      "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Origin: http://127.0.0.1\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {}\r\n"
      "Sec-WebSocket-Protocol: sip\r\n\r\n",
      port, core::base64_encode(key));
}

// A blocking TCP connection from `from` to 127.0.0.1:port, or -1.
inline int connect_from(const char* from, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const sockaddr_in local = loopback(from, 0);
  const sockaddr_in remote = loopback("127.0.0.1", port);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0 ||
      ::connect(fd, reinterpret_cast<const sockaddr*>(&remote), sizeof(remote)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// ---------------------------------------------------------------- a blocking WebSocket client

// A TCP connection from `from` (an address on lo) to 127.0.0.1:port, upgraded to WebSocket (sip).
// fd < 0: refused (closed before the 101) or failed.
struct Ws {
  int fd = -1;
  std::string rx;  // bytes received, not yet taken as frames
  bool closed = false;

  ~Ws() { close(); }
  Ws() = default;
  Ws(Ws&& o) noexcept : fd(std::exchange(o.fd, -1)), rx(std::move(o.rx)), closed(o.closed) {}
  Ws& operator=(Ws&&) = delete;
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  void reset() {
    close();
    rx.clear();
    closed = false;
  }

  // Connects and upgrades; false when the edge refused or closed it first.
  bool open(const char* from, std::uint16_t port, int timeout_ms = 2000) {
    fd = connect_from(from, port);
    if (fd < 0) return false;
    const std::string req = upgrade_request(port);
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      close();
      return false;
    }
    while (rx.find("\r\n\r\n") == std::string::npos) {
      if (!read_some(timeout_ms)) {
        close();
        return false;
      }
    }
    const std::size_t end = rx.find("\r\n\r\n") + 4;
    const bool ok = rx.rfind("HTTP/1.1 101", 0) == 0;
    rx.erase(0, end);
    if (!ok) close();
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return ok;
  }

  // Appends what arrives within timeout_ms; false on EOF, error or timeout with nothing.
  bool read_some(int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
      return false;
    }
    rx.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  // Queues one masked frame (blocking until the kernel takes it, or false when the peer is gone).
  bool send_frame(core::WsOpcode op, std::string_view payload, bool fin = true, bool block = true) {
    std::vector<std::byte> out;
    std::array<std::byte, 4> mask{};
    for (auto& x : mask) x = static_cast<std::byte>(rng()());
    core::append_client_frame(out, op, std::as_bytes(std::span(payload.data(), payload.size())), mask, fin);
    for (std::size_t off = 0; off < out.size();) {
      const ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL | (block ? 0 : MSG_DONTWAIT));
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!block) return off > 0 ? (flush_rest(out, off), true) : false;
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 1000) <= 0) return false;
        continue;
      }
      if (n <= 0) {
        closed = true;
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  void flush_rest(const std::vector<std::byte>& out, std::size_t off) {
    while (off < out.size()) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 1000) <= 0) return;
      const ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  // The next text message in rx (server frames are not masked); nullopt if none is whole. A close
  // frame marks the connection closed.
  std::optional<std::string> take_text() {
    for (;;) {
      if (rx.size() < 2) return std::nullopt;
      const auto b0 = static_cast<unsigned char>(rx[0]);
      const auto b1 = static_cast<unsigned char>(rx[1]);
      std::size_t len = b1 & 0x7f;
      std::size_t head = 2;
      if (len == 126) {
        if (rx.size() < 4) return std::nullopt;
        len = (static_cast<unsigned char>(rx[2]) << 8) | static_cast<unsigned char>(rx[3]);
        head = 4;
      } else if (len == 127) {
        if (rx.size() < 10) return std::nullopt;
        len = 0;
        for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(rx[static_cast<std::size_t>(i)]);
        head = 10;
      }
      if (rx.size() < head + len) return std::nullopt;
      std::string payload = rx.substr(head, len);
      rx.erase(0, head + len);
      const unsigned op = b0 & 0x0f;
      if (op == 0x8) closed = true;
      if (op == 0x9) send_frame(core::WsOpcode::pong, payload);
      if (op == 0x1) return payload;
    }
  }

  // Waits for a SIP response whose status passes `want` (others are skipped); nullopt on timeout.
  template <class Pred>
  std::optional<std::string> wait_response(Pred want, int timeout_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      while (auto t = take_text()) {
        if (t->rfind("SIP/2.0 ", 0) == 0 && want(std::atoi(t->c_str() + 8))) return t;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0 || closed) return std::nullopt;
      (void)read_some(static_cast<int>(left.count()));
    }
  }
};

}  // namespace webtrunk::bench::abuse

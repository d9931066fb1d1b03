#include "core/socket.hpp"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace webtrunk::core {

SockAddr::SockAddr() noexcept { std::memset(&u_, 0, sizeof(u_)); }

Result<SockAddr> SockAddr::parse(std::string_view text) {
  auto bad = [&](const char* why) {
    return Error{-EINVAL, fmt::format("bad address '{}': {} (want ADDR:PORT or [V6]:PORT)", text, why)};
  };
  std::string_view host;
  std::string_view port_text;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return bad("missing ']'");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') return bad("missing ':PORT' after ']'");
    port_text = text.substr(close + 2);
    v6 = true;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("missing ':PORT'");
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) return bad("IPv6 addresses need brackets");
    port_text = text.substr(colon + 1);
  }
  if (port_text.empty() || port_text.size() > 5) return bad("port must be 0-65535");
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return bad("port must be 0-65535");
  }
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return bad("missing or overlong host");
  char host_z[INET6_ADDRSTRLEN] = {};
  std::memcpy(host_z, host.data(), host.size());

  SockAddr a;
  if (v6) {
    a.u_.in6.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, host_z, &a.u_.in6.sin6_addr) != 1) return bad("not an IPv6 address");
  } else {
    a.u_.in4.sin_family = AF_INET;
    if (inet_pton(AF_INET, host_z, &a.u_.in4.sin_addr) != 1) return bad("not an IPv4 address");
  }
  a.set_port(static_cast<std::uint16_t>(port));
  return a;
}

SockAddr SockAddr::from_sockaddr(const sockaddr* sa, socklen_t len) noexcept {
  SockAddr a;
  if (sa == nullptr) return a;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    std::memcpy(&a.u_.in4, sa, sizeof(sockaddr_in));
  } else if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    std::memcpy(&a.u_.in6, sa, sizeof(sockaddr_in6));
  }
  return a;
}

SockAddr SockAddr::ipv4_loopback(std::uint16_t port) noexcept {
  SockAddr a;
  a.u_.in4.sin_family = AF_INET;
  a.u_.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.set_port(port);
  return a;
}

std::uint16_t SockAddr::port() const noexcept {
  if (family() == AF_INET) return ntohs(u_.in4.sin_port);
  if (family() == AF_INET6) return ntohs(u_.in6.sin6_port);
  return 0;
}

void SockAddr::set_port(std::uint16_t port) noexcept {
  // sin_port and sin6_port sit at the same offset, but say which one we mean.
  if (family() == AF_INET) u_.in4.sin_port = htons(port);
  if (family() == AF_INET6) u_.in6.sin6_port = htons(port);
}

std::string SockAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &u_.in4.sin_addr, buf, sizeof(buf));
    return fmt::format("{}:{}", buf, port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &u_.in6.sin6_addr, buf, sizeof(buf));
    return fmt::format("[{}]:{}", buf, port());
  }
  return "-";
}

bool operator==(const SockAddr& a, const SockAddr& b) noexcept {
  if (a.family() != b.family()) return false;
  if (a.family() == AF_INET) {
    return a.u_.in4.sin_port == b.u_.in4.sin_port && a.u_.in4.sin_addr.s_addr == b.u_.in4.sin_addr.s_addr;
  }
  if (a.family() == AF_INET6) {
    return a.u_.in6.sin6_port == b.u_.in6.sin6_port && a.u_.in6.sin6_scope_id == b.u_.in6.sin6_scope_id &&
           std::memcmp(&a.u_.in6.sin6_addr, &b.u_.in6.sin6_addr, sizeof(in6_addr)) == 0;
  }
  return true;  // both unset
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

int Fd::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) (void)sys_close(fd_);
  fd_ = fd;
}

int DatagramBatch::send(int fd, unsigned from) noexcept {
  if (from >= n_) return 0;
  int r;
  do {
    r = ::sendmmsg(fd, msgs_.data() + from, n_ - from, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  return r >= 0 ? r : -errno;
}

int sys_close(int fd) noexcept { return ::close(fd) == 0 ? 0 : -errno; }
int sys_shutdown(int fd, int how) noexcept { return ::shutdown(fd, how) == 0 ? 0 : -errno; }
int sys_setsockopt_int(int fd, int level, int name, int value) noexcept {
  return ::setsockopt(fd, level, name, &value, sizeof(value)) == 0 ? 0 : -errno;
}

namespace {

Result<Fd> new_socket(const SockAddr& local, int type) {
  if (!local.is_set()) return Error{-EINVAL, "socket address not set"};
  Fd fd{::socket(local.family(), type | SOCK_CLOEXEC, 0)};
  if (!fd.valid()) return Error::from_errno(-errno, "socket");
  return fd;
}

}  // namespace

Result<Fd> open_tcp_listener(const SockAddr& local, const TcpListenOptions& opts) {
  auto fd = new_socket(local, SOCK_STREAM);
  if (!fd) return fd.error();
  const int s = fd->get();
  if (int r = sys_setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1); r < 0) return Error::from_errno(r, "SO_REUSEADDR");
  if (opts.reuse_port) {
    if (int r = sys_setsockopt_int(s, SOL_SOCKET, SO_REUSEPORT, 1); r < 0) return Error::from_errno(r, "SO_REUSEPORT");
  }
  if (opts.send_buffer > 0) (void)sys_setsockopt_int(s, SOL_SOCKET, SO_SNDBUF, opts.send_buffer);
  if (opts.recv_buffer > 0) (void)sys_setsockopt_int(s, SOL_SOCKET, SO_RCVBUF, opts.recv_buffer);
  if (::bind(s, local.data(), local.size()) != 0) {
    return Error::from_errno(-errno, fmt::format("bind tcp {}", local.to_string()));
  }
  if (::listen(s, opts.backlog) != 0) return Error::from_errno(-errno, fmt::format("listen {}", local.to_string()));
  return fd;
}

Result<Fd> open_udp_socket(const SockAddr& local, const UdpOptions& opts) {
  auto fd = new_socket(local, SOCK_DGRAM);
  if (!fd) return fd.error();
  const int s = fd->get();
  if (opts.reuse_port) {
    if (int r = sys_setsockopt_int(s, SOL_SOCKET, SO_REUSEPORT, 1); r < 0) return Error::from_errno(r, "SO_REUSEPORT");
  }
  // Buffer sizes are capped by net.core.[rw]mem_max; a smaller buffer than asked is not an error.
  if (opts.recv_buffer > 0) (void)sys_setsockopt_int(s, SOL_SOCKET, SO_RCVBUF, opts.recv_buffer);
  if (opts.send_buffer > 0) (void)sys_setsockopt_int(s, SOL_SOCKET, SO_SNDBUF, opts.send_buffer);
  if (opts.recv_errors) {
    const bool v6 = local.data()->sa_family == AF_INET6;
    if (int r = sys_setsockopt_int(s, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVERR : IP_RECVERR, 1); r < 0) {
      return Error::from_errno(r, "IP_RECVERR");
    }
  }
  if (opts.rx_timestamps) {
    if (int r = sys_setsockopt_int(s, SOL_SOCKET, SO_TIMESTAMPNS, 1); r < 0) return Error::from_errno(r, "SO_TIMESTAMPNS");
  }
  if (::bind(s, local.data(), local.size()) != 0) {
    return Error::from_errno(-errno, fmt::format("bind udp {}", local.to_string()));
  }
  if (opts.connect_to.is_set() && ::connect(s, opts.connect_to.data(), opts.connect_to.size()) != 0) {
    return Error::from_errno(-errno, fmt::format("connect udp {}", opts.connect_to.to_string()));
  }
  return fd;
}

bool read_udp_error(int fd, SockAddr& dest, int& error) noexcept {
  sockaddr_in6 name{};
  std::array<char, 64> payload{};  // the start of the datagram that failed: not needed
  alignas(cmsghdr) std::array<char, 256> control{};
  iovec iov{payload.data(), payload.size()};
  msghdr msg{};
  msg.msg_name = &name;
  msg.msg_namelen = sizeof(name);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  if (::recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return false;
  dest = SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&name), msg.msg_namelen);
  error = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    const bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
    const bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
    if (!v4 && !v6) continue;
    sock_extended_err ee{};
    std::memcpy(&ee, CMSG_DATA(c), sizeof(ee));
    error = static_cast<int>(ee.ee_errno);
  }
  return true;
}

Result<SockAddr> local_address(int fd) {
  sockaddr_in6 ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Error::from_errno(-errno, "getsockname");
  return SockAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

Result<SockAddr> peer_address(int fd) {
  sockaddr_in6 ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Error::from_errno(-errno, "getpeername");
  return SockAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace webtrunk::core

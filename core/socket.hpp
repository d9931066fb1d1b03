// Socket addresses ("ADDR:PORT", "[v6]:PORT"), an owning file descriptor, and the few socket
// syscalls the shard needs, wrapped once here. Wrappers return 0/-errno or a Result; they never
// throw and never read errno after returning.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace webtrunk::core {

// An IPv4 or IPv6 socket address held by value (28 bytes): cheap to copy into a send slot or a
// connection. AF_UNSPEC (the default) means "no address".
class SockAddr {
 public:
  SockAddr() noexcept;

  // "192.0.2.1:5060", "[2001:db8::1]:5060", "[::]:0". A bare IPv6 address without brackets is
  // rejected (the port would be ambiguous); so are scope ids, names and out-of-range ports.
  static Result<SockAddr> parse(std::string_view text);
  // Copies a kernel-supplied address; returns AF_UNSPEC for anything but a complete v4/v6 address.
  static SockAddr from_sockaddr(const sockaddr* sa, socklen_t len) noexcept;
  static SockAddr ipv4_loopback(std::uint16_t port) noexcept;

  int family() const noexcept { return u_.sa.sa_family; }
  bool is_set() const noexcept { return family() == AF_INET || family() == AF_INET6; }
  std::uint16_t port() const noexcept;
  void set_port(std::uint16_t port) noexcept;

  const sockaddr* data() const noexcept { return &u_.sa; }
  sockaddr* data() noexcept { return &u_.sa; }
  // The length to pass to bind/connect/sendmsg: exact for the family, 0 when unset.
  socklen_t size() const noexcept {
    return family() == AF_INET ? sizeof(sockaddr_in) : family() == AF_INET6 ? sizeof(sockaddr_in6) : 0;
  }
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_in6); }

  // The inverse of parse(): "192.0.2.1:5060" or "[2001:db8::1]:5060"; "-" when unset.
  std::string to_string() const;

  friend bool operator==(const SockAddr& a, const SockAddr& b) noexcept;

 private:
  union {
    sockaddr sa;
    sockaddr_in in4;
    sockaddr_in6 in6;
  } u_;
};

// Owns one file descriptor; closes it on destruction.
class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept;
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

struct TcpListenOptions {
  int backlog = 1024;
  bool reuse_port = true;  // one listener per shard on the same port; the kernel spreads connections
  // SO_SNDBUF / SO_RCVBUF in bytes, inherited by accepted sockets (caps kernel memory per
  // connection); 0 keeps the kernel's autotuning.
  int send_buffer = 0;
  int recv_buffer = 0;
};

struct UdpOptions {
  bool reuse_port = false;  // off by default: a shard's media port must not be shared by accident
  int recv_buffer = 0;      // SO_RCVBUF in bytes; 0 keeps the system default
  int send_buffer = 0;      // SO_SNDBUF in bytes; 0 keeps the system default
  // If set, the socket is connected: it receives only from this peer (the shard then uses a plain
  // multishot recv, no per-datagram source address) and sends to it skip the route lookup.
  SockAddr connect_to;
  // IP_RECVERR / IPV6_RECVERR: ICMP errors (port unreachable, host unreachable) for datagrams sent
  // to any peer are queued on the socket's error queue (ip(7)); without it an unconnected socket
  // never hears of them. The shard reads that queue (read_udp_error) when a receive fails.
  bool recv_errors = false;
  // Receive into the shard's small-buffer ring (ShardConfig::udp_small_buffers, 2 KiB by default:
  // an RTP packet and its SRTP tag) instead of the main UDP ring sized for SIP. A datagram larger
  // than the buffer is dropped and counted (webtrunk_udp_rx_dropped_total). Without a small ring
  // configured the socket uses the main one.
  bool small_buffers = false;
  // SO_TIMESTAMPNS: the kernel stamps each datagram on arrival, and the shard measures from it to
  // the send of what the handler forwarded or sent while handling it (Shard::udp_delay(): the
  // time a datagram spent inside this process, queueing included). Unconnected sockets only (a
  // connected one uses a plain recv, without control data).
  bool rx_timestamps = false;
};

// One entry of a UDP socket's error queue (MSG_ERRQUEUE, non-blocking): the destination of the
// datagram that drew the ICMP error and its errno (ECONNREFUSED for port unreachable, EHOSTUNREACH,
// ...). False when the queue is empty.
[[nodiscard]] bool read_udp_error(int fd, SockAddr& dest, int& error) noexcept;

// socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen. The socket is blocking: io_uring polls it.
Result<Fd> open_tcp_listener(const SockAddr& local, const TcpListenOptions& opts = {});
// socket + options + bind (+ connect). Blocking, for the same reason.
Result<Fd> open_udp_socket(const SockAddr& local, const UdpOptions& opts = {});

Result<SockAddr> local_address(int fd);
Result<SockAddr> peer_address(int fd);

// Up to kMax datagrams for ONE socket, sent with one sendmmsg(2). The shard collects a turn's
// datagrams per socket and, when a socket has several, sends them this way: one syscall and no
// per-datagram completion, where one io_uring SQE per datagram costs more (bench/RESULTS.md).
// Lifetimes: the data and addresses given to add() must stay valid until send() returns; the kernel
// has copied them by then.
class DatagramBatch {
 public:
  static constexpr unsigned kMax = 64;
  DatagramBatch() noexcept {
    for (unsigned i = 0; i < kMax; ++i) {
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
  }
  DatagramBatch(const DatagramBatch&) = delete;  // the headers point into the object itself
  DatagramBatch& operator=(const DatagramBatch&) = delete;
  void clear() noexcept { n_ = 0; }
  unsigned size() const noexcept { return n_; }
  bool full() const noexcept { return n_ == kMax; }
  // `to` null: the socket is connected.
  void add(const std::byte* data, std::size_t len, const SockAddr* to) noexcept {
    iov_[n_].iov_base = const_cast<std::byte*>(data);
    iov_[n_].iov_len = len;
    msghdr& h = msgs_[n_].msg_hdr;  // msg_iov, msg_iovlen and the empty control are set once
    h.msg_name = to != nullptr ? const_cast<sockaddr*>(to->data()) : nullptr;
    h.msg_namelen = to != nullptr ? to->size() : 0;
    ++n_;
  }
  // sendmmsg(MSG_DONTWAIT) of entries [from, size()): how many went (> 0), or -errno for entry
  // `from` (-EAGAIN: the socket buffer is full, nothing was sent).
  int send(int fd, unsigned from) noexcept;

 private:
  std::array<mmsghdr, kMax> msgs_{};
  std::array<iovec, kMax> iov_{};
  unsigned n_ = 0;
};

// Thin wrappers: 0 (or a count) on success, -errno on failure.
int sys_close(int fd) noexcept;
int sys_shutdown(int fd, int how) noexcept;
int sys_setsockopt_int(int fd, int level, int name, int value) noexcept;

}  // namespace webtrunk::core

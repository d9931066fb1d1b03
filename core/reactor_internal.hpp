// Internal to the reactor's .cpp files (reactor.cpp: ring, loop, timers, TCP; reactor_udp.cpp: UDP):
// the slot types behind ConnId/UdpId and the flags and metrics both halves use. Not for other modules.
#pragma once

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <vector>

#include "core/metrics.hpp"
#include "core/reactor.hpp"
#include "core/tls_stream.hpp"

namespace webtrunk::core {
namespace reactor_detail {

inline const Counter kUdpIcmpErrors{"webtrunk_udp_icmp_errors_total",
                                    "ICMP errors (port or host unreachable) read from UDP sockets' error queues"};
inline const Counter kUdpRxDropped{"webtrunk_udp_rx_dropped_total",
                                   "UDP datagrams dropped on receive: truncated (larger than a buffer) or malformed"};
inline const Counter kUdpTxDropped{"webtrunk_udp_tx_dropped_total",
                                   "UDP sends dropped before the kernel: no send slot or copy block free, or too large"};
inline const Counter kUdpForwardCopies{
    "webtrunk_udp_forward_copies_total",
    "Shard::forward() views outside the datagram being delivered, sent as copies (a caller's bug: use send_to)"};
inline const Counter kUdpTxErrors{"webtrunk_udp_tx_errors_total", "UDP sends the kernel failed"};
inline const Counter kEnobufs{"webtrunk_reactor_enobufs_total",
                              "Receives that ran out of provided buffers (re-armed, nothing dropped)"};
inline const Counter kSmallEnobufs{
    "webtrunk_reactor_udp_small_enobufs_total",
    "UDP receives that ran out of the small-buffer (media) ring's buffers (re-armed; also in webtrunk_reactor_enobufs_total)"};
inline const Counter kAcceptErrors{"webtrunk_tcp_accept_errors_total", "accept() failures (EMFILE, ENFILE, ...)"};
inline const Counter kRefused{"webtrunk_tcp_refused_total", "Connections refused by the handler"};

constexpr std::uint16_t kTcpGroup = 0;
constexpr std::uint16_t kUdpGroup = 1;       // the main UDP ring (ShardConfig::udp_buffers)
constexpr std::uint16_t kUdpSmallGroup = 2;  // the small-buffer ring (ShardConfig::udp_small_buffers)

// A reference to a UDP receive buffer held by a send: the ring (0 main, 1 small) above the buffer id.
inline std::int32_t udp_buffer_ref(unsigned ring, std::uint16_t bid) noexcept {
  return static_cast<std::int32_t>((ring << 16) | bid);
}

// Conn / UdpSocket flags.
constexpr std::uint16_t kLive = 1 << 0;
constexpr std::uint16_t kReading = 1 << 1;       // a receive is armed (its final CQE not seen yet)
constexpr std::uint16_t kSending = 1 << 2;       // a send is in flight
constexpr std::uint16_t kClosing = 1 << 3;
constexpr std::uint16_t kAborting = 1 << 4;      // closing without flushing
constexpr std::uint16_t kStarved = 1 << 5;       // in a starved list, waiting for buffers
constexpr std::uint16_t kFlushQueued = 1 << 6;   // in flush_list_
constexpr std::uint16_t kReleaseQueued = 1 << 7; // in release_list_
constexpr std::uint16_t kCancelSent = 1 << 8;    // the receive was asked to stop
// UdpSocket only: the hot-socket mode (ShardConfig::udp_hot_threshold).
constexpr std::uint16_t kHot = 1 << 9;           // wanted mode: poll + recvmmsg (else multishot recvmsg)
constexpr std::uint16_t kPolling = 1 << 10;      // the one-shot poll is armed (its CQE not seen)
constexpr std::uint16_t kDrainQueued = 1 << 11;  // in hot_pending_
constexpr std::uint16_t kDraining = 1 << 12;     // drain_hot_udp is reading it (a close waits)
constexpr std::uint16_t kRecvErrors = 1 << 13;   // UdpOptions::recv_errors: read the error queue
// Conn only: an outbound connect is in flight (on send_op, with kSending set so closes wait for it).
constexpr std::uint16_t kConnecting = 1 << 14;
// UdpSocket only: UdpOptions::rx_timestamps (each receive carries an SO_TIMESTAMPNS cmsg).
constexpr std::uint16_t kRxStamps = 1 << 15;
// Control room for one SCM_TIMESTAMPNS cmsg.
constexpr std::size_t kStampControl = CMSG_SPACE(sizeof(timespec));
// The arrival stamp in received control data (`len` bytes of cmsgs), in ns (CLOCK_REALTIME); 0 if
// none. Read with memcpy: a multishot recvmsg puts the cmsgs right after the peer's address, where
// they need not be aligned for cmsghdr.
inline std::int64_t rx_stamp_ns(const void* control, std::size_t len) noexcept {
  const auto* p = static_cast<const unsigned char*>(control);
  std::size_t off = 0;
  while (p != nullptr && off + sizeof(cmsghdr) <= len) {
    cmsghdr c;
    std::memcpy(&c, p + off, sizeof(c));
    if (c.cmsg_len < sizeof(cmsghdr) || c.cmsg_len > len - off) break;
    if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SCM_TIMESTAMPNS && c.cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec ts;
      std::memcpy(&ts, p + off + CMSG_LEN(0), sizeof(ts));
      return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    }
    off += CMSG_ALIGN(c.cmsg_len);
  }
  return 0;
}

// Not in liburing 2.3's headers: the kernel's minimum-wait feature bit (Linux 6.12), and liburing's
// own flag for a ring whose fd is registered (INT_FLAG_REG_RING, stable since 2.2).
constexpr unsigned kFeatMinTimeout = 1u << 15;
constexpr std::uint8_t kIntFlagRegRing = 1;

inline std::uint32_t next_generation(std::uint32_t g) noexcept { return g + 1 == 0 ? 1 : g + 1; }

}  // namespace reactor_detail

struct Shard::Listener {
  Op accept_op;
  Fd fd;
  TcpHandler* handler = nullptr;
  std::shared_ptr<const TlsContext> tls;  // null: plaintext
  SockAddr local;
  bool accepting = false;
  bool closing = false;
};

// Kept small on purpose (~100 bytes): no per-connection buffers; output exists only while queued.
struct Shard::Conn {
  Op recv_op;
  Op send_op;
  std::vector<std::byte> out;      // in flight: must not move until its send completes
  std::vector<std::byte> pending;  // queued behind `out`
  TcpHandler* handler = nullptr;
  std::unique_ptr<TlsConn> tls;    // TLS connections only (8 bytes on a plaintext one)
  std::unique_ptr<Connecting> connecting;  // outbound connections until the connect completes
  std::uint32_t out_offset = 0;
  int fd = -1;
  std::uint32_t generation = 1;
  int reason = 0;
  std::uint16_t flags = 0;
};

// The TLS state of a connection on a TLS listener. Its ciphertext output goes straight into the
// connection's send queue (Conn::pending), so the send-queue bounds count it; what the TlsStream
// itself may hold is bounded by TlsStream's own limits.
struct Shard::TlsConn {
  explicit TlsConn(TlsStream s) noexcept : stream(std::move(s)) {}
  TlsStream stream;
  std::vector<std::byte> early;  // plaintext sent before the handshake finished
  TimerHandle timer{};           // the handshake deadline
  bool outbound = false;         // connect_tls: on_connected comes with the handshake
};

// An outbound connect in flight: the address the SQE points at (read by the kernel at submit) and
// the deadline that cancels it.
struct Shard::Connecting {
  SockAddr peer;
  TimerHandle timer{};
};

constexpr unsigned kMaxUdpRecvDepth = 4;

struct Shard::UdpSocket {
  // Several multishot receives per socket: the kernel hands each at most 32 datagrams per pass
  // before requeueing it to the next io_uring_enter, so one request caps a turn at 32 datagrams.
  std::array<Op, kMaxUdpRecvDepth> recv_ops;
  // Hot mode: readiness only, armed when a drain has emptied the socket; the datagrams are read
  // with recvmmsg. The switch either way waits for the other mode's requests to end (their final
  // CQE), so datagrams stay in arrival order.
  Op poll_op;
  std::uint64_t rx_turn = 0;      // the turn rx_in_turn counts
  std::uint32_t rx_in_turn = 0;   // datagrams delivered by multishot receives in that turn
  std::uint32_t quiet_drains = 0; // hot drains in a row that found little
  std::uint32_t self = 0;    // slot index
  std::uint8_t armed = 0;    // bit k: recv_ops[k] is armed (its final CQE not seen)
  std::uint8_t starved = 0;  // bit k: recv_ops[k] ended with ENOBUFS and waits for buffers
  std::uint8_t ring = 0;     // the ring it receives into: 0 main, 1 small (UdpOptions::small_buffers)
  msghdr msg{};  // tells multishot recvmsg the room for the source address (no control data)
  Fd fd;
  UdpHandler* handler = nullptr;
  SockAddr local;
  SockAddr remote;  // set when connected
  int fixed = -1;   // registered-file slot, or -1
  std::uint32_t generation = 1;
  std::uint32_t sends = 0;  // in flight; the socket is closed only when they are done
  std::uint16_t flags = 0;
};

// Everything a sendmsg needs to stay valid until its CQE.
struct Shard::UdpSend {
  Op op;
  msghdr msg{};
  iovec iov{};
  SockAddr peer;
  std::uint32_t udp = 0;
  std::int32_t bid = -1;   // a held receive buffer (forward; udp_buffer_ref)
  std::int32_t copy = -1;  // a SendSlab block (send_to)
};

// A datagram queued by send_to()/forward() during a turn; flush_udp() sends it at the turn's end.
struct Shard::QueuedDatagram {
  SockAddr peer;
  const std::byte* data;
  UdpSocket* sock;
  std::uint32_t len;
  std::int32_t bid;
  std::int32_t copy;
  std::int64_t rx_ns;  // arrival stamp of the datagram being handled when it was queued, else 0
};

// recvmmsg headers for draining a hot socket into kept buffers, shard-wide (one drain at a time).
struct Shard::HotReceive {
  static constexpr unsigned kBatch = 64;
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iov{};
  std::array<sockaddr_in6, kBatch> names{};
  std::array<std::uint16_t, kBatch> bids{};
  alignas(cmsghdr) std::array<std::array<char, reactor_detail::kStampControl>, kBatch> control{};  // rx_timestamps sockets
  // Each header points at its own iovec once; a drain sets only the buffer and the name room.
  HotReceive() noexcept {
    for (unsigned i = 0; i < kBatch; ++i) {
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
};

}  // namespace webtrunk::core

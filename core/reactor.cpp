#include "core/reactor.hpp"

#include <fmt/format.h>
#include <netinet/tcp.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "core/metrics.hpp"

namespace webtrunk::core {
namespace {

inline const Counter kUdpRxDropped{"webtrunk_udp_rx_dropped_total",
                                   "UDP datagrams dropped on receive: truncated (larger than a buffer) or malformed"};
inline const Counter kUdpTxDropped{"webtrunk_udp_tx_dropped_total",
                                   "UDP sends dropped before the kernel: no send slot or copy block free, or too large"};
inline const Counter kUdpTxErrors{"webtrunk_udp_tx_errors_total", "UDP sends the kernel failed"};
inline const Counter kEnobufs{"webtrunk_reactor_enobufs_total",
                              "Receives that ran out of provided buffers (re-armed, nothing dropped)"};
inline const Counter kAcceptErrors{"webtrunk_tcp_accept_errors_total", "accept() failures (EMFILE, ENFILE, ...)"};
inline const Counter kRefused{"webtrunk_tcp_refused_total", "Connections refused by the handler"};

constexpr std::uint16_t kTcpGroup = 0;
constexpr std::uint16_t kUdpGroup = 1;

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

std::uint32_t next_generation(std::uint32_t g) noexcept { return g + 1 == 0 ? 1 : g + 1; }

}  // namespace

struct Shard::Listener {
  Op accept_op;
  Fd fd;
  TcpHandler* handler = nullptr;
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
  std::uint32_t out_offset = 0;
  int fd = -1;
  std::uint32_t generation = 1;
  int reason = 0;
  std::uint16_t flags = 0;
};

constexpr unsigned kMaxUdpRecvDepth = 4;

struct Shard::UdpSocket {
  // Several multishot receives per socket: the kernel hands each at most 32 datagrams per pass
  // before requeueing it to the next io_uring_enter, so one request caps a turn at 32 datagrams.
  std::array<Op, kMaxUdpRecvDepth> recv_ops;
  std::uint32_t self = 0;    // slot index
  std::uint8_t armed = 0;    // bit k: recv_ops[k] is armed (its final CQE not seen)
  std::uint8_t starved = 0;  // bit k: recv_ops[k] ended with ENOBUFS and waits for buffers
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
  std::int32_t bid = -1;   // a held receive buffer (forward)
  std::int32_t copy = -1;  // a SendSlab block (send_to)
};

// A datagram queued by send_to()/forward() during a turn; flush_udp() sends it at the turn's end.
struct Shard::QueuedDatagram {
  SockAddr peer;
  const std::byte* data;
  std::uint32_t len;
  std::uint32_t udp;
  std::int32_t bid;
  std::int32_t copy;
};

std::string describe_io_uring_setup_error(int neg_errno) {
  const char* what = std::strerror(-neg_errno);
  switch (-neg_errno) {
    case EPERM:
    case EACCES:
      return fmt::format(
          "io_uring is not available ({}): set sysctl kernel.io_uring_disabled=0 (or add this user to "
          "kernel.io_uring_group when it is 1), or run the container with a seccomp profile that allows "
          "io_uring_setup/io_uring_enter/io_uring_register",
          what);
    case ENOSYS:
      return fmt::format(
          "io_uring is not available ({}): the kernel has no io_uring (Linux 6.1+ is needed) or a seccomp "
          "profile hides it; allow io_uring_setup/io_uring_enter/io_uring_register",
          what);
    case ENOMEM:
      return fmt::format("io_uring_setup failed ({}): raise the locked-memory limit (ulimit -l) or use smaller rings",
                         what);
    default:
      return fmt::format("io_uring_setup failed ({})", what);
  }
}

Shard::Shard(const ShardConfig& cfg)
    : cfg_(cfg),
      udp_copies_(cfg.udp_buffer_size, cfg.udp_send_copies),
      timers_(monotonic_now(), cfg.timer_resolution),
      now_(monotonic_now()) {}

Result<std::unique_ptr<Shard>> Shard::create(const ShardConfig& cfg, ShardMailbox* mailbox, Waker* waker) {
  std::unique_ptr<Shard> s(new Shard(cfg));
  if (auto r = s->init(mailbox, waker); !r) return r.error();
  return s;
}

Result<void> Shard::init(ShardMailbox* mailbox, Waker* waker) {
  // Best first; EINVAL means the kernel lacks a flag, so try the next set.
  // SINGLE_ISSUER (6.0) lets the kernel skip locking; DEFER_TASKRUN (6.1) runs completions only when
  // we ask for events, so packets arriving while we work do not interrupt us; SUBMIT_ALL keeps one
  // bad SQE from stranding the rest of the batch.
  const unsigned ladder[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  // The kernel wants cq_entries >= sq_entries; keep room for a multishot burst per SQE.
  cfg_.sq_entries = std::clamp(cfg_.sq_entries, 8u, 32768u);
  cfg_.cq_entries = std::clamp(cfg_.cq_entries, 2 * cfg_.sq_entries, 65536u);
  int rc = -EINVAL;
  for (unsigned flags : ladder) {
    io_uring_params p{};
    p.flags = flags | IORING_SETUP_CQSIZE;
    p.cq_entries = cfg_.cq_entries;
    rc = io_uring_queue_init_params(cfg_.sq_entries, &ring_, &p);
    if (rc == 0) {
      ring_flags_ = flags;
      break;
    }
    if (rc != -EINVAL) break;
  }
  if (rc < 0) return Error{rc, describe_io_uring_setup_error(rc)};
  ring_ready_ = true;
  // Both arrived in Linux 6.1: a kernel that takes DEFER_TASKRUN also takes a send address.
  send_with_addr_ = (ring_flags_ & IORING_SETUP_DEFER_TASKRUN) != 0;
  if (!(ring_flags_ & IORING_SETUP_DEFER_TASKRUN)) {
    log(LogLevel::warn, "reactor.ring_flags", "shard={} kernel lacks DEFER_TASKRUN; using flags {:#x}", cfg_.index,
        ring_flags_);
  }
  (void)io_uring_register_ring_fd(&ring_);  // saves an fd lookup per enter; optional
  if (cfg_.fixed_files > 0 && io_uring_register_files_sparse(&ring_, cfg_.fixed_files) == 0) {
    for (int i = static_cast<int>(cfg_.fixed_files) - 1; i >= 0; --i) free_fixed_.push_back(i);
  }

  auto tcp = BufferRing::create(ring_, kTcpGroup, cfg_.tcp_buffers, cfg_.tcp_buffer_size);
  if (!tcp) return tcp.error();
  tcp_bufs_ = std::move(tcp.value());
  auto udp = BufferRing::create(ring_, kUdpGroup, cfg_.udp_buffers, cfg_.udp_buffer_size);
  if (!udp) return udp.error();
  udp_bufs_ = std::move(udp.value());

  if (waker == nullptr) {
    auto w = Waker::create();
    if (!w) return w.error();
    own_waker_ = std::move(w.value());
    waker = own_waker_.get();
  }
  waker_ = waker;
  mailbox_ = mailbox;
  wake_op_.fn = &Shard::on_wake_cqe;
  timeout_op_.fn = &Shard::on_timeout_cqe;
  arm_wake();
  return {};
}

Shard::~Shard() {
  // Tear the ring down first: it cancels every request, so no kernel write into our buffers or
  // sockets survives it. Then the members (buffer rings, Fds) go.
  if (ring_ready_) io_uring_queue_exit(&ring_);
  for (auto& c : conns_) {
    if (c.flags & kLive) (void)sys_close(c.fd);
  }
}

io_uring_sqe* Shard::get_sqe() noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // The SQ is full mid-turn: push what we have now (no wait) and take a fresh entry.
    (void)io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) log(LogLevel::error, "reactor.sq_full", "shard={} no SQE after submit", cfg_.index);
  }
  return sqe;
}

void Shard::cancel_op(Op* op) noexcept {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return;
  io_uring_prep_cancel(sqe, op, 0);
  io_uring_sqe_set_data(sqe, nullptr);  // the cancel's own result matters not: the op's final CQE does
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void Shard::request_stop() noexcept {
  stop_.store(true, std::memory_order_release);
  waker_->wake();
}

Result<void> Shard::run() {
  now_ = monotonic_now();
  while (!stop_requested()) {
    prepare_turn();
    arm_timeout();
    const int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      return Error::from_errno(rc, "io_uring_submit_and_wait");
    }
    now_ = monotonic_now();
    run_cqes();
    timers_.advance(now_);
    ++stats_.turns;
  }
  return {};
}

void Shard::run_cqes() {
  io_uring_cqe* batch[256];
  unsigned total = 0;
  for (;;) {
    const unsigned n = io_uring_peek_batch_cqe(&ring_, batch, 256);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) {
      auto* op = static_cast<Op*>(io_uring_cqe_get_data(batch[i]));
      if (op != nullptr) op->fn(*this, *op, *batch[i]);
    }
    io_uring_cq_advance(&ring_, n);
    // Returned buffers go back before anything else can run dry.
    tcp_bufs_->publish();
    udp_bufs_->publish();
    total += n;
    stats_.cqes += n;
    if (total >= cfg_.cq_entries) break;  // let timers and the next submit run
  }
}

void Shard::prepare_turn() {
  // TCP receives that ran dry go again (on_data hands buffers straight back, so they are there).
  if (!starved_tcp_.empty() && tcp_bufs_->available() > 0) {
    auto list = std::move(starved_tcp_);
    starved_tcp_.clear();
    for (std::uint32_t idx : list) {
      Conn& c = conns_[idx];
      if (!(c.flags & kStarved)) continue;
      c.flags &= static_cast<std::uint16_t>(~kStarved);
      if (c.flags & kClosing) {
        maybe_finish(c);
      } else {
        arm_recv(c);
      }
    }
  }
  // Releases call on_closed, which may send, close or abort other connections: loop until quiet.
  while (!release_list_.empty()) {
    auto list = std::move(release_list_);
    release_list_.clear();
    for (std::uint32_t idx : list) {
      if (conns_[idx].flags & kReleaseQueued) release_conn(conns_[idx]);
    }
  }
  // Coalesced sends: every send() of the turn on a connection becomes one SQE.
  for (std::uint32_t idx : flush_list_) {
    Conn& c = conns_[idx];
    if (!(c.flags & kFlushQueued)) continue;
    c.flags &= static_cast<std::uint16_t>(~kFlushQueued);
    if ((c.flags & kLive) && !(c.flags & (kSending | kAborting))) submit_send(c);
  }
  flush_list_.clear();
  // UDP sends before UDP re-arms: forwarded datagrams hold receive buffers until they are sent, and
  // a receive starved by them must see them back, or nothing would be in flight to wake the loop.
  flush_udp();
  if (!starved_udp_.empty() && udp_bufs_->available() > 0) {
    auto list = std::move(starved_udp_);
    starved_udp_.clear();
    for (std::uint32_t idx : list) {
      UdpSocket& u = udps_[idx];
      if (!(u.flags & kStarved)) continue;
      u.flags &= static_cast<std::uint16_t>(~kStarved);
      const unsigned bits = u.starved;
      u.starved = 0;
      if (u.flags & kClosing) {
        maybe_release_udp(u);
        continue;
      }
      for (unsigned k = 0; k < kMaxUdpRecvDepth; ++k) {
        if (bits & (1u << k)) arm_udp_recv(u, k);
      }
    }
  }
  tcp_bufs_->publish();
  udp_bufs_->publish();
}

// ---- timers ----

namespace {
__kernel_timespec to_timespec(Instant t) {
  // steady_clock is CLOCK_MONOTONIC, the clock IORING_TIMEOUT_ABS uses by default.
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  __kernel_timespec ts{};
  ts.tv_sec = ns / 1'000'000'000;
  ts.tv_nsec = ns % 1'000'000'000;
  return ts;
}
}  // namespace

void Shard::arm_timeout() {
  const auto next = timers_.next_deadline();
  // An armed timeout at or before the next deadline serves; if its timer was cancelled it fires
  // early, harmlessly, and the next turn arms the right one.
  if (!next || (timeout_armed_ && timeout_at_ <= *next)) return;
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return;
  if (timeout_armed_) {
    // Move it earlier in place. If it already fired, the update fails (ignored) and the firing's
    // CQE makes the next turn arm again; by then the new deadline has passed too.
    update_ts_ = to_timespec(*next);
    io_uring_prep_timeout_update(sqe, &update_ts_, reinterpret_cast<std::uintptr_t>(&timeout_op_),
                                 IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data(sqe, nullptr);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  } else {
    timeout_ts_ = to_timespec(*next);
    io_uring_prep_timeout(sqe, &timeout_ts_, 0, IORING_TIMEOUT_ABS);
    set_op(sqe, &timeout_op_);
    timeout_armed_ = true;
  }
  timeout_at_ = *next;
}

void Shard::on_timeout_cqe(Shard& s, Op&, const io_uring_cqe&) {
  s.timeout_armed_ = false;  // fired (-ETIME) or removed; the timers advance after the CQEs
}

// ---- wake / mailbox ----

void Shard::arm_wake() {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return;
  io_uring_prep_read(sqe, waker_->fd(), &wake_buf_, sizeof(wake_buf_), 0);
  set_op(sqe, &wake_op_);
}

void Shard::on_wake_cqe(Shard& s, Op&, const io_uring_cqe&) {
  s.waker_->consume();
  if (s.mailbox_ != nullptr) s.mailbox_->drain(s.index(), [&s](Task& t) { t(s); });
  if (!s.stop_requested()) s.arm_wake();
}

bool Shard::post(unsigned to, Task task) {
  if (mailbox_ == nullptr) return false;
  return mailbox_->post(index(), to, std::move(task));
}

// ---- TCP ----

Result<ListenerId> Shard::listen_tcp(const SockAddr& local, TcpHandler& handler, const TcpListenOptions& opts) {
  auto fd = open_tcp_listener(local, opts);
  if (!fd) return fd.error();
  auto bound = local_address(fd->get());
  if (!bound) return bound.error();
  const auto idx = static_cast<std::uint32_t>(listeners_.size());
  Listener& l = listeners_.emplace_back();
  l.accept_op = Op{&Shard::on_accept_cqe, idx};
  l.fd = std::move(fd.value());
  l.handler = &handler;
  l.local = bound.value();
  arm_accept(l);
  return ListenerId{idx};
}

SockAddr Shard::listener_address(ListenerId id) const {
  return id.index < listeners_.size() ? listeners_[id.index].local : SockAddr{};
}

void Shard::close_listener(ListenerId id) {
  if (id.index >= listeners_.size()) return;
  Listener& l = listeners_[id.index];
  if (l.closing) return;
  l.closing = true;
  if (l.accepting) {
    cancel_op(&l.accept_op);  // the fd closes on the final CQE
  } else {
    l.fd.reset();
  }
}

void Shard::arm_accept(Listener& l) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return;
  // The peer address comes from getpeername(): a multishot accept would reuse one sockaddr for
  // every connection.
  io_uring_prep_multishot_accept(sqe, l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
  set_op(sqe, &l.accept_op);
  l.accepting = true;
}

void Shard::on_accept_cqe(Shard& s, Op& op, const io_uring_cqe& cqe) {
  Listener& l = s.listeners_[op.index];
  const bool more = cqe.flags & IORING_CQE_F_MORE;
  if (!more) l.accepting = false;
  if (cqe.res >= 0 && l.closing) {
    (void)sys_close(cqe.res);
  } else if (cqe.res >= 0) {
    std::uint32_t idx;
    if (!s.free_conns_.empty()) {
      idx = s.free_conns_.back();
      s.free_conns_.pop_back();
    } else {
      idx = static_cast<std::uint32_t>(s.conns_.size());
      Conn& fresh = s.conns_.emplace_back();
      fresh.recv_op = Op{&Shard::on_recv_cqe, idx};
      fresh.send_op = Op{&Shard::on_send_cqe, idx};
    }
    Conn& c = s.conns_[idx];
    c.fd = cqe.res;
    c.handler = l.handler;
    c.flags = kLive;
    c.reason = 0;
    c.out_offset = 0;
    const ConnId id{idx, c.generation};
    // SIP over WebSocket is request/response: small writes must not wait for Nagle.
    (void)sys_setsockopt_int(c.fd, IPPROTO_TCP, TCP_NODELAY, 1);
    auto peer = peer_address(c.fd);
    ++s.conn_count_;
    ++s.stats_.accepted;
    if (!l.handler->on_accept(s, id, peer ? peer.value() : SockAddr{})) {
      ++s.stats_.refused;
      kRefused.inc();
      --s.conn_count_;
      (void)sys_close(c.fd);
      c.flags = 0;
      c.pending = {};
      c.generation = next_generation(c.generation);
      s.free_conns_.push_back(idx);
    } else if (!(c.flags & kClosing)) {
      s.arm_recv(c);
    } else {
      s.maybe_finish(c);  // closed from inside on_accept
    }
  } else if (cqe.res != -ECANCELED) {
    kAcceptErrors.inc();
    log(LogLevel::warn, "tcp.accept_error", "shard={} listener={} error={}", s.index(), l.local.to_string(),
        std::strerror(-cqe.res));
  }
  if (more) return;
  if (l.closing) {
    l.fd.reset();
  } else if (cqe.res < 0 && cqe.res != -ECANCELED) {
    // EMFILE and friends: re-arming at once would spin; try again shortly.
    const std::uint32_t li = op.index;
    s.add_timer(std::chrono::milliseconds(100), [&s, li] {
      Listener& again = s.listeners_[li];
      if (!again.closing && !again.accepting) s.arm_accept(again);
    });
  } else {
    s.arm_accept(l);
  }
}

void Shard::arm_recv(Conn& c) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) {
    fail_conn(c, -EBUSY);
    return;
  }
  io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kTcpGroup;
  set_op(sqe, &c.recv_op);
  c.flags |= kReading;
}

void Shard::on_recv_cqe(Shard& s, Op& op, const io_uring_cqe& cqe) {
  Conn& c = s.conns_[op.index];
  const bool more = cqe.flags & IORING_CQE_F_MORE;
  if (!more) c.flags &= static_cast<std::uint16_t>(~kReading);
  if (cqe.res > 0 && (cqe.flags & IORING_CQE_F_BUFFER)) {
    const auto bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    s.tcp_bufs_->take(bid);
    if (!(c.flags & kClosing)) {
      c.handler->on_data(s, ConnId{op.index, c.generation},
                         {s.tcp_bufs_->data(bid), static_cast<std::size_t>(cqe.res)});
    }
    s.tcp_bufs_->unref(bid);
    if (more) return;
    if (c.flags & kClosing) {
      s.maybe_finish(c);
    } else {
      ++s.stats_.recv_rearms;  // the multishot ended (CQ pressure, ...): go again, nothing lost
      s.arm_recv(c);
    }
    return;
  }
  if (more) return;  // not expected: a non-data CQE that keeps the receive going
  if (cqe.res == 0) {
    c.flags |= kClosing;  // peer EOF: flush what is queued, then release with reason 0
    s.maybe_finish(c);
  } else if (cqe.res == -ENOBUFS) {
    ++s.stats_.enobufs;
    kEnobufs.inc();
    if (c.flags & kClosing) {
      s.maybe_finish(c);
    } else {
      c.flags |= kStarved;
      s.starved_tcp_.push_back(op.index);
    }
  } else if (cqe.res == -ECANCELED) {
    s.maybe_finish(c);
  } else {
    s.fail_conn(c, cqe.res);
  }
}

Shard::Conn* Shard::live_conn(ConnId id) noexcept {
  if (id.index >= conns_.size()) return nullptr;
  Conn& c = conns_[id.index];
  return (c.flags & kLive) && c.generation == id.generation ? &c : nullptr;
}

const Shard::Conn* Shard::live_conn(ConnId id) const noexcept {
  return const_cast<Shard*>(this)->live_conn(id);
}

bool Shard::send(ConnId id, std::span<const std::byte> data) {
  Conn* c = live_conn(id);
  if (c == nullptr || (c->flags & kClosing)) return false;
  if (data.empty()) return true;
  c->pending.insert(c->pending.end(), data.begin(), data.end());
  queue_flush(*c);
  return true;
}

void Shard::queue_flush(Conn& c) {
  if (c.flags & (kFlushQueued | kSending)) return;  // a running send picks `pending` up on completion
  c.flags |= kFlushQueued;
  flush_list_.push_back(c.recv_op.index);
}

void Shard::submit_send(Conn& c) {
  if (c.out_offset >= c.out.size()) {
    // `out` drained: what was queued becomes the in-flight buffer; the old one is freed.
    c.out = std::move(c.pending);
    c.pending = {};
    c.out_offset = 0;
  }
  if (c.out.empty()) {
    c.out = {};
    return;
  }
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) {
    fail_conn(c, -EBUSY);
    return;
  }
  io_uring_prep_send(sqe, c.fd, c.out.data() + c.out_offset, c.out.size() - c.out_offset, MSG_NOSIGNAL);
  set_op(sqe, &c.send_op);
  c.flags |= kSending;
  ++stats_.tcp_sends;
}

void Shard::on_send_cqe(Shard& s, Op& op, const io_uring_cqe& cqe) {
  Conn& c = s.conns_[op.index];
  c.flags &= static_cast<std::uint16_t>(~kSending);
  if (cqe.res <= 0) {
    c.out = {};
    c.out_offset = 0;
    s.fail_conn(c, cqe.res == 0 ? -EPIPE : cqe.res);
    return;
  }
  c.out_offset += static_cast<std::uint32_t>(cqe.res);
  if (c.out_offset < c.out.size()) {
    ++s.stats_.tcp_short_writes;  // the socket buffer was full: send the rest, in order
  } else {
    c.out = {};  // drained: an idle connection holds no output memory
    c.out_offset = 0;
  }
  if (!(c.flags & kAborting) && (!c.out.empty() || !c.pending.empty())) s.submit_send(c);
  s.maybe_finish(c);
}

bool Shard::close(ConnId id) {
  Conn* c = live_conn(id);
  if (c == nullptr) return false;
  c->flags |= kClosing;
  maybe_finish(*c);
  return true;
}

bool Shard::abort(ConnId id) {
  Conn* c = live_conn(id);
  if (c == nullptr) return false;
  if (!(c->flags & kAborting)) (void)sys_shutdown(c->fd, SHUT_RDWR);  // tells the peer now
  fail_conn(*c, -ECANCELED);
  return true;
}

std::size_t Shard::output_queued(ConnId id) const {
  const Conn* c = live_conn(id);
  return c == nullptr ? 0 : c->out.size() - c->out_offset + c->pending.size();
}

void Shard::fail_conn(Conn& c, int reason) {
  if (!(c.flags & kAborting)) {
    c.flags |= kClosing | kAborting;
    c.reason = reason;
    c.pending = {};
    if (c.flags & kSending) cancel_op(&c.send_op);  // `out` stays until the send's CQE
  }
  maybe_finish(c);
}

// Moves a closing connection one step: flush, stop the receive, then release.
void Shard::maybe_finish(Conn& c) {
  if (!(c.flags & kClosing) || (c.flags & kSending)) return;
  if (!(c.flags & kAborting) && (!c.pending.empty() || c.out_offset < c.out.size())) {
    queue_flush(c);
    return;
  }
  if (c.flags & kReading) {
    if (!(c.flags & kCancelSent)) {
      c.flags |= kCancelSent;
      cancel_op(&c.recv_op);
    }
    return;
  }
  if (!(c.flags & kReleaseQueued)) {
    c.flags |= kReleaseQueued;
    release_list_.push_back(c.recv_op.index);
  }
}

void Shard::release_conn(Conn& c) {
  const ConnId id{c.recv_op.index, c.generation};
  (void)sys_close(c.fd);
  c.fd = -1;
  c.flags = 0;
  c.out = {};
  c.pending = {};
  c.out_offset = 0;
  c.generation = next_generation(c.generation);  // stale before the handler hears of it
  --conn_count_;
  TcpHandler* h = c.handler;
  c.handler = nullptr;
  free_conns_.push_back(id.index);
  h->on_closed(*this, id, c.reason);
}

// ---- UDP ----

Result<UdpId> Shard::open_udp(const SockAddr& local, UdpHandler& handler, const UdpOptions& opts) {
  auto fd = open_udp_socket(local, opts);
  if (!fd) return fd.error();
  auto bound = local_address(fd->get());
  if (!bound) return bound.error();
  std::uint32_t idx;
  if (!free_udps_.empty()) {
    idx = free_udps_.back();
    free_udps_.pop_back();
  } else {
    idx = static_cast<std::uint32_t>(udps_.size());
    UdpSocket& fresh = udps_.emplace_back();
    fresh.self = idx;
    for (Op& o : fresh.recv_ops) o = Op{&Shard::on_udp_recv_cqe, idx};
  }
  UdpSocket& u = udps_[idx];
  u.fd = std::move(fd.value());
  u.handler = &handler;
  u.local = bound.value();
  u.remote = opts.connect_to;
  u.sends = 0;
  u.flags = kLive;
  u.msg = msghdr{};
  u.msg.msg_namelen = SockAddr::capacity();
  u.fixed = -1;
  if (!free_fixed_.empty()) {
    const int fd_value = u.fd.get();
    if (io_uring_register_files_update(&ring_, static_cast<unsigned>(free_fixed_.back()), &fd_value, 1) == 1) {
      u.fixed = free_fixed_.back();
      free_fixed_.pop_back();
    }
  }
  u.armed = u.starved = 0;
  const unsigned depth = std::clamp(cfg_.udp_recv_depth, 1u, kMaxUdpRecvDepth);
  for (unsigned k = 0; k < depth; ++k) arm_udp_recv(u, k);
  return UdpId{idx, u.generation};
}

Shard::UdpSocket* Shard::live_udp(UdpId id) noexcept {
  if (id.index >= udps_.size()) return nullptr;
  UdpSocket& u = udps_[id.index];
  return (u.flags & kLive) && !(u.flags & kClosing) && u.generation == id.generation ? &u : nullptr;
}

SockAddr Shard::udp_address(UdpId id) const {
  auto* u = const_cast<Shard*>(this)->live_udp(id);
  return u == nullptr ? SockAddr{} : u->local;
}

bool Shard::close_udp(UdpId id) {
  UdpSocket* u = live_udp(id);
  if (u == nullptr) return false;
  u->flags |= kClosing;
  for (unsigned k = 0; k < kMaxUdpRecvDepth; ++k) {
    if (u->armed & (1u << k)) cancel_op(&u->recv_ops[k]);
  }
  maybe_release_udp(*u);
  return true;
}

void Shard::maybe_release_udp(UdpSocket& u) {
  if (!(u.flags & kLive) || !(u.flags & kClosing) || u.armed != 0 || u.sends > 0) return;
  if (u.fixed >= 0) {
    // The table holds its own reference to the socket: drop it, or close() would not close.
    const int none = -1;
    (void)io_uring_register_files_update(&ring_, static_cast<unsigned>(u.fixed), &none, 1);
    free_fixed_.push_back(u.fixed);
    u.fixed = -1;
  }
  u.fd.reset();
  u.flags = 0;
  u.handler = nullptr;
  u.starved = 0;
  u.generation = next_generation(u.generation);
  free_udps_.push_back(u.self);
}

void Shard::use_fixed_file(io_uring_sqe* sqe, const UdpSocket& u) noexcept {
  if (u.fixed < 0) return;
  sqe->fd = u.fixed;
  sqe->flags |= IOSQE_FIXED_FILE;
}

void Shard::arm_udp_recv(UdpSocket& u, unsigned k) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return;
  if (u.remote.is_set()) {
    // Connected: the peer is known, so a plain multishot recv skips the per-datagram header and
    // source-address copies of recvmsg.
    io_uring_prep_recv_multishot(sqe, u.fd.get(), nullptr, 0, 0);
  } else {
    io_uring_prep_recvmsg_multishot(sqe, u.fd.get(), &u.msg, 0);
  }
  use_fixed_file(sqe, u);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kUdpGroup;
  set_op(sqe, &u.recv_ops[k]);
  u.armed = static_cast<std::uint8_t>(u.armed | (1u << k));
}

void Shard::on_udp_recv_cqe(Shard& s, Op& op, const io_uring_cqe& cqe) {
  UdpSocket& u = s.udps_[op.index];
  const auto k = static_cast<unsigned>(&op - u.recv_ops.data());
  const bool more = cqe.flags & IORING_CQE_F_MORE;
  if (!more) u.armed = static_cast<std::uint8_t>(u.armed & ~(1u << k));
  if (cqe.flags & IORING_CQE_F_BUFFER) {
    const auto bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    s.udp_bufs_->take(bid);
    std::byte* buf = s.udp_bufs_->data(bid);
    const std::size_t cap = s.udp_bufs_->buffer_size();
    if (cqe.res > 0 && !(u.flags & kClosing)) {
      SockAddr peer = u.remote;
      std::byte* payload = buf;
      auto len = static_cast<std::size_t>(cqe.res);
      bool ok;
      if (u.remote.is_set()) {
        ok = len < cap;  // recv on a connected socket: all payload; a full buffer may be a truncation
      } else {
        io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buf, cqe.res, &u.msg);
        ok = out != nullptr && (out->flags & MSG_TRUNC) == 0;
        if (ok) {
          peer = SockAddr::from_sockaddr(static_cast<const sockaddr*>(io_uring_recvmsg_name(out)), out->namelen);
          payload = static_cast<std::byte*>(io_uring_recvmsg_payload(out, &u.msg));
          len = static_cast<std::size_t>(io_uring_recvmsg_payload_length(out, cqe.res, &u.msg));
        }
      }
      if (!ok) {
        ++s.stats_.udp_dropped;
        kUdpRxDropped.inc();
      } else {
        ++s.stats_.udp_received;
        s.rx_bid_ = bid;
        s.rx_tailroom_ = static_cast<std::size_t>(buf + cap - (payload + len));
        u.handler->on_datagram(s, UdpId{op.index, u.generation}, peer, {payload, len});
        s.rx_bid_ = -1;
        s.rx_tailroom_ = 0;
      }
    }
    s.udp_bufs_->unref(bid);
  }
  if (more) return;
  if (u.flags & kClosing) {
    s.maybe_release_udp(u);
  } else if (cqe.res == -ENOBUFS) {
    ++s.stats_.enobufs;
    kEnobufs.inc();
    u.starved = static_cast<std::uint8_t>(u.starved | (1u << k));
    if (!(u.flags & kStarved)) {
      u.flags |= kStarved;
      s.starved_udp_.push_back(op.index);
    }
  } else {
    ++s.stats_.recv_rearms;
    s.arm_udp_recv(u, k);
  }
}

bool Shard::send_to(UdpId out, const SockAddr& peer, std::span<const std::byte> data) {
  UdpSocket* u = live_udp(out);
  if (u == nullptr) return false;
  const std::int32_t copy = data.size() <= udp_copies_.block_size() ? udp_copies_.alloc() : -1;
  if (copy < 0) {
    count_tx_drop();
    return false;
  }
  if (!data.empty()) std::memcpy(udp_copies_.data(copy), data.data(), data.size());
  if (!queue_udp(*u, peer, udp_copies_.data(copy), data.size(), -1, copy)) {
    udp_copies_.free(copy);
    return false;
  }
  return true;
}

bool Shard::forward(UdpId out, const SockAddr& peer, std::span<const std::byte> view) {
  if (rx_bid_ < 0) return send_to(out, peer, view);
  const auto bid = static_cast<std::uint16_t>(rx_bid_);
  if (!udp_bufs_->contains(view.data(), bid) || !udp_bufs_->contains(view.data() + view.size(), bid)) {
    return send_to(out, peer, view);
  }
  UdpSocket* u = live_udp(out);
  if (u == nullptr) return false;
  udp_bufs_->ref(bid);  // back to the kernel once the send is done, not after on_datagram
  if (!queue_udp(*u, peer, view.data(), view.size(), rx_bid_, -1)) {
    udp_bufs_->unref(bid);
    return false;
  }
  return true;
}

bool Shard::queue_udp(UdpSocket& u, const SockAddr& peer, const std::byte* data, std::size_t len,
                      std::int32_t bid, std::int32_t copy) {
  if (udp_tx_.size() >= cfg_.udp_sends_in_flight) {
    count_tx_drop();
    return false;
  }
  udp_tx_.push_back(QueuedDatagram{peer, data, static_cast<std::uint32_t>(len), u.self, bid, copy});
  ++u.sends;  // close_udp() waits for it
  return true;
}

void Shard::count_tx_drop() noexcept {
  ++stats_.udp_send_dropped;
  kUdpTxDropped.inc();
}

void Shard::finish_udp_send(std::uint32_t udp, std::int32_t bid, std::int32_t copy, int res) {
  if (res >= 0) {
    ++stats_.udp_sent;
  } else {
    ++stats_.udp_send_errors;
    kUdpTxErrors.inc();
  }
  if (bid >= 0) udp_bufs_->unref(static_cast<std::uint16_t>(bid));
  if (copy >= 0) udp_copies_.free(copy);
  --udps_[udp].sends;
}

// End of turn: each socket's datagrams, in order. A socket with several goes out with sendmmsg
// (one syscall, no completions to reap); a lone datagram, or what sendmmsg could not take because
// the socket buffer is full, becomes an SQE in this turn's submit.
void Shard::flush_udp() {
  if (udp_tx_.empty()) return;
  const std::size_t n = udp_tx_.size();
  udp_tx_order_.resize(n);
  for (std::size_t i = 0; i < n; ++i) udp_tx_order_[i] = static_cast<std::uint32_t>(i);
  std::stable_sort(udp_tx_order_.begin(), udp_tx_order_.end(),
                   [this](std::uint32_t a, std::uint32_t b) { return udp_tx_[a].udp < udp_tx_[b].udp; });
  for (std::size_t g = 0; g < n;) {
    const std::uint32_t ui = udp_tx_[udp_tx_order_[g]].udp;
    std::size_t e = g;
    while (e < n && udp_tx_[udp_tx_order_[e]].udp == ui) ++e;
    UdpSocket& u = udps_[ui];
    std::size_t i = g;
    if (cfg_.udp_mmsg_threshold > 0 && e - g >= cfg_.udp_mmsg_threshold) {
      while (i < e) {
        mmsg_.clear();
        for (std::size_t j = i; j < e && !mmsg_.full(); ++j) {
          const QueuedDatagram& d = udp_tx_[udp_tx_order_[j]];
          mmsg_.add(d.data, d.len, u.remote.is_set() && d.peer == u.remote ? nullptr : &d.peer);
        }
        ++stats_.udp_mmsg_calls;
        const int r = mmsg_.send(u.fd.get(), 0);
        if (r == -EAGAIN || r == -EWOULDBLOCK || r == -ENOBUFS) break;  // the rest wait in io_uring
        const std::size_t done = r > 0 ? static_cast<std::size_t>(r) : 1;  // r < 0: entry i failed
        for (std::size_t k = 0; k < done; ++k) {
          const QueuedDatagram& d = udp_tx_[udp_tx_order_[i + k]];
          finish_udp_send(d.udp, d.bid, d.copy, r > 0 ? 0 : r);
        }
        i += done;
      }
    }
    for (; i < e; ++i) {
      const QueuedDatagram& d = udp_tx_[udp_tx_order_[i]];
      if (!submit_udp_send(u, d)) {
        count_tx_drop();
        finish_udp_send(d.udp, d.bid, d.copy, 0);
        --stats_.udp_sent;  // counted as dropped, not sent
      }
    }
    if (u.flags & kClosing) maybe_release_udp(u);
    g = e;
  }
  udp_tx_.clear();
}

bool Shard::submit_udp_send(UdpSocket& u, const QueuedDatagram& d) {
  std::uint32_t idx;
  if (!free_udp_sends_.empty()) {
    idx = free_udp_sends_.back();
    free_udp_sends_.pop_back();
  } else if (udp_sends_.size() < cfg_.udp_sends_in_flight) {
    idx = static_cast<std::uint32_t>(udp_sends_.size());
    udp_sends_.emplace_back().op = Op{&Shard::on_udp_send_cqe, idx};
  } else {
    return false;
  }
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) {
    free_udp_sends_.push_back(idx);
    return false;
  }
  UdpSend& m = udp_sends_[idx];
  m.udp = d.udp;
  m.bid = d.bid;
  m.copy = d.copy;
  if (u.remote.is_set() && d.peer == u.remote) {
    // Connected socket: a plain send skips the msghdr copy and the per-packet route lookup.
    io_uring_prep_send(sqe, u.fd.get(), d.data, d.len, 0);
  } else if (send_with_addr_) {
    // Linux 6.1+: IORING_OP_SEND takes the destination in addr2/addr_len, which skips copying and
    // importing a msghdr and its iovec per datagram (bench/RESULTS.md).
    m.peer = d.peer;
    io_uring_prep_send(sqe, u.fd.get(), d.data, d.len, 0);
    sqe->addr2 = reinterpret_cast<std::uintptr_t>(m.peer.data());
    sqe->addr_len = static_cast<std::uint16_t>(m.peer.size());
  } else {
    m.peer = d.peer;
    m.iov.iov_base = const_cast<std::byte*>(d.data);
    m.iov.iov_len = d.len;
    m.msg = msghdr{};
    m.msg.msg_name = m.peer.data();
    m.msg.msg_namelen = m.peer.size();
    m.msg.msg_iov = &m.iov;
    m.msg.msg_iovlen = 1;
    io_uring_prep_sendmsg(sqe, u.fd.get(), &m.msg, 0);
  }
  use_fixed_file(sqe, u);
  set_op(sqe, &m.op);
  return true;
}

void Shard::on_udp_send_cqe(Shard& s, Op& op, const io_uring_cqe& cqe) {
  UdpSend& m = s.udp_sends_[op.index];
  s.finish_udp_send(m.udp, m.bid, m.copy, cqe.res);
  m.bid = m.copy = -1;
  UdpSocket& u = s.udps_[m.udp];
  if (u.flags & kClosing) s.maybe_release_udp(u);
  s.free_udp_sends_.push_back(op.index);
}

}  // namespace webtrunk::core

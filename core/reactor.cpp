#include "core/reactor.hpp"
#include "core/reactor_internal.hpp"

#include <fmt/format.h>
#include <netinet/tcp.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "core/metrics.hpp"

namespace webtrunk::core {
using namespace reactor_detail;  // NOLINT(google-build-using-namespace): the reactor's own internals

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
  wait_batch_ok_ = cfg_.wait_batch.count() > 0 && (ring_.features & kFeatMinTimeout) != 0;
  if (cfg_.wait_batch.count() > 0 && !wait_batch_ok_) {
    log(LogLevel::info, "reactor.wait_batch", "shard={} kernel lacks IORING_FEAT_MIN_TIMEOUT (6.12); waits unbatched",
        cfg_.index);
  }
  if (cfg_.fixed_files > 0 && io_uring_register_files_sparse(&ring_, cfg_.fixed_files) == 0) {
    for (int i = static_cast<int>(cfg_.fixed_files) - 1; i >= 0; --i) free_fixed_.push_back(i);
  }

  auto tcp = BufferRing::create(ring_, kTcpGroup, cfg_.tcp_buffers, cfg_.tcp_buffer_size);
  if (!tcp) return tcp.error();
  tcp_bufs_ = std::move(tcp.value());
  if (cfg_.udp_hot_buffers == 0 || cfg_.udp_hot_budget == 0) cfg_.udp_hot_threshold = 0;
  if (cfg_.udp_hot_threshold == 0) cfg_.udp_hot_buffers = 0;  // hot mode off: no kept buffers
  auto udp = BufferRing::create(ring_, kUdpGroup, cfg_.udp_buffers, cfg_.udp_buffer_size, cfg_.udp_hot_buffers);
  if (!udp) return udp.error();
  udp_rings_[0] = std::move(udp.value());
  if (cfg_.udp_small_buffers > 0) {
    // Its own kept buffers too: a hot small-buffer socket drains into small buffers.
    auto small = BufferRing::create(ring_, kUdpSmallGroup, cfg_.udp_small_buffers, cfg_.udp_small_buffer_size,
                                    cfg_.udp_hot_buffers);
    if (!small) return Error{small.error().code, "small-buffer UDP ring: " + small.error().message};
    udp_rings_[1] = std::move(small.value());
  }
  if (cfg_.udp_hot_threshold > 0) hot_rx_ = std::make_unique<HotReceive>();
  // Address space only until used: a turn queues at most this many datagrams.
  udp_tx_.reserve(cfg_.udp_sends_in_flight);
  if (cfg_.udp_send_skip_cqe && send_with_addr_) udp_unreaped_.reserve(cfg_.udp_sends_in_flight);
  udp_send_failed_op_.fn = &Shard::on_udp_send_failed_cqe;
  tx_msgs_.reset(new mmsghdr[cfg_.udp_sends_in_flight]);
  tx_iov_.reset(new iovec[cfg_.udp_sends_in_flight]);

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
    // A hot socket left with data by its drain budget must not wait for a wake-up that may never
    // come (the poll reports new arrivals, not a non-empty queue): then collect without waiting.
    const int rc = hot_pending_.empty() ? submit_and_wait_turn() : io_uring_submit_and_get_events(&ring_);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      return Error::from_errno(rc, "io_uring_submit_and_wait");
    }
    now_ = monotonic_now();
    release_unreaped_sends();
    drain_pending_hot();
    run_cqes();
    timers_.advance(now_);
    while (!deferred_.empty()) {
      deferred_running_.swap(deferred_);
      for (auto& fn : deferred_running_) fn();
      deferred_running_.clear();
    }
    ++stats_.turns;
  }
  return {};
}

// Submits this turn's SQEs and waits for completions: for one, or with wait batching for
// wait_batch_events or wait_batch (then one). liburing 2.3 has no call for the minimum wait (Linux
// 6.12 put it in io_uring_getevents_arg's padding), so this makes the io_uring_enter itself, after
// publishing the SQ tail as io_uring_submit would.
int Shard::submit_and_wait_turn() {
  if (!wait_batch_ok_) return io_uring_submit_and_wait(&ring_, 1);
  io_uring_sq& sq = ring_.sq;
  const unsigned tail = sq.sqe_tail;
  if (sq.sqe_head != tail) {
    sq.sqe_head = tail;
    __atomic_store_n(sq.ktail, tail, __ATOMIC_RELEASE);
  }
  const unsigned to_submit = tail - __atomic_load_n(sq.khead, __ATOMIC_ACQUIRE);
  io_uring_getevents_arg arg{};
  arg.pad = static_cast<std::uint32_t>(cfg_.wait_batch.count());  // min_wait_usec since 6.12
  unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
  int fd = ring_.ring_fd;
  if (ring_.int_flags & kIntFlagRegRing) {
    flags |= IORING_ENTER_REGISTERED_RING;
    fd = ring_.enter_ring_fd;
  }
  const long r = ::syscall(__NR_io_uring_enter, fd, to_submit, std::max(1u, cfg_.wait_batch_events), flags, &arg,
                           sizeof(arg));
  return r < 0 ? -errno : static_cast<int>(r);
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
    publish_buffers();
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
  if (!starved_udp_.empty()) {
    auto list = std::move(starved_udp_);
    starved_udp_.clear();
    for (std::uint32_t idx : list) {
      UdpSocket& u = *udp_slots_[idx];
      if (!(u.flags & kStarved)) continue;
      if (udp_ring(u).available() == 0) {
        starved_udp_.push_back(idx);  // its ring is still dry (the other one was not): a later turn
        continue;
      }
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
  publish_buffers();
}

void Shard::publish_buffers() noexcept {
  tcp_bufs_->publish();
  for (auto& r : udp_rings_) {
    if (r) r->publish();
  }
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

Result<ListenerId> Shard::listen_tcp(const SockAddr& local, TcpHandler& handler, const TcpListenOptions& opts,
                                     std::shared_ptr<const TlsContext> tls) {
  auto fd = open_tcp_listener(local, opts);
  if (!fd) return fd.error();
  auto bound = local_address(fd->get());
  if (!bound) return bound.error();
  const auto idx = static_cast<std::uint32_t>(listeners_.size());
  Listener& l = listeners_.emplace_back();
  l.accept_op = Op{&Shard::on_accept_cqe, idx};
  l.fd = std::move(fd.value());
  l.handler = &handler;
  l.tls = std::move(tls);
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
    Conn& c = s.alloc_conn();
    const std::uint32_t idx = c.recv_op.index;
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
    if (l.tls) s.start_tls(c, l);
    if (!l.handler->on_accept(s, id, peer ? peer.value() : SockAddr{})) {
      ++s.stats_.refused;
      kRefused.inc();
      --s.conn_count_;
      (void)sys_close(c.fd);
      c.flags = 0;
      c.pending = {};
      s.end_tls(c);
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

Shard::Conn& Shard::alloc_conn() {
  std::uint32_t idx;
  if (!free_conns_.empty()) {
    idx = free_conns_.back();
    free_conns_.pop_back();
  } else {
    idx = static_cast<std::uint32_t>(conns_.size());
    Conn& fresh = conns_.emplace_back();
    fresh.recv_op = Op{&Shard::on_recv_cqe, idx};
    fresh.send_op = Op{&Shard::on_send_cqe, idx};
  }
  return conns_[idx];
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
    if (!(c.flags & kClosing)) s.deliver(c, {s.tcp_bufs_->data(bid), static_cast<std::size_t>(cqe.res)});
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
  if (c->tls) return tls_send(*c, data);
  c->pending.insert(c->pending.end(), data.begin(), data.end());
  if (!(c->flags & kConnecting)) queue_flush(*c);  // else on_connect_cqe flushes it
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
  if (c->tls && !(c->flags & kClosing)) tls_close(*c);
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
  if (c == nullptr) return 0;
  return c->out.size() - c->out_offset + c->pending.size() + (c->tls ? c->tls->early.size() : 0);
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
  end_tls(c);
  if (c.connecting) {
    if (c.connecting->timer) (void)timers_.cancel(c.connecting->timer);
    c.connecting.reset();
  }
  c.generation = next_generation(c.generation);  // stale before the handler hears of it
  --conn_count_;
  TcpHandler* h = c.handler;
  c.handler = nullptr;
  free_conns_.push_back(id.index);
  h->on_closed(*this, id, c.reason);
}

// ---- UDP ----

}  // namespace webtrunk::core

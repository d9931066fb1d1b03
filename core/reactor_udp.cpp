// The shard's UDP half: sockets, multishot recvmsg into provided buffers, the hot-socket mode
// (multishot poll + recvmmsg into kept buffers), send_to/forward and the per-turn batched sends.
// The loop, timers and TCP are in reactor.cpp.
#include "core/reactor.hpp"
#include "core/reactor_internal.hpp"

#include <fmt/format.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "core/metrics.hpp"

namespace webtrunk::core {
using namespace reactor_detail;  // NOLINT(google-build-using-namespace): the reactor's own internals

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
    udp_slots_.push_back(&fresh);
    fresh.self = idx;
    for (Op& o : fresh.recv_ops) o = Op{&Shard::on_udp_recv_cqe, idx};
    fresh.poll_op = Op{&Shard::on_udp_poll_cqe, idx};
  }
  UdpSocket& u = *udp_slots_[idx];
  u.fd = std::move(fd.value());
  u.handler = &handler;
  u.local = bound.value();
  u.remote = opts.connect_to;
  u.sends = 0;
  u.flags = opts.recv_errors ? static_cast<std::uint16_t>(kLive | kRecvErrors) : kLive;
  if (opts.rx_timestamps && !opts.connect_to.is_set()) u.flags |= kRxStamps;
  u.ring = opts.small_buffers && udp_rings_[1] ? 1 : 0;
  u.msg = msghdr{};
  u.msg.msg_namelen = SockAddr::capacity();
  u.msg.msg_controllen = (u.flags & kRxStamps) ? kStampControl : 0;
  u.fixed = -1;
  if (!free_fixed_.empty()) {
    const int fd_value = u.fd.get();
    if (io_uring_register_files_update(&ring_, static_cast<unsigned>(free_fixed_.back()), &fd_value, 1) == 1) {
      u.fixed = free_fixed_.back();
      free_fixed_.pop_back();
    }
  }
  u.armed = u.starved = 0;
  u.rx_turn = 0;
  u.rx_in_turn = u.quiet_drains = 0;
  restart_udp_receive(u);
  return UdpId{idx, u.generation};
}

BufferRing& Shard::udp_ring(const UdpSocket& u) noexcept { return *udp_rings_[u.ring]; }

Shard::UdpSocket* Shard::live_udp(UdpId id) noexcept {
  if (id.index >= udp_slots_.size()) return nullptr;
  UdpSocket& u = *udp_slots_[id.index];
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
  if (u->flags & kPolling) cancel_op(&u->poll_op);
  maybe_release_udp(*u);
  return true;
}

void Shard::maybe_release_udp(UdpSocket& u) {
  if (!(u.flags & kLive) || !(u.flags & kClosing) || u.armed != 0 || (u.flags & (kPolling | kDraining)) ||
      u.sends > 0) {
    return;
  }
  if (u.fixed >= 0) {
    // The table holds its own reference to the socket: drop it, or close() would not close.
    const int none = -1;
    (void)io_uring_register_files_update(&ring_, static_cast<unsigned>(u.fixed), &none, 1);
    free_fixed_.push_back(u.fixed);
    u.fixed = -1;
  }
  u.fd.reset();
  if (u.flags & kHot) --hot_sockets_;
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
  sqe->buf_group = u.ring == 0 ? kUdpGroup : kUdpSmallGroup;
  set_op(sqe, &u.recv_ops[k]);
  u.armed = static_cast<std::uint8_t>(u.armed | (1u << k));
}

void Shard::on_udp_recv_cqe(Shard& s, Op& op, const io_uring_cqe& cqe) {
  UdpSocket& u = *s.udp_slots_[op.index];
  const auto k = static_cast<unsigned>(&op - u.recv_ops.data());
  const bool more = cqe.flags & IORING_CQE_F_MORE;
  if (!more) u.armed = static_cast<std::uint8_t>(u.armed & ~(1u << k));
  if (cqe.flags & IORING_CQE_F_BUFFER) {
    const auto bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    BufferRing& ring = s.udp_ring(u);
    ring.take(bid);
    std::byte* buf = ring.data(bid);
    const std::size_t cap = ring.buffer_size();
    if (cqe.res > 0 && !(u.flags & kClosing)) {
      SockAddr peer = u.remote;
      std::byte* payload = buf;
      auto len = static_cast<std::size_t>(cqe.res);
      bool ok;
      std::int64_t rx_ns = 0;
      if (u.remote.is_set()) {
        ok = len < cap;  // recv on a connected socket: all payload; a full buffer may be a truncation
      } else {
        io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buf, cqe.res, &u.msg);
        ok = out != nullptr && (out->flags & MSG_TRUNC) == 0;
        if (ok) {
          peer = SockAddr::from_sockaddr(static_cast<const sockaddr*>(io_uring_recvmsg_name(out)), out->namelen);
          payload = static_cast<std::byte*>(io_uring_recvmsg_payload(out, &u.msg));
          len = static_cast<std::size_t>(io_uring_recvmsg_payload_length(out, cqe.res, &u.msg));
          if (u.flags & kRxStamps) {
            rx_ns = rx_stamp_ns(reinterpret_cast<const unsigned char*>(out + 1) + u.msg.msg_namelen, out->controllen);
          }
        }
      }
      if (!ok) {
        ++s.stats_.udp_dropped;
        kUdpRxDropped.inc();
      } else {
        s.deliver_udp(u, bid, peer, payload, len, rx_ns);
        s.count_udp_turn(u);
      }
    }
    ring.unref(bid);
  }
  if (more) return;
  if (u.flags & kClosing) {
    s.maybe_release_udp(u);
  } else if (u.flags & kHot) {
    // Going hot: the poll starts once every receive has ended (ENOBUFS included: the drain does
    // not need the ring's buffers).
    if (u.armed == 0) s.restart_udp_receive(u);
  } else if (cqe.res == -ENOBUFS) {
    ++s.stats_.enobufs;
    kEnobufs.inc();
    if (u.ring != 0) {
      ++s.stats_.enobufs_small;
      kSmallEnobufs.inc();
    }
    u.starved = static_cast<std::uint8_t>(u.starved | (1u << k));
    if (!(u.flags & kStarved)) {
      u.flags |= kStarved;
      s.starved_udp_.push_back(op.index);
    }
  } else {
    // IP_RECVERR: a pending ICMP error ends the receive with -ECONNREFUSED (or another -errno);
    // the error queue says for which destination. Bounded: the queue is re-read on the next error.
    if (cqe.res < 0 && cqe.res != -ECANCELED && (u.flags & kRecvErrors)) {
      SockAddr dest;
      int error = 0;
      for (int i = 0; i < 64 && read_udp_error(u.fd.get(), dest, error); ++i) {
        kUdpIcmpErrors.inc();
        u.handler->on_unreachable(s, UdpId{u.self, u.generation}, dest, error);
        if (u.flags & kClosing) break;
      }
      if (u.flags & kClosing) {
        s.maybe_release_udp(u);  // the handler closed it
        return;
      }
    }
    ++s.stats_.recv_rearms;
    s.arm_udp_recv(u, k);
  }
}

void Shard::deliver_udp(UdpSocket& u, std::uint16_t bid, const SockAddr& peer, std::byte* payload,
                        std::size_t len, std::int64_t rx_ns) {
  ++stats_.udp_received;
  BufferRing& ring = udp_ring(u);
  rx_bid_ = udp_buffer_ref(u.ring, bid);
  rx_begin_ = ring.data(bid);
  rx_end_ = rx_begin_ + ring.buffer_size();
  rx_tailroom_ = static_cast<std::size_t>(rx_end_ - (payload + len));
  rx_stamp_ns_ = rx_ns;
  u.handler->on_datagram(*this, UdpId{u.self, u.generation}, peer, {payload, len});
  rx_stamp_ns_ = 0;
  rx_bid_ = -1;
  rx_begin_ = rx_end_ = nullptr;
  rx_tailroom_ = 0;
}

// Arms what the socket's mode wants; called when the other mode's requests have all ended.
void Shard::restart_udp_receive(UdpSocket& u) {
  if (u.flags & kHot) {
    if (!(u.flags & kPolling)) arm_udp_poll(u);
    return;
  }
  const unsigned depth = std::clamp(cfg_.udp_recv_depth, 1u, kMaxUdpRecvDepth);
  for (unsigned k = 0; k < depth; ++k) {
    if (!(u.armed & (1u << k))) arm_udp_recv(u, k);
  }
}

// A multishot receive delivered one more datagram this turn: a full batch makes the socket hot.
void Shard::count_udp_turn(UdpSocket& u) {
  if (u.rx_turn != stats_.turns) {
    u.rx_turn = stats_.turns;
    u.rx_in_turn = 0;
  }
  if (++u.rx_in_turn >= cfg_.udp_hot_threshold && cfg_.udp_hot_threshold > 0 &&
      hot_sockets_ < cfg_.udp_hot_max_sockets && !(u.flags & (kHot | kClosing))) {
    go_hot(u);
  }
}

void Shard::go_hot(UdpSocket& u) {
  ++stats_.udp_hot_switches;
  ++hot_sockets_;
  u.flags |= kHot;
  u.quiet_drains = 0;
  // Receives waiting for ring buffers are not needed any more (the starved list skips it now).
  u.flags &= static_cast<std::uint16_t>(~kStarved);
  u.starved = 0;
  for (unsigned k = 0; k < kMaxUdpRecvDepth; ++k) {
    if (u.armed & (1u << k)) cancel_op(&u.recv_ops[k]);
  }
  // Datagrams the receives deliver before their final CQE come first; the poll starts after it.
  if (u.armed == 0) restart_udp_receive(u);
}

void Shard::go_cold(UdpSocket& u) {
  ++stats_.udp_cold_switches;
  --hot_sockets_;
  u.flags &= static_cast<std::uint16_t>(~kHot);
  u.rx_in_turn = 0;
  if (u.flags & kPolling) {
    cancel_op(&u.poll_op);  // the receives start on its CQE
  } else {
    restart_udp_receive(u);  // a queued drain sees the socket cold and skips it
  }
}

// One-shot, and armed only when a drain found the socket empty: while the queue never empties (a
// saturated socket) no poll sits on its wait queue, so an arriving datagram wakes nothing, exactly
// as for a thread that loops on recvmmsg. The kernel checks readiness when the poll is armed, so a
// datagram that came between the drain and the arming is not missed.
void Shard::arm_udp_poll(UdpSocket& u) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return;
  io_uring_prep_poll_add(sqe, u.fd.get(), POLLIN);
  use_fixed_file(sqe, u);
  set_op(sqe, &u.poll_op);
  u.flags |= kPolling;
}

void Shard::on_udp_poll_cqe(Shard& s, Op& op, const io_uring_cqe& cqe) {
  UdpSocket& u = *s.udp_slots_[op.index];
  u.flags &= static_cast<std::uint16_t>(~kPolling);  // one-shot: every CQE is its last
  if (u.flags & kClosing) {
    s.maybe_release_udp(u);
  } else if (!(u.flags & kHot)) {
    ++s.stats_.recv_rearms;  // cancelled by go_cold: the multishot receives take over
    s.restart_udp_receive(u);
  } else if (cqe.res == -ECANCELED) {
    s.arm_udp_poll(u);
  } else {
    s.drain_hot_udp(u);  // readable, or an error the next recvmmsg reports and clears
  }
}

// Reads a hot socket with recvmmsg into kept buffers, up to udp_hot_budget datagrams this turn,
// handing each to on_datagram, and sends each batch's forwards before reading the next, as the
// recvmmsg/sendmmsg loop it replaces does, so the same few buffers stay in the cache. Then: data
// left (the budget ran out) reads on next turn without waiting; an empty socket gets its poll.
void Shard::drain_hot_udp(UdpSocket& u) {
  HotReceive& h = *hot_rx_;
  BufferRing& ring = udp_ring(u);
  const bool connected = u.remote.is_set();
  const bool stamps = (u.flags & kRxStamps) != 0;
  // The largest datagram accepted is the same in both modes (a multishot recvmsg puts a header and
  // the address first); the payload itself starts the buffer, cache-line aligned for the copy.
  const std::size_t offset = 0;
  const std::size_t room = ring.buffer_size() - (connected ? 0 : sizeof(io_uring_recvmsg_out) + SockAddr::capacity()) -
                           (stamps ? kStampControl : 0);
  // on_datagram may close the socket (kDraining keeps its slot until this returns); nothing is
  // delivered after that.
  auto open = [&u] { return !(u.flags & kClosing); };
  u.flags |= kDraining;
  std::uint32_t got = 0;
  bool more = true;
  bool starved = false;
  while (more && got < cfg_.udp_hot_budget && open()) {
    const unsigned want = std::min({HotReceive::kBatch, ring.kept_available(), cfg_.udp_hot_budget - got});
    if (want == 0) {
      starved = true;  // every kept buffer waits in a send: go on next turn
      break;
    }
    for (unsigned i = 0; i < want; ++i) {
      const auto bid = static_cast<std::uint16_t>(ring.take_kept());
      h.bids[i] = bid;
      h.iov[i] = {ring.data(bid) + offset, room};
      msghdr& m = h.msgs[i].msg_hdr;
      m.msg_name = connected ? nullptr : &h.names[i];
      m.msg_namelen = connected ? 0 : sizeof(sockaddr_in6);
      m.msg_control = stamps ? h.control[i].data() : nullptr;
      m.msg_controllen = stamps ? kStampControl : 0;
    }
    ++stats_.udp_recvmmsg_calls;
    const int r = ::recvmmsg(u.fd.get(), h.msgs.data(), want, MSG_DONTWAIT, nullptr);
    // r < 0: empty (EAGAIN), or a pending socket error (ICMP) that this call reported and cleared,
    // as a multishot receive would end with it; the poll armed below reads on.
    const unsigned n = r > 0 ? static_cast<unsigned>(r) : 0;
    more = n == want;
    for (unsigned i = 0; i < want; ++i) {
      const std::uint16_t bid = h.bids[i];
      if (i < n && open()) {
        const msghdr& mh = h.msgs[i].msg_hdr;
        if (mh.msg_flags & MSG_TRUNC) {
          ++stats_.udp_dropped;
          kUdpRxDropped.inc();
        } else {
          const SockAddr peer =
              connected ? u.remote : SockAddr::from_sockaddr(static_cast<const sockaddr*>(mh.msg_name), mh.msg_namelen);
          deliver_udp(u, bid, peer, static_cast<std::byte*>(h.iov[i].iov_base), h.msgs[i].msg_len,
                      stamps ? rx_stamp_ns(mh.msg_control, mh.msg_controllen) : 0);
        }
      }
      ring.unref(bid);
    }
    got += n;
    flush_udp();  // this batch's forwards leave now and hand their buffers back
  }
  u.flags &= static_cast<std::uint16_t>(~kDraining);
  if (!open()) {
    maybe_release_udp(u);
    return;
  }
  if (got >= 8 || more || starved) {
    u.quiet_drains = 0;
  } else if (++u.quiet_drains >= cfg_.udp_hot_quiet_drains) {
    go_cold(u);
    return;
  }
  if (more || starved) {
    if (!(u.flags & kDrainQueued)) {
      u.flags |= kDrainQueued;
      hot_pending_.push_back(u.self);
    }
  } else {
    arm_udp_poll(u);
  }
}

// Hot sockets whose last drain stopped at its budget: they read on before this turn's CQEs.
void Shard::drain_pending_hot() {
  if (hot_pending_.empty()) return;
  std::swap(hot_draining_, hot_pending_);  // a drain may queue its socket again
  for (std::uint32_t idx : hot_draining_) {
    UdpSocket& u = *udp_slots_[idx];
    if (!(u.flags & kDrainQueued)) continue;
    u.flags &= static_cast<std::uint16_t>(~kDrainQueued);
    if ((u.flags & (kLive | kHot)) == (kLive | kHot) && !(u.flags & (kClosing | kPolling))) drain_hot_udp(u);
  }
  hot_draining_.clear();
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
  // Not inside the buffer being delivered (rx_end_ is null between deliveries): a copy, counted so
  // that a relay that meant to forward in place and does not shows in /metrics.
  if (view.data() < rx_begin_ || view.data() + view.size() > rx_end_) {
    kUdpForwardCopies.inc();
    return send_to(out, peer, view);
  }
  UdpSocket* u = live_udp(out);
  if (u == nullptr) return false;
  // The buffer's ring, not `out`'s: it goes back to the kernel once the send is done, not after on_datagram.
  BufferRing& ring = *udp_rings_[rx_bid_ >> 16];
  const auto bid = static_cast<std::uint16_t>(rx_bid_ & 0xffff);
  ring.ref(bid);
  if (!queue_udp(*u, peer, view.data(), view.size(), rx_bid_, -1)) {
    ring.unref(bid);
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
  // flush_udp() groups the queue by socket; one already in socket order (one socket, the usual
  // case for a relay's turn) needs no sort.
  if (!udp_tx_.empty() && udp_tx_.back().sock->self > u.self) udp_tx_unordered_ = true;
  // Filled in place (a temporary copied in would cost store-forwarding stalls on every datagram),
  // and never moves: the vector was reserved for udp_sends_in_flight, and its sendmmsg header
  // points at the address in it.
  const std::size_t i = udp_tx_.size();
  QueuedDatagram& q = udp_tx_.emplace_back();
  q.peer = peer;
  q.data = data;
  q.sock = &u;
  q.len = static_cast<std::uint32_t>(len);
  q.bid = bid;
  q.copy = copy;
  q.rx_ns = rx_stamp_ns_;
  if (rx_stamp_ns_ != 0) ++udp_tx_stamped_;
  set_tx_header(i);
  ++u.sends;  // close_udp() waits for it
  return true;
}

// The sendmmsg header of udp_tx_[i], written as the datagram is queued, so that a flush passes a
// run of them to the kernel as they are.
void Shard::set_tx_header(std::size_t i) noexcept {
  const QueuedDatagram& q = udp_tx_[i];
  tx_iov_[i] = {const_cast<std::byte*>(q.data), q.len};
  msghdr& h = tx_msgs_[i].msg_hdr;
  const bool to_remote = q.sock->remote.is_set() && q.peer == q.sock->remote;  // connected: no address
  h.msg_name = to_remote ? nullptr : const_cast<sockaddr*>(q.peer.data());
  h.msg_namelen = to_remote ? 0 : q.peer.size();
  h.msg_iov = &tx_iov_[i];
  h.msg_iovlen = 1;
  h.msg_control = nullptr;
  h.msg_controllen = 0;
  h.msg_flags = 0;
}

void Shard::count_tx_drop() noexcept {
  ++stats_.udp_send_dropped;
  kUdpTxDropped.inc();
}

void Shard::finish_udp_send(UdpSocket& u, std::int32_t bid, std::int32_t copy, int res) {
  if (res >= 0) {
    ++stats_.udp_sent;
  } else {
    ++stats_.udp_send_errors;
    kUdpTxErrors.inc();
  }
  release_udp_tx(bid, copy);
  --u.sends;
}

// End of turn: each socket's datagrams, in order. A socket with several goes out with sendmmsg
// (one syscall, no completions to reap); a lone datagram, or what sendmmsg could not take because
// the socket buffer is full, becomes an SQE in this turn's submit.
void Shard::flush_udp() {
  if (udp_tx_.empty()) return;
  if (udp_tx_stamped_ > 0) record_udp_delay();
  if (udp_tx_unordered_) {
    std::stable_sort(udp_tx_.begin(), udp_tx_.end(),
                     [](const QueuedDatagram& a, const QueuedDatagram& b) { return a.sock->self < b.sock->self; });
    for (std::size_t i = 0; i < udp_tx_.size(); ++i) set_tx_header(i);
  }
  const std::size_t n = udp_tx_.size();
  for (std::size_t g = 0; g < n;) {
    UdpSocket& u = *udp_tx_[g].sock;
    std::size_t e = g + 1;
    while (e < n && udp_tx_[e].sock == &u) ++e;
    std::size_t i = g;
    if (cfg_.udp_mmsg_threshold > 0 && e - g >= cfg_.udp_mmsg_threshold) {
      while (i < e) {
        ++stats_.udp_mmsg_calls;
        const auto count = static_cast<unsigned>(std::min<std::size_t>(e - i, kMaxMmsg));
        int r;
        do {
          r = ::sendmmsg(u.fd.get(), &tx_msgs_[i], count, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (r < 0 && errno == EINTR);
        if (r < 0) r = -errno;
        if (r == -EAGAIN || r == -EWOULDBLOCK || r == -ENOBUFS) break;  // the rest wait in io_uring
        std::size_t done = 1;  // r < 0: entry i failed
        if (r > 0) {
          done = static_cast<std::size_t>(r);
          stats_.udp_sent += done;
        } else {
          ++stats_.udp_send_errors;
          kUdpTxErrors.inc();
        }
        for (std::size_t k = i; k < i + done; ++k) release_udp_tx(udp_tx_[k].bid, udp_tx_[k].copy);
        u.sends -= static_cast<std::uint32_t>(done);
        i += done;
      }
    }
    for (; i < e; ++i) {
      const QueuedDatagram& d = udp_tx_[i];
      if (!submit_udp_send(u, d)) {
        count_tx_drop();
        release_udp_tx(d.bid, d.copy);
        --u.sends;
      }
    }
    if (u.flags & kClosing) maybe_release_udp(u);
    g = e;
  }
  udp_tx_.clear();
  udp_tx_unordered_ = false;
}

// One clock read for the whole flush: the sends leave now (sendmmsg below, or SQEs submitted at
// the end of this turn's preparation).
void Shard::record_udp_delay() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::int64_t now_ns = static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  for (const QueuedDatagram& q : udp_tx_) {
    if (q.rx_ns != 0) udp_delay_.add(now_ns - q.rx_ns);
  }
  udp_tx_stamped_ = 0;
}

bool Shard::submit_udp_send(UdpSocket& u, const QueuedDatagram& d) {
  if (udp_unreaped_.capacity() > 0 && udp_unreaped_.size() < udp_unreaped_.capacity()) {
    return submit_unreaped_send(u, d);
  }
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
  m.udp = d.sock->self;
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

// A send without a success CQE (ShardConfig::udp_send_skip_cqe). MSG_DONTWAIT makes io_uring fail
// it with -EAGAIN rather than poll and retry later (REQ_F_NOWAIT), so it is done, one way or the
// other, once the io_uring_enter that consumed it returns: UDP has copied the payload by then.
bool Shard::submit_unreaped_send(UdpSocket& u, const QueuedDatagram& d) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return false;
  QueuedDatagram& q = udp_unreaped_.emplace_back(d);  // never reallocates: bounded by its capacity
  io_uring_prep_send(sqe, u.fd.get(), q.data, q.len, MSG_DONTWAIT);
  if (!(u.remote.is_set() && q.peer == u.remote)) {
    sqe->addr2 = reinterpret_cast<std::uintptr_t>(q.peer.data());
    sqe->addr_len = static_cast<std::uint16_t>(q.peer.size());
  }
  use_fixed_file(sqe, u);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  set_op(sqe, &udp_send_failed_op_);
  ++stats_.udp_sends_unreaped;
  return true;
}

// After an io_uring_enter: the sends it consumed are issued, their buffers free. If the kernel
// left SQEs unconsumed (it refuses new work while completions overflow), every one waits a turn.
void Shard::release_unreaped_sends() {
  if (udp_unreaped_.empty() || io_uring_sq_ready(&ring_) != 0) return;
  for (const QueuedDatagram& q : udp_unreaped_) {
    ++stats_.udp_sent;
    release_udp_tx(q.bid, q.copy);
    UdpSocket& u = *q.sock;
    --u.sends;
    if (u.flags & kClosing) maybe_release_udp(u);
  }
  udp_unreaped_.clear();
}

void Shard::on_udp_send_failed_cqe(Shard& s, Op&, const io_uring_cqe& cqe) {
  // Already released (and counted as sent) after its submit: only the failure is counted.
  (void)cqe;
  --s.stats_.udp_sent;
  ++s.stats_.udp_send_errors;
  kUdpTxErrors.inc();
}

void Shard::on_udp_send_cqe(Shard& s, Op& op, const io_uring_cqe& cqe) {
  UdpSend& m = s.udp_sends_[op.index];
  UdpSocket& u = *s.udp_slots_[m.udp];
  s.finish_udp_send(u, m.bid, m.copy, cqe.res);
  m.bid = m.copy = -1;
  if (u.flags & kClosing) s.maybe_release_udp(u);
  s.free_udp_sends_.push_back(op.index);
}

}  // namespace webtrunk::core

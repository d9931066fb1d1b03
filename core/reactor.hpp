// Shard: one io_uring event loop on one thread (see DESIGN.md, "Shared nothing, thread per core").
// It owns its listeners, connections, UDP sockets, provided-buffer rings, timers and a mailbox inbox.
// Every method must be called on the shard's thread, except request_stop() and wake().
//
// The loop, one turn: prepare the SQEs queued during the previous turn (coalesced TCP sends,
// receives re-armed after running out of buffers), hand returned buffers to the kernel, then ONE
// io_uring_submit_and_wait; run every CQE; advance the timer wheel. The wake-up for the next timer
// is one absolute IORING_OP_TIMEOUT kept armed across turns (moved only when the next deadline gets
// earlier), not a timeout per wait: arming an hrtimer on every wait is a timer-device write per
// turn, which costs a VM exit on virtual machines. Each SQE's user_data points at an Op (a completion object: function + owner slot);
// there is no switch on fd.
//
// Ids and lifetimes:
// - ConnId / UdpId are a slot index plus a generation. Once a connection is released (after
//   on_closed) or a UDP socket closed, its id is stale: every call with it is a no-op returning false.
// - Views handed to handlers (on_data, on_datagram) are valid only during the call: the buffer
//   returns to the kernel right after, unless forward() took a reference on it.
// - A handler must outlive the listener / socket it was registered with and every connection
//   accepted through it (until their on_closed). Handlers are never called from inside send(),
//   close(), abort() or close_udp(): on_closed comes from the loop, in a later step.
// - Destroying a Shard closes everything without calling handlers.
#pragma once

#include <liburing.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/buffer_ring.hpp"
#include "core/clock.hpp"
#include "core/delay_histogram.hpp"
#include "core/mailbox.hpp"
#include "core/result.hpp"
#include "core/socket.hpp"
#include "core/timer_wheel.hpp"
#include "core/tls_stream.hpp"

namespace webtrunk::core {

class Shard;
class TlsContext;

struct ConnId {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;  // 0 is never live
  friend bool operator==(ConnId, ConnId) = default;
};
struct UdpId {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  friend bool operator==(UdpId, UdpId) = default;
};
struct ListenerId {
  std::uint32_t index = UINT32_MAX;
};

class TcpHandler {
 public:
  virtual ~TcpHandler() = default;
  // A connection arrived. Return false to refuse it: it is closed at once and no on_closed follows.
  virtual bool on_accept(Shard& shard, ConnId id, const SockAddr& peer) = 0;
  // Bytes arrived, in order. `data` is valid only during this call.
  virtual void on_data(Shard& shard, ConnId id, std::span<const std::byte> data) = 0;
  // Exactly once per accepted or connected (connect_tcp) connection, when it is gone and `id` is
  // already stale. `reason` is 0 for an orderly end (peer EOF, or our close() after the output
  // drained), -ECANCELED after abort(), else the -errno that ended it (-ECONNRESET, -EPIPE, ...;
  // for a connect that never completed: -ECONNREFUSED, -ETIMEDOUT for its deadline, ...).
  virtual void on_closed(Shard& shard, ConnId id, int reason) = 0;
  // An outbound connection (connect_tcp) is established; on_data and on_closed follow as for an
  // accepted one. Never called for an accepted connection.
  virtual void on_connected(Shard& shard, ConnId id) { (void)shard, (void)id; }
  // A TLS connection failed (handshake, certificate, alert, bad record): `reason` says why, for a
  // log line or an error shown to a user, and is valid only during this call. on_closed (reason
  // -EPROTO) follows once any alert has been sent.
  virtual void on_tls_failed(Shard& shard, ConnId id, TlsFailure failure, std::string_view reason) {
    (void)shard, (void)id, (void)failure, (void)reason;
  }
};

class UdpHandler {
 public:
  virtual ~UdpHandler() = default;
  // One datagram. `payload` is writable (decrypt in place) and valid only during this call; to send
  // it on without a copy, call shard.forward() from here. shard.datagram_tailroom() tells how many
  // bytes past the payload's end are writable too (room for an SRTP auth tag).
  virtual void on_datagram(Shard& shard, UdpId id, const SockAddr& peer, std::span<std::byte> payload) = 0;
  // A socket opened with UdpOptions::recv_errors: an ICMP error came back for a datagram sent to
  // `dest` (`error`: ECONNREFUSED for port unreachable, EHOSTUNREACH, ...).
  virtual void on_unreachable(Shard& shard, UdpId id, const SockAddr& dest, int error) {
    (void)shard, (void)id, (void)dest, (void)error;
  }
};

struct ShardConfig {
  unsigned index = 0;
  unsigned sq_entries = 1024;
  unsigned cq_entries = 8192;             // multishot receives post many CQEs per SQE
  std::uint32_t tcp_buffers = 512;        // provided buffers for TCP receive (power of two)
  std::uint32_t tcp_buffer_size = 4096;
  // Provided buffers for UDP receive (power of two). The kernel takes them in ring (FIFO) order, so
  // the ring size is the cache working set: 1024 beat 4096 by ~5% in bench_udp_relay. Bursts beyond
  // it wait in the socket buffer (ENOBUFS re-arm), nothing is lost.
  std::uint32_t udp_buffers = 1024;
  std::uint32_t udp_buffer_size = 2048;   // header (16) + address (28) + payload + tailroom
  // A second provided-buffer ring for sockets opened with UdpOptions::small_buffers (media: RTP,
  // RTCP, STUN and DTLS fit in 2 KiB), so that a shard whose main ring holds SIP-sized buffers does
  // not put every 200-byte RTP packet into 8 KiB. 0: no second ring (those sockets use the main one).
  // Running dry is counted apart in webtrunk_reactor_udp_small_enobufs_total.
  std::uint32_t udp_small_buffers = 0;
  std::uint32_t udp_small_buffer_size = 2048;
  std::uint32_t udp_send_copies = 4096;   // max send_to() copies in flight (SendSlab blocks)
  std::uint32_t udp_sends_in_flight = 8192;  // queued in a turn, and SQEs in flight
  // Multishot recvmsg requests per UDP socket (1-4). The kernel gives one request at most 32
  // datagrams per io_uring_enter; 2 halves the turns for one very busy socket, but showed no CPU
  // gain in bench_udp_relay and doubles the ENOBUFS re-arms when many sockets share the ring.
  unsigned udp_recv_depth = 1;
  // A socket with at least this many datagrams in one turn sends them with one sendmmsg instead of
  // one SQE each (see bench/RESULTS.md); 0: always SQEs.
  std::uint32_t udp_mmsg_threshold = 4;
  // Sends that go out as SQEs (a lone datagram on its socket this turn: per-call trunk ports) are
  // submitted MSG_DONTWAIT with IOSQE_CQE_SKIP_SUCCESS: the kernel issues them inside the turn's
  // io_uring_enter, where UDP copies the payload into an skb, and posts a CQE only when one fails
  // (EAGAIN on a full socket buffer included: dropped and counted, as a non-blocking send would
  // be). Their receive buffers and copy blocks go back once that enter has consumed the SQEs.
  // false (the default): each send holds its buffer until its CQE, and a full socket buffer waits
  // (io_uring polls). Off by default: bench_media_relay --send-cqes skip measured no gain at 1,000
  // per-call-port calls (7.5-8.1 us per relayed packet either way, bench/RESULTS.md).
  bool udp_send_skip_cqe = false;
  // Hot-socket mode (bench/RESULTS.md, "UDP relay"): a UDP socket that delivers at least this many
  // datagrams in one turn (32 is what one multishot receive gets per io_uring_enter) stops its
  // multishot recvmsg and is drained instead with recvmmsg, 64 datagrams a call, woken by a one-shot
  // poll armed only when a drain empties it; each batch's sends go out with one sendmmsg. Per datagram that skips the
  // provided-buffer select, the CQE and the security hook that a multishot receive pays. After
  // udp_hot_quiet_drains drains in a row that found fewer than 8 datagrams it goes back to multishot
  // recvmsg, which is cheaper per wake-up for a trickle. 0 disables the mode.
  std::uint32_t udp_hot_threshold = 32;
  std::uint32_t udp_hot_quiet_drains = 16;
  // At most this many sockets hot at once. The mode pays a recvmmsg per socket per turn, where
  // multishot receives serve every socket with the one io_uring_enter: with 64 busy sockets
  // (per-call RTP ports) all-hot measured 0.99x the baseline against 1.16x all-cold
  // (bench/RESULTS.md). It is for the few very busy ones (a shard's browser-media port).
  std::uint32_t udp_hot_max_sockets = 4;
  // Buffers kept out of the kernel's ring for those recvmmsg calls (they share ids, forward() and
  // tailroom with the ring's own). Each batch's sends leave before the next recvmmsg, so a hot
  // socket reuses the same 64 while its sends keep up.
  std::uint32_t udp_hot_buffers = 256;
  // The most datagrams one hot socket reads in one turn (~1.5 ms of work at saturation here), so
  // it cannot starve timers and other sockets; what is left is read next turn without waiting.
  // Fewer means more io_uring_enter calls per datagram.
  std::uint32_t udp_hot_budget = 1024;
  // Registered-file slots for UDP sockets: their SQEs skip the per-op fget/fput (refcount atomics).
  // Sockets beyond this many use plain fds. 0 disables.
  std::uint32_t fixed_files = 1024;
  Duration timer_resolution = std::chrono::milliseconds(1);
  // Wake-up batching (bench/RESULTS.md, "UDP relay"): a turn that would block waits until
  // wait_batch_events completions are in or wait_batch has passed since it began waiting, whichever
  // is first (then any one completion ends the wait). Fewer, fuller turns for spread-out arrivals,
  // at up to wait_batch of added latency for everything the shard does. Needs Linux 6.12
  // (IORING_FEAT_MIN_TIMEOUT); older kernels wait as if it were zero. 0 turns it off. Off by
  // default and in `webtrunk edge`: it made one socket fed a trickle 1.17-1.24x cheaper per datagram,
  // but the media relay (bench_media_relay --wait-batch-us) used 8-23 % more CPU with it.
  std::chrono::microseconds wait_batch{0};
  unsigned wait_batch_events = 64;
};

// Plain counters for tests and /metrics-like introspection; only the shard's thread writes them.
struct ShardStats {
  std::uint64_t turns = 0;
  std::uint64_t cqes = 0;
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;
  std::uint64_t tcp_sends = 0;          // send SQEs
  std::uint64_t tcp_short_writes = 0;   // sends that wrote less than asked
  std::uint64_t recv_rearms = 0;        // multishot receives that ended with F_MORE clear and went again
  std::uint64_t enobufs = 0;            // receives that ran out of provided buffers
  std::uint64_t enobufs_small = 0;      // of them, UDP receives on the small-buffer ring
  std::uint64_t udp_received = 0;
  std::uint64_t udp_dropped = 0;        // truncated or malformed on receive
  std::uint64_t udp_sent = 0;           // datagrams the kernel took (sendmmsg or send CQE)
  std::uint64_t udp_mmsg_calls = 0;     // sendmmsg calls made by flush
  std::uint64_t udp_send_errors = 0;
  std::uint64_t udp_sends_unreaped = 0;  // SQE sends submitted without a completion on success
  std::uint64_t udp_send_dropped = 0;   // no slot or copy block free
  std::uint64_t udp_hot_switches = 0;   // sockets that went hot (multishot recvmsg -> poll + recvmmsg)
  std::uint64_t udp_cold_switches = 0;  // and back
  std::uint64_t udp_recvmmsg_calls = 0;
};

// What io_uring_queue_init's failure means and how to allow io_uring (for the start-up error).
std::string describe_io_uring_setup_error(int neg_errno);

class Shard {
 public:
  using Task = std::function<void(Shard&)>;
  using ShardMailbox = Mailbox<Task>;

  // Creates the ring (SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN | SUBMIT_ALL, dropping flags the
  // kernel lacks) and the buffer rings. SINGLE_ISSUER: call this on the thread that will run().
  // `mailbox` / `waker` come from Shards; a standalone shard passes neither and makes its own waker.
  static Result<std::unique_ptr<Shard>> create(const ShardConfig& cfg, ShardMailbox* mailbox = nullptr,
                                               Waker* waker = nullptr);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  unsigned index() const noexcept { return cfg_.index; }
  unsigned ring_flags() const noexcept { return ring_flags_; }  // the IORING_SETUP_* flags in use

  // Runs the loop until request_stop(). Returns an error only if io_uring itself fails.
  Result<void> run();
  // Any thread: the loop returns after the current turn.
  void request_stop() noexcept;
  bool stop_requested() const noexcept { return stop_.load(std::memory_order_acquire); }
  // Any thread: interrupts the wait (the mailbox does this after posting).
  void wake() noexcept { waker_->wake(); }

  // ---- TCP ----
  // A SO_REUSEPORT listener on this shard with multishot accept. `local` may have port 0.
  // `tls` set: every connection it accepts is TLS (a TlsStream on this shard, no other thread): the
  // handler sees the decrypted bytes in on_data and send() takes plaintext, exactly as on a plain
  // port; the handshake has the context's deadline. A connection that fails TLS (plaintext on the
  // port, a bad record, the deadline) is closed after any alert is sent, counted in the
  // webtrunk_tls_* metrics and logged (rate limited) by the stream; the handler sees only its
  // on_closed (reason -EPROTO).
  Result<ListenerId> listen_tcp(const SockAddr& local, TcpHandler& handler, const TcpListenOptions& opts = {},
                                std::shared_ptr<const TlsContext> tls = nullptr);
  // New connections on the listener use `tls` from now on (a reload); established ones keep
  // theirs. Ignored for a plaintext listener (null keeps it TLS with the old context).
  void set_listener_tls(ListenerId id, std::shared_ptr<const TlsContext> tls);
  // Whether `id` is a TLS connection (false if stale).
  bool is_tls(ConnId id) const;
  SockAddr listener_address(ListenerId id) const;
  // Stops accepting; existing connections stay.
  void close_listener(ListenerId id);
  // An outbound connection to `peer` (non-blocking socket + IORING_OP_CONNECT). The id is usable at
  // once: send() queues until the connect completes (output_queued() counts it), close()/abort()
  // work. The handler then gets on_connected, or on_closed with the connect's -errno (-ETIMEDOUT
  // when `timeout` passes first). Plaintext only. Fails now only if no socket can be made.
  Result<ConnId> connect_tcp(const SockAddr& peer, TcpHandler& handler, Duration timeout);
  // The same, then TLS as a client (TlsStream::client with `tls`, a client context): `host` is the
  // name (or IP literal) the server's certificate must carry and the SNI; `resume` a session from
  // an earlier connection to the same server. send() queues plaintext until the handshake is done;
  // on_connected comes once it is done (not at the TCP connect); a failure comes as on_tls_failed,
  // then on_closed with -EPROTO. The handshake deadline is the context's, from now.
  Result<ConnId> connect_tls(const SockAddr& peer, TcpHandler& handler, Duration timeout,
                             std::shared_ptr<const TlsContext> tls, std::string_view host, TlsSession resume = nullptr);
  // A TLS client connection's session to resume the next one with (TlsStream::session()); null if
  // none yet, not TLS, or stale.
  TlsSession tls_session(ConnId id) const;
  // Copies `data` to the connection's output; sent after this turn, in order, one send in flight
  // at a time. False if the id is stale or the connection is closing.
  bool send(ConnId id, std::span<const std::byte> data);
  // Closes after the queued output is sent. False if stale.
  bool close(ConnId id);
  // Closes now; queued output is dropped. False if stale.
  bool abort(ConnId id);
  // Bytes queued or in flight: a handler applies backpressure when this grows. On a TLS
  // connection: the ciphertext queued and in flight plus plaintext sent before the handshake was done.
  std::size_t output_queued(ConnId id) const;
  std::size_t connection_count() const noexcept { return conn_count_; }

  // ---- UDP ----
  Result<UdpId> open_udp(const SockAddr& local, UdpHandler& handler, const UdpOptions& opts = {});
  SockAddr udp_address(UdpId id) const;
  // No more on_datagram; the socket is closed once its sends completed. False if stale.
  bool close_udp(UdpId id);
  // Copies `data` into a send block; sent at the end of this turn. False (and counted) if no block
  // is free or the datagram exceeds the block size. Datagrams to one socket leave in call order.
  bool send_to(UdpId out, const SockAddr& peer, std::span<const std::byte> data);
  // Inside on_datagram only: sends `view`, which must lie in the datagram being handled (it may be
  // the payload modified in place, shorter, or longer into the tailroom), from that very buffer;
  // the buffer goes back to the kernel once the send is done (after the turn's sendmmsg, or on the
  // send's CQE). Anything else falls back to send_to, counted in webtrunk_udp_forward_copies_total
  // (media::RxBuf and Relay's Transmit::in_place say beforehand which views qualify).
  bool forward(UdpId out, const SockAddr& peer, std::span<const std::byte> view);
  std::size_t datagram_tailroom() const noexcept { return rx_tailroom_; }
  // Whether ShardConfig::wait_batch is in effect (set, and the kernel has the minimum wait).
  bool wait_batching() const noexcept { return wait_batch_ok_; }

  // ---- time ----
  // The loop's time, read once per turn after the wait.
  Instant now() const noexcept { return now_; }
  TimerWheel& timers() noexcept { return timers_; }
  TimerHandle add_timer(Duration after, TimerWheel::Callback cb) { return timers_.insert(now_ + after, std::move(cb)); }
  bool cancel_timer(TimerHandle h) noexcept { return timers_.cancel(h); }
  // Runs `fn` at the end of the current turn: after the turn's completions and timers, before the
  // output they queued (send(), send_to()) is submitted. A group commit uses it: answer every
  // request of the turn, write once, then let the answers go. A task deferred by a deferred task
  // runs in the same turn. Called outside run(): at the end of the first turn.
  void defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

  // ---- mailbox ----
  // Runs `task` on shard `to` (may be this one). False if there is no mailbox or the lane is full.
  bool post(unsigned to, Task task);

  const ShardStats& stats() const noexcept { return stats_; }
  // Time inside the process for datagrams received on sockets opened with UdpOptions::rx_timestamps:
  // from the kernel's arrival stamp (SO_TIMESTAMPNS) to the send of each datagram forward()ed or
  // send_to()'d while handling it, read once per flush as the sends are handed to the kernel
  // (sendmmsg, or the SQE about to be submitted in the same turn). CLOCK_REALTIME both ends.
  const DelayHistogram& udp_delay() const noexcept { return udp_delay_; }
  void reset_udp_delay() noexcept { udp_delay_.clear(); }

 private:
  struct Op;
  using OpFn = void (*)(Shard&, Op&, const io_uring_cqe&);
  struct Op {
    OpFn fn = nullptr;
    std::uint32_t index = 0;  // slot of the owner (connection, listener, socket, send)
  };
  struct Listener;
  struct Conn;
  struct UdpSocket;
  struct UdpSend;
  struct QueuedDatagram;
  struct HotReceive;
  struct TlsConn;
  struct Connecting;

  explicit Shard(const ShardConfig& cfg);
  Result<void> init(ShardMailbox* mailbox, Waker* waker);
  io_uring_sqe* get_sqe() noexcept;
  static void set_op(io_uring_sqe* sqe, Op* op) noexcept { io_uring_sqe_set_data(sqe, op); }
  void cancel_op(Op* op) noexcept;
  void prepare_turn();
  void publish_buffers() noexcept;  // every ring's returned buffers, to the kernel
  void run_cqes();

  // Completion handlers, one per op kind.
  static void on_wake_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);
  static void on_timeout_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);
  static void on_accept_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);
  static void on_recv_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);
  static void on_send_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);
  static void on_connect_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);
  static void on_udp_recv_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);
  static void on_udp_send_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);
  static void on_udp_send_failed_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);
  static void on_udp_poll_cqe(Shard& s, Op& op, const io_uring_cqe& cqe);

  void arm_wake();
  void arm_timeout();
  void arm_accept(Listener& l);
  void arm_recv(Conn& c);
  Conn& alloc_conn();
  void queue_flush(Conn& c);
  void submit_send(Conn& c);
  void fail_conn(Conn& c, int reason);
  void maybe_finish(Conn& c);
  void release_conn(Conn& c);
  // TLS connections (reactor_tls.cpp).
  void start_tls(Conn& c, const Listener& l);
  void deliver(Conn& c, std::span<const std::byte> data);
  void pump_tls(Conn& c);
  bool tls_send(Conn& c, std::span<const std::byte> data);
  void tls_take_output(Conn& c);
  void tls_close(Conn& c);
  void arm_tls_timer(Conn& c);
  void end_tls(Conn& c);
  Conn* live_conn(ConnId id) noexcept;
  const Conn* live_conn(ConnId id) const noexcept;
  void arm_udp_recv(UdpSocket& u, unsigned k);
  void arm_udp_poll(UdpSocket& u);
  void restart_udp_receive(UdpSocket& u);
  void count_udp_turn(UdpSocket& u);
  void go_hot(UdpSocket& u);
  void go_cold(UdpSocket& u);
  void drain_hot_udp(UdpSocket& u);
  void drain_pending_hot();
  void record_udp_delay() noexcept;  // udp_tx_'s stamped datagrams into udp_delay_
  void deliver_udp(UdpSocket& u, std::uint16_t bid, const SockAddr& peer, std::byte* payload, std::size_t len,
                   std::int64_t rx_ns);
  BufferRing& udp_ring(const UdpSocket& u) noexcept;
  UdpSocket* live_udp(UdpId id) noexcept;
  bool queue_udp(UdpSocket& u, const SockAddr& peer, const std::byte* data, std::size_t len, std::int32_t bid,
                 std::int32_t copy);
  void flush_udp();
  bool submit_udp_send(UdpSocket& u, const QueuedDatagram& d);
  void set_tx_header(std::size_t i) noexcept;
  void finish_udp_send(UdpSocket& u, std::int32_t bid, std::int32_t copy, int res);
  bool submit_unreaped_send(UdpSocket& u, const QueuedDatagram& d);
  void release_unreaped_sends();
  // A send is over: its receive buffer reference or copy block goes back.
  void release_udp_tx(std::int32_t bid, std::int32_t copy) noexcept {
    if (bid >= 0) udp_rings_[bid >> 16]->unref(static_cast<std::uint16_t>(bid & 0xffff));
    if (copy >= 0) udp_copies_.free(copy);
  }
  void count_tx_drop() noexcept;
  void maybe_release_udp(UdpSocket& u);
  static void use_fixed_file(io_uring_sqe* sqe, const UdpSocket& u) noexcept;

  ShardConfig cfg_;
  io_uring ring_{};
  bool ring_ready_ = false;
  unsigned ring_flags_ = 0;
  bool send_with_addr_ = false;  // IORING_OP_SEND with a destination (6.1+) instead of SENDMSG
  bool wait_batch_ok_ = false;   // the kernel takes a minimum wait (ShardConfig::wait_batch)
  int submit_and_wait_turn();
  std::unique_ptr<BufferRing> tcp_bufs_;
  // The main UDP ring and the small-buffer one (null without ShardConfig::udp_small_buffers).
  std::array<std::unique_ptr<BufferRing>, 2> udp_rings_;
  SendSlab udp_copies_;
  TimerWheel timers_;
  std::vector<std::function<void()>> deferred_;
  std::vector<std::function<void()>> deferred_running_;
  Instant now_;
  ShardStats stats_;

  std::unique_ptr<Waker> own_waker_;
  Waker* waker_ = nullptr;
  ShardMailbox* mailbox_ = nullptr;
  Op wake_op_;
  std::uint64_t wake_buf_ = 0;
  std::atomic<bool> stop_{false};
  Op timeout_op_;
  __kernel_timespec timeout_ts_{};  // the kernel copies these at submit; kept as members anyway
  __kernel_timespec update_ts_{};
  bool timeout_armed_ = false;
  Instant timeout_at_{};

  // deques: elements never move, so Ops inside them can be user_data while slots are added.
  std::deque<Listener> listeners_;
  std::deque<Conn> conns_;
  std::vector<std::uint32_t> free_conns_;
  std::size_t conn_count_ = 0;
  std::vector<std::uint32_t> flush_list_;    // connections with output to send this turn
  std::vector<std::uint32_t> starved_tcp_;   // receives waiting for provided buffers
  std::vector<std::uint32_t> release_list_;  // connections to release (and report) this turn
  std::deque<UdpSocket> udps_;            // the slots (never move)
  std::vector<UdpSocket*> udp_slots_;     // udps_ by index without the deque's arithmetic
  std::vector<std::uint32_t> free_udps_;
  std::vector<std::uint32_t> starved_udp_;
  std::deque<UdpSend> udp_sends_;
  std::vector<std::uint32_t> free_udp_sends_;
  std::vector<int> free_fixed_;  // unused registered-file slots
  std::vector<QueuedDatagram> udp_tx_;  // this turn's datagrams, in send_to()/forward() order
  bool udp_tx_unordered_ = false;       // udp_tx_ is not grouped by socket index
  std::unique_ptr<mmsghdr[]> tx_msgs_;  // udp_tx_[i]'s sendmmsg header, for udp_sends_in_flight
  std::unique_ptr<iovec[]> tx_iov_;
  static constexpr std::size_t kMaxMmsg = 1024;  // UIO_MAXIOV: the most one sendmmsg takes
  std::unique_ptr<HotReceive> hot_rx_;       // recvmmsg headers for hot sockets
  // Sends submitted without a completion (udp_send_skip_cqe) since the last io_uring_enter: their
  // destinations (the kernel reads them when it issues the SQE) and what to release after it.
  // Reserved for udp_sends_in_flight, never grows past it (elements must not move).
  std::vector<QueuedDatagram> udp_unreaped_;
  Op udp_send_failed_op_;
  std::vector<std::uint32_t> hot_pending_;   // hot sockets left with data by their drain budget
  std::vector<std::uint32_t> hot_draining_;  // hot_pending_ of the previous turn, being drained
  std::uint32_t hot_sockets_ = 0;            // sockets with kHot set

  // The datagram being handled by on_datagram (for forward(); a udp_buffer_ref), else rx_bid_ == -1.
  std::int32_t rx_bid_ = -1;
  const std::byte* rx_begin_ = nullptr;  // that buffer, for forward()'s check
  const std::byte* rx_end_ = nullptr;
  std::size_t rx_tailroom_ = 0;
  std::int64_t rx_stamp_ns_ = 0;    // its kernel arrival stamp (UdpOptions::rx_timestamps), else 0
  std::size_t udp_tx_stamped_ = 0;  // queued datagrams in udp_tx_ with a stamp
  DelayHistogram udp_delay_;
};

}  // namespace webtrunk::core

// bench_udp_relay: UDP relay of RTP-sized datagrams on loopback, io_uring Shard vs recvmmsg/sendmmsg.
//
// A generator thread (pinned to --gen-cpu) sends --packets datagrams of --size bytes with sendmmsg
// to the relay socket; the relay thread (pinned to --relay-cpu) forwards each one from a second
// socket to a sink socket. Both relays run in the same process run, alternating for --rounds:
//   uring: core::Shard, multishot recvmsg into provided buffers (a hot socket: multishot poll +
//          recvmmsg into kept buffers), forward() from the same buffer, sends batched per turn;
//   mmsg:  blocking recvmmsg(--batch, MSG_WAITFORONE) + sendmmsg of the same batch.
// Reported per run: relayed packets, loss (sent - relayed; the relay socket overflows when the
// relay is slower than the generator), relay-thread CPU seconds (CLOCK_THREAD_CPUTIME_ID), packets
// per relay CPU-second, wall packets per second. The sink is not read during the run (a reader
// would compete with the generator for its core); its queue is checked for intact payloads after.
#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/bytes.hpp"
#include "core/reactor.hpp"
#include "core/socket.hpp"

namespace wt = webtrunk::core;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::uint64_t packets = 2'000'000;
  std::size_t size = 172;
  unsigned batch = 64;
  unsigned burst = 0;  // 0: batch
  unsigned wait_batch_us = 0;
  double time_limit_s = 60;  // per run, hard
  unsigned gen_cpu = 0;
  unsigned relay_cpu = 1;
  unsigned rounds = 1;
  bool connected = false;
  std::string mode = "both";
  std::uint32_t udp_buffers = wt::ShardConfig{}.udp_buffers;
  std::uint64_t rate = 0;  // generator packets/s; 0 = as fast as it can
  unsigned flows = 1;      // sinks; packet `seq` goes to sink seq % flows (read from the payload)
  bool forward = true;     // false: receive only (diagnostic: the receive side alone)
  unsigned sockets = 1;    // relay input sockets; the generator spreads packets over them
  std::uint32_t mmsg_threshold = wt::ShardConfig{}.udp_mmsg_threshold;  // the Shard's sendmmsg cut-over
  unsigned recv_depth = wt::ShardConfig{}.udp_recv_depth;               // multishot receives per socket
  std::uint32_t hot_threshold = wt::ShardConfig{}.udp_hot_threshold;    // hot-socket mode; 0 = off
  std::uint32_t hot_budget = wt::ShardConfig{}.udp_hot_budget;
  std::uint32_t hot_max = wt::ShardConfig{}.udp_hot_max_sockets;
};

struct RunResult {
  std::string name;
  std::uint64_t generated = 0;
  std::uint64_t relayed = 0;
  double relay_cpu_s = 0;
  double relay_user_s = 0;
  double relay_sys_s = 0;
  double wall_s = 0;
  double gen_s = 0;
  std::uint64_t sink_checked = 0;
  std::uint64_t sink_bad = 0;
  double cpu_pps() const { return relay_cpu_s > 0 ? static_cast<double>(relayed) / relay_cpu_s : 0; }
  double wall_pps() const { return wall_s > 0 ? static_cast<double>(relayed) / wall_s : 0; }
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bench_udp_relay: %s\n", msg.c_str());
  std::exit(1);
}

// The relay thread's id goes to stderr so `perf report --tid` can isolate it.
void announce_relay_thread(const char* name) {
  std::fprintf(stderr, "%s relay thread tid=%ld\n", name, static_cast<long>(::gettid()));
}

void pin(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set); rc != 0) {
    die(fmt::format("cannot pin to CPU {}: {}", cpu, std::strerror(rc)));
  }
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// utime and stime of the calling thread in seconds (clock ticks), to tell our code from the kernel's.
std::pair<double, double> thread_user_sys() {
  FILE* f = std::fopen("/proc/thread-self/stat", "r");
  if (f == nullptr) return {0, 0};
  char buf[1024] = {};
  const std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  const char* p = std::strrchr(buf, ')');  // the comm may contain spaces
  if (p == nullptr || n == 0) return {0, 0};
  unsigned long ut = 0;
  unsigned long st = 0;
  // After ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return {0, 0};
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return {static_cast<double>(ut) / hz, static_cast<double>(st) / hz};
}

double seconds(wt::Duration d) { return std::chrono::duration<double>(d).count(); }

unsigned io_wq_workers() {
  // io_uring may punt work to "iou-wrk-*" threads whose CPU would not show in the relay thread's
  // clock; the report says whether any existed.
  unsigned n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string path = fmt::format("/proc/self/task/{}/comm", e->d_name);
      if (FILE* f = std::fopen(path.c_str(), "r")) {
        char comm[64] = {};
        if (std::fgets(comm, sizeof(comm), f) != nullptr && std::string_view(comm).starts_with("iou-wrk")) ++n;
        std::fclose(f);
      }
    }
    closedir(d);
  }
  return n;
}

void fill_packet(std::byte* p, std::size_t size, std::uint64_t seq) {
  wt::store_be64(p, seq);
  for (std::size_t i = 8; i < size; ++i) p[i] = static_cast<std::byte>((i * 7 + 3) & 0xff);
}

struct Generator {
  std::atomic<bool> done{false};
  std::atomic<bool> stop{false};
  double seconds_taken = 0;

  wt::Fd fd;
  wt::SockAddr local;
  // Bound before the relay starts, so a --connected relay can connect its input to it.
  Generator() {
    auto s = wt::open_udp_socket(wt::SockAddr::ipv4_loopback(0), wt::UdpOptions{});
    if (!s) die(s.error().message);
    fd = std::move(s.value());
    local = wt::local_address(fd.get()).value();
  }

  void run(const Options& o, const std::vector<wt::SockAddr>& to) {
    pin(o.gen_cpu);
    if (to.size() == 1 && ::connect(fd.get(), to[0].data(), to[0].size()) != 0) die("generator connect");
    std::vector<std::byte> bufs(std::size_t{o.burst} * o.size);
    std::vector<iovec> iov(o.burst);
    std::vector<mmsghdr> msgs(o.burst);
    for (unsigned i = 0; i < o.burst; ++i) {
      iov[i] = {bufs.data() + i * o.size, o.size};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const auto t0 = wt::monotonic_now();
    std::uint64_t seq = 0;
    while (seq < o.packets && !stop.load(std::memory_order_relaxed)) {
      const auto n = static_cast<unsigned>(std::min<std::uint64_t>(o.burst, o.packets - seq));
      for (unsigned i = 0; i < n; ++i) {
        fill_packet(bufs.data() + i * o.size, o.size, seq + i);
        if (to.size() > 1) {  // round robin over the relay's sockets
          const wt::SockAddr& dst = to[(seq + i) % to.size()];
          msgs[i].msg_hdr.msg_name = const_cast<sockaddr*>(dst.data());
          msgs[i].msg_hdr.msg_namelen = dst.size();
        }
      }
      const int r = ::sendmmsg(fd.get(), msgs.data(), n, 0);
      if (r < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
        die(fmt::format("sendmmsg: {}", std::strerror(errno)));
      }
      seq += static_cast<std::uint64_t>(r);
      if (o.rate > 0) {
        const auto due = t0 + std::chrono::nanoseconds(seq * 1'000'000'000ull / o.rate);
        while (wt::monotonic_now() < due) std::this_thread::sleep_for(50us);
      }
    }
    seconds_taken = seconds(wt::monotonic_now() - t0);
    done.store(true, std::memory_order_release);
  }
};

// Ends a relay run: the generator finished and nothing arrived for 200 ms, or the hard limit passed.
struct StopRule {
  wt::Instant hard_deadline;
  wt::Instant last_progress;
  std::uint64_t last_count = 0;
  bool should_stop(const Generator& g, std::uint64_t count, wt::Instant now) {
    if (count != last_count) {
      last_count = count;
      last_progress = now;
    }
    if (now > hard_deadline) return true;
    return g.done.load(std::memory_order_acquire) && now - last_progress > 200ms;
  }
};

struct RelaySockets {
  wt::SockAddr sink_addr;            // sink 0
  std::vector<wt::SockAddr> sinks;   // all of them, by flow
  std::vector<wt::Fd> fds;
};

RelaySockets make_sinks(unsigned flows) {
  RelaySockets s;
  for (unsigned i = 0; i < flows; ++i) {
    auto sink = wt::open_udp_socket(wt::SockAddr::ipv4_loopback(0), wt::UdpOptions{});
    if (!sink) die(sink.error().message);
    s.sinks.push_back(wt::local_address(sink->get()).value());
    s.fds.push_back(std::move(sink.value()));
  }
  s.sink_addr = s.sinks[0];
  return s;
}

// Which sink a packet goes to: its sequence number (the relay reads it, as a real relay reads a header).
const wt::SockAddr& sink_for(const RelaySockets& s, const std::byte* payload) {
  return s.sinks.size() == 1 ? s.sinks[0] : s.sinks[wt::load_be64(payload) % s.sinks.size()];
}

wt::UdpOptions in_options(const Options& o, const wt::SockAddr& generator) {
  wt::UdpOptions u;
  u.recv_buffer = 4 << 20;  // capped by net.core.rmem_max; the same for both relays
  if (o.connected) u.connect_to = generator;  // like a per-call RTP socket connected to the trunk
  return u;
}

wt::UdpOptions out_options(const Options& o, const wt::SockAddr& sink) {
  wt::UdpOptions u;
  if (o.connected) u.connect_to = sink;
  return u;
}

// After a run: whatever the sinks still hold must be whole, unmodified packets of their own flow.
void check_sinks(const RelaySockets& s, const Options& o, RunResult& r) {
  std::vector<std::byte> buf(65536);
  std::vector<std::byte> want(o.size);
  for (std::size_t k = 0; k < s.fds.size(); ++k) {
    for (int i = 0; i < 100'000; ++i) {
      const ssize_t n = ::recv(s.fds[k].get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) break;
      ++r.sink_checked;
      const std::uint64_t seq = wt::load_be64(buf.data());
      fill_packet(want.data(), o.size, seq);
      if (static_cast<std::size_t>(n) != o.size || std::memcmp(buf.data(), want.data(), o.size) != 0 ||
          seq % s.fds.size() != k) {
        ++r.sink_bad;
      }
    }
  }
}

struct UringRelay : wt::UdpHandler {
  bool forward = true;
  std::uint64_t received = 0;
  wt::UdpId out;
  const RelaySockets* sinks = nullptr;
  wt::Instant first{};
  wt::Instant last{};
  bool seen = false;
  void on_datagram(wt::Shard& s, wt::UdpId, const wt::SockAddr&, std::span<std::byte> payload) override {
    if (!seen) {
      seen = true;
      first = s.now();
    }
    last = s.now();
    ++received;
    if (forward) (void)s.forward(out, sink_for(*sinks, payload.data()), payload);  // zero copy: from the receive buffer
  }
};

RunResult run_uring(const Options& o) {
  RunResult res;
  res.name = "io_uring";
  RelaySockets socks = make_sinks(o.flows);
  Generator gen;
  std::atomic<bool> relay_ready{false};
  std::vector<wt::SockAddr> in_addrs;
  std::thread relay([&] {
    pin(o.relay_cpu);
    announce_relay_thread("io_uring");
    wt::ShardConfig cfg;
    cfg.udp_buffers = o.udp_buffers;
    cfg.udp_buffer_size = 2048;
    cfg.udp_sends_in_flight = o.udp_buffers;  // every buffer may be in a send
    cfg.tcp_buffers = 16;
    cfg.cq_entries = 4 * o.udp_buffers;
    cfg.udp_mmsg_threshold = o.mmsg_threshold;
    cfg.udp_recv_depth = o.recv_depth;
    cfg.udp_hot_threshold = o.hot_threshold;
    cfg.udp_hot_budget = o.hot_budget;
    cfg.udp_hot_max_sockets = o.hot_max;
    cfg.wait_batch = std::chrono::microseconds(o.wait_batch_us);
    auto shard = wt::Shard::create(cfg);
    if (!shard) die(shard.error().message);
    wt::Shard& s = *shard.value();
    UringRelay h;
    h.sinks = &socks;
    h.forward = o.forward;
    auto out = s.open_udp(wt::SockAddr::ipv4_loopback(0), h, out_options(o, socks.sink_addr));
    if (!out) die(out.error().message);
    h.out = out.value();
    for (unsigned k = 0; k < o.sockets; ++k) {
      auto in = s.open_udp(wt::SockAddr::ipv4_loopback(0), h, in_options(o, gen.local));
      if (!in) die(in.error().message);
      in_addrs.push_back(s.udp_address(in.value()));
    }
    StopRule rule{wt::monotonic_now() + std::chrono::duration_cast<wt::Duration>(
                                            std::chrono::duration<double>(o.time_limit_s)),
                  wt::monotonic_now()};
    std::function<void()> check = [&] {
      if (rule.should_stop(gen, s.stats().udp_received, s.now())) {
        s.request_stop();
      } else {
        s.add_timer(10ms, check);
      }
    };
    s.add_timer(10ms, check);
    relay_ready = true;
    const double cpu0 = thread_cpu_s();
    const auto us0 = thread_user_sys();
    if (auto r = s.run(); !r) die(r.error().message);
    res.relay_cpu_s = thread_cpu_s() - cpu0;
    const auto us1 = thread_user_sys();
    res.relay_user_s = us1.first - us0.first;
    res.relay_sys_s = us1.second - us0.second;
    res.relayed = o.forward ? s.stats().udp_sent : h.received;
    res.wall_s = seconds(h.last - h.first);
    const auto& st = s.stats();
    std::printf("  io_uring loop: %lu turns, %.1f CQEs/turn, %lu sendmmsg calls, %lu ENOBUFS, %lu multishot re-arms, "
                "%lu recvmmsg calls (hot), %lu/%lu hot/cold switches\n",
                static_cast<unsigned long>(st.turns),
                st.turns ? static_cast<double>(st.cqes) / static_cast<double>(st.turns) : 0.0,
                static_cast<unsigned long>(st.udp_mmsg_calls), static_cast<unsigned long>(st.enobufs),
                static_cast<unsigned long>(st.recv_rearms), static_cast<unsigned long>(st.udp_recvmmsg_calls),
                static_cast<unsigned long>(st.udp_hot_switches), static_cast<unsigned long>(st.udp_cold_switches));
    if (s.stats().udp_send_errors || s.stats().udp_send_dropped) {
      std::fprintf(stderr, "io_uring: %lu send errors, %lu sends dropped\n",
                   static_cast<unsigned long>(s.stats().udp_send_errors),
                   static_cast<unsigned long>(s.stats().udp_send_dropped));
    }
  });
  while (!relay_ready) std::this_thread::sleep_for(1ms);
  std::thread g([&] { gen.run(o, in_addrs); });
  g.join();
  relay.join();
  res.generated = o.packets;
  res.gen_s = gen.seconds_taken;
  check_sinks(socks, o, res);
  return res;
}

RunResult run_mmsg(const Options& o) {
  RunResult res;
  res.name = "recvmmsg/sendmmsg";
  RelaySockets socks = make_sinks(o.flows);
  Generator gen;
  auto out = wt::open_udp_socket(wt::SockAddr::ipv4_loopback(0), out_options(o, socks.sink_addr));
  if (!out) die(out.error().message);
  std::vector<wt::Fd> ins;
  std::vector<wt::SockAddr> in_addrs;
  // One socket: a blocking recvmmsg(MSG_WAITFORONE), the strongest form. Several: epoll, then
  // recvmmsg(MSG_DONTWAIT) on every ready socket into one shared batch, then one sendmmsg.
  wt::Fd ep{::epoll_create1(EPOLL_CLOEXEC)};
  for (unsigned k = 0; k < o.sockets; ++k) {
    auto in = wt::open_udp_socket(wt::SockAddr::ipv4_loopback(0), in_options(o, gen.local));
    if (!in) die(in.error().message);
    in_addrs.push_back(wt::local_address(in->get()).value());
    timeval tv{0, 10'000};  // 10 ms: the loop must notice the end of the run
    ::setsockopt(in->get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = k;
    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, in->get(), &ev);
    ins.push_back(std::move(in.value()));
  }
  std::atomic<bool> relay_ready{false};
  std::thread relay([&] {
    pin(o.relay_cpu);
    announce_relay_thread("mmsg");
    const unsigned b = o.batch;
    std::vector<std::byte> bufs(std::size_t{b} * 2048);
    std::vector<iovec> iov(b);
    std::vector<sockaddr_in6> names(b);
    std::vector<mmsghdr> rx(b);
    std::vector<mmsghdr> tx(b);
    std::vector<iovec> tx_iov(b);
    wt::SockAddr sink = socks.sink_addr;
    for (unsigned i = 0; i < b; ++i) {
      iov[i] = {bufs.data() + std::size_t{i} * 2048, 2048};
      rx[i] = {};
      rx[i].msg_hdr.msg_iov = &iov[i];
      rx[i].msg_hdr.msg_iovlen = 1;
      // The source address, as the io_uring path gets it (a connected socket needs none).
      rx[i].msg_hdr.msg_name = o.connected ? nullptr : &names[i];
      tx[i] = {};
      tx[i].msg_hdr.msg_iov = &tx_iov[i];
      tx[i].msg_hdr.msg_iovlen = 1;
      if (!o.connected) tx[i].msg_hdr.msg_namelen = sink.size();
    }
    StopRule rule{wt::monotonic_now() + std::chrono::duration_cast<wt::Duration>(
                                            std::chrono::duration<double>(o.time_limit_s)),
                  wt::monotonic_now()};
    wt::Instant first{};
    wt::Instant last{};
    std::uint64_t received = 0;
    relay_ready = true;
    const double cpu0 = thread_cpu_s();
    const auto us0 = thread_user_sys();
    std::uint64_t calls = 0;
    std::vector<epoll_event> events(o.sockets);
    for (;;) {
      for (unsigned i = 0; i < b; ++i) rx[i].msg_hdr.msg_namelen = o.connected ? 0 : sizeof(sockaddr_in6);
      int n = 0;
      if (ins.size() == 1) {
        n = ::recvmmsg(ins[0].get(), rx.data(), b, MSG_WAITFORONE, nullptr);
        ++calls;
        if (n < 0 && errno != EAGAIN && errno != EINTR) die(fmt::format("recvmmsg: {}", std::strerror(errno)));
      } else {
        const int ne = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), 10);
        for (int e = 0; e < ne && static_cast<unsigned>(n) < b; ++e) {
          const int r = ::recvmmsg(ins[events[e].data.u32].get(), rx.data() + n, b - static_cast<unsigned>(n),
                                   MSG_DONTWAIT, nullptr);
          ++calls;
          if (r > 0) n += r;
        }
      }
      if (n <= 0) {
        if (rule.should_stop(gen, received, wt::monotonic_now())) break;
        continue;
      }
      const wt::Instant now = wt::monotonic_now();
      if (received == 0) first = now;
      last = now;
      received += static_cast<std::uint64_t>(n);
      if (!o.forward) {
        res.relayed += static_cast<std::uint64_t>(n);
        continue;
      }
      for (int i = 0; i < n; ++i) {
        tx_iov[i] = {iov[i].iov_base, rx[i].msg_len};
        if (!o.connected) {
          tx[i].msg_hdr.msg_name = const_cast<sockaddr*>(sink_for(socks, static_cast<std::byte*>(iov[i].iov_base)).data());
        }
      }
      for (int sent = 0; sent < n;) {
        const int r = ::sendmmsg(out->get(), tx.data() + sent, static_cast<unsigned>(n - sent), 0);
        if (r < 0) {
          if (errno == EINTR) continue;
          break;  // counted as loss, like a failed send CQE
        }
        sent += r;
        res.relayed += static_cast<std::uint64_t>(r);
      }
      if ((received & 0xffff) < static_cast<std::uint64_t>(n) && rule.should_stop(gen, received, now)) break;
    }
    res.relay_cpu_s = thread_cpu_s() - cpu0;
    const auto us1 = thread_user_sys();
    res.relay_user_s = us1.first - us0.first;
    res.relay_sys_s = us1.second - us0.second;
    res.wall_s = seconds(last - first);
    std::printf("  mmsg loop: %lu recvmmsg calls, %.1f datagrams/call\n", static_cast<unsigned long>(calls),
                calls ? static_cast<double>(received) / static_cast<double>(calls) : 0.0);
  });
  while (!relay_ready) std::this_thread::sleep_for(1ms);
  std::thread g([&] { gen.run(o, in_addrs); });
  g.join();
  relay.join();
  res.generated = o.packets;
  res.gen_s = gen.seconds_taken;
  check_sinks(socks, o, res);
  return res;
}

void print(const RunResult& r) {
  const double loss = r.generated ? 100.0 * static_cast<double>(r.generated - std::min(r.generated, r.relayed)) /
                                        static_cast<double>(r.generated)
                                  : 0;
  std::printf("%-18s relayed %9lu / %9lu  loss %5.2f%%  relay cpu %6.3f s  %8.0f pps/cpu-s  wall %6.3f s  "
              "%8.0f pps  (user %.2f s, sys %.2f s; generator %.2f s; sink %lu checked, %lu bad)\n",
              r.name.c_str(), static_cast<unsigned long>(r.relayed), static_cast<unsigned long>(r.generated), loss,
              r.relay_cpu_s, r.cpu_pps(), r.wall_s, r.wall_pps(), r.relay_user_s, r.relay_sys_s, r.gen_s, static_cast<unsigned long>(r.sink_checked),
              static_cast<unsigned long>(r.sink_bad));
  std::fflush(stdout);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void usage() {
  std::puts(
      "bench_udp_relay: UDP relay on loopback, io_uring Shard vs recvmmsg/sendmmsg, same process run\n"
      "  --packets N       datagrams per run (default 2000000)\n"
      "  --size B          datagram size (default 172: RTP header + 160 B G.711)\n"
      "  --batch N         sendmmsg/recvmmsg batch (default 64)\n"
      "  --rounds N        alternate the two relays N times (default 1)\n"
      "  --mode M          both | uring | mmsg (default both)\n"
      "  --connected       connect the relay's input to the generator and its output to the sink\n"
      "                    (both relays; the per-call RTP socket case: no source addresses)\n"
      "  --flows N         N sinks; a packet goes to sink seq %% N (default 1)\n"
      "  --no-forward      receive only (diagnostic: compares the receive paths alone)\n"
      "  --sockets N       N relay input sockets, packets spread round robin (per-call RTP ports);\n"
      "                    the baseline then uses epoll + recvmmsg per ready socket + one sendmmsg\n"
      "  --mmsg-threshold N  io_uring relay: a socket with >= N datagrams in a turn sends them with one\n"
      "                    sendmmsg (default: the Shard's, 4); 0 = one SQE per datagram\n"
      "  --recv-depth N    io_uring relay: multishot recvmsg requests per socket (default: the Shard's, 1)\n"
      "  --hot-threshold N io_uring relay: datagrams in one turn that make a socket hot (multishot poll +\n"
      "                    recvmmsg; default: the Shard's, 32); 0 = always multishot recvmsg\n"
      "  --hot-budget N    io_uring relay: most datagrams a hot socket reads per turn (default: the Shard's)\n"
      "  --hot-max-sockets N  io_uring relay: most sockets hot at once (default: the Shard's, 4)\n"
      "  --udp-buffers N   provided buffers for the io_uring relay (power of two, default: the Shard's, 1024)\n"
      "  --rate PPS        pace the generator (default 0: flat out)\n"
      "  --wait-batch-us U io_uring relay: a blocking wait lasts until 64 completions or U microseconds\n"
      "                    (ShardConfig::wait_batch; default 0: off)\n"
      "  --burst N         datagrams per generator sendmmsg, then the pause --rate asks for (default:\n"
      "                    --batch); small bursts are many calls' RTP arriving spread out\n"
      "  --gen-cpu C --relay-cpu C   pinning (default 0 and 1)\n"
      "  --time-limit S    hard limit per run in seconds (default 60)");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto next = [&]() -> std::string_view {
      if (i + 1 >= argc) die(fmt::format("{} needs a value", a));
      return argv[++i];
    };
    auto num = [&]() { return std::strtoull(std::string(next()).c_str(), nullptr, 10); };
    if (a == "--packets") o.packets = num();
    else if (a == "--size") o.size = std::clamp<std::size_t>(num(), 8, 1400);
    else if (a == "--batch") o.batch = static_cast<unsigned>(std::clamp<std::uint64_t>(num(), 1, 1024));
    else if (a == "--rounds") o.rounds = static_cast<unsigned>(std::max<std::uint64_t>(num(), 1));
    else if (a == "--mode") o.mode = std::string(next());
    else if (a == "--connected") o.connected = true;
    else if (a == "--no-forward") o.forward = false;
    else if (a == "--sockets") o.sockets = static_cast<unsigned>(std::clamp<std::uint64_t>(num(), 1, 1024));
    else if (a == "--mmsg-threshold") o.mmsg_threshold = static_cast<std::uint32_t>(num());
    else if (a == "--recv-depth") o.recv_depth = static_cast<unsigned>(num());
    else if (a == "--hot-threshold") o.hot_threshold = static_cast<std::uint32_t>(num());
    else if (a == "--hot-budget") o.hot_budget = static_cast<std::uint32_t>(num());
    else if (a == "--hot-max-sockets") o.hot_max = static_cast<std::uint32_t>(num());
    else if (a == "--flows") o.flows = static_cast<unsigned>(std::clamp<std::uint64_t>(num(), 1, 4096));
    else if (a == "--udp-buffers") o.udp_buffers = static_cast<std::uint32_t>(num());
    else if (a == "--rate") o.rate = num();
    else if (a == "--wait-batch-us") o.wait_batch_us = static_cast<unsigned>(std::min<std::uint64_t>(num(), 100'000));
    else if (a == "--burst") o.burst = static_cast<unsigned>(std::clamp<std::uint64_t>(num(), 1, 1024));
    else if (a == "--gen-cpu") o.gen_cpu = static_cast<unsigned>(num());
    else if (a == "--relay-cpu") o.relay_cpu = static_cast<unsigned>(num());
    else if (a == "--time-limit") o.time_limit_s = std::strtod(std::string(next()).c_str(), nullptr);
    else if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else {
      die(fmt::format("unknown flag {} (see --help)", a));
    }
  }
  if (o.mode != "both" && o.mode != "uring" && o.mode != "mmsg") die("--mode must be both, uring or mmsg");
  if (o.connected && o.flows > 1) die("--connected needs --flows 1");
  if (o.burst == 0) o.burst = o.batch;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::printf("UDP relay: %lu packets of %zu B, batch %u, %u input socket(s), %s, %u sink flow(s), generator CPU %u, "
              "relay CPU %u%s\n",
              static_cast<unsigned long>(o.packets), o.size, o.batch, o.sockets,
              o.connected ? "connected sockets" : "unconnected sockets", o.flows, o.gen_cpu, o.relay_cpu, o.rate ? fmt::format(", paced at {} pps", o.rate).c_str() : "");
  std::vector<double> u_cpu, u_wall, m_cpu, m_wall;
  for (unsigned round = 0; round < o.rounds; ++round) {
    if (o.mode != "mmsg") {
      RunResult r = run_uring(o);
      print(r);
      u_cpu.push_back(r.cpu_pps());
      u_wall.push_back(r.wall_pps());
    }
    if (o.mode != "uring") {
      RunResult r = run_mmsg(o);
      print(r);
      m_cpu.push_back(r.cpu_pps());
      m_wall.push_back(r.wall_pps());
    }
  }
  std::printf("io_uring worker threads seen: %u\n", io_wq_workers());
  if (!u_cpu.empty() && !m_cpu.empty()) {
    std::printf("median pps per relay CPU-second: io_uring %.0f, recvmmsg/sendmmsg %.0f, ratio %.3f\n",
                median(u_cpu), median(m_cpu), median(u_cpu) / median(m_cpu));
    std::printf("median wall pps:                 io_uring %.0f, recvmmsg/sendmmsg %.0f, ratio %.3f\n",
                median(u_wall), median(m_wall), median(u_wall) / median(m_wall));
  }
  return 0;
}

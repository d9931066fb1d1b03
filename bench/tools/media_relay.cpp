// bench_media_relay: how many G.711 calls one shard's MediaBridge relays with < 0.1 % loss, and the
// same load through rtpengine (--relay rtpengine) for a side-by-side comparison.
//
// Two processes on loopback (three with --relay rtpengine):
//   edge  (this process, pinned to --edge-cpu): one core::Shard with one media::MediaBridge, --calls
//         sessions (ICE-lite, DTLS server, SRTP <-> RTP relay), exactly what the edge runs per shard;
//   peers (a forked child, pinned to --peer-cpu): --calls emulated browsers (media_browser.hpp: a
//         nominating ICE check, a DTLS client handshake, then SRTP) and --trunk-sockets echoing trunk
//         sockets (call i uses socket i mod n), on a second Shard. The trunk echoes every RTP packet
//         from the buffer it arrived in.
// The peers live in their own process so that the edge's RSS counts only the edge: memory per
// call = (RSS after set-up - RSS before the first session) / calls.
// With --relay rtpengine the relay is the rtpengine daemon (rtpengine_ng.hpp) started pinned to
// --edge-cpu, userspace only (--table=-1, --dtls-passive); this process sets each call up over the
// ng protocol (offer with the browser's ICE/DTLS SDP, answer with the trunk's plain RTP/AVP SDP) and
// hands the browsers rtpengine's per-call address, ICE credentials and fingerprint. The browsers,
// the trunk and every figure are the same for both relays.
//
// Phases: set-up (handshakes, at most --concurrency at a time), a pause, then --seconds of media:
// every browser sends --rate packets/s of --payload bytes (RTP PT 0, 20 ms timestamps), spread
// evenly over each 20 ms; the trunk echoes; the browser unprotects what comes back. Loss is
// 1 - echoed / sent over the whole path (browser -> edge -> trunk -> edge -> browser), so both
// relay directions count. Relay CPU is utime + stime of the relay's process (/proc/PID/stat) over the
// media phase (user + kernel time of its syscalls; softirq work done in other threads is not in it),
// per relayed packet = what reached the trunk + what reached the browsers in that window.
// Delay: every browser packet carries its send time (CLOCK_MONOTONIC ns) in its first 8 payload
// bytes; the trunk notes browser -> relay -> trunk, the browser the whole round trip (both relay
// passes; the echo itself is a forward from the receive buffer). Both include the emulator's own
// wake-up latency on its CPU.
// Bounded: set-up gives up after --setup-timeout, media stops after --seconds, drain is 1 s.
// The tool is the function run_media_relay (bench/tools/load.hpp): bench_media_relay and
// `webtrunk bench media` both run it.
#include <dirent.h>
#include <fmt/format.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bench/tools/bench_thread.hpp"
#include "bench/tools/load.hpp"
#include "bench/tools/media_relay_common.hpp"
#include "bench/tools/rtpengine_ng.hpp"
#include "bench/tools/tool_flags.hpp"
#include "core/bytes.hpp"
#include "core/delay_histogram.hpp"
#include "core/log.hpp"
#include "core/reactor.hpp"
#include "media/bridge.hpp"
#include "media/rtp.hpp"

namespace wt = webtrunk;
using namespace std::chrono_literals;

namespace {

using wt::bench::media_relay::browser_ufrag;
using wt::bench::media_relay::Channel;
using wt::bench::media_relay::die;
using wt::bench::media_relay::kBrowserPwd;
using wt::bench::media_relay::Options;
using wt::bench::media_relay::pin;
using wt::bench::media_relay::seconds_since;

// The flags, one line each; `prog` names the program ("bench_media_relay", "webtrunk bench media").
std::string usage(std::string_view prog) {
  return fmt::format(
      "usage: {} [flags]\n"
      "  --calls N             concurrent calls (browser + trunk sessions) (default 1000)\n"
      "  --seconds S           seconds of media after set-up (default 20)\n"
      "  --rate PPS            packets per second each way per call, 1..1000 (default 50: 20 ms G.711)\n"
      "  --payload BYTES       RTP payload size, at most 1200 (default 160)\n"
      "  --edge-cpu C          CPU of the relay: this process's shard, or rtpengine (default 0)\n"
      "  --peer-cpu C          CPU of the emulated browsers and trunk (a child process) (default 1)\n"
      "  --concurrency N       ICE + DTLS handshakes in flight at most (default 32)\n"
      "  --setup-timeout S     give up set-up after S seconds (default 120)\n"
      "  --profiles LIST       SRTP profiles the browsers offer, OpenSSL names joined by ':'\n"
      "                        (default SRTP_AEAD_AES_256_GCM:SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80)\n"
      "  --engine own|libsrtp  the edge's SRTP implementation (default own)\n"
      "  --relay webtrunk|rtpengine  which relay the browsers and trunk go through (default webtrunk)\n"
      "  --rtpengine-bin PATH  the rtpengine daemon (default rtpengine, from $PATH)\n"
      "  --rtpengine-ng PORT   its ng control port on 127.0.0.1 (default 0: a free port)\n"
      "  --rtpengine-ports A-B its RTP port range, 4 ports a call (default 30000-59999)\n"
      "  --rtpengine-threads N its --num-threads, all on --edge-cpu (default 2)\n"
      "  --rtpengine-log FILE  its log (warnings and up) (default /dev/null)\n"
      "  --rtp-ports A-B       the edge's trunk-side RTP port range (default 20000-29999)\n"
      "  --trunk-sockets N     sockets of the echoing trunk, 1..4096 (default 8)\n"
      "  --trunk-rtp-mode M    the edge's trunk-side ports: per-call|shared (default per-call); shared\n"
      "                        needs a trunk address per call: --trunk-sockets >= --calls\n"
      "  --wait-batch-us U     the edge shard's wake-up batching window (core::ShardConfig::wait_batch;\n"
      "                        default 0 = off, as in `webtrunk edge`)\n"
      "  --media-buffer-size B the edge's small-buffer (media) ring buffer size, 512..65536 (default:\n"
      "                        what `webtrunk edge` uses, media::set_edge_udp_buffers; 8256 = SIP's, as before)\n"
      "  --send-cqes skip|each the edge's SQE sends without a completion on success (skip) or each\n"
      "                        with its CQE (each, the default, as in `webtrunk edge`; ShardConfig::udp_send_skip_cqe)\n"
      "  --rx-stamps on|off    kernel arrival stamps on the edge's media sockets, for the added delay\n"
      "                        (arrival -> send inside the relay; MediaConfig::rx_timestamps: default on\n"
      "                        here, off in `webtrunk edge`)\n"
      "  --log-level L         the relay's log on stderr: debug|info|warn|error (default warn)\n"
      "Exit status: 0 when every call connected and loss < 0.1 %, 1 on an error, 2 for a bad flag,\n"
      "3 when a call failed or loss >= 0.1 %.\n",
      prog);
}

// Fills `o` from argv; false with `err` naming the flag when one is unknown or malformed.
bool parse(int argc, char** argv, Options& o, bool& help, std::string& err) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      help = true;
      return true;
    }
    if (i + 1 >= argc) {
      err = fmt::format("{} needs a value", a);
      return false;
    }
    const char* v = argv[++i];
    char* end = nullptr;
    const auto num = [&] {
      const double d = std::strtod(v, &end);
      if (end == v || *end != '\0' || d < 0) err = fmt::format("{}: not a number: {}", a, v);
      return d;
    };
    const auto level = [&] {
      wt::core::LogLevel l = wt::core::LogLevel::warn;
      if (!wt::core::parse_log_level(v, l)) err = fmt::format("{}: debug|info|warn|error, not {}", a, v);
      return l;
    };
    if (a == "--calls") o.calls = static_cast<unsigned>(num());
    else if (a == "--seconds") o.seconds = num();
    else if (a == "--rate") o.rate = static_cast<unsigned>(num());
    else if (a == "--payload") o.payload = static_cast<std::size_t>(num());
    else if (a == "--edge-cpu") o.edge_cpu = static_cast<unsigned>(num());
    else if (a == "--peer-cpu") o.peer_cpu = static_cast<unsigned>(num());
    else if (a == "--concurrency") o.concurrency = static_cast<unsigned>(num());
    else if (a == "--setup-timeout") o.setup_timeout = num();
    else if (a == "--profiles") o.profiles = v;
    else if (a == "--engine") o.engine = v;
    else if (a == "--relay") o.relay = v;
    else if (a == "--rtpengine-bin") o.rtpengine_bin = v;
    else if (a == "--rtpengine-ng") o.rtpengine_ng_port = static_cast<unsigned>(num());
    else if (a == "--rtpengine-ports") o.rtpengine_ports = v;
    else if (a == "--rtpengine-threads") o.rtpengine_threads = static_cast<unsigned>(num());
    else if (a == "--rtpengine-log") o.rtpengine_log = v;
    else if (a == "--rtp-ports") o.rtp_ports = v;
    else if (a == "--trunk-sockets") o.trunk_sockets = static_cast<unsigned>(num());
    else if (a == "--trunk-rtp-mode") o.trunk_rtp_mode = v;
    else if (a == "--wait-batch-us") o.wait_batch_us = static_cast<unsigned>(num());
    else if (a == "--send-cqes") o.send_cqes = v;
    else if (a == "--rx-stamps") o.rx_stamps = v;
    else if (a == "--media-buffer-size") o.media_buffer_size = static_cast<unsigned>(num());
    else if (a == "--log-level") o.log_level = level();
    else err = fmt::format("unknown flag {}", a);
    if (!err.empty()) return false;
  }
  if (o.calls == 0) err = "--calls: at least 1";
  else if (o.rate == 0 || o.rate > 1000) err = "--rate: 1..1000";
  else if (o.payload > 1200) err = "--payload: at most 1200";
  else if (o.concurrency == 0) err = "--concurrency: at least 1";
  else if (o.trunk_sockets == 0 || o.trunk_sockets > 4096) err = "--trunk-sockets: 1..4096";
  else if (!wt::media::parse_trunk_rtp_mode(o.trunk_rtp_mode)) err = "--trunk-rtp-mode: per-call|shared";
  else if (o.trunk_rtp_mode == "shared" && o.trunk_sockets < o.calls) err = "--trunk-rtp-mode shared: --trunk-sockets >= --calls";
  else if (o.wait_batch_us > 10'000) err = "--wait-batch-us: 0..10000";
  else if (o.send_cqes != "skip" && o.send_cqes != "each") err = "--send-cqes: skip|each";
  else if (o.rx_stamps != "on" && o.rx_stamps != "off") err = "--rx-stamps: on|off";
  else if (o.media_buffer_size != 0 && (o.media_buffer_size < 512 || o.media_buffer_size > 65536)) {
    err = "--media-buffer-size: 512..65536";
  }
  else if (o.relay != "webtrunk" && o.relay != "rtpengine") err = "--relay: webtrunk|rtpengine";
  else if (o.rtpengine_ng_port > 65535) err = "--rtpengine-ng: 0..65535";
  else if (o.rtpengine_threads == 0 || o.rtpengine_threads > 64) err = "--rtpengine-threads: 1..64";
  return err.empty();
}

// The relay's process: this one (pid 0) or rtpengine's.
std::string proc_path(pid_t pid, const char* file) {
  return pid > 0 ? fmt::format("/proc/{}/{}", pid, file) : fmt::format("/proc/self/{}", file);
}

long rss_kib(pid_t pid = 0) {
  FILE* f = std::fopen(proc_path(pid, "status").c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

// utime + stime of a whole process (every thread), seconds.
double process_cpu_s(pid_t pid) {
  FILE* f = std::fopen(proc_path(pid, "stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name (field 2) is in parentheses and may hold spaces: fields count from the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  unsigned long long utime = 0, stime = 0;
  // Fields 3..15: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime.
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The same summed over every thread of a process (the relay's: this one or rtpengine).
double process_runqueue_wait_s(pid_t pid) {
  const std::string dir = proc_path(pid, "task");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  double total = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    FILE* f = std::fopen(fmt::format("{}/{}/schedstat", dir, e->d_name).c_str(), "r");
    if (f == nullptr) continue;
    unsigned long long run = 0, wait = 0;
    if (std::fscanf(f, "%llu %llu", &run, &wait) == 2) total += static_cast<double>(wait) * 1e-9;
    std::fclose(f);
  }
  ::closedir(d);
  return total;
}

// ---------------------------------------------------------------- edge (this process)

struct EdgeFigures {
  pid_t relay_pid = 0;  // 0: this process
  long rss_start_kib = 0, rss_created_kib = 0, rss_setup_kib = 0, rss_setup_trimmed_kib = 0;
  std::size_t heap_start = 0, heap_setup = 0;  // malloc'd bytes in use (mallinfo2; webtrunk only)
  double cpu_s = 0, wall_s = 0, wait_s = 0;
  std::uint64_t enobufs = 0;
  std::uint64_t recv_rearms = 0;  // multishot receives ended (ENOBUFS, CQ overflow) and armed again
  // The kernel's UDP RcvbufErrors over the media phase (machine-wide: datagrams dropped because a
  // socket's receive buffer was full, which is where a relay that does not get its CPU loses them).
  std::uint64_t rcvbuf_errors = 0;
  std::uint64_t send_errors = 0;
  std::int64_t to_trunk = 0, to_browser = 0, dropped = 0, dtls_ok = 0, dtls_failed = 0;
  std::uint64_t udp_send_dropped = 0;
  // webtrunk: each relayed packet's time inside the relay over the media phase (kernel arrival
  // stamp to its send, Shard::udp_delay()); count 0 for rtpengine or with --rx-stamps off.
  std::uint64_t delay_count = 0;
  double delay_p50_us = 0, delay_p99_us = 0, delay_p999_us = 0, delay_max_us = 0;
  std::string result;
};

// The peers' hello: their certificate's fingerprint and the echoing trunk's addresses.
struct PeersHello {
  std::string browser_fp;
  std::vector<wt::core::SockAddr> trunks;
};
PeersHello read_hello(Channel& ch) {
  PeersHello h;
  std::istringstream hello(ch.recv().value());
  std::string word, trunk_text;
  hello >> word >> h.browser_fp;
  while (hello >> trunk_text) h.trunks.push_back(wt::core::SockAddr::parse(trunk_text).value());
  if (h.trunks.empty()) die("no trunk address from the peers");
  return h;
}

// The phases the peers announce, the same for both relays: memory after set-up, the relay
// process's CPU over the media phase. True once the peers' result is in.
// /proc/net/snmp's Udp RcvbufErrors (0 if unreadable).
std::uint64_t udp_rcvbuf_errors() {
  std::ifstream in("/proc/net/snmp");
  std::string header, values;
  while (std::getline(in, header) && std::getline(in, values)) {
    if (!header.starts_with("Udp:")) continue;
    std::istringstream h(header), v(values);
    std::string name, value;
    while (h >> name && v >> value) {
      if (name == "RcvbufErrors") return std::strtoull(value.c_str(), nullptr, 10);
    }
  }
  return 0;
}

bool on_control_line(const std::string& line, Channel& ch, EdgeFigures& f, double& cpu0, double& wait0,
                     wt::core::Instant& t0) {
  if (line.starts_with("setup_done")) {
    f.rss_setup_kib = rss_kib(f.relay_pid);
    if (f.relay_pid == 0) {
      f.heap_setup = mallinfo2().uordblks;
      malloc_trim(0);
    }
    f.rss_setup_trimmed_kib = rss_kib(f.relay_pid);
    std::fprintf(stderr, "%s\n", line.c_str());
    ch.send("measured");
  } else if (line == "media_start") {
    cpu0 = process_cpu_s(f.relay_pid);
    wait0 = process_runqueue_wait_s(f.relay_pid);
    f.rcvbuf_errors = udp_rcvbuf_errors();
    t0 = wt::core::monotonic_now();
  } else if (line.starts_with("media_end")) {
    f.cpu_s = process_cpu_s(f.relay_pid) - cpu0;
    f.wait_s = process_runqueue_wait_s(f.relay_pid) - wait0;
    f.rcvbuf_errors = udp_rcvbuf_errors() - f.rcvbuf_errors;
    f.wall_s = seconds_since(t0);
    std::istringstream in(line.substr(9));
    in >> f.to_trunk >> f.to_browser;
  } else if (line.starts_with("result")) {
    f.result = line;
    return true;
  }
  return false;
}

EdgeFigures run_edge(const Options& o, Channel& ch) {
  pin(o.edge_cpu);
  EdgeFigures f;
  const PeersHello hello = read_hello(ch);
  const std::vector<wt::core::SockAddr>& trunks = hello.trunks;

  wt::core::ShardConfig sc;
  wt::media::set_edge_udp_buffers(sc);  // the rings `webtrunk edge` runs with
  sc.wait_batch = std::chrono::microseconds(o.wait_batch_us);
  sc.udp_send_skip_cqe = o.send_cqes == "skip";
  if (o.media_buffer_size != 0) sc.udp_small_buffer_size = o.media_buffer_size;
  auto s = wt::core::Shard::create(sc);
  if (!s) die(s.error().message);
  wt::core::Shard& shard = *s.value();
  auto identity = wt::media::DtlsIdentity::generate();
  if (!identity) die(identity.error().message);
  auto engine = wt::media::parse_srtp_engine(o.engine);
  if (!engine) die(engine.error().message);
  auto slice = wt::media::rtp_port_slice(o.rtp_ports, 1, 0);
  if (!slice) die(slice.error().message);
  wt::media::MediaConfig cfg;
  cfg.browser_listen = wt::core::SockAddr::ipv4_loopback(0);
  cfg.trunk_bind = wt::core::SockAddr::ipv4_loopback(0);
  cfg.rtp_port_min = slice->first;
  cfg.rtp_port_max = slice->second;
  cfg.engine = engine.value();
  cfg.identity = identity.value();
  cfg.consent_timeout = std::chrono::seconds(static_cast<long>(o.setup_timeout + o.seconds + 30));
  cfg.trunk_rtp_mode = *wt::media::parse_trunk_rtp_mode(o.trunk_rtp_mode);
  cfg.rx_timestamps = o.rx_stamps == "on";
  auto opened = wt::media::MediaBridge::open(shard, cfg);
  if (!opened) die(opened.error().message);
  wt::media::MediaBridge& bridge = *opened.value();

  wt::media::CodecMap codecs;
  codecs.codecs.push_back(wt::media::CodecMapping{0, 0, 8000, "PCMU"});
  malloc_trim(0);
  f.rss_start_kib = rss_kib();
  f.heap_start = mallinfo2().uordblks;
  std::vector<wt::media::SessionId> ids;
  const std::string fingerprint = identity.value()->fingerprint_sha256();
  const std::string address = bridge.browser_address().to_string();
  for (unsigned i = 0; i < o.calls; ++i) {
    auto id = bridge.create();
    if (!id) die(fmt::format("session {}: {}", i, id.error().message));
    bridge.set_browser_remote(id.value(), wt::media::BrowserRemote{{browser_ufrag(i), kBrowserPwd}, hello.browser_fp});
    bridge.set_trunk_remote(id.value(), trunks[i % trunks.size()], codecs);
    const wt::media::LocalMedia* lm = bridge.local(id.value());
    ch.send(fmt::format("s {} {} {} {} {}", i, lm->ice.ufrag, lm->ice.pwd, address, fingerprint));
    ids.push_back(id.value());
  }
  f.rss_created_kib = rss_kib();
  ch.send("go");

  double cpu0 = 0;
  double wait0 = 0;
  wt::core::Instant t0;
  std::function<void()> poll = [&] {
    while (auto line = ch.recv(false)) {
      if (*line == "media_start") shard.reset_udp_delay();
      if (line->starts_with("media_end")) {
        const wt::core::DelayHistogram& d = shard.udp_delay();
        f.delay_count = d.count();
        f.delay_p50_us = d.quantile_us(0.5);
        f.delay_p99_us = d.quantile_us(0.99);
        f.delay_p999_us = d.quantile_us(0.999);
        f.delay_max_us = d.max_us();
      }
      if (on_control_line(*line, ch, f, cpu0, wait0, t0)) {
        shard.request_stop();
        return;
      }
    }
    shard.add_timer(5ms, poll);
  };
  shard.add_timer(5ms, poll);
  auto r = shard.run();
  if (!r) die(r.error().message);
  for (auto id : ids) f.dropped += static_cast<std::int64_t>(bridge.stats(id)->dropped);
  f.dtls_ok = wt::media::kMediaDtlsOk.total();
  f.dtls_failed = wt::media::kMediaDtlsFailed.total();
  f.udp_send_dropped = shard.stats().udp_send_dropped;
  f.enobufs = shard.stats().enobufs;
  f.recv_rearms = shard.stats().recv_rearms + shard.stats().enobufs;
  f.send_errors = shard.stats().udp_send_errors;
  return f;
}

// A UDP port on 127.0.0.1 free right now (another rtpengine may hold a fixed one).
std::uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    die("no free UDP port for rtpengine's ng control");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// The same calls through rtpengine: this process only speaks ng and waits on the peers, on the
// peers' CPU; the daemon has --edge-cpu to itself.
EdgeFigures run_rtpengine(const Options& o, Channel& ch) {
  pin(o.peer_cpu);
  EdgeFigures f;
  const PeersHello hello = read_hello(ch);
  std::istringstream ports_line(ch.recv().value());
  std::string word;
  ports_line >> word;
  std::vector<unsigned> browser_ports;
  for (unsigned p = 0; ports_line >> p;) browser_ports.push_back(p);
  if (browser_ports.size() != o.calls) die("peers: expected a browser port per call");

  wt::bench::RtpengineProcess::Config rc;
  rc.binary = o.rtpengine_bin;
  rc.cpu = o.edge_cpu;
  rc.ng_port = static_cast<std::uint16_t>(o.rtpengine_ng_port);
  if (rc.ng_port == 0) rc.ng_port = free_udp_port();
  if (std::sscanf(o.rtpengine_ports.c_str(), "%u-%u", &rc.port_min, &rc.port_max) != 2 || rc.port_min >= rc.port_max ||
      rc.port_max > 65535) {
    die("--rtpengine-ports: A-B");
  }
  rc.threads = o.rtpengine_threads;
  rc.log_file = o.rtpengine_log;
  wt::bench::RtpengineProcess daemon;
  if (const std::string why = daemon.start(rc); !why.empty()) die(why);
  f.relay_pid = daemon.pid();
  f.rss_start_kib = rss_kib(f.relay_pid);

  wt::bench::NgClient ng(rc.ng_port);
  // Toward the trunk: plain RTP/AVP, no ICE, no DTLS, RTCP on its own port. Toward the browser:
  // WebRTC, ICE, DTLS passive, rtcp-mux.
  const std::vector<std::string> replace = {"origin", "session-connection"};
  for (unsigned i = 0; i < o.calls; ++i) {
    const unsigned bp = browser_ports[i];
    const wt::core::SockAddr& trunk = hello.trunks[i % hello.trunks.size()];
    const std::string offer = fmt::format(
        "v=0\r\no=- {0} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
        "m=audio {1} UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\n"
        "a=ice-ufrag:{2}\r\na=ice-pwd:{3}\r\na=fingerprint:sha-256 {4}\r\na=setup:actpass\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 {1} typ host\r\na=end-of-candidates\r\n"
        "a=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        1000 + i, bp, browser_ufrag(i), kBrowserPwd, hello.browser_fp);
    const std::string answer = fmt::format(
        "v=0\r\no=trunk {0} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio {1} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
        1000 + i, trunk.port());
    const std::string call_id = fmt::format("bench-{}", i);
    auto r1 = ng.command({{"command", "offer"}, {"call-id", call_id}, {"from-tag", "browser"}, {"sdp", offer},
                          {"transport-protocol", "RTP/AVP"}, {"ICE", "remove"}, {"DTLS", "off"},
                          {"SDES", std::vector<std::string>{"off"}}, {"rtcp-mux", std::vector<std::string>{"demux"}},
                          {"replace", replace}});
    if (!r1 || (*r1)["result"] != "ok") {
      die(fmt::format("rtpengine offer {}: {}", i, r1 ? (*r1)["error-reason"] : "no reply"));
    }
    auto r2 = ng.command({{"command", "answer"}, {"call-id", call_id}, {"from-tag", "browser"}, {"to-tag", "trunk"},
                          {"sdp", answer}, {"transport-protocol", "UDP/TLS/RTP/SAVPF"}, {"ICE", "force"},
                          {"DTLS", "passive"}, {"SDES", std::vector<std::string>{"off"}},
                          {"rtcp-mux", std::vector<std::string>{"offer", "require"}}, {"replace", replace}});
    if (!r2 || (*r2)["result"] != "ok") {
      die(fmt::format("rtpengine answer {}: {}", i, r2 ? (*r2)["error-reason"] : "no reply"));
    }
    auto a = wt::bench::parse_rtpengine_answer((*r2)["sdp"]);
    if (!a) die(fmt::format("rtpengine answer {}: no address, ICE or fingerprint in\n{}", i, (*r2)["sdp"]));
    ch.send(fmt::format("s {} {} {} {} {}", i, a->ufrag, a->pwd, a->address, a->fingerprint));
  }
  f.rss_created_kib = rss_kib(f.relay_pid);
  ch.send("go");

  double cpu0 = 0;
  double wait0 = 0;
  wt::core::Instant t0;
  while (!on_control_line(ch.recv().value(), ch, f, cpu0, wait0, t0)) {
  }
  daemon.stop();
  return f;
}

}  // namespace

int webtrunk::bench::run_media_relay(int argc, char** argv) {
  const char* prog = argc > 0 ? argv[0] : "bench_media_relay";
  Options o;
  bool help = false;
  std::string err;
  const bool parsed = parse(argc, argv, o, help, err);
  if (auto rc = flags_outcome(prog, parsed, help, err, usage(prog))) return *rc;
  wt::core::set_log_level(o.log_level);
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  // webtrunk: 3 sockets a call; rtpengine (inherits this limit): 4.
  const unsigned per_call = o.relay == "rtpengine" ? 4 : 3;
  if (nofile.rlim_cur < per_call * o.calls + 64) {
    die(fmt::format("RLIMIT_NOFILE {} is too low for {} calls", nofile.rlim_cur, o.calls));
  }

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  const pid_t child = ::fork();
  if (child < 0) die("fork");
  if (child == 0) {
    ::close(sv[0]);
    Channel ch(sv[1]);
    wt::bench::media_relay::run_peers(o, ch);
    std::_Exit(0);
  }
  ::close(sv[1]);
  Channel ch(sv[0]);
  const EdgeFigures f = o.relay == "rtpengine" ? run_rtpengine(o, ch) : run_edge(o, ch);
  int status = 0;
  ::waitpid(child, &status, 0);

  std::istringstream res(f.result);
  std::string word, profile;
  unsigned ready = 0, failed = 0;
  std::uint64_t sent = 0, received = 0, bad = 0, trunk_rx = 0, echoed = 0, peer_send_drops = 0, peer_enobufs = 0;
  double peer_wait_s = 0, rtt_p50 = 0, rtt_p99 = 0, rtt_p999 = 0, oneway_p50 = 0, oneway_p99 = 0;
  res >> word >> ready >> failed >> sent >> received >> bad >> trunk_rx >> echoed >> profile >> peer_send_drops >>
      peer_enobufs >> peer_wait_s >> rtt_p50 >> rtt_p99 >> rtt_p999 >> oneway_p50 >> oneway_p99;
  const bool own = f.relay_pid == 0;
  const double loss = sent > 0 ? 100.0 * static_cast<double>(sent - std::min(sent, received)) / static_cast<double>(sent) : 100;
  const double core_share = f.wall_s > 0 ? f.cpu_s / f.wall_s : 0;
  const double relayed_pps = f.wall_s > 0 ? static_cast<double>(f.to_trunk + f.to_browser) / f.wall_s : 0;
  const double packets = static_cast<double>(f.to_trunk + f.to_browser);
  const double us_per_packet = packets > 0 ? 1e6 * f.cpu_s / packets : 0;
  std::printf("%s: relay %s, %u calls, %.0f s of media at %u pps each way per call, %zu-byte payloads, %s%s%s\n", prog,
              o.relay.c_str(), o.calls, o.seconds, o.rate, o.payload, profile.c_str(), own ? ", engine " : "",
              own ? o.engine.c_str() : "");
  if (own) {
    std::printf("set-up: %u connected, %u failed (edge DTLS ok %lld, failed %lld)\n", ready, failed,
                static_cast<long long>(f.dtls_ok), static_cast<long long>(f.dtls_failed));
  } else {
    std::printf("set-up: %u connected, %u failed\n", ready, failed);
  }
  std::printf("media: browsers sent %llu, got back %llu, loss %.4f %% (%s 0.1 %%); trunk got %llu, echoed %llu; bad SRTP %llu\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received), loss,
              loss < 0.1 ? "<" : ">=", static_cast<unsigned long long>(trunk_rx), static_cast<unsigned long long>(echoed),
              static_cast<unsigned long long>(bad));
  std::printf("run-queue wait during media: relay %.2f s (all its threads), peers %.2f s (other load on the CPUs); "
              "ENOBUFS edge %llu, peers %llu; peer send drops %llu; full socket receive buffers (the kernel's "
              "UDP RcvbufErrors, machine-wide) %llu\n",
              f.wait_s, peer_wait_s, static_cast<unsigned long long>(f.enobufs),
              static_cast<unsigned long long>(peer_enobufs), static_cast<unsigned long long>(peer_send_drops),
              static_cast<unsigned long long>(f.rcvbuf_errors));
  std::printf("relayed (reached the trunk / the browsers during media): %lld to trunk, %lld to browser = "
              "%.0f packets/s",
              static_cast<long long>(f.to_trunk), static_cast<long long>(f.to_browser), relayed_pps);
  if (own) {
    std::printf("; edge dropped %lld; send drops %llu, send errors %llu; receives re-armed %llu",
                static_cast<long long>(f.dropped), static_cast<unsigned long long>(f.udp_send_dropped),
                static_cast<unsigned long long>(f.send_errors), static_cast<unsigned long long>(f.recv_rearms));
  }
  std::printf("\nrelay CPU (%s process, /proc/PID/stat utime+stime): %.3f s over %.2f s = %.1f %% of a core; "
              "%.2f us per relayed packet; %.1f us CPU per call-second\n",
              o.relay.c_str(), f.cpu_s, f.wall_s, 100 * core_share, us_per_packet,
              o.calls > 0 ? 1e6 * core_share / o.calls : 0);
  std::printf("delay (browser send -> relay -> trunk echo -> relay -> browser, incl. the emulator's own wake-ups): "
              "round trip p50 %.0f us, p99 %.0f us, p99.9 %.0f us; browser -> trunk one way p50 %.0f us, p99 %.0f us\n",
              rtt_p50, rtt_p99, rtt_p999, oneway_p50, oneway_p99);
  if (f.delay_count > 0) {
    std::printf("added delay inside the relay (kernel arrival stamp -> send, %llu packets): p50 %.0f us, p99 %.0f us, "
                "p99.9 %.0f us, max %.0f us\n",
                static_cast<unsigned long long>(f.delay_count), f.delay_p50_us, f.delay_p99_us, f.delay_p999_us,
                f.delay_max_us);
  }
  std::printf("relay memory: RSS %ld KiB before sessions, %ld after create, %ld after set-up (%ld after malloc_trim)\n",
              f.rss_start_kib, f.rss_created_kib, f.rss_setup_kib, f.rss_setup_trimmed_kib);
  std::printf("memory per call after set-up: %.1f KiB RSS (%.1f KiB after malloc_trim), %.1f KiB of it malloc'd and in use; "
              "kernel socket memory not included\n",
              static_cast<double>(f.rss_setup_kib - f.rss_start_kib) / o.calls,
              static_cast<double>(f.rss_setup_trimmed_kib - f.rss_start_kib) / o.calls,
              static_cast<double>(f.heap_setup - f.heap_start) / 1024.0 / o.calls);
  // One line for scripts (bench/relay_vs_rtpengine.sh).
  std::printf("summary relay=%s calls=%u connected=%u loss_pct=%.4f cpu_share_pct=%.1f us_per_packet=%.3f "
              "rtt_p50_us=%.0f rtt_p99_us=%.0f oneway_p99_us=%.0f rss_per_call_kib=%.1f relay_wait_s=%.2f "
              "peer_wait_s=%.2f rcvbuf_errors=%llu delay_p50_us=%.0f delay_p99_us=%.0f delay_max_us=%.0f profile=%s\n",
              o.relay.c_str(), o.calls, ready, loss, 100 * core_share, us_per_packet, rtt_p50, rtt_p99, oneway_p99,
              static_cast<double>(f.rss_setup_kib - f.rss_start_kib) / o.calls, f.wait_s, peer_wait_s,
              static_cast<unsigned long long>(f.rcvbuf_errors), f.delay_p50_us, f.delay_p99_us, f.delay_max_us,
              profile.c_str());
  return loss < 0.1 && failed == 0 ? 0 : 3;
}

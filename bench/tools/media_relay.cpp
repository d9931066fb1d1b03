// bench_media_relay: how many G.711 calls one shard's MediaBridge relays with < 0.1 % loss.
//
// Two processes on loopback:
//   edge  (this process, pinned to --edge-cpu): one core::Shard with one media::MediaBridge, --calls
//         sessions (ICE-lite, DTLS server, SRTP <-> RTP relay), exactly what the edge runs per shard;
//   peers (a forked child, pinned to --peer-cpu): --calls emulated browsers (media_browser.hpp: a
//         nominating ICE check, a DTLS client handshake, then SRTP) and --trunk-sockets echoing trunk
//         sockets (call i uses socket i mod n), on a second Shard. The trunk echoes every RTP packet
//         from the buffer it arrived in.
// The peers live in their own process so that the edge's RSS counts only the edge: memory per
// call = (RSS after set-up - RSS before the first session) / calls.
//
// Phases: set-up (handshakes, at most --concurrency at a time), a pause, then --seconds of media:
// every browser sends --rate packets/s of --payload bytes (RTP PT 0, 20 ms timestamps), spread
// evenly over each 20 ms; the trunk echoes; the browser unprotects what comes back. Loss is
// 1 - echoed / sent over the whole path (browser -> edge -> trunk -> edge -> browser), so both
// relay directions count. Edge CPU is the shard thread's CLOCK_THREAD_CPUTIME_ID over the media
// phase (user + kernel time of its syscalls; softirq work done in other threads is not in it).
// Bounded: set-up gives up after --setup-timeout, media stops after --seconds, drain is 1 s.
// The tool is the function run_media_relay (bench/tools/load.hpp): bench_media_relay and
// `webtrunk bench media` both run it.
#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bench/tools/bench_thread.hpp"
#include "bench/tools/load.hpp"
#include "bench/tools/media_browser.hpp"
#include "bench/tools/tool_flags.hpp"
#include "core/bytes.hpp"
#include "core/log.hpp"
#include "core/reactor.hpp"
#include "media/bridge.hpp"
#include "media/rtp.hpp"

namespace wt = webtrunk;
using namespace std::chrono_literals;

namespace {

struct Options {
  unsigned calls = 1000;
  double seconds = 20;
  unsigned rate = 50;          // packets/s per browser
  std::size_t payload = 160;   // G.711 20 ms
  unsigned edge_cpu = 0;
  unsigned peer_cpu = 1;
  unsigned concurrency = 32;   // DTLS handshakes in flight
  double setup_timeout = 120;
  std::string profiles = "SRTP_AEAD_AES_256_GCM:SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
  std::string engine = "own";
  std::string rtp_ports = "20000-29999";
  // The trunk side's sockets: more than one gives the emulator more socket buffer to ride out the
  // moments it does not get its CPU (the edge has a port per call there anyway).
  unsigned trunk_sockets = 8;
  std::string trunk_rtp_mode = "per-call";  // the edge's MediaConfig::trunk_rtp_mode
  unsigned wait_batch_us = 0;  // the edge shard's ShardConfig::wait_batch (0: off, as in `webtrunk edge`)
  // The relay runs in this process and logs to stderr: at info, a line per session set up.
  wt::core::LogLevel log_level = wt::core::LogLevel::warn;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bench_media_relay: %s\n", msg.c_str());
  std::exit(1);
}

// The flags, one line each; `prog` names the program ("bench_media_relay", "webtrunk bench media").
std::string usage(std::string_view prog) {
  return fmt::format(
      "usage: {} [flags]\n"
      "  --calls N             concurrent calls (browser + trunk sessions) (default 1000)\n"
      "  --seconds S           seconds of media after set-up (default 20)\n"
      "  --rate PPS            packets per second each way per call, 1..1000 (default 50: 20 ms G.711)\n"
      "  --payload BYTES       RTP payload size, at most 1200 (default 160)\n"
      "  --edge-cpu C          CPU of the relaying shard (this process) (default 0)\n"
      "  --peer-cpu C          CPU of the emulated browsers and trunk (a child process) (default 1)\n"
      "  --concurrency N       ICE + DTLS handshakes in flight at most (default 32)\n"
      "  --setup-timeout S     give up set-up after S seconds (default 120)\n"
      "  --profiles LIST       SRTP profiles the browsers offer, OpenSSL names joined by ':'\n"
      "                        (default SRTP_AEAD_AES_256_GCM:SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80)\n"
      "  --engine own|libsrtp  the edge's SRTP implementation (default own)\n"
      "  --rtp-ports A-B       the edge's trunk-side RTP port range (default 20000-29999)\n"
      "  --trunk-sockets N     sockets of the echoing trunk, 1..4096 (default 8)\n"
      "  --trunk-rtp-mode M    the edge's trunk-side ports: per-call|shared (default per-call); shared\n"
      "                        needs a trunk address per call: --trunk-sockets >= --calls\n"
      "  --wait-batch-us U     the edge shard's wake-up batching window (core::ShardConfig::wait_batch;\n"
      "                        default 0 = off, as in `webtrunk edge`)\n"
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
    else if (a == "--rtp-ports") o.rtp_ports = v;
    else if (a == "--trunk-sockets") o.trunk_sockets = static_cast<unsigned>(num());
    else if (a == "--trunk-rtp-mode") o.trunk_rtp_mode = v;
    else if (a == "--wait-batch-us") o.wait_batch_us = static_cast<unsigned>(num());
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
  return err.empty();
}

void pin(unsigned cpu) {
  if (const std::string why = wt::bench::pin_thread(cpu); !why.empty()) die(why);
}

using wt::bench::thread_cpu_s;

// Seconds the calling thread waited on a run queue (ready but another task had the CPU): when it is
// large the figures measure the machine's other load, not the relay.
double runqueue_wait_s() {
  FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f == nullptr) return 0;
  unsigned long long run = 0, wait = 0;
  const int n = std::fscanf(f, "%llu %llu", &run, &wait);
  std::fclose(f);
  return n == 2 ? static_cast<double>(wait) * 1e-9 : 0;
}

double seconds_since(wt::core::Instant t0) {
  return std::chrono::duration<double>(wt::core::monotonic_now() - t0).count();
}

long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

// Lines of text over the control socket between the two processes.
class Channel {
 public:
  explicit Channel(int fd) : fd_(fd) {}
  void send(const std::string& line) {
    const std::string l = line + "\n";
    for (std::size_t off = 0; off < l.size();) {
      const ssize_t n = ::write(fd_, l.data() + off, l.size() - off);
      if (n <= 0) die("control channel write failed");
      off += static_cast<std::size_t>(n);
    }
  }
  // Blocking unless `wait` is false (then nullopt when no whole line is there).
  std::optional<std::string> recv(bool wait = true) {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char tmp[65536];
      const ssize_t n = ::recv(fd_, tmp, sizeof(tmp), wait ? 0 : MSG_DONTWAIT);
      if (n == 0) die("control channel closed");
      if (n < 0) {
        if (!wait && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
        if (errno == EINTR) continue;
        die("control channel read failed");
      }
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buf_;
};

std::string browser_ufrag(unsigned i) { return fmt::format("b{:07}", i); }
constexpr const char* kBrowserPwd = "benchbrowserpassword0000";

// ---------------------------------------------------------------- peers (child process)

class Peers;

struct Browser final : wt::core::UdpHandler {
  enum class State { idle, ice, dtls, ready, failed };
  Peers* peers = nullptr;
  unsigned index = 0;
  std::unique_ptr<wt::bench::EmulatedBrowser> em;
  wt::core::UdpId udp;
  State state = State::idle;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  void on_datagram(wt::core::Shard& shard, wt::core::UdpId id, const wt::core::SockAddr& peer,
                   std::span<std::byte> payload) override;
};

struct TrunkEcho final : wt::core::UdpHandler {
  std::uint64_t received = 0;
  std::uint64_t echoed = 0;
  void on_datagram(wt::core::Shard& shard, wt::core::UdpId id, const wt::core::SockAddr& peer,
                   std::span<std::byte> payload) override {
    ++received;
    if (shard.forward(id, peer, payload)) ++echoed;  // from the very buffer it arrived in
  }
};

class Peers {
 public:
  Peers(const Options& o, Channel& ch) : o_(o), ch_(ch) {}

  void run() {
    pin(o_.peer_cpu);
    tls_ = wt::bench::BrowserTls::make(o_.profiles.c_str());
    if (!tls_) die("peers: browser TLS context");
    wt::core::ShardConfig sc;
    sc.index = 1;
    sc.udp_buffers = 4096;
    sc.fixed_files = 0;
    // Room for the sends of a burst after the emulator got no CPU for a while (every browser's
    // packet leaves from its own socket, so they are separate sends).
    sc.sq_entries = 4096;
    sc.cq_entries = 32768;
    sc.udp_send_copies = 16384;
    sc.udp_sends_in_flight = 32768;
    auto s = wt::core::Shard::create(sc);
    if (!s) die(s.error().message);
    shard_ = std::move(s.value());
    std::string hello = "hello " + tls_->fingerprint();
    for (unsigned k = 0; k < o_.trunk_sockets; ++k) {
      auto t = shard_->open_udp(wt::core::SockAddr::ipv4_loopback(0), trunk_,
                                wt::core::UdpOptions{false, 4 << 20, 4 << 20, {}});
      if (!t) die(t.error().message);
      hello += " " + shard_->udp_address(t.value()).to_string();
    }
    ch_.send(hello);

    browsers_.resize(o_.calls);
    for (;;) {
      const std::string line = ch_.recv().value();
      std::istringstream in(line);
      std::string kind;
      in >> kind;
      if (kind == "go") {
        std::string edge_addr;
        in >> edge_fp_ >> edge_addr;
        edge_ = wt::core::SockAddr::parse(edge_addr).value();
        break;
      }
      unsigned i = 0;
      wt::media::IceCredentials edge_ice;
      in >> i >> edge_ice.ufrag >> edge_ice.pwd;
      if (i >= browsers_.size()) die("peers: bad session line");
      creds_.resize(browsers_.size());
      creds_[i] = edge_ice;
    }
    for (unsigned i = 0; i < o_.calls; ++i) {
      Browser& b = browsers_[i];
      b.peers = this;
      b.index = i;
      b.em = std::make_unique<wt::bench::EmulatedBrowser>(
          *tls_, wt::media::IceCredentials{browser_ufrag(i), kBrowserPwd}, creds_[i], edge_fp_);
      // Connected to the edge's browser port, as a browser's candidate pair is: plain receives,
      // no route lookup per send (the emulator must not be the bottleneck).
      auto u = shard_->open_udp(wt::core::SockAddr::ipv4_loopback(0), b, wt::core::UdpOptions{false, 0, 0, edge_});
      if (!u) die(fmt::format("peers: browser socket {}: {}", i, u.error().message));
      b.udp = u.value();
      b.ts = static_cast<std::uint32_t>(i * 7919u);
    }
    setup_t0_ = wt::core::monotonic_now();
    shard_->add_timer(1ms, [this] { setup_tick(); });
    shard_->add_timer(250ms, [this] { retransmit_tick(); });
    auto r = shard_->run();
    if (!r) die(r.error().message);
  }

  void on_browser_datagram(Browser& b, std::span<std::byte> payload) {
    const auto cls = wt::media::classify(payload);
    if (cls == wt::media::PacketClass::stun) {
      if (b.state == Browser::State::ice && b.em->check_answered(payload)) {
        b.state = Browser::State::dtls;
        if (!b.em->start_dtls()) return fail(b);
        flush_dtls(b);
      }
    } else if (cls == wt::media::PacketClass::dtls) {
      if (b.state != Browser::State::dtls) return;
      b.em->on_dtls(payload);
      flush_dtls(b);
      if (!b.em->error().empty()) return fail(b);
      if (b.em->connected()) {
        b.state = Browser::State::ready;
        ++ready_;
        --in_flight_;
        if (!profile_) profile_ = b.em->profile();
      }
    } else if (cls == wt::media::PacketClass::rtp && b.state == Browser::State::ready) {
      auto r = b.em->rx().unprotect_rtp(payload, payload.size());
      if (r) {
        ++b.received;
      } else {
        ++bad_;
      }
    }
  }

 private:
  void fail(Browser& b) {
    if (b.state == Browser::State::failed) return;
    b.state = Browser::State::failed;
    ++failed_;
    --in_flight_;
  }
  void flush_dtls(Browser& b) {
    while (auto d = b.em->poll_dtls()) shard_->send_to(b.udp, edge_, *d);
  }
  void send_check(Browser& b) {
    std::array<std::byte, 512> req{};
    const std::size_t n = b.em->make_check(req, true);
    shard_->send_to(b.udp, edge_, std::span(req.data(), n));
  }

  void setup_tick() {
    while (in_flight_ < o_.concurrency && next_ < browsers_.size()) {
      Browser& b = browsers_[next_++];
      b.state = Browser::State::ice;
      ++in_flight_;
      send_check(b);
    }
    const bool all = ready_ + failed_ == browsers_.size();
    if (all || seconds_since(setup_t0_) > o_.setup_timeout) {
      setup_s_ = seconds_since(setup_t0_);
      ch_.send(fmt::format("setup_done {} {} {:.3f}", ready_, failed_, setup_s_));
      // The edge measures its memory now; media starts once it says so.
      (void)ch_.recv();
      start_media();
      return;
    }
    shard_->add_timer(1ms, [this] { setup_tick(); });
  }

  void retransmit_tick() {
    if (media_started_) return;
    for (Browser& b : browsers_) {
      if (b.state == Browser::State::ice) {
        send_check(b);
      } else if (b.state == Browser::State::dtls) {
        b.em->dtls_timeout();
        flush_dtls(b);
      }
    }
    shard_->add_timer(250ms, [this] { retransmit_tick(); });
  }

  void start_media() {
    media_started_ = true;
    wait0_ = runqueue_wait_s();
    ch_.send("media_start");
    media_t0_ = wt::core::monotonic_now();
    slots_done_ = 0;
    shard_->add_timer(1ms, [this] { media_tick(); });
  }

  // Sends every packet due by now: browser i sends in slot (i mod slots) of each packet interval.
  void media_tick() {
    const double interval_s = 1.0 / o_.rate;
    constexpr unsigned kSlots = 20;
    const double elapsed = seconds_since(media_t0_);
    const bool last = elapsed >= o_.seconds;
    const auto due = static_cast<std::uint64_t>(std::min(elapsed, o_.seconds) / (interval_s / kSlots));
    std::array<std::byte, 1500> buf{};
    for (; slots_done_ < due; ++slots_done_) {
      const unsigned slot = static_cast<unsigned>(slots_done_ % kSlots);
      for (unsigned i = slot; i < browsers_.size(); i += kSlots) {
        Browser& b = browsers_[i];
        if (b.state != Browser::State::ready) continue;
        buf[0] = std::byte{0x80};
        buf[1] = std::byte{0};  // PCMU
        wt::core::store_be16(buf.data() + 2, b.seq++);
        wt::core::store_be32(buf.data() + 4, b.ts);
        wt::core::store_be32(buf.data() + 8, 0x10000u + i);
        b.ts += 160;
        std::memset(buf.data() + 12, 0xd5, o_.payload);  // PCMU silence
        auto r = b.em->tx().protect_rtp(buf, 12 + o_.payload);
        if (!r) die("peers: protect failed");
        if (shard_->send_to(b.udp, edge_, std::span(buf.data(), r.value()))) ++b.sent;
      }
    }
    if (last) {
      wait_s_ = runqueue_wait_s() - wait0_;
      ch_.send("media_end");
      shard_->add_timer(1s, [this] { finish(); });  // drain
      return;
    }
    shard_->add_timer(1ms, [this] { media_tick(); });
  }

  void finish() {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    for (const Browser& b : browsers_) {
      sent += b.sent;
      received += b.received;
    }
    const wt::core::ShardStats& st = shard_->stats();
    ch_.send(fmt::format("result {} {} {} {} {} {} {} {} {} {} {:.3f}", ready_, failed_, sent, received, bad_,
                         trunk_.received, trunk_.echoed, profile_ ? wt::media::to_string(*profile_) : "none",
                         st.udp_send_dropped, st.enobufs, wait_s_));
    shard_->request_stop();
  }

  const Options& o_;
  Channel& ch_;
  std::unique_ptr<wt::bench::BrowserTls> tls_;
  std::unique_ptr<wt::core::Shard> shard_;
  TrunkEcho trunk_;
  std::vector<Browser> browsers_;
  std::vector<wt::media::IceCredentials> creds_;
  std::string edge_fp_;
  wt::core::SockAddr edge_;
  std::size_t next_ = 0;
  unsigned in_flight_ = 0;
  unsigned ready_ = 0;
  unsigned failed_ = 0;
  std::uint64_t bad_ = 0;
  std::optional<wt::media::SrtpProfile> profile_;
  wt::core::Instant setup_t0_;
  double setup_s_ = 0;
  bool media_started_ = false;
  wt::core::Instant media_t0_;
  std::uint64_t slots_done_ = 0;
  double wait0_ = 0;
  double wait_s_ = 0;
};

void Browser::on_datagram(wt::core::Shard&, wt::core::UdpId, const wt::core::SockAddr&, std::span<std::byte> payload) {
  peers->on_browser_datagram(*this, payload);
}

// ---------------------------------------------------------------- edge (this process)

struct EdgeFigures {
  long rss_start_kib = 0, rss_created_kib = 0, rss_setup_kib = 0, rss_setup_trimmed_kib = 0;
  std::size_t heap_start = 0, heap_setup = 0;  // malloc'd bytes in use (mallinfo2)
  double cpu_s = 0, wall_s = 0, wait_s = 0;
  std::uint64_t enobufs = 0;
  std::int64_t to_trunk = 0, to_browser = 0, dropped = 0, dtls_ok = 0, dtls_failed = 0;
  std::uint64_t udp_send_dropped = 0;
  std::string result;
};

EdgeFigures run_edge(const Options& o, Channel& ch) {
  pin(o.edge_cpu);
  EdgeFigures f;
  std::istringstream hello(ch.recv().value());
  std::string word, browser_fp, trunk_text;
  hello >> word >> browser_fp;
  std::vector<wt::core::SockAddr> trunks;
  while (hello >> trunk_text) trunks.push_back(wt::core::SockAddr::parse(trunk_text).value());
  if (trunks.empty()) die("no trunk address from the peers");

  wt::core::ShardConfig sc;
  sc.wait_batch = std::chrono::microseconds(o.wait_batch_us);
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
  auto opened = wt::media::MediaBridge::open(shard, cfg);
  if (!opened) die(opened.error().message);
  wt::media::MediaBridge& bridge = *opened.value();

  wt::media::CodecMap codecs;
  codecs.codecs.push_back(wt::media::CodecMapping{0, 0, 8000, "PCMU"});
  malloc_trim(0);
  f.rss_start_kib = rss_kib();
  f.heap_start = mallinfo2().uordblks;
  std::vector<wt::media::SessionId> ids;
  for (unsigned i = 0; i < o.calls; ++i) {
    auto id = bridge.create();
    if (!id) die(fmt::format("session {}: {}", i, id.error().message));
    bridge.set_browser_remote(id.value(), wt::media::BrowserRemote{{browser_ufrag(i), kBrowserPwd}, browser_fp});
    bridge.set_trunk_remote(id.value(), trunks[i % trunks.size()], codecs);
    const wt::media::LocalMedia* lm = bridge.local(id.value());
    ch.send(fmt::format("s {} {} {}", i, lm->ice.ufrag, lm->ice.pwd));
    ids.push_back(id.value());
  }
  f.rss_created_kib = rss_kib();
  ch.send(fmt::format("go {} {}", identity.value()->fingerprint_sha256(), bridge.browser_address().to_string()));

  double cpu0 = 0;
  double wait0 = 0;
  wt::core::Instant t0;
  std::int64_t trunk0 = 0, browser0 = 0;
  std::function<void()> poll = [&] {
    while (auto line = ch.recv(false)) {
      if (line->starts_with("setup_done")) {
        f.rss_setup_kib = rss_kib();
        f.heap_setup = mallinfo2().uordblks;
        malloc_trim(0);
        f.rss_setup_trimmed_kib = rss_kib();
        std::fprintf(stderr, "%s\n", line->c_str());
        ch.send("measured");
      } else if (*line == "media_start") {
        cpu0 = thread_cpu_s();
        wait0 = runqueue_wait_s();
        t0 = wt::core::monotonic_now();
        trunk0 = wt::media::kMediaToTrunk.total();
        browser0 = wt::media::kMediaToBrowser.total();
      } else if (*line == "media_end") {
        f.cpu_s = thread_cpu_s() - cpu0;
        f.wait_s = runqueue_wait_s() - wait0;
        f.wall_s = seconds_since(t0);
        f.to_trunk = wt::media::kMediaToTrunk.total() - trunk0;
        f.to_browser = wt::media::kMediaToBrowser.total() - browser0;
      } else if (line->starts_with("result")) {
        f.result = *line;
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
  if (nofile.rlim_cur < 3 * o.calls + 64) die(fmt::format("RLIMIT_NOFILE {} is too low for {} calls", nofile.rlim_cur, o.calls));

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  const pid_t child = ::fork();
  if (child < 0) die("fork");
  if (child == 0) {
    ::close(sv[0]);
    Channel ch(sv[1]);
    Peers peers(o, ch);
    peers.run();
    std::_Exit(0);
  }
  ::close(sv[1]);
  Channel ch(sv[0]);
  const EdgeFigures f = run_edge(o, ch);
  int status = 0;
  ::waitpid(child, &status, 0);

  std::istringstream res(f.result);
  std::string word, profile;
  unsigned ready = 0, failed = 0;
  std::uint64_t sent = 0, received = 0, bad = 0, trunk_rx = 0, echoed = 0, peer_send_drops = 0, peer_enobufs = 0;
  double peer_wait_s = 0;
  res >> word >> ready >> failed >> sent >> received >> bad >> trunk_rx >> echoed >> profile >> peer_send_drops >>
      peer_enobufs >> peer_wait_s;
  const double loss = sent > 0 ? 100.0 * static_cast<double>(sent - std::min(sent, received)) / static_cast<double>(sent) : 100;
  const double core_share = f.wall_s > 0 ? f.cpu_s / f.wall_s : 0;
  const double relayed_pps = f.wall_s > 0 ? static_cast<double>(f.to_trunk + f.to_browser) / f.wall_s : 0;
  std::printf("%s: %u calls, %.0f s of media at %u pps each way per call, %zu-byte payloads, %s, engine %s\n", prog,
              o.calls, o.seconds, o.rate, o.payload, profile.c_str(), o.engine.c_str());
  std::printf("set-up: %u connected, %u failed (edge DTLS ok %lld, failed %lld)\n", ready, failed,
              static_cast<long long>(f.dtls_ok), static_cast<long long>(f.dtls_failed));
  std::printf("media: browsers sent %llu, got back %llu, loss %.4f %% (%s 0.1 %%); trunk got %llu, echoed %llu; bad SRTP %llu\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received), loss,
              loss < 0.1 ? "<" : ">=", static_cast<unsigned long long>(trunk_rx), static_cast<unsigned long long>(echoed),
              static_cast<unsigned long long>(bad));
  std::printf("run-queue wait during media: edge %.2f s, peers %.2f s (other load on the CPUs); ENOBUFS edge %llu, "
              "peers %llu; peer send drops %llu\n",
              f.wait_s, peer_wait_s, static_cast<unsigned long long>(f.enobufs),
              static_cast<unsigned long long>(peer_enobufs), static_cast<unsigned long long>(peer_send_drops));
  std::printf("edge relayed: %lld to trunk, %lld to browser = %.0f packets/s; dropped %lld; send drops %llu\n",
              static_cast<long long>(f.to_trunk), static_cast<long long>(f.to_browser), relayed_pps,
              static_cast<long long>(f.dropped), static_cast<unsigned long long>(f.udp_send_dropped));
  std::printf("edge CPU: %.3f s over %.2f s = %.1f %% of a core; %.4f %% of a core per call (%.1f us CPU per call-second)\n",
              f.cpu_s, f.wall_s, 100 * core_share, o.calls > 0 ? 100 * core_share / o.calls : 0,
              o.calls > 0 ? 1e6 * core_share / o.calls : 0);
  std::printf("edge memory: RSS %ld KiB before sessions, %ld after create, %ld after set-up (%ld after malloc_trim)\n",
              f.rss_start_kib, f.rss_created_kib, f.rss_setup_kib, f.rss_setup_trimmed_kib);
  std::printf("memory per call after set-up: %.1f KiB RSS (%.1f KiB after malloc_trim), %.1f KiB of it malloc'd and in use; "
              "kernel socket memory not included\n",
              static_cast<double>(f.rss_setup_kib - f.rss_start_kib) / o.calls,
              static_cast<double>(f.rss_setup_trimmed_kib - f.rss_start_kib) / o.calls,
              static_cast<double>(f.heap_setup - f.heap_start) / 1024.0 / o.calls);
  return loss < 0.1 && failed == 0 ? 0 : 3;
}

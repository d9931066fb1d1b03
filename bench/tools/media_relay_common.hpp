// bench_media_relay's pieces shared by its two processes (bench/tools/media_relay.cpp, the relay
// side and the report; media_relay_peers.cpp, the emulated browsers and echoing trunk): the
// options, the control channel between the processes, and small helpers.
#pragma once

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>

#include "bench/tools/bench_thread.hpp"
#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"

namespace webtrunk::bench::media_relay {

namespace wt = webtrunk;

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
  std::string relay = "webtrunk";  // or rtpengine
  std::string rtpengine_bin = "rtpengine";
  unsigned rtpengine_ng_port = 0;  // 0: a free one
  std::string rtpengine_ports = "30000-59999";
  unsigned rtpengine_threads = 2;
  std::string rtpengine_log = "/dev/null";
  std::string rtp_ports = "20000-29999";
  // The trunk side's sockets: more than one gives the emulator more socket buffer to ride out the
  // moments it does not get its CPU (the edge has a port per call there anyway).
  unsigned trunk_sockets = 8;
  std::string trunk_rtp_mode = "per-call";  // the edge's MediaConfig::trunk_rtp_mode
  unsigned wait_batch_us = 0;  // the edge shard's ShardConfig::wait_batch (0: off, as in `webtrunk edge`)
  unsigned media_buffer_size = 0;  // 0: set_edge_udp_buffers' (what `webtrunk edge` runs with)
  std::string send_cqes = "each";  // the edge shard's ShardConfig::udp_send_skip_cqe: skip|each
  std::string rx_stamps = "on";    // the edge's MediaConfig::rx_timestamps: on|off
  // The relay runs in this process and logs to stderr: at info, a line per session set up.
  wt::core::LogLevel log_level = wt::core::LogLevel::warn;
};

[[noreturn]] inline void die(const std::string& msg) {
  std::fprintf(stderr, "bench_media_relay: %s\n", msg.c_str());
  std::exit(1);
}

inline void pin(unsigned cpu) {
  if (const std::string why = wt::bench::pin_thread(cpu); !why.empty()) die(why);
}

// Seconds the calling thread waited on a run queue (ready but another task had the CPU): when it is
// large the figures measure the machine's other load, not the relay.
inline double runqueue_wait_s() {
  FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f == nullptr) return 0;
  unsigned long long run = 0, wait = 0;
  const int n = std::fscanf(f, "%llu %llu", &run, &wait);
  std::fclose(f);
  return n == 2 ? static_cast<double>(wait) * 1e-9 : 0;
}

inline double seconds_since(wt::core::Instant t0) {
  return std::chrono::duration<double>(wt::core::monotonic_now() - t0).count();
}

inline std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(wt::core::monotonic_now().time_since_epoch()).count();
}
// The send time a browser wrote into an RTP packet's first 8 payload bytes (0 when it has none).
inline std::int64_t stamp_of(std::span<const std::byte> rtp) {
  if (rtp.size() < 12 + 8) return 0;
  return static_cast<std::int64_t>((std::uint64_t{wt::core::load_be32(rtp.data() + 12)} << 32) |
                                   wt::core::load_be32(rtp.data() + 16));
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

inline std::string browser_ufrag(unsigned i) { return fmt::format("b{:07}", i); }
inline constexpr const char* kBrowserPwd = "benchbrowserpassword0000";

// The peers' process (the forked child): sets up and drives the browsers and the trunk, reporting
// over `ch` (media_relay_peers.cpp).
void run_peers(const Options& o, Channel& ch);

}  // namespace webtrunk::bench::media_relay

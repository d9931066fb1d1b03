// rtpengine as the other relay in bench_media_relay: its "ng" control protocol (a cookie, a space and
// a bencoded dictionary over UDP, answered the same way) and the daemon's process, started pinned to
// one CPU and stopped by its pid.
//
// What is sent: "offer" with the browser's WebRTC SDP (ICE, DTLS fingerprint, rtcp-mux) and flags that
// make the leg toward the trunk plain RTP/AVP (ICE removed, no DTLS, RTCP demuxed), then "answer" with
// the trunk's plain RTP/AVP SDP and flags that make the browser's answer UDP/TLS/RTP/SAVPF with ICE
// and DTLS passive. rtpengine runs with --dtls-passive: handed an a=setup:actpass offer it would
// otherwise start as DTLS client before the browser has the answer.
//
// Lifetimes: NgClient owns its socket; replies are copied into the returned map. RtpengineProcess
// stops the daemon (SIGTERM, then SIGKILL after 3 s) when stopped or destroyed.
#pragma once

#include <fmt/format.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace webtrunk::bench {

// A bencoded value in an ng request: a string or a list of strings.
struct NgValue {
  std::string text;
  std::vector<std::string> list;
  bool is_list = false;
  NgValue(std::string s) : text(std::move(s)) {}  // NOLINT: implicit on purpose, {"key", "value"}
  NgValue(const char* s) : text(s) {}             // NOLINT
  NgValue(std::vector<std::string> l) : list(std::move(l)), is_list(true) {}  // NOLINT
};
using NgRequest = std::map<std::string, NgValue>;  // bencode wants the keys sorted: std::map is

inline void bencode_string(std::string& out, std::string_view s) { out += fmt::format("{}:{}", s.size(), s); }

inline std::string bencode(const NgRequest& req) {
  std::string out = "d";
  for (const auto& [k, v] : req) {
    bencode_string(out, k);
    if (v.is_list) {
      out += 'l';
      for (const std::string& s : v.list) bencode_string(out, s);
      out += 'e';
    } else {
      bencode_string(out, v.text);
    }
  }
  return out + "e";
}

// The top-level string values of a bencoded dictionary (nested lists and dictionaries are skipped);
// nullopt when `b` is not one.
inline std::optional<std::map<std::string, std::string>> bdecode_strings(std::string_view b) {
  std::size_t i = 0;
  // Reads a string at i into `out`; false when malformed.
  const auto str = [&](std::string* out) {
    const std::size_t colon = b.find(':', i);
    if (colon == std::string_view::npos || colon == i) return false;
    std::size_t n = 0;
    for (std::size_t k = i; k < colon; ++k) {
      if (b[k] < '0' || b[k] > '9') return false;
      n = n * 10 + static_cast<std::size_t>(b[k] - '0');
    }
    if (colon + 1 + n > b.size()) return false;
    if (out != nullptr) *out = std::string(b.substr(colon + 1, n));
    i = colon + 1 + n;
    return true;
  };
  // Skips one value at i (bounded depth).
  const auto skip = [&](auto& self, int depth) -> bool {
    if (i >= b.size() || depth > 16) return false;
    if (b[i] == 'i') {
      const std::size_t e = b.find('e', i);
      if (e == std::string_view::npos) return false;
      i = e + 1;
      return true;
    }
    if (b[i] == 'l' || b[i] == 'd') {
      ++i;
      while (i < b.size() && b[i] != 'e') {
        if (!self(self, depth + 1)) return false;
      }
      if (i >= b.size()) return false;
      ++i;
      return true;
    }
    return str(nullptr);
  };
  if (b.empty() || b[0] != 'd') return std::nullopt;
  i = 1;
  std::map<std::string, std::string> out;
  while (i < b.size() && b[i] != 'e') {
    std::string key;
    if (!str(&key) || i >= b.size()) return std::nullopt;
    if (b[i] >= '0' && b[i] <= '9') {
      std::string value;
      if (!str(&value)) return std::nullopt;
      out[key] = std::move(value);
    } else if (!skip(skip, 0)) {
      return std::nullopt;
    }
  }
  return out;
}

// A blocking ng client on loopback: one request at a time, bounded retries.
class NgClient {
 public:
  explicit NgClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    const timeval tv{0, 500'000};
    if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~NgClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  NgClient(const NgClient&) = delete;
  NgClient& operator=(const NgClient&) = delete;

  // The reply's top-level strings ("result", "sdp", "error-reason", ...); nullopt when no reply
  // came in `tries` attempts of 0.5 s each.
  std::optional<std::map<std::string, std::string>> command(const NgRequest& req, int tries = 6) {
    if (fd_ < 0) return std::nullopt;
    const std::string cookie = fmt::format("{:x}", rng_());
    const std::string msg = cookie + " " + bencode(req);
    std::vector<char> buf(65536);
    for (int t = 0; t < tries; ++t) {
      if (::send(fd_, msg.data(), msg.size(), 0) < 0) return std::nullopt;
      for (;;) {
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n <= 0) break;  // timeout (or ICMP unreachable while the daemon starts): send again
        const std::string_view r(buf.data(), static_cast<std::size_t>(n));
        if (!r.starts_with(cookie + " ")) continue;  // the answer to an earlier try
        return bdecode_strings(r.substr(cookie.size() + 1));
      }
    }
    return std::nullopt;
  }

 private:
  int fd_ = -1;
  std::mt19937_64 rng_{std::random_device{}()};
};

// The rtpengine daemon in userspace (--table=-1), on 127.0.0.1, pinned to `cpu`.
class RtpengineProcess {
 public:
  struct Config {
    std::string binary = "rtpengine";
    unsigned cpu = 0;
    std::uint16_t ng_port = 22230;  // it must be free: a second daemon on it exits at start-up
    unsigned port_min = 30000, port_max = 59999;
    unsigned threads = 2;
    std::string log_file = "/dev/null";
  };

  // The empty string when the daemon answers ping; else why not.
  std::string start(const Config& c) {
    std::vector<std::string> args = {c.binary, "--config-file=none", "--foreground", "--log-stderr", "--table=-1",
                                     "--interface=127.0.0.1", fmt::format("--listen-ng=127.0.0.1:{}", c.ng_port),
                                     fmt::format("--port-min={}", c.port_min), fmt::format("--port-max={}", c.port_max),
                                     fmt::format("--num-threads={}", c.threads), "--log-level=4", "--delete-delay=0",
                                     // No call may time out while thousands of others set up.
                                     "--timeout=3600", "--silent-timeout=3600", "--dtls-passive"};
    pid_ = ::fork();
    if (pid_ < 0) return "fork failed";
    if (pid_ == 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(c.cpu, &set);
      ::sched_setaffinity(0, sizeof(set), &set);
      if (std::FILE* f = std::freopen(c.log_file.c_str(), "w", stderr); f == nullptr) std::_Exit(126);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::_Exit(127);
    }
    NgClient ng(c.ng_port);
    // Refused (ICMP) until it listens: a try returns at once then, so the bound is in wall time.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return fmt::format("{} exited at start-up (status {}; is it installed? see {})", c.binary, status, c.log_file);
      }
      if (auto r = ng.command(NgRequest{{"command", "ping"}}, 1); r && (*r)["result"] == "pong") return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop();
    return "rtpengine did not answer ping within 10 s";
  }
  pid_t pid() const noexcept { return pid_; }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 30; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  RtpengineProcess() = default;
  ~RtpengineProcess() { stop(); }
  RtpengineProcess(const RtpengineProcess&) = delete;
  RtpengineProcess& operator=(const RtpengineProcess&) = delete;

 private:
  pid_t pid_ = -1;
};

// What the edge needs from rtpengine's answer to the browser: where to send, ICE and DTLS.
struct RtpengineAnswer {
  std::string address;  // "127.0.0.1:port"
  std::string ufrag, pwd, fingerprint;
};

// Parses m=audio's port, c=, a=ice-ufrag, a=ice-pwd, a=fingerprint:sha-256 out of an SDP.
inline std::optional<RtpengineAnswer> parse_rtpengine_answer(std::string_view sdp) {
  RtpengineAnswer a;
  std::string ip, port;
  while (!sdp.empty()) {
    const std::size_t nl = sdp.find('\n');
    std::string_view line = sdp.substr(0, nl);
    sdp = nl == std::string_view::npos ? std::string_view{} : sdp.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto after = [&](std::string_view prefix) {
      return line.starts_with(prefix) ? std::optional(std::string(line.substr(prefix.size()))) : std::nullopt;
    };
    if (auto v = after("m=audio "))
      port = v->substr(0, v->find(' '));
    else if (auto c = after("c=IN IP4 "))
      ip = *c;
    else if (auto u = after("a=ice-ufrag:"))
      a.ufrag = *u;
    else if (auto p = after("a=ice-pwd:"))
      a.pwd = *p;
    else if (auto f = after("a=fingerprint:sha-256 "))
      a.fingerprint = *f;
  }
  if (ip.empty() || port.empty() || a.ufrag.empty() || a.pwd.empty() || a.fingerprint.empty()) return std::nullopt;
  a.address = ip + ":" + port;
  return a;
}

}  // namespace webtrunk::bench

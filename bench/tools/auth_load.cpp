// bench_auth_load: token exchanges per second through the real `webtrunk auth` on loopback.
//
// Starts the service binary pinned to one CPU (--cpu), provisions an account through the admin
// API, then drives POST /v1/token from a generator thread pinned to another CPU: C keep-alive
// connections, one request in flight each, every request a fresh customer token minted here the
// way a customer servlet mints it (so each one passes the replay cache). Reports exchanges per
// wall second, per service CPU-second (/proc/<pid>/stat, the per-core figure), and latency.
// The service is stopped by its PID at the end.
//
// The tool is the function run_auth_load (bench/tools/load.hpp): bench_auth_load and
// `webtrunk bench auth` both run it; `--help` lists the flags.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/customer_token.hpp"
#include "bench/tools/load.hpp"
#include "bench/tools/tool_flags.hpp"
#include "core/clock.hpp"

namespace {

using namespace webtrunk;
using Clock = std::chrono::steady_clock;

struct Options {
  double duration_s = 10;
  double warmup_s = 1;
  unsigned connections = 32;
  int cpu = 0;
  int gen_cpu = 1;
  auth::HmacAlgo algo = auth::HmacAlgo::sha256;
  std::string bin;
  std::string origin = "https://bench.example";
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bench_auth_load: %s\n", msg.c_str());
  std::exit(1);
}

// The flags, one line each; `prog` names the program ("bench_auth_load", "webtrunk bench auth").
std::string usage(std::string_view prog) {
  return fmt::format(
      "usage: {} [flags]\n"
      "  --duration S          seconds of load after the warm-up (default 10)\n"
      "  --warmup S            seconds left out of the figures first (default 1)\n"
      "  --connections C       keep-alive connections, one request in flight each, 1..10000 (default 32)\n"
      "  --cpu N               CPU the auth service is pinned to; -1: not pinned (default 0)\n"
      "  --gen-cpu N           CPU of the generator thread; -1: not pinned (default 1)\n"
      "  --algo sha256|sha1    HMAC of the customer tokens (default sha256)\n"
      "  --auth-bin PATH       the webtrunk binary run as `PATH auth ...` (default: under `webtrunk bench`,\n"
      "                        that same executable; for bench_auth_load, ../webtrunk next to it)\n"
      "  --origin URL          the page Origin sent and allowed (default https://bench.example)\n"
      "Exit status: 0 when no exchange failed, 1 when one did or on an error, 2 for a bad flag.\n",
      prog);
}

// Fills `o` from argv; false with `err` naming the flag when one is unknown or malformed.
bool parse(int argc, char** argv, Options& o, bool& help, std::string& err) {
  o.bin = (std::filesystem::path(argc > 0 ? argv[0] : "").parent_path() / ".." / "webtrunk").string();
  const bool read = bench::read_flags(argc, argv, {}, help, err, [&o](std::string_view a, std::string_view v) -> std::string {
    const auto num = [&](auto& out) { return bench::parse_number(a, v, out); };
    if (a == "--duration") return num(o.duration_s);
    if (a == "--warmup") return num(o.warmup_s);
    if (a == "--connections") return num(o.connections);
    if (a == "--cpu") return num(o.cpu);
    if (a == "--gen-cpu") return num(o.gen_cpu);
    if (a == "--algo") {
      o.algo = v == "sha1" ? auth::HmacAlgo::sha1 : auth::HmacAlgo::sha256;
      if (v != "sha256" && v != "sha1") return fmt::format("--algo: sha256 or sha1, not '{}'", v);
    } else if (a == "--auth-bin") {
      o.bin = v;
    } else if (a == "--origin") {
      o.origin = v;
    } else {
      return fmt::format("unknown flag {}", a);
    }
    return {};
  });
  if (!read || help) return read;
  if (o.connections == 0 || o.connections > 10000) err = "--connections: 1 to 10000";
  else if (o.duration_s <= 0 || o.warmup_s < 0) err = "--duration must be > 0 and --warmup >= 0";
  return err.empty();
}

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) die(fmt::format("cannot pin to CPU {}", cpu));
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    die("no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

int connect_to(int port, bool nonblocking) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (nonblocking) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// One blocking request on a fresh connection (set-up only); returns the status, -1 on failure.
int http_once(int port, const std::string& req, std::string* body = nullptr) {
  const int fd = connect_to(port, false);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return -1;
  }
  std::string in;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) in.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (in.size() < 12) return -1;
  if (body != nullptr) *body = in.substr(std::min(in.size(), in.find("\r\n\r\n") + 4));
  return std::atoi(in.c_str() + 9);
}

// utime + stime of a process, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::size_t rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream rest(s.substr(rp + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct Conn {
  int fd = -1;
  std::string out;
  std::size_t out_off = 0;
  std::string in;
  Clock::time_point sent{};
};

}  // namespace

int webtrunk::bench::run_auth_load(int argc, char** argv) {
  const char* prog = argc > 0 ? argv[0] : "bench_auth_load";
  Options o;
  bool help = false;
  std::string err;
  const bool parsed = parse(argc, argv, o, help, err);
  if (auto rc = flags_outcome(prog, parsed, help, err, usage(prog))) return *rc;
  ::signal(SIGPIPE, SIG_IGN);
  const std::string dir = std::filesystem::temp_directory_path() / fmt::format("bench-auth-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const std::string secrets = dir + "/edge-secrets";
  std::ofstream(secrets) << "e1:bench-edge-secret-0123456789abcdef\n";
  ::chmod(secrets.c_str(), 0600);
  const int port = free_port();
  const std::string admin = "bench-admin-token-0123456789";
  const std::string listen = fmt::format("127.0.0.1:{}", port);
  const std::string cpu_arg = std::to_string(o.cpu);

  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string db = dir + "/accounts.db";
    std::vector<const char*> args = {o.bin.c_str(), "auth", "--listen", listen.c_str(), "--db", db.c_str(),
                                     "--edge-secret-file", secrets.c_str(), "--admin-token", admin.c_str(),
                                     "--edge-uri", "wss://edge.example.net", "--log-level", "warn",
                                     "--address-rate", "1000000000", "--replay-capacity", "20000000"};
    if (o.cpu >= 0) {
      args.push_back("--cpu");
      args.push_back(cpu_arg.c_str());
    }
    args.push_back(nullptr);
    ::execv(o.bin.c_str(), const_cast<char* const*>(args.data()));
    std::fprintf(stderr, "bench_auth_load: exec %s: %s\n", o.bin.c_str(), std::strerror(errno));
    std::_Exit(127);
  }
  auto stop_service = [&] {
    ::kill(pid, SIGTERM);
    int st = 0;
    ::waitpid(pid, &st, 0);
    std::filesystem::remove_all(dir);
  };
  // Ready when /healthz answers (bounded).
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    up = http_once(port, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n") == 200;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!up) {
    stop_service();
    die("the service did not answer /healthz within 10 s (see its stderr above)");
  }
  const std::string secret = "bench-customer-secret-0123456789";
  const std::string doc = fmt::format(
      R"({{"secrets":[{{"kid":"k1","secret":"{}"}}],"origins":["{}"],"numbers":["+15551230000","1555124*"],)"
      R"("limits":{{"max_call_seconds":3600,"tokens_per_minute":100000000}}}})",
      secret, o.origin);
  std::string put_body;
  const int put = http_once(port,
                            fmt::format("PUT /v1/accounts/bench HTTP/1.1\r\nAuthorization: Bearer {}\r\n"
                                        "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                                        admin, doc.size(), doc),
                            &put_body);
  if (put != 200) {
    stop_service();
    die(fmt::format("provisioning failed: {} {}", put, put_body));
  }

  pin(o.gen_cpu);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(o.connections);
  std::uint64_t seq = 0;
  auto next_request = [&](Conn& c) {
    const auto t = auth::mint_customer_token("bench", fmt::format("u{}", seq++), secret, core::unix_now(), 300, o.algo);
    const std::string body = auth::customer_token_json(t);
    c.out = fmt::format(
        "POST /v1/token HTTP/1.1\r\nHost: auth.example\r\nOrigin: {}\r\nContent-Type: application/json\r\n"
        "Content-Length: {}\r\n\r\n{}",
        o.origin, body.size(), body);
    c.out_off = 0;
    c.sent = Clock::now();
  };
  auto try_send = [&](Conn& c) {
    while (c.out_off < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n <= 0) return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
      c.out_off += static_cast<std::size_t>(n);
    }
    return true;
  };
  for (std::size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = connect_to(port, true);
    if (conns[i].fd < 0) die("connect failed");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    next_request(conns[i]);
    try_send(conns[i]);
  }

  const auto t0 = Clock::now();
  const auto t_measure = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s));
  const auto t_end = t_measure + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  bool measuring = false;
  double cpu0 = 0;
  std::uint64_t ok = 0, failed = 0, closed = 0;
  std::vector<std::uint32_t> lat_us;
  lat_us.reserve(4'000'000);
  std::string first_failure;
  std::vector<epoll_event> evs(256);
  char buf[16384];
  while (true) {
    const auto now = Clock::now();
    if (!measuring && now >= t_measure) {
      measuring = true;
      cpu0 = cpu_seconds(pid);
    }
    if (now >= t_end) break;
    const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    for (int k = 0; k < n; ++k) {
      Conn& c = conns[evs[k].data.u64];
      for (;;) {
        const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
        if (r > 0) {
          c.in.append(buf, static_cast<std::size_t>(r));
          continue;
        }
        if (r == 0) {
          ++closed;
          ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        }
        break;
      }
      // One response per request in flight: head, then Content-Length bytes.
      const std::size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      const std::size_t cl = c.in.find("Content-Length: ");
      const std::size_t len = cl != std::string::npos && cl < end ? std::strtoul(c.in.c_str() + cl + 16, nullptr, 10) : 0;
      if (c.in.size() < end + 4 + len) continue;
      const int status = std::atoi(c.in.c_str() + 9);
      const auto done = Clock::now();
      if (measuring) {
        if (status == 200) {
          ++ok;
          lat_us.push_back(static_cast<std::uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(done - c.sent).count()));
        } else {
          ++failed;
          if (first_failure.empty()) first_failure = c.in.substr(0, end + 4 + len);
        }
      }
      c.in.erase(0, end + 4 + len);
      next_request(c);
      try_send(c);
    }
  }
  const double cpu1 = cpu_seconds(pid);
  const double wall = o.duration_s;
  for (auto& c : conns) ::close(c.fd);
  ::close(ep);
  stop_service();

  std::sort(lat_us.begin(), lat_us.end());
  auto pct = [&](double p) {
    return lat_us.empty() ? 0u : lat_us[std::min(lat_us.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lat_us.size())))];
  };
  const double cpu = cpu1 - cpu0;
  std::printf(
      "bench_auth_load: %u keep-alive connections, %s customer tokens, %.0f s measured after %.0f s warm-up\n"
      "  exchanges ok       %llu (%.0f/s wall)\n"
      "  failed / closed    %llu / %llu\n"
      "  service CPU        %.2f s (%.0f%% of one core)\n"
      "  per service CPU-s  %.0f exchanges\n"
      "  latency            p50 %u us, p99 %u us, max %u us\n",
      o.connections, o.algo == auth::HmacAlgo::sha1 ? "HMAC-SHA1" : "HMAC-SHA256", wall, o.warmup_s,
      static_cast<unsigned long long>(ok), static_cast<double>(ok) / wall, static_cast<unsigned long long>(failed),
      static_cast<unsigned long long>(closed), cpu, 100.0 * cpu / wall, cpu > 0 ? static_cast<double>(ok) / cpu : 0.0,
      pct(0.5), pct(0.99), lat_us.empty() ? 0u : lat_us.back());
  if (!first_failure.empty()) std::printf("  first failure:\n%s\n", first_failure.c_str());
  return failed == 0 && closed == 0 ? 0 : 1;
}

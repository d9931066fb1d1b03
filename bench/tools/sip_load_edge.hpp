// bench_sip_load, part 1: the edge under test as a child process, and what the load tool reads
// from the system around it (clocks, CPU time and run-queue waits from /proc, a free port,
// /metrics over plain HTTP).
//
// EdgeProcess forks and execs `webtrunk edge ...` (optionally behind a wrapper such as valgrind),
// with its stdout/stderr in a log file and its CPU affinity set before exec, and stops it by PID
// with SIGTERM (SIGKILL after a grace period). Nothing here is on the measured path.
//
// Lifetimes: EdgeProcess owns the child; its destructor kills it if stop() was not called.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"

namespace webtrunk::bench {

// The clocks of the latency figures (monotonic) and of the kernel receive stamps (realtime), in ns.
inline std::int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(core::monotonic_now().time_since_epoch()).count();
}
inline std::int64_t real_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// utime and stime of a whole process (all its threads), in seconds: /proc/PID/stat fields 14 and
// 15, in clock ticks (10 ms on most kernels; runs of several seconds keep that error under 1 %).
struct CpuTimes {
  double user = 0;
  double sys = 0;
  double total() const noexcept { return user + sys; }
};
inline CpuTimes process_cpu(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(f, line)) return {};
  const auto close = line.rfind(')');  // the comm may hold spaces and parentheses
  if (close == std::string::npos) return {};
  std::istringstream in(line.substr(close + 2));
  std::string field;
  unsigned long ticks[2] = {0, 0};
  // After ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
  for (int i = 3; i <= 15 && (in >> field); ++i) {
    if (i >= 14) ticks[i - 14] = std::stoul(field);
  }
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return {static_cast<double>(ticks[0]) / hz, static_cast<double>(ticks[1]) / hz};
}

// Nanosecond CPU time and run-queue wait summed over a process's threads
// (/proc/PID/task/*/schedstat: "exec ns, wait-on-runqueue ns, timeslices"). The wait is the time
// a thread was runnable but another task had its CPU: when it is large, the machine is shared and
// the wall-clock rate says more about the neighbours than about the edge.
struct SchedTimes {
  double cpu_s = 0;
  double runq_wait_s = 0;
};
inline SchedTimes process_sched(pid_t pid) {
  SchedTimes out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    std::ifstream f(e.path() / "schedstat");
    unsigned long long run = 0, wait = 0;
    if (f >> run >> wait) {
      out.cpu_s += static_cast<double>(run) * 1e-9;
      out.runq_wait_s += static_cast<double>(wait) * 1e-9;
    }
  }
  return out;
}

// VmRSS of a process in KiB (/proc/PID/status), -1 if unreadable.
inline long process_rss_kib(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

inline double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// A loopback port of `type` (SOCK_STREAM, SOCK_DGRAM) nobody uses right now (bind to 0, read,
// close). Racy in principle; good enough for a bench that starts its own edge a few milliseconds later.
inline std::uint16_t free_loopback_port(int type) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  std::uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}
inline std::uint16_t free_tcp_port() { return free_loopback_port(SOCK_STREAM); }
inline std::uint16_t free_udp_port() { return free_loopback_port(SOCK_DGRAM); }

// The webtrunk binary a stand-alone bench tool (build/bench/bench_*) starts: build/webtrunk beside
// its directory, else beside it, else "build/webtrunk". `webtrunk bench` passes itself instead.
inline std::string default_webtrunk_bin() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "build/webtrunk";
  for (const auto& cand : {self.parent_path().parent_path() / "webtrunk", self.parent_path() / "webtrunk"}) {
    if (std::filesystem::exists(cand, ec)) return cand.string();
  }
  return "build/webtrunk";
}

// A blocking TCP connection to 127.0.0.1:port, or -errno.
inline int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    const int e = errno;
    ::close(fd);
    return -e;
  }
  return fd;
}

// GET `path` with Connection: close; the whole response (head and body), "" on failure.
inline std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = connect_loopback(port);
  if (fd < 0) return {};
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const std::string req = fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", path, port);
  std::string out;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

// "webtrunk_x_total 12" lines of a Prometheus text page whose value is not 0, without comments.
inline std::vector<std::string> nonzero_metrics(const std::string& page) {
  std::vector<std::string> out;
  const auto body = page.find("\r\n\r\n");
  std::istringstream in(body == std::string::npos ? page : page.substr(body + 4));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const std::string v = line.substr(sp + 1);
    if (v == "0" || v == "0.0") continue;
    out.push_back(line);
  }
  return out;
}

inline std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

class EdgeProcess {
 public:
  EdgeProcess() = default;
  EdgeProcess(const EdgeProcess&) = delete;
  EdgeProcess& operator=(const EdgeProcess&) = delete;
  ~EdgeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }

  // Forks; the child pins itself to `cpus` (so the edge's main thread stays off the generator's
  // CPU too), sends its output to `log_path` and execs `wrapper... argv...`. False with `err` set
  // when the fork fails; an exec failure shows as an early exit (exit code 127) in wait_ready().
  bool start(const std::vector<std::string>& wrapper, const std::vector<std::string>& argv,
             const std::vector<unsigned>& cpus, const std::string& log_path, std::string& err) {
    std::vector<std::string> all = wrapper;
    all.insert(all.end(), argv.begin(), argv.end());
    std::vector<char*> cargv;
    for (auto& a : all) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      err = fmt::format("cannot create {}: {}", log_path, std::strerror(errno));
      return false;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      err = fmt::format("fork: {}", std::strerror(errno));
      ::close(log_fd);
      return false;
    }
    if (pid == 0) {
      // Child: only async-signal-safe calls until exec. The edge goes when the generator does,
      // even when it is killed (a ctest timeout) before it could stop the edge by PID.
      (void)::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      if (!cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (unsigned c : cpus) CPU_SET(c, &set);
        (void)::sched_setaffinity(0, sizeof(set), &set);
      }
      ::execvp(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::close(log_fd);
    pid_ = pid;
    return true;
  }

  // Waits until 127.0.0.1:port accepts a TCP connection (the edge's WebSocket listener is up:
  // Shards starts the loops only after every shard's listeners are installed).
  bool wait_ready(std::uint16_t port, std::chrono::milliseconds limit, std::string& err) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        err = WIFEXITED(st) ? fmt::format("the edge exited with code {} before listening", WEXITSTATUS(st))
                            : fmt::format("the edge died (signal {}) before listening", WTERMSIG(st));
        return false;
      }
      const int fd = connect_loopback(port);
      if (fd >= 0) {
        ::close(fd);
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    err = fmt::format("the edge did not listen on 127.0.0.1:{} within {} ms", port, limit.count());
    return false;
  }

  pid_t pid() const noexcept { return pid_; }

  // SIGTERM, then SIGKILL after `grace`. Returns a description of how it ended.
  std::string stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) return "not running";
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + grace;
    int st = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) break;
      if (std::chrono::steady_clock::now() >= until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
        return "killed (no exit within the grace period after SIGTERM)";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    if (WIFEXITED(st)) return fmt::format("exited {}", WEXITSTATUS(st));
    return fmt::format("died on signal {}", WTERMSIG(st));
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace webtrunk::bench

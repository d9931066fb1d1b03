// bench_sip_load, part 5: what a run measured and how it is printed. Snapshots of the call
// counters and of the CPU times (edge from /proc/PID/stat, run-queue waits from schedstat, this
// process from getrusage) are taken at the start, at the end of --warmup and at the end; every
// rate, CPU share and latency is a difference over [end of warm-up, last call finished].
//
// Lifetimes: RunStats owns everything it holds.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "sip_load_edge.hpp"
#include "sip_load_options.hpp"

namespace webtrunk::bench {

// The counters and CPU times at one moment.
struct Snapshot {
  std::int64_t t = 0;  // monotonic ns
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  CpuTimes edge;
  double gen_cpu_s = 0;
  long edge_rss_kib = 0;
  SchedTimes edge_sched;  // run-queue waits: CPU taken by other tasks on a shared machine
  SchedTimes gen_sched;
};

inline Snapshot take_snapshot(pid_t edge_pid, std::int64_t t, std::uint64_t completed, std::uint64_t failed) {
  Snapshot s;
  s.t = t;
  s.completed = completed;
  s.failed = failed;
  s.edge = process_cpu(edge_pid);
  s.gen_cpu_s = self_cpu_s();
  s.edge_rss_kib = process_rss_kib(edge_pid);
  s.edge_sched = process_sched(edge_pid);
  s.gen_sched = process_sched(::getpid());
  return s;
}

struct RunStats {
  std::uint64_t attempted = 0, completed = 0, failed = 0;
  std::uint64_t challenges = 0;                    // 407s the browsers got
  std::uint64_t auth_invites = 0;                  // INVITEs sent with Proxy-Authorization
  std::uint64_t trunk_retransmits = 0;             // INVITEs the trunk got more than once (edge Timer A fired)
  std::uint64_t edge_requests = 0;                 // requests the edge sent to a browser (none expected)
  std::map<std::string, std::uint64_t> failures;   // why calls failed
  std::map<std::string, std::uint64_t> anomalies;  // odd traffic that failed no call by itself
  Snapshot begin, measure, end;
  std::string stop_reason = "done";
  // Per successful call whose authenticated INVITE left after the warm-up, in ns.
  std::vector<std::int64_t> invite_in_out;      // monotonic, user space to user space
  std::vector<std::int64_t> invite_in_out_krx;  // realtime, write(2) to the kernel's receive stamp
  std::vector<std::int64_t> setup;              // first INVITE written -> 200 at the browser
  std::vector<std::int64_t> answer_back;        // INVITE at the trunk (which answers at once) -> 200 at the browser
};

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};
inline Percentiles percentiles_us(std::vector<std::int64_t> ns) {
  Percentiles p;
  if (ns.empty()) return p;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    return static_cast<double>(ns[static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1) + 0.5)]) / 1000.0;
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.max = static_cast<double>(ns.back()) / 1000.0;
  return p;
}

inline double load_average_1m() {
  double l[1] = {0};
  return ::getloadavg(l, 1) == 1 ? l[0] : -1;
}

inline void print_progress(const Snapshot& begin, const Snapshot& from, const Snapshot& to, std::uint64_t in_flight) {
  const double dt = static_cast<double>(to.t - from.t) * 1e-9;
  const auto ok = static_cast<double>(to.completed - from.completed);
  const double cpu = to.edge.total() - from.edge.total();
  auto pct = [&](double x) { return dt > 0 ? 100.0 * x / dt : 0.0; };
  std::printf(
      "sip_load: progress t=%.1fs ok=%llu failed=%llu in_flight=%llu window: cps=%.0f edge_util=%.0f%% "
      "calls_per_edge_cpu_s=%.0f gen_util=%.0f%% edge_runq_wait=%.0f%% edge_rss_mib=%.0f\n",
      static_cast<double>(to.t - begin.t) * 1e-9, static_cast<unsigned long long>(to.completed),
      static_cast<unsigned long long>(to.failed), static_cast<unsigned long long>(in_flight), dt > 0 ? ok / dt : 0.0,
      pct(cpu), cpu > 0 ? ok / cpu : 0.0, pct(to.gen_cpu_s - from.gen_cpu_s),
      pct(to.edge_sched.runq_wait_s - from.edge_sched.runq_wait_s), static_cast<double>(to.edge_rss_kib) / 1024.0);
  std::fflush(stdout);
}

// The headline figures of a run (over the measured window), for --compare-tls.
struct RunFigures {
  std::uint64_t attempted = 0, ok = 0, failed = 0;
  double cps = 0, edge_cpu_us_per_call = 0, calls_per_edge_cpu_s = 0, p50_us = 0, p99_us = 0;
  double edge_cpu_us_per_connection = 0;  // connecting the browsers (TLS handshakes, upgrades), before the calls
};
inline RunFigures run_figures(const RunStats& r) {
  RunFigures f;
  f.attempted = r.attempted;
  f.ok = r.completed;
  f.failed = r.failed;
  const double wall = static_cast<double>(r.end.t - r.measure.t) * 1e-9;
  const auto ok = static_cast<double>(r.end.completed - r.measure.completed);
  const double cpu = r.end.edge.total() - r.measure.edge.total();
  f.cps = wall > 0 ? ok / wall : 0;
  f.edge_cpu_us_per_call = ok > 0 ? 1e6 * cpu / ok : 0;
  f.calls_per_edge_cpu_s = cpu > 0 ? ok / cpu : 0;
  const Percentiles p = percentiles_us(r.invite_in_out);
  f.p50_us = p.p50;
  f.p99_us = p.p99;
  return f;
}

inline void print_report(const Options& o, const RunStats& r, std::size_t sdp_size, std::size_t invite_size) {
  const Percentiles pl = percentiles_us(r.invite_in_out), pk = percentiles_us(r.invite_in_out_krx),
                    ps = percentiles_us(r.setup), pa = percentiles_us(r.answer_back);
  const Snapshot& m = r.measure;
  const Snapshot& e = r.end;
  const double wall = static_cast<double>(e.t - m.t) * 1e-9;
  const auto ok = static_cast<double>(e.completed - m.completed);
  const double edge_user = e.edge.user - m.edge.user;
  const double edge_sys = e.edge.sys - m.edge.sys;
  const double edge_cpu = edge_user + edge_sys;
  const double gen_cpu = e.gen_cpu_s - m.gen_cpu_s;
  const double edge_wait = e.edge_sched.runq_wait_s - m.edge_sched.runq_wait_s;
  const double gen_wait = e.gen_sched.runq_wait_s - m.gen_sched.runq_wait_s;
  auto pct = [&](double x) { return wall > 0 ? 100.0 * x / wall : 0.0; };
  auto ull = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "sip_load: setup: transport=%s shards=%u browsers=%u concurrency=%u rate=%s auth=%s trunk=%s%s200 trunk_transport=%s "
      "sdp_bytes=%zu "
      "%s=%zu warmup_s=%.0f edge_log=%s direction=%s\n",
      o.tls ? "wss" : "ws", o.shards, o.browsers, o.concurrency, o.rate > 0 ? fmt::format("{}", o.rate).c_str() : "max",
      o.auth_every_call ? "every-call" : "cached", o.trunk_trying ? "100+" : "", o.trunk_ringing ? "180+" : "",
      transport_name(o.trunk_transport), sdp_size, o.inbound ? "trunk_invite_bytes" : "auth_invite_bytes", invite_size, o.warmup_s,
      o.edge_log_level.c_str(), o.inbound ? fmt::format("inbound hold_s={}", o.hold_s).c_str() : "outbound");
  std::printf(
      "sip_load: %s=%llu authenticated_invites=%llu trunk_invite_retransmits=%llu "
      "edge_requests_to_browsers=%llu stop=%s\n",
      o.inbound ? "register_401_challenges" : "407_challenges", ull(r.challenges), ull(r.auth_invites),
      ull(r.trunk_retransmits), ull(r.edge_requests), r.stop_reason.c_str());
  std::printf(
      "sip_load: edge_user_s=%.2f edge_sys_s=%.2f edge_cpu_us_per_call=%.0f edge_rss_mib: start=%.0f end=%.0f\n",
      edge_user, edge_sys, ok > 0 ? 1e6 * edge_cpu / ok : 0.0, static_cast<double>(r.begin.edge_rss_kib) / 1024.0,
      static_cast<double>(e.edge_rss_kib) / 1024.0);
  std::printf("sip_load: runq_wait: edge=%.2fs (%.0f%% of wall) generator=%.2fs (%.0f%%) load_avg_1m=%.2f\n", edge_wait,
              pct(edge_wait), gen_wait, pct(gen_wait), load_average_1m());
  // --inbound: the trunk's INVITE -> its 200, and the browser's INVITE (answered at once) -> that 200.
  std::printf(o.inbound ? "sip_load: setup_time_us (INVITE written by the trunk -> 200 at the trunk): p50=%.0f "
                          "p99=%.0f max=%.0f; answer_back_us (INVITE at the browser -> 200 at the trunk): p50=%.0f "
                          "p99=%.0f max=%.0f\n"
                        : "sip_load: setup_time_us (first INVITE written -> 200 at the browser): p50=%.0f p99=%.0f "
                          "max=%.0f; answer_back_us (INVITE at the trunk -> 200 at the browser): p50=%.0f p99=%.0f "
                          "max=%.0f\n",
              ps.p50, ps.p99, ps.max, pa.p50, pa.p99, pa.max);
  for (const auto& [why, n] : r.failures) std::printf("sip_load: failure: %s x%llu\n", why.c_str(), ull(n));
  for (const auto& [why, n] : r.anomalies) std::printf("sip_load: anomaly: %s x%llu\n", why.c_str(), ull(n));
  // The grep line: calls/ok/failed count the whole run; rates, CPU and latencies the measured window.
  std::printf(
      "sip_load: calls=%llu ok=%llu failed=%llu wall_s=%.3f cps=%.0f edge_cpu_s=%.2f edge_util=%.0f%% "
      "calls_per_edge_cpu_s=%.0f gen_cpu_s=%.2f gen_util=%.0f%% p50_us=%.0f p99_us=%.0f max_us=%.0f "
      "krx_p50_us=%.0f krx_p99_us=%.0f\n",
      ull(r.attempted), ull(r.completed), ull(r.failed), wall, wall > 0 ? ok / wall : 0.0, edge_cpu, pct(edge_cpu),
      edge_cpu > 0 ? ok / edge_cpu : 0.0, gen_cpu, pct(gen_cpu), pl.p50, pl.p99, pl.max, pk.p50, pk.p99);
}

}  // namespace webtrunk::bench

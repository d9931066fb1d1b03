// bench_sip_load: signalling-only calls per second through a real `webtrunk edge` process
// (issue 3, "Benchmark": >= 3,000 calls/s per shard, no failed call, p50/p99 INVITE in -> out).
//
//   emulated browsers --WebSocket (TCP, subprotocol sip)--> webtrunk edge --UDP|TCP|TLS--> emulated trunk
//
// The tool writes an edge secret file, starts `webtrunk edge` itself (fork/exec, pinned to
// --edge-cpus), connects --browsers WebSocket clients, and drives calls from one thread (epoll,
// pinned to --gen-cpu) that also runs the trunk. Per call, as JsSIP does it:
//   INVITE (1.1 KB SDP) -> 100, 407 -> ACK, INVITE + Proxy-Authorization (MD5 digest over an edge
//   token minted with auth::mint_edge_token) -> 100, 180, 200 (relayed from the trunk) -> ACK, BYE -> 200
// With --auth cached (default) a browser keeps the nonce of its first 407 and sends credentials
// on the first INVITE of its later calls (nc counting up); --auth every-call takes the 407 round
// trip on every call. The trunk (sip_load_trunk.hpp) answers each INVITE with [100] [180] 200 +
// SDP, absorbs the ACK and answers the BYE with 200. A call succeeds when the browser got 200 to
// INVITE and BYE and the trunk saw INVITE, ACK and BYE.
//
// Latency "INVITE in -> INVITE out": from just before the send(2) of the browser's authenticated
// INVITE to the trunk's recvmmsg(2) return (same thread, same monotonic clock); "krx" uses the
// kernel's SO_TIMESTAMPNS receive time instead, which leaves out the generator's own queueing.
// Edge CPU is utime + stime of the edge process from /proc/PID/stat: calls per edge CPU-second =
// the calls/s one shard manages at 100 % of a core. The edge's run-queue wait (schedstat) shows
// how much of a shared machine's CPU went to other tasks.
//
// It stops by itself: after --calls calls, or at --duration seconds (no call starts after it; the
// calls in flight get 2 s more, then count as failed), then SIGTERMs the edge by PID. A call still
// unfinished --call-timeout seconds after it started fails. Exit code 0 only if all --calls calls
// were made and succeeded. --warmup S leaves the first S seconds out of the rates, CPU figures
// and latencies; a progress line every --progress seconds shows the steady state being reached
// (the edge keeps finished calls for a few seconds of transaction timers: its heap grows first).
//
// --tls: the same over WSS (the edge gets --wss, a certificate made at start, and --admin-listen
// for /metrics); --compare-tls N: N pairs of runs, WS then WSS, each on a fresh edge, with each
// run's edge CPU per call, the medians and the WSS/WS ratio (issue 11's target: <= 1.3).
//
// --trunk-transport tcp|tls: the trunk listens on TCP (TLS, on a certificate for 127.0.0.1 signed by
// a CA made at start, given to the edge as --trunk-ca) and the edge gets --trunk tcp:|tls:...; a comma
// list alternates the transports on fresh edges (--rounds N of each) and prints a table of edge CPU
// per call and calls per edge CPU-second with the ratio to the first.
//
// --inbound: the calls go the other way. Each browser REGISTERs as its own user (401, then an
// Authorization digest over its edge token, as JsSIP does); the trunk (TrunkCaller, on the edge's
// --trunk address) sends INVITE sip:USER@edge (an RTP/AVP offer as sipp's call-browser.xml; call i
// to browser i % --browsers and to shard i % --shards), the browser answers 180 and 200 with a
// Chromium SDP answer, the trunk ACKs, holds the call --hold seconds and sends BYE. A call succeeds
// when the trunk got 200 to INVITE and BYE and the browser got INVITE, ACK and BYE. Latencies:
// "INVITE in -> out" is the trunk's send(2) to the browser's read, set-up time the trunk's INVITE to
// its 200. No media flows (no browser does ICE).
//
// The tool is the function run_sip_load (bench/tools/load.hpp): bench_sip_load and
// `webtrunk bench calls` both run it.
// Files: sip_load_options.hpp (flags), sip_load_edge.hpp (the edge process, /proc),
// sip_load_messages.hpp (JsSIP and trunk messages), sip_load_ws_clients.hpp (browsers' WebSockets),
// sip_load_trunk.hpp (the trunk), sip_load_report.hpp (snapshots, figures), sip_load_generator.hpp
// (the generator: sip_load_generator.cpp the calls from browsers and the loop, sip_load_inbound.cpp
// --inbound); this file runs the edge and the generator once, or alternately (--compare-tls).
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "bench/tools/load.hpp"
#include "bench/tools/tool_flags.hpp"
#include "core/shards.hpp"
#include "core/tls_certificate.hpp"
#include "sip_load_edge.hpp"
#include "sip_load_generator.hpp"
#include "sip_load_messages.hpp"
#include "sip_load_options.hpp"
#include "sip_load_report.hpp"

namespace wt = webtrunk;
namespace bn = webtrunk::bench;

namespace {

using bn::sip_load::Generator;

// A day's certificate for 127.0.0.1 (ECDSA P-256, as the demo's): self-signed, a CA when `ca`, or
// signed by `issuer`.
wt::core::Result<wt::core::TlsPem> loopback_certificate(bool ca = false, const wt::core::TlsPem* issuer = nullptr) {
  wt::core::TlsCertSpec spec;
  spec.common_name = ca ? "sip_load trunk CA" : "127.0.0.1";
  if (!ca) spec.dns_names = {"127.0.0.1", "localhost"};
  spec.not_after_s = 86400;
  spec.ca = ca;
  return wt::core::make_tls_certificate(spec, issuer);
}

// --trunk-transport tls: the trunk's certificate for 127.0.0.1, signed by a CA made now whose
// certificate is written to `ca_path` (the edge's --trunk-ca). Empty `err` on success.
std::optional<wt::core::TlsPem> trunk_certificate(const std::string& ca_path, std::string& err) {
  auto ca = loopback_certificate(true);
  auto leaf = ca ? loopback_certificate(false, &*ca) : ca;
  if (!leaf) {
    err = "making the trunk's certificate: " + leaf.error().message;
    return std::nullopt;
  }
  std::ofstream(ca_path) << ca->cert;
  return *leaf;
}

void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) std::fprintf(stderr, "sip_load: cannot pin to CPU %d\n", cpu);
}

// One run: its own temp dir, edge and browsers. The exit code (0: every call ok; 2: a bad flag);
// `figures` gets what compare_tls prints.
int run_once(const char* prog, bn::Options o, bn::RunFigures& figures) {
  std::string err;
  auto edge_cpus = wt::core::parse_cpu_list(o.edge_cpus);
  if (!edge_cpus) {
    std::fprintf(stderr, "%s: --edge-cpus: %s\n", prog, edge_cpus.error().message.c_str());
    return 2;
  }
  // Pin only to CPUs that exist (a 1-CPU machine runs both unpinned).
  const auto ncpu = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<unsigned> pin_edge = *edge_cpus;
  std::erase_if(pin_edge, [&](unsigned c) { return c >= ncpu; });
  const bool pin_gen = o.gen_cpu >= 0 && static_cast<unsigned>(o.gen_cpu) < ncpu;

  // The secret file: one secret with a key id, so the tokens carry claims (auth/README.md).
  char dir_tmpl[] = "/tmp/sip_load.XXXXXX";
  if (::mkdtemp(dir_tmpl) == nullptr) {
    std::fprintf(stderr, "%s: mkdtemp: %s\n", prog, std::strerror(errno));
    return 1;
  }
  const std::string dir = dir_tmpl;
  std::mt19937_64 seed_rng(std::random_device{}());
  const wt::auth::Secret secret{"k1", fmt::format("{:016x}{:016x}", seed_rng(), seed_rng())};
  const std::string secret_path = dir + "/edge-secrets.txt";
  {
    std::ofstream f(secret_path);
    f << "# bench_sip_load\n" << secret.kid << ':' << secret.key << '\n';
  }
  ::chmod(secret_path.c_str(), 0600);
  // WSS: a certificate for 127.0.0.1 made now (ECDSA P-256, as the demo's), and /metrics on a
  // plain admin port.
  std::vector<std::string> tls_args;
  std::uint16_t metrics_port = 0;
  if (o.tls) {
    auto pem = loopback_certificate();
    if (!pem) {
      std::fprintf(stderr, "%s: making a certificate: %s\n", prog, pem.error().message.c_str());
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      return 1;
    }
    std::ofstream(dir + "/edge.crt") << pem->cert;
    std::ofstream(dir + "/edge.key") << pem->key;
    ::chmod((dir + "/edge.key").c_str(), 0600);
    metrics_port = bn::free_tcp_port();
    tls_args = {"--tls-cert", dir + "/edge.crt", "--tls-key", dir + "/edge.key", "--admin-listen",
                fmt::format("127.0.0.1:{}", metrics_port)};
  }
  auto cleanup = [&] {
    std::error_code ec;
    if (o.keep) {
      std::printf("sip_load: kept %s\n", dir.c_str());
    } else {
      std::filesystem::remove_all(dir, ec);
    }
  };

  // The trunk first: its port is a flag of the edge.
  const std::uint16_t ws_port = bn::free_tcp_port();
  // --inbound: the trunk calls the edge's SIP port, so it is fixed here (shard k: + k).
  const std::uint16_t sip_port = o.inbound ? bn::free_udp_port() : 0;
  // --trunk-transport tls: the trunk's certificate, its CA for the edge.
  std::optional<wt::core::TlsPem> trunk_pem;
  const std::string trunk_ca_path = dir + "/trunk-ca.crt";
  if (o.trunk_transport == bn::TrunkTransport::tls && !(trunk_pem = trunk_certificate(trunk_ca_path, err))) {
    std::fprintf(stderr, "%s: %s\n", prog, err.c_str());
    cleanup();
    return 1;
  }
  Generator gen(o, ws_port);
  gen.set_edge_sip_port(sip_port);
  if (ws_port == 0 || !gen.open_trunk(trunk_pem ? &*trunk_pem : nullptr, err)) {
    std::fprintf(stderr, "%s: %s\n", prog, err.empty() ? "no free TCP port" : err.c_str());
    cleanup();
    return 1;
  }
  std::vector<std::string> edge_argv{o.edge_bin,
                                     "edge",
                                     o.tls ? "--wss" : "--ws",
                                     fmt::format("127.0.0.1:{}", ws_port),
                                     "--trunk",
                                     fmt::format("{}:127.0.0.1:{}", bn::transport_name(o.trunk_transport),
                                                 gen.trunk_port()),
                                     "--sip-listen",
                                     "127.0.0.1",
                                     "--sip-port",
                                     std::to_string(sip_port),
                                     "--edge-secret-file",
                                     secret_path,
                                     "--realm",
                                     std::string(bn::kRealm),
                                     "--shards",
                                     std::to_string(o.shards),
                                     "--log-level",
                                     o.edge_log_level,
                                     // Every emulated browser comes from 127.0.0.1: lift the
                                     // per-address admission limits meant for real sources.
                                     "--max-connections-per-address",
                                     "10000000",
                                     "--max-new-connections-per-address",
                                     "1000000",
                                     "--max-unauth-requests-per-address",
                                     "1000000"};
  edge_argv.insert(edge_argv.end(), tls_args.begin(), tls_args.end());
  if (trunk_pem) edge_argv.insert(edge_argv.end(), {"--trunk-ca", trunk_ca_path});
  if (!pin_edge.empty()) {
    edge_argv.push_back("--cpu-list");
    edge_argv.push_back(fmt::format("{}", fmt::join(pin_edge, ",")));
  }
  edge_argv.insert(edge_argv.end(), o.edge_args.begin(), o.edge_args.end());
  std::string cmdline;
  for (const auto& a : o.edge_wrapper) cmdline += a + " ";
  for (const auto& a : edge_argv) cmdline += a + " ";
  const std::string log_path = dir + "/edge.log";
  std::printf("sip_load: edge: %s(log %s)\n", cmdline.c_str(), log_path.c_str());
  std::fflush(stdout);

  bn::EdgeProcess edge;
  if (!edge.start(o.edge_wrapper, edge_argv, pin_edge, log_path, err) ||
      !edge.wait_ready(ws_port, std::chrono::milliseconds(static_cast<long>(o.ready_timeout_s * 1000)), err)) {
    std::fprintf(stderr, "%s: %s (see %s)\n", prog, err.c_str(), log_path.c_str());
    o.keep = true;
    cleanup();
    return 1;
  }
  std::printf("sip_load: edge pid=%d\n", static_cast<int>(edge.pid()));
  std::fflush(stdout);
  gen.set_edge_pid(edge.pid());
  if (pin_gen) pin_self(o.gen_cpu);

  // The connections' cost (TCP, TLS handshakes, upgrades) apart from the calls': nanosecond CPU
  // from schedstat, since a few dozen handshakes take less than one /proc/PID/stat tick.
  const double connect_cpu0 = bn::process_sched(edge.pid()).cpu_s;
  const bool connected = gen.connect_browsers(secret, err);
  const double connect_cpu_s = bn::process_sched(edge.pid()).cpu_s - connect_cpu0;
  if (!connected) {
    std::fprintf(stderr, "%s: %s\n", prog, err.c_str());
    std::printf("sip_load: edge %s\n", edge.stop(std::chrono::seconds(5)).c_str());
    cleanup();
    return 1;
  }
  const std::size_t invite_size = gen.sample_invite().size();
  const std::size_t sdp_size =
      o.inbound ? fmt::format(fmt::runtime(bn::kTrunkOfferTemplate), 30000).size() : bn::make_offer(1, 40000).size();
  gen.run();
  std::printf("sip_load: connections: transport=%s browsers=%u edge_cpu_us_per_connection=%.0f", o.tls ? "wss" : "ws",
              o.browsers, 1e6 * connect_cpu_s / o.browsers);
  if (o.tls) std::printf(" tls_handshakes=%u resumed=%u", gen.tls_handshakes(), gen.tls_resumed());
  std::printf("\n");
  if (o.trunk_transport != bn::TrunkTransport::udp) {
    std::printf("sip_load: trunk: transport=%s connections_from_edge=%llu\n", bn::transport_name(o.trunk_transport),
                static_cast<unsigned long long>(gen.trunk_connections()));
  }

  const auto metrics = bn::nonzero_metrics(bn::http_get(o.tls ? metrics_port : ws_port, "/metrics"));
  std::printf("sip_load: edge metrics (non-zero):\n");
  for (const auto& line : metrics) {
    if (line.find("shard=\"") == std::string::npos || o.shards > 1) std::printf("  %s\n", line.c_str());
  }
  std::printf("sip_load: edge %s\n", edge.stop(std::chrono::seconds(10)).c_str());
  bn::print_report(o, gen.stats(), sdp_size, invite_size);
  figures = bn::run_figures(gen.stats());
  figures.edge_cpu_us_per_connection = 1e6 * connect_cpu_s / o.browsers;
  cleanup();
  return gen.all_ok() ? 0 : 1;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// One run of a comparison: which variant, its exit code and figures.
struct Row {
  std::size_t variant;
  int rc;
  bn::RunFigures f;
};

// `rounds` rounds of every variant in turn (A, B, A, B, ...), each run on a fresh edge. Alternating
// spreads a drift of the machine (neighbours, heat) over all of them. Empty: a bad flag (exit 2).
std::vector<Row> run_alternating(const char* prog, const std::vector<std::pair<std::string, bn::Options>>& variants,
                                 unsigned rounds) {
  std::vector<Row> rows;
  for (unsigned round = 0; round < rounds; ++round) {
    for (std::size_t v = 0; v < variants.size(); ++v) {
      std::printf("sip_load: compare: run %zu of %zu (%s)\n", rows.size() + 1, rounds * variants.size(),
                  variants[v].first.c_str());
      std::fflush(stdout);
      Row r{v, 0, {}};
      r.rc = run_once(prog, variants[v].second, r.f);
      if (r.rc == 2) return {};
      rows.push_back(r);
    }
  }
  return rows;
}

// --compare-tls PAIRS: WS, WSS, WS, WSS, ... on the same flags, then one line per run, the medians
// and the ratio.
int compare_tls(const char* prog, const bn::Options& base) {
  bn::Options ws_o = base, wss_o = base;
  wss_o.tls = true;
  const std::vector<Row> rows = run_alternating(prog, {{"ws", ws_o}, {"wss", wss_o}}, base.compare_tls);
  if (rows.empty()) return 2;
  std::vector<double> cpu[2], cps[2], p50[2], conn[2];
  bool all_ok = true;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    all_ok = all_ok && r.rc == 0;
    std::printf(
        "sip_load: compare run=%zu transport=%s ok=%llu failed=%llu cps=%.0f edge_cpu_us_per_call=%.1f "
        "calls_per_edge_cpu_s=%.0f p50_us=%.0f p99_us=%.0f edge_cpu_us_per_connection=%.0f\n",
        i + 1, r.variant == 1 ? "wss" : "ws", static_cast<unsigned long long>(r.f.ok),
        static_cast<unsigned long long>(r.f.failed), r.f.cps, r.f.edge_cpu_us_per_call, r.f.calls_per_edge_cpu_s,
        r.f.p50_us, r.f.p99_us, r.f.edge_cpu_us_per_connection);
    cpu[r.variant].push_back(r.f.edge_cpu_us_per_call);
    cps[r.variant].push_back(r.f.cps);
    p50[r.variant].push_back(r.f.p50_us);
    conn[r.variant].push_back(r.f.edge_cpu_us_per_connection);
  }
  const double ws = median(cpu[0]), wss = median(cpu[1]);
  std::printf(
      "sip_load: compare median ws: edge_cpu_us_per_call=%.1f cps=%.0f p50_us=%.0f edge_cpu_us_per_connection=%.0f | "
      "wss: edge_cpu_us_per_call=%.1f cps=%.0f p50_us=%.0f edge_cpu_us_per_connection=%.0f | "
      "wss/ws edge CPU per call=%.2f (target <= 1.3)\n",
      ws, median(cps[0]), median(p50[0]), median(conn[0]), wss, median(cps[1]), median(p50[1]), median(conn[1]),
      ws > 0 ? wss / ws : 0.0);
  return all_ok ? 0 : 1;
}

// --trunk-transport LIST [--rounds N]: each transport in turn, N rounds, then one line per run and
// a table per transport: calls and completed summed over its runs, edge CPU per call and calls per
// edge CPU-second their medians, and the ratio of the latter to the first transport's.
int compare_trunk_transports(const char* prog, const bn::Options& base) {
  std::vector<std::pair<std::string, bn::Options>> variants;
  for (const bn::TrunkTransport t : base.trunk_transports) {
    bn::Options o = base;
    o.trunk_transport = t;
    variants.emplace_back(bn::transport_name(t), o);
  }
  const std::vector<Row> rows = run_alternating(prog, variants, base.rounds);
  if (rows.empty()) return 2;
  struct Sum {
    std::uint64_t calls = 0, ok = 0;
    std::vector<double> cpu_per_call, calls_per_cpu_s;
  };
  std::vector<Sum> sums(variants.size());
  bool all_ok = true;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    all_ok = all_ok && r.rc == 0;
    std::printf(
        "sip_load: compare run=%zu trunk_transport=%s calls=%llu ok=%llu failed=%llu cps=%.0f "
        "edge_cpu_us_per_call=%.1f calls_per_edge_cpu_s=%.0f p50_us=%.0f p99_us=%.0f\n",
        i + 1, variants[r.variant].first.c_str(), static_cast<unsigned long long>(r.f.attempted),
        static_cast<unsigned long long>(r.f.ok), static_cast<unsigned long long>(r.f.failed), r.f.cps,
        r.f.edge_cpu_us_per_call, r.f.calls_per_edge_cpu_s, r.f.p50_us, r.f.p99_us);
    Sum& sum = sums[r.variant];
    sum.calls += r.f.attempted;
    sum.ok += r.f.ok;
    sum.cpu_per_call.push_back(r.f.edge_cpu_us_per_call);
    sum.calls_per_cpu_s.push_back(r.f.calls_per_edge_cpu_s);
  }
  const std::string& first = variants.front().first;
  std::printf(
      "sip_load: trunk transports, %u round%s each (one edge per run; calls and completed summed over the runs, the "
      "CPU figures their medians):\n",
      base.rounds, base.rounds == 1 ? "" : "s");
  std::printf("sip_load:   %-9s %9s %10s %20s %22s %9s\n", "transport", "calls", "completed", "edge_cpu_us_per_call",
              "calls_per_edge_cpu_s", fmt::format("vs_{}", first).c_str());
  const double base_rate = median(sums.front().calls_per_cpu_s);
  for (std::size_t v = 0; v < variants.size(); ++v) {
    const double rate = median(sums[v].calls_per_cpu_s);
    std::printf("sip_load:   %-9s %9llu %10llu %20.1f %22.0f %9.2f\n", variants[v].first.c_str(),
                static_cast<unsigned long long>(sums[v].calls), static_cast<unsigned long long>(sums[v].ok),
                median(sums[v].cpu_per_call), rate, base_rate > 0 ? rate / base_rate : 0.0);
  }
  return all_ok ? 0 : 1;
}

}  // namespace

int webtrunk::bench::run_sip_load(int argc, char** argv) {
  const char* prog = argc > 0 ? argv[0] : "bench_sip_load";
  bn::Options o;
  std::string err;
  const bool parsed = bn::parse_options(argc, argv, o, err);
  if (auto rc = flags_outcome(prog, parsed, o.help, err, bn::usage(prog))) return *rc;
  if (o.edge_bin.empty()) o.edge_bin = bn::default_webtrunk_bin();
  if (o.compare_tls > 0) return compare_tls(prog, o);
  if (o.trunk_transports.size() > 1 || o.rounds > 1) return compare_trunk_transports(prog, o);
  bn::RunFigures figures;
  return run_once(prog, o, figures);
}

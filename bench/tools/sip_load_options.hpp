// bench_sip_load, part 0: command-line flags (`--name value` or `--name=value`).
// Lifetimes: Options owns its strings.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/tools/tool_flags.hpp"
#include "sip_load_edge.hpp"

namespace webtrunk::bench {

// The transport between the edge and the emulated trunk (the edge's --trunk udp:|tcp:|tls:).
enum class TrunkTransport : std::uint8_t { udp, tcp, tls };
inline const char* transport_name(TrunkTransport t) {
  return t == TrunkTransport::udp ? "udp" : t == TrunkTransport::tcp ? "tcp" : "tls";
}

struct Options {
  std::string edge_bin;                   // default: <dir of this executable>/../webtrunk
  std::vector<std::string> edge_wrapper;  // e.g. "valgrind --tool=callgrind"
  std::vector<std::string> edge_args;     // extra flags for `webtrunk edge`
  unsigned shards = 1;
  std::string edge_cpus = "0";
  int gen_cpu = 1;  // -1: no pinning
  std::uint64_t calls = 20000;
  double rate = 0;  // calls/s; 0 = as fast as --concurrency allows
  unsigned concurrency = 200;
  double duration_s = 60;
  unsigned browsers = 50;
  bool auth_every_call = false;
  bool trunk_trying = false;
  bool trunk_ringing = true;
  double call_timeout_s = 10;
  std::string edge_log_level = "info";
  double ready_timeout_s = 10;
  double warmup_s = 0;    // the headline figures leave out the first S seconds
  double progress_s = 5;  // a progress line every S seconds; 0: none
  bool tls = false;             // the browsers over WSS (a TLS handshake each) instead of WS
  unsigned compare_tls = 0;     // > 0: that many pairs of runs, WS then WSS, and their ratio
  TrunkTransport trunk_transport = TrunkTransport::udp;  // this run's
  std::vector<TrunkTransport> trunk_transports;         // --trunk-transport LIST (empty: udp)
  unsigned rounds = 1;  // > 1, or more than one transport: that many rounds of each, alternating
  bool inbound = false;   // calls from the trunk to registered browsers instead of browsers to the trunk
  double hold_s = 0.1;    // --inbound: the trunk holds each answered call this long before its BYE
  bool keep = false;
  bool help = false;  // --help: print usage() and run nothing
};

// The flags, one line each; `prog` names the program ("bench_sip_load", "webtrunk bench calls").
inline std::string usage(std::string_view prog) {
  return fmt::format(
      "usage: {} [flags]\n"
      "  --calls N             calls to place (default 20000; 1..99999999)\n"
      "  --rate CPS            calls started per second; 0: as fast as --concurrency allows (default 0)\n"
      "  --concurrency C       calls in flight at most (default 200)\n"
      "  --duration S          no call starts after S seconds; those in flight get 2 s more (default 60)\n"
      "  --browsers B          emulated browsers, one WebSocket each (default 50)\n"
      "  --shards N            shards of the edge under test (default 1)\n"
      "  --edge-cpus LIST      CPUs the edge is pinned to (default 0)\n"
      "  --gen-cpu CPU         CPU of the generator thread; -1: not pinned (default 1)\n"
      "  --auth MODE           cached: credentials from the first 407 reused; every-call: a 407 per call\n"
      "                        (default cached)\n"
      "  --trunk-trying 0|1    the trunk sends 100 Trying (default 0)\n"
      "  --trunk-ringing 0|1   the trunk sends 180 Ringing (default 1)\n"
      "  --call-timeout S      a call unfinished after S seconds fails (default 10)\n"
      "  --edge-bin PATH       the webtrunk binary run as `PATH edge ...` (default: under `webtrunk bench`,\n"
      "                        that same executable; for bench_sip_load, the webtrunk in its parent directory)\n"
      "  --edge-log-level L    debug|info|warn|error (default info)\n"
      "  --edge-arg ARG        one more flag for `webtrunk edge` (repeatable)\n"
      "  --edge-wrapper 'CMD'  run the edge under CMD, e.g. 'valgrind --tool=callgrind'\n"
      "  --ready-timeout S     wait at most S seconds for the edge to listen (default 10)\n"
      "  --warmup S            leave the first S seconds out of the figures (default 0)\n"
      "  --progress S          a progress line every S seconds; 0: none (default 5)\n"
      "  --tls                 the browsers connect over WSS (TLS 1.3 handshake each, resuming the session\n"
      "                        of the previous one as browsers do) to the edge's --wss port, with a\n"
      "                        certificate made at start (ECDSA P-256)\n"
      "  --compare-tls PAIRS   run PAIRS pairs of the same load, WS then WSS, each on a fresh edge; print each\n"
      "                        run's figures, the medians and the WSS/WS ratio of edge CPU per call\n"
      "  --trunk-transport T   the trunk leg over udp, tcp or tls (default udp): the emulated trunk listens on\n"
      "                        it (TCP and TLS: RFC 3261 §18.3 framing, answers on the edge's connection; TLS:\n"
      "                        a certificate for 127.0.0.1 signed by a CA made at start, given to the edge as\n"
      "                        --trunk-ca). A comma list (udp,tcp,tls) runs each in turn, --rounds times,\n"
      "                        each on a fresh edge, and prints a table: calls, completed, edge CPU per call,\n"
      "                        calls per edge CPU-second (medians) and their ratio to the first transport\n"
      "  --rounds N            rounds of the --trunk-transport list (default 1; 1..20)\n"
      "  --inbound             calls the other way: the browsers REGISTER (distinct users, 401 + edge token\n"
      "                        digest) and answer; the trunk (the edge's --trunk address) calls each in turn\n"
      "                        (INVITE with an RTP/AVP offer, 180 + 200 with a Chromium answer, ACK), holds\n"
      "                        the call --hold seconds, then BYE; set-up time is INVITE -> 200 at the trunk\n"
      "  --hold S              --inbound: seconds the trunk holds each call before its BYE (default 0.1)\n"
      "  --keep                keep the temporary directory (secret file, edge log)\n"
      "Exit status: 0 when every call completed, 1 when one failed, 2 for a bad flag.\n",
      prog);
}

// "a,b,c" -> {"a", "b", "c"}; empty items are dropped.
inline std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    if (comma != 0) out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// --trunk-transport: "udp", "tcp", "tls" or a comma list of them, each once. "" or what is wrong.
inline std::string parse_transports(std::string_view value, std::vector<TrunkTransport>& out) {
  out.clear();
  for (const auto& t : split_list(value)) {
    if (t != "udp" && t != "tcp" && t != "tls") return fmt::format("--trunk-transport: '{}' is not udp, tcp or tls", t);
    const auto parsed = t == "udp" ? TrunkTransport::udp : t == "tcp" ? TrunkTransport::tcp : TrunkTransport::tls;
    if (std::find(out.begin(), out.end(), parsed) != out.end()) {
      return fmt::format("--trunk-transport: {} is listed twice", t);
    }
    out.push_back(parsed);
  }
  return out.empty() ? "--trunk-transport: udp, tcp, tls or a comma list of them" : "";
}

inline bool parse_options(int argc, char** argv, Options& o, std::string& err) {
  const bool read = read_flags(
      argc, argv, {"--keep", "--tls", "--inbound"}, o.help, err,
      [&o](std::string_view name, std::string_view value) -> std::string {
        const auto num = [&](auto& out) { return parse_number(name, value, out); };
        const auto flag = [&](bool& out) -> std::string {
          out = value == "1";
          return value == "0" || value == "1" ? "" : fmt::format("{}: give 0 or 1", name);
        };
        if (name == "--keep") o.keep = true;
        else if (name == "--tls") o.tls = true;
        else if (name == "--inbound") o.inbound = true;
        else if (name == "--edge-bin") o.edge_bin = value;
        else if (name == "--edge-wrapper") o.edge_wrapper = split_words(std::string(value));
        else if (name == "--edge-arg") o.edge_args.emplace_back(value);
        else if (name == "--shards") return num(o.shards);
        else if (name == "--edge-cpus") o.edge_cpus = value;
        else if (name == "--gen-cpu") return num(o.gen_cpu);
        else if (name == "--calls") return num(o.calls);
        else if (name == "--rate") return num(o.rate);
        else if (name == "--concurrency") return num(o.concurrency);
        else if (name == "--duration") return num(o.duration_s);
        else if (name == "--browsers") return num(o.browsers);
        else if (name == "--call-timeout") return num(o.call_timeout_s);
        else if (name == "--ready-timeout") return num(o.ready_timeout_s);
        else if (name == "--warmup") return num(o.warmup_s);
        else if (name == "--progress") return num(o.progress_s);
        else if (name == "--hold") return num(o.hold_s);
        else if (name == "--compare-tls") return num(o.compare_tls);
        else if (name == "--rounds") return num(o.rounds);
        else if (name == "--trunk-transport") return parse_transports(value, o.trunk_transports);
        else if (name == "--edge-log-level") o.edge_log_level = value;
        else if (name == "--trunk-trying") return flag(o.trunk_trying);
        else if (name == "--trunk-ringing") return flag(o.trunk_ringing);
        else if (name == "--auth") {
          o.auth_every_call = value == "every-call";
          if (value != "cached" && value != "every-call") return "--auth: cached or every-call";
        } else {
          return fmt::format("unknown flag {}", name);
        }
        return {};
      });
  if (!read || o.help) return read;
  if (o.calls == 0 || o.calls > 99'999'999)
    err = "--calls: 1..99999999";
  else if (o.browsers == 0 || o.concurrency == 0)
    err = "--browsers and --concurrency must be at least 1";
  else if (o.shards == 0)
    err = "--shards: at least 1";
  else if (o.duration_s <= 0 || o.rate < 0)
    err = "--duration must be > 0 and --rate >= 0";
  else if (o.warmup_s < 0 || o.warmup_s >= o.duration_s)
    err = "--warmup: 0 <= S < --duration";
  else if (o.hold_s < 0 || o.hold_s > 60)
    err = "--hold: 0..60 seconds";
  else if (o.compare_tls > 20)
    err = "--compare-tls: 0..20 pairs";
  else if (o.compare_tls > 0 && o.tls)
    err = "--compare-tls runs both transports: leave out --tls";
  else if (o.rounds == 0 || o.rounds > 20)
    err = "--rounds: 1..20";
  if (!err.empty()) return false;
  if (o.trunk_transports.empty()) o.trunk_transports.push_back(TrunkTransport::udp);
  o.trunk_transport = o.trunk_transports.front();
  if (o.inbound && o.trunk_transport != TrunkTransport::udp)
    err = "--inbound calls from a UDP trunk only: leave out --trunk-transport";
  else if (o.compare_tls > 0 && (o.trunk_transports.size() > 1 || o.rounds > 1))
    err = "--compare-tls runs one trunk transport: give --trunk-transport one value and no --rounds";
  return err.empty();
}

}  // namespace webtrunk::bench

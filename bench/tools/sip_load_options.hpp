// bench_sip_load, part 0: command-line flags (`--name value` or `--name=value`).
// Lifetimes: Options owns its strings.
#pragma once

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sip_load_edge.hpp"

namespace webtrunk::bench {

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
  bool keep = false;
};

inline void usage() {
  std::fprintf(stderr,
               "usage: bench_sip_load [--calls N=20000] [--rate CPS=0] [--concurrency C=200] [--duration S=60]\n"
               "  [--browsers B=50] [--shards N=1] [--edge-cpus LIST=0] [--gen-cpu CPU=1 (-1: none)]\n"
               "  [--auth cached|every-call] [--trunk-trying 0|1=0] [--trunk-ringing 0|1=1] [--call-timeout S=10]\n"
               "  [--edge-bin PATH] [--edge-log-level debug|info|warn|error=info] [--edge-arg ARG]...\n"
               "  [--edge-wrapper 'CMD ARGS'] [--ready-timeout S=10] [--warmup S=0] [--progress S=5] [--keep]\n");
}

inline bool parse_options(int argc, char** argv, Options& o, std::string& err) {
  for (int i = 1; i < argc; ++i) {
    std::string name = argv[i];
    std::string value;
    if (name == "--help" || name == "-h") {
      usage();
      std::exit(0);
    }
    if (name == "--keep") {
      o.keep = true;
      continue;
    }
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      err = name + " needs a value";
      return false;
    }
    auto num = [&](auto& out) {
      const auto* end = value.data() + value.size();
      auto [p, ec] = std::from_chars(value.data(), end, out);
      if (ec != std::errc() || p != end) err = fmt::format("{}: '{}' is not a number", name, value);
    };
    auto flag = [&](bool& out) {
      if (value != "0" && value != "1") err = fmt::format("{}: give 0 or 1", name);
      out = value == "1";
    };
    if (name == "--edge-bin")
      o.edge_bin = value;
    else if (name == "--edge-wrapper")
      o.edge_wrapper = split_words(value);
    else if (name == "--edge-arg")
      o.edge_args.push_back(value);
    else if (name == "--shards")
      num(o.shards);
    else if (name == "--edge-cpus")
      o.edge_cpus = value;
    else if (name == "--gen-cpu")
      num(o.gen_cpu);
    else if (name == "--calls")
      num(o.calls);
    else if (name == "--rate")
      num(o.rate);
    else if (name == "--concurrency")
      num(o.concurrency);
    else if (name == "--duration")
      num(o.duration_s);
    else if (name == "--browsers")
      num(o.browsers);
    else if (name == "--call-timeout")
      num(o.call_timeout_s);
    else if (name == "--ready-timeout")
      num(o.ready_timeout_s);
    else if (name == "--warmup")
      num(o.warmup_s);
    else if (name == "--progress")
      num(o.progress_s);
    else if (name == "--edge-log-level")
      o.edge_log_level = value;
    else if (name == "--trunk-trying")
      flag(o.trunk_trying);
    else if (name == "--trunk-ringing")
      flag(o.trunk_ringing);
    else if (name == "--auth") {
      if (value != "cached" && value != "every-call") err = "--auth: cached or every-call";
      o.auth_every_call = value == "every-call";
    } else {
      err = "unknown flag " + name;
    }
    if (!err.empty()) return false;
  }
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
  return err.empty();
}

}  // namespace webtrunk::bench

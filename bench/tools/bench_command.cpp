// `webtrunk bench`: the load tools of bench/tools behind one subcommand, one mode each.
//   webtrunk bench                 a short calls test, then a short media test (each bounded well
//                                  under a minute), both reports printed; exit 0 only if both pass
//   webtrunk bench calls [flags]   run_sip_load      (= bench_sip_load)
//   webtrunk bench media [flags]   run_media_relay   (= bench_media_relay)
//   webtrunk bench auth [flags]    run_auth_load     (= bench_auth_load)
//   webtrunk bench abuse [flags]   run_abuse         (= bench_abuse)
// A mode takes exactly its tool's flags. The modes that start a peer process (the edge, the auth
// service) start this same executable, so `webtrunk bench` needs no other file.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "bench/tools/load.hpp"

namespace webtrunk::bench {
namespace {

struct Mode {
  const char* name;
  const char* tool;  // the stand-alone executable that runs the same function
  const char* summary;
  int (*run)(int argc, char** argv);
  const char* self_flag;  // the tool's flag for the webtrunk binary it starts; nullptr: starts none
};

constexpr Mode kModes[] = {
    {"calls", "bench_sip_load",
     "signalling load: emulated browsers (SIP over WebSocket, digest auth with edge tokens, as JsSIP)\n"
     "and an emulated trunk (UDP, or TCP/TLS: --trunk-transport) against a `webtrunk edge` it starts;\n"
     "reports calls/s, set-up latency percentiles, edge CPU per call and every failure by cause.",
     run_sip_load, "--edge-bin"},
    {"media", "bench_media_relay",
     "media load: concurrent calls of emulated browsers (ICE, DTLS, SRTP) and an echoing RTP trunk\n"
     "through one shard's media bridge (in this process; the peers in a child process); reports\n"
     "loss, relayed packets/s, edge CPU and memory per call.",
     run_media_relay, nullptr},
    {"auth", "bench_auth_load",
     "token exchanges: customer tokens POSTed to a `webtrunk auth` it starts; reports exchanges/s,\n"
     "per service CPU-second, and latency.",
     run_auth_load, "--auth-bin"},
    {"abuse", "bench_abuse",
     "floods against a `webtrunk edge` (and echo trunk) it starts, with real calls and media in progress:\n"
     "unauthenticated SIP, new connections, garbage at the trunk SIP and RTP ports, slow readers,\n"
     "unfinished fragmented messages, one after another; reports per flood the requests sent and\n"
     "rejected, edge CPU per rejected request, edge RSS, and the calls' packet loss.",
     run_abuse, "--edge-bin"},
};

// The short run of `webtrunk bench` with no mode: each part well under a minute on 2 cores.
const std::vector<std::string> kDefaultCalls = {"--calls", "5000", "--duration", "20", "--progress", "0"};
const std::vector<std::string> kDefaultMedia = {"--calls", "100", "--seconds", "5", "--setup-timeout", "20"};

std::string self_exe() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : p.string();
}

// Runs a mode as `webtrunk bench MODE [--edge-bin SELF] flags...` (a later --edge-bin wins).
int run_mode(const Mode& m, const std::vector<std::string>& flags) {
  std::vector<std::string> args{fmt::format("webtrunk bench {}", m.name)};
  if (m.self_flag != nullptr) {
    args.emplace_back(m.self_flag);
    args.push_back(self_exe());
  }
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);  // media forks: nothing buffered may be printed twice
  const int rc = m.run(static_cast<int>(args.size()), argv.data());
  std::fflush(stdout);
  return rc;
}

void print_help() {
  std::puts(
      "Usage: webtrunk bench [MODE [flags]]\n\n"
      "The bundled load test, all on loopback. With no mode: a short calls test (5000 calls, at most\n"
      "20 s) then a short media test (100 calls, 5 s of media), both reports printed; exit status 0 only\n"
      "if every call completed and media loss stayed under 0.1 %. Modes:\n");
  for (const Mode& m : kModes) {
    std::printf("webtrunk bench %s  (also build/bench/%s)\n%s\n", m.name, m.tool, m.summary);
    const std::vector<std::string> help{"--help"};
    run_mode(m, help);
    std::puts("");
  }
}

int run_default() {
  const int calls = run_mode(kModes[0], kDefaultCalls);
  std::vector<std::string> media = kDefaultMedia;
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) media.insert(media.end(), {"--peer-cpu", "0"});
  std::puts("");
  const int relay = run_mode(kModes[1], media);
  std::printf("\nwebtrunk bench: calls %s (exit %d), media %s (exit %d)\n", calls == 0 ? "passed" : "FAILED", calls,
              relay == 0 ? "passed" : "FAILED", relay);
  return calls == 0 && relay == 0 ? 0 : 1;
}

}  // namespace

int run_bench_command(int argc, char** argv) {
  if (argc < 2) return run_default();
  const std::string_view first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    print_help();
    return 0;
  }
  for (const Mode& m : kModes) {
    if (first == m.name) return run_mode(m, std::vector<std::string>(argv + 2, argv + argc));
  }
  if (first.starts_with("-")) {
    std::fprintf(stderr,
                 "webtrunk bench: unknown flag '%s': flags follow a mode (calls, media, auth or abuse); "
                 "`webtrunk bench --help` lists them\n",
                 argv[1]);
  } else {
    std::fprintf(stderr, "webtrunk bench: unknown mode '%s' (calls, media, auth or abuse; `webtrunk bench --help`)\n",
                 argv[1]);
  }
  return 2;
}

}  // namespace webtrunk::bench

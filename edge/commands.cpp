#include "edge/commands.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace webtrunk::edge {
namespace {

FlagSet bench_flags() {
  FlagSet f("bench", "The bundled load test: emulated browsers and trunk against an edge.");
  f.add({"edge", "URL", "WebSocket URL of the edge under test", "ws://127.0.0.1:8080", false});
  f.add({"calls", "N", "calls to place", "1000", false});
  f.add({"rate", "CPS", "calls per second", "100", false});
  f.add({"duration", "SECONDS", "hard limit on the run", "60", false});
  return f;
}

int not_yet(const char* what) {
  std::fprintf(stderr, "webtrunk: %s is not in this build yet.\n", what);
  return 1;
}

int run_bench(const FlagValues&) { return not_yet("`bench` (the bundled load test)"); }

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"edge", "the WebRTC edge: SIP over WebSocket from browsers, SIP to the trunk", edge_flags, run_edge},
      {"auth", "the hosted auth service: customer token in, edge token out", auth_flags, run_auth},
      {"mint", "mint a customer token as JSON", mint_flags, run_mint},
      {"servlet", "the customer's token endpoint", servlet_flags, run_servlet},
      {"echo-trunk", "a SIP trunk that answers every call and echoes its audio", echo_trunk_flags, run_echo_trunk},
      {"demo", "everything on this machine: edge, auth service, echo trunk, demo page", demo_flags, run_demo},
      {"bench", "the bundled load test", bench_flags, run_bench},
  };
  return list;
}

}  // namespace webtrunk::edge

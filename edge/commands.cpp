#include "edge/commands.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace webtrunk::edge {
namespace {

FlagSet auth_flags() {
  FlagSet f("auth", "The hosted auth service: trades a customer token for an edge token.");
  f.add({"listen", "ADDR:PORT", "HTTP listen address", "127.0.0.1:8443", false});
  f.add({"db", "FILE", "SQLite account store (WAL)", "webtrunk-accounts.db", false});
  f.add({"edge-secret-file", "FILE", "secrets shared with the edges, one `kid:secret` per line", "", false});
  f.add({"admin-token", "TOKEN", "bearer token for the admin API", "", false});
  f.add({"edge-uri", "URL", "WebSocket URI of the edge handed to browsers", "ws://127.0.0.1:8080", false});
  f.add({"clock-skew", "SECONDS", "tolerated clock difference for token expiry", "30", false});
  f.add({"log-level", "LEVEL", "debug, info, warn or error", "info", false});
  return f;
}

FlagSet mint_flags() {
  FlagSet f("mint", "Mint a customer token (what a customer's servlet hands to its web page) as JSON.");
  f.add({"account", "ID", "account id at the auth service", "", false});
  f.add({"secret-file", "FILE", "file holding the customer secret", "", false});
  f.add({"username", "NAME", "the caller's name inside the token", "web", false});
  f.add({"ttl", "SECONDS", "token lifetime", "300", false});
  f.add({"algorithm", "ALG", "sha256 or sha1", "sha256", false});
  return f;
}

FlagSet servlet_flags() {
  FlagSet f("servlet", "The customer-side token endpoint, run beside the customer's web site.");
  f.add({"listen", "ADDR:PORT", "HTTP listen address", "127.0.0.1:8081", false});
  f.add({"account", "ID", "account id at the auth service", "", false});
  f.add({"secret-file", "FILE", "file holding the customer secret", "", false});
  f.add({"origin", "URL", "page origin allowed to fetch tokens", "", true});
  f.add({"ttl", "SECONDS", "token lifetime", "300", false});
  return f;
}

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

int run_auth(const FlagValues&) { return not_yet("`auth` (the hosted auth service)"); }
int run_mint(const FlagValues&) { return not_yet("`mint`"); }
int run_servlet(const FlagValues&) { return not_yet("`servlet`"); }
int run_bench(const FlagValues&) { return not_yet("`bench` (the bundled load test)"); }

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"edge", "the WebRTC edge: SIP over WebSocket from browsers, SIP to the trunk", edge_flags, run_edge},
      {"auth", "the hosted auth service: customer token in, edge token out", auth_flags, run_auth},
      {"mint", "mint a customer token as JSON", mint_flags, run_mint},
      {"servlet", "the customer's token endpoint", servlet_flags, run_servlet},
      {"demo", "everything on this machine: edge, auth service, echo trunk, demo page", demo_flags, run_demo},
      {"bench", "the bundled load test", bench_flags, run_bench},
  };
  return list;
}

}  // namespace webtrunk::edge

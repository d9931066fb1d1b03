// `webtrunk auth`: the hosted auth service (issue 5). Not in this build yet.
#include <cstdio>

#include "edge/commands.hpp"

namespace webtrunk::edge {

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

int run_auth(const FlagValues&) {
  std::fprintf(stderr, "webtrunk: `auth` (the hosted auth service) is not in this build yet.\n");
  return 1;
}

}  // namespace webtrunk::edge

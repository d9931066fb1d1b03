// `webtrunk demo`: everything on this machine with an embedded default. Today that is the edge
// (WebSocket front door and SIP layer, no token check); the parts the later issues add are named
// plainly at start.
#include <cstdio>

#include "edge/commands.hpp"
#include "edge/edge_config.hpp"

namespace webtrunk::edge {

FlagSet demo_flags() {
  FlagSet f("demo", "Run the whole chain on this machine: edge, auth service, echo trunk and the demo page.");
  f.add({"ws", "ADDR:PORT", "the edge's WebSocket address", "127.0.0.1:8080", false});
  f.add({"shards", "N", "edge shards; 0 = one per online CPU", "0", false});
  f.add({"log-level", "LEVEL", "debug, info, warn or error", "info", false});
  return f;
}

int run_demo(const FlagValues& flags) {
  auto edge = edge_flags().parse({"--ws", flags.get("ws"), "--shards", flags.get("shards"), "--log-level",
                                  flags.get("log-level"), "--log-format", "text", "--no-auth"});
  if (!edge) {
    std::fprintf(stderr, "webtrunk demo: %s\n", edge.error().message.c_str());
    return 2;
  }
  std::printf(
      "webtrunk demo\n"
      "  edge WebSocket (SIP over WS, RFC 7118):  ws://%s   (health: http://%s/healthz, metrics: /metrics)\n"
      "  SIP works: REGISTER is accepted (the demo runs without the token check), OPTIONS is answered.\n"
      "  Not there yet in this build:\n"
      "    - the echo trunk: with no trunk configured every INVITE is answered 404 (run `webtrunk edge\n"
      "      --trunk udp:HOST:PORT --edge-secret-file FILE` to call a real trunk)\n"
      "    - media (ICE-lite, DTLS-SRTP, relay)\n"
      "    - the auth service, the customer servlet and the demo page\n"
      "  Try: curl http://%s/metrics   Stop with Ctrl-C.\n",
      flags.get("ws").c_str(), flags.get("ws").c_str(), flags.get("ws").c_str());
  std::fflush(stdout);
  return run_edge(*edge);
}

}  // namespace webtrunk::edge

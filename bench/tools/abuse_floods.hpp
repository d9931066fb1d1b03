// bench_abuse: its flags and the floods (abuse_floods.cpp), one function each, run one after
// another by run_abuse (abuse.cpp) against the edge at a Target, each from its own source address.
// Lifetimes: a flood opens and closes its own sockets within the call.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace webtrunk::bench::abuse {

struct Options {
  std::string edge_bin;  // empty: build/webtrunk (`webtrunk bench abuse` passes itself)
  unsigned calls = 4;
  double seconds = 3;
  std::uint64_t max_requests = 200'000;  // per flood
  unsigned flood_connections = 8;
  unsigned fragments = 200;
  std::string only;  // run only the floods whose names contain this
};

struct FloodResult {
  std::string name;
  std::uint64_t sent = 0;      // requests, connections or datagrams
  std::uint64_t rejected = 0;  // see the header comment, per flood
  std::string detail;
  double cpu_s = 0;
  long rss_before_kib = 0, rss_after_kib = 0;
  std::uint64_t media_sent = 0, media_back = 0;
};

using Clock = std::chrono::steady_clock;

struct Target {
  std::uint16_t ws_port = 0;
  std::uint16_t sip_port = 0;
  sockaddr_in media{};
  std::uint16_t rtp_min = 0, rtp_max = 0;
};

FloodResult sip_unauth(const Options& o, const Target& t, const char* from);
FloodResult new_conns(const Options& o, const Target& t, const char* from);
// Datagrams to `to` round robin from `from`: random bytes, and shapes that pass the first-byte
// demux (RFC 7983: STUN, DTLS, RTP) with garbage after; `sip`: SIP from a non-trunk among them.
FloodResult udp_garbage(const Options& o, std::string name, const char* from, const std::vector<sockaddr_in>& to,
                        bool sip);
FloodResult slow_readers(const Options& o, const Target& t, const char* from);
FloodResult fragments(const Options& o, const Target& t, const char* from);

}  // namespace webtrunk::bench::abuse

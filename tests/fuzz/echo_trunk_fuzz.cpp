// libFuzzer target: arbitrary datagrams from a few peers into one EchoTrunkCore, interleaved with
// clock steps. Nothing may crash, hang or leak; every media port opened is closed once everything
// ran out (calls end by BYE, CANCEL or the missing ACK), and the core drains to no deadline.
//
// Input: chunks separated by "\n\x00\n". Each chunk's first byte is the operation:
//   bit 0: 0 = datagram, 1 = advance the clock by ((byte >> 5) + 1) * 500 ms
//   bits 1-2: which peer (four source ports)
// The rest of the chunk is the datagram.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "core/log.hpp"
#include "edge/echo_trunk.hpp"

using namespace webtrunk;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  core::set_log_level(core::LogLevel::error);
  std::set<std::uint64_t> open;
  edge::EchoTrunkConfig cfg;
  cfg.ring_time = std::chrono::milliseconds(1000);
  cfg.max_calls = 8;
  edge::EchoTrunkCore core(cfg, {[&](std::uint64_t call) -> core::Result<std::uint16_t> {
                                   if (call % 5 == 4) return core::Error{EADDRINUSE, "no ports"};
                                   open.insert(call);
                                   return static_cast<std::uint16_t>(20000 + 2 * (call % 1000));
                                 },
                                 [&](std::uint64_t call) {
                                   if (open.erase(call) != 1) std::abort();  // closed twice or never opened
                                 }});
  core::Instant now = core::Instant{} + std::chrono::hours(1);
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kSep("\n\0\n", 3);
  int steps = 0;
  while (!rest.empty() && steps++ < 64) {
    const auto cut = rest.find(kSep);
    std::string_view chunk = rest.substr(0, cut);
    rest = cut == std::string_view::npos ? std::string_view{} : rest.substr(cut + kSep.size());
    if (chunk.empty()) continue;
    const auto op = static_cast<unsigned char>(chunk[0]);
    chunk.remove_prefix(1);
    if ((op & 1u) == 0) {
      core.handle_datagram(now, core::SockAddr::ipv4_loopback(static_cast<std::uint16_t>(5060 + ((op >> 1) & 3u))),
                           chunk);
    } else {
      now += std::chrono::milliseconds(500) * ((op >> 5) + 1);
      for (int i = 0; i < 256; ++i) {
        auto t = core.poll_timeout();
        if (!t || *t > now) break;
        core.handle_timeout(now);
      }
    }
    while (core.poll_transmit()) {
    }
  }
  // Run every timer out: unacknowledged 200s give up after 64*T1, transactions end.
  for (int i = 0; i < 4096; ++i) {
    auto t = core.poll_timeout();
    if (!t) break;
    now = std::max(now, *t);
    core.handle_timeout(now);
    while (core.poll_transmit()) {
    }
  }
  // Confirmed calls stay up until a BYE (a trunk does not hang up by itself); the rest must be gone.
  if (open.size() != core.active_calls()) std::abort();
  return 0;
}

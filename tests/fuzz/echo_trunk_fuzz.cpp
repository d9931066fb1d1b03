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

#include "app/echo_trunk.hpp"
#include "core/log.hpp"
#include "fuzz_steps.hpp"

using namespace webtrunk;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  core::set_log_level(core::LogLevel::error);
  std::set<std::uint64_t> open;
  app::EchoTrunkConfig cfg;
  cfg.ring_time = std::chrono::milliseconds(1000);
  cfg.max_calls = 8;
  app::EchoTrunkCore core(cfg, {[&](std::uint64_t call) -> core::Result<std::uint16_t> {
                                   if (call % 5 == 4) return core::Error{EADDRINUSE, "no ports"};
                                   open.insert(call);
                                   return static_cast<std::uint16_t>(20000 + 2 * (call % 1000));
                                 },
                                 [&](std::uint64_t call) {
                                   if (open.erase(call) != 1) std::abort();  // closed twice or never opened
                                 }});
  core::Instant now = core::Instant{} + std::chrono::hours(1);
  fuzz::for_each_step({reinterpret_cast<const char*>(data), size}, [&](unsigned char op, std::string_view chunk) {
    if ((op & 1u) == 0) {
      core.handle_datagram(now, core::SockAddr::ipv4_loopback(static_cast<std::uint16_t>(5060 + ((op >> 1) & 3u))),
                           chunk);
    } else {
      now += std::chrono::milliseconds(500) * ((op >> 5) + 1);
      fuzz::fire_due(core, now);
    }
    while (core.poll_transmit()) {
    }
  });
  // Run every timer out: unacknowledged 200s give up after 64*T1, transactions end.
  fuzz::run_out(core, now);
  // Confirmed calls stay up until a BYE (a trunk does not hang up by itself); the rest must be gone.
  if (open.size() != core.active_calls()) std::abort();
  return 0;
}

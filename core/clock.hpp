// Time as protocol objects see it. Sans-IO code never reads a clock: the shard (or a test's fake
// clock) passes `now` in. Instant is monotonic; wall time (for token expiry) is separate.
#pragma once

#include <chrono>
#include <cstdint>

namespace webtrunk::core {

using Clock = std::chrono::steady_clock;
using Instant = Clock::time_point;
using Duration = Clock::duration;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline Instant monotonic_now() noexcept { return Clock::now(); }

// Seconds since the Unix epoch, for token expiry; injected like `now` where protocol code needs it.
inline std::int64_t unix_now() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace webtrunk::core

// The open-file limit of the process. Every connection, UDP socket and call costs file descriptors,
// and the soft limit many systems start a service with (1,024) is the first thing a single client
// with many idle connections would exhaust. Long-running commands raise it at start.
#pragma once

#include <cstdint>

namespace webtrunk::core {

// Below this the process logs a warning: a shard serves thousands of browsers.
inline constexpr std::uint64_t kWantedNofile = 65536;

struct NofileLimit {
  std::uint64_t soft = 0;  // what the process may open now
  std::uint64_t hard = 0;  // the most an unprivileged process may raise it to
};

// Raises RLIMIT_NOFILE's soft limit to its hard limit and returns what it got. Logs a warning
// (event "process.nofile_low") when the result is still below kWantedNofile. Start-up code.
NofileLimit raise_nofile_limit() noexcept;

}  // namespace webtrunk::core

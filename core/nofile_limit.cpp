#include "core/nofile_limit.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "core/log.hpp"

namespace webtrunk::core {

NofileLimit raise_nofile_limit() noexcept {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) {
    log(LogLevel::warn, "process.nofile_unknown", "getrlimit(RLIMIT_NOFILE): {}", std::strerror(errno));
    return {};
  }
  if (r.rlim_cur < r.rlim_max) {
    rlimit want = r;
    want.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
      r = want;
    } else {
      log(LogLevel::warn, "process.nofile_raise_failed", "setrlimit(RLIMIT_NOFILE, {}): {}",
          static_cast<std::uint64_t>(want.rlim_cur), std::strerror(errno));
    }
  }
  const NofileLimit got{static_cast<std::uint64_t>(r.rlim_cur), static_cast<std::uint64_t>(r.rlim_max)};
  if (got.soft < kWantedNofile) {
    log(LogLevel::warn, "process.nofile_low",
        "open-file limit is {} (hard limit {}), below {}: connections beyond it are refused; raise the hard "
        "limit (LimitNOFILE= in systemd, ulimit -Hn)",
        got.soft, got.hard, kWantedNofile);
  }
  return got;
}

}  // namespace webtrunk::core

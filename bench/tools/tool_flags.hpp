// The first step of every load tool (run_sip_load, run_media_relay, run_auth_load): what to do with
// the result of parsing its flags. Lifetimes: reads its arguments during the call only.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

namespace webtrunk::bench {

// A bad flag: the message (which names it) on stderr, exit status 2. --help: `usage` on stdout,
// exit status 0. Otherwise std::nullopt: the tool runs.
inline std::optional<int> flags_outcome(const char* prog, bool parsed, bool help, const std::string& err,
                                        const std::string& usage) {
  if (!parsed) {
    std::fprintf(stderr, "%s: %s (--help lists the flags)\n", prog, err.c_str());
    return 2;
  }
  if (help) {
    std::fputs(usage.c_str(), stdout);
    return 0;
  }
  return std::nullopt;
}

}  // namespace webtrunk::bench

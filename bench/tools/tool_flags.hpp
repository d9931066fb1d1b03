// The first steps of the load tools (run_sip_load, run_auth_load, run_abuse, run_media_relay):
// reading their flags (read_flags, parse_number) and what to do with the result (flags_outcome).
// Lifetimes: reads its arguments during the call only.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace webtrunk::bench {

// The flag loop: each of argv[1..] is `--name value`, `--name=value`, or one of `switches` (no
// value). `set(name, value)` applies one flag and returns "" or what is wrong with it (naming it);
// an unknown name is its to report too. --help or -h sets `help` and stops. False, with `err` set,
// at the first bad flag.
template <typename Set>
bool read_flags(int argc, char** argv, std::initializer_list<std::string_view> switches, bool& help, std::string& err,
                Set&& set) {
  for (int i = 1; i < argc; ++i) {
    std::string name = argv[i];
    std::string value;
    if (name == "--help" || name == "-h") {
      help = true;
      return true;
    }
    if (std::find(switches.begin(), switches.end(), name) == switches.end()) {
      if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        if (std::find(switches.begin(), switches.end(), name) != switches.end()) {
          err = name + " takes no value";
          return false;
        }
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        err = name + " needs a value";
        return false;
      }
    }
    err = set(std::string_view(name), std::string_view(value));
    if (!err.empty()) return false;
  }
  return true;
}

// `value` read whole as a number of `out`'s type: "" or the message naming the flag.
template <typename T>
std::string parse_number(std::string_view name, std::string_view value, T& out) {
  const char* end = value.data() + value.size();
  const auto [p, ec] = std::from_chars(value.data(), end, out);
  if (ec != std::errc() || p != end) return fmt::format("{}: '{}' is not a number", name, value);
  return {};
}

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

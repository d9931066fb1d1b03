#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

#include "core/metrics.hpp"

namespace webtrunk::core {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<bool> g_json{true};

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

void append_json_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
}
}  // namespace

void set_log_level(LogLevel level) noexcept { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
void set_log_json(bool json) noexcept { g_json.store(json, std::memory_order_relaxed); }
bool log_enabled(LogLevel level) noexcept {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

bool parse_log_level(std::string_view s, LogLevel& out) noexcept {
  if (s == "debug") out = LogLevel::debug;
  else if (s == "info") out = LogLevel::info;
  else if (s == "warn") out = LogLevel::warn;
  else if (s == "error") out = LogLevel::error;
  else return false;
  return true;
}

void log_line(LogLevel level, std::string_view event, std::string_view msg) noexcept {
  try {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::string line;
    line.reserve(96 + msg.size());
    if (g_json.load(std::memory_order_relaxed)) {
      line += fmt::format(R"({{"ts":{}.{:03},"level":"{}","shard":{},"event":")", ms / 1000, ms % 1000,
                          level_name(level), static_cast<int>(current_shard()));
      append_json_escaped(line, event);
      line += R"(","msg":")";
      append_json_escaped(line, msg);
      line += "\"}\n";
    } else {
      line += fmt::format("{}.{:03} {:5} [{}] {}: {}\n", ms / 1000, ms % 1000, level_name(level),
                          static_cast<int>(current_shard()), event, msg);
    }
    ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
    (void)n;
  } catch (...) {
    // Logging never throws into the data path.
  }
}

}  // namespace webtrunk::core

// Logging: one JSON object per line on stderr (or plain text with --log-format=text).
// Never log a secret: tokens and passwords are not passed here, only their ids.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace webtrunk::core {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

void set_log_level(LogLevel level) noexcept;
void set_log_json(bool json) noexcept;
bool log_enabled(LogLevel level) noexcept;
// Parses "debug|info|warn|error"; returns false for anything else.
bool parse_log_level(std::string_view s, LogLevel& out) noexcept;

// Writes one line: {"ts":..,"level":..,"shard":..,"event":..,"msg":..}. Thread-safe (one write(2)).
void log_line(LogLevel level, std::string_view event, std::string_view msg) noexcept;

template <class... Args>
void log(LogLevel level, std::string_view event, fmt::format_string<Args...> f, Args&&... args) {
  if (!log_enabled(level)) return;
  log_line(level, event, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace webtrunk::core

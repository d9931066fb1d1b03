#include "app/file_stamp.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>

namespace webtrunk::app {

std::string file_stamp(const std::vector<std::string>& files) {
  namespace fs = std::filesystem;
  std::string s;
  for (const auto& f : files) {
    std::error_code ec;
    const auto t = fs::last_write_time(f, ec);
    const auto size = fs::file_size(f, ec);
    s += fmt::format("{}:{}:{};", f, ec ? 0 : t.time_since_epoch().count(), ec ? 0 : size);
  }
  return s;
}

}  // namespace webtrunk::app

// Helpers shared by the tests in tests/sip/: read a test-data file, parse text.
#pragma once

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace webtrunk::sip::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string data_path(const std::string& rel) { return std::string(WEBTRUNK_TEST_DATA) + "/sip/" + rel; }

// Turns "\n" into "\r\n" so test messages can be written as plain text.
inline std::string crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

}  // namespace webtrunk::sip::test

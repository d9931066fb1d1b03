#include "sip/text.hpp"

namespace webtrunk::sip {

std::string_view unfold(std::string_view value, std::string& scratch) {
  if (value.find('\n') == std::string_view::npos) return value;
  scratch.clear();
  scratch.reserve(value.size());
  std::size_t i = 0;
  while (i < value.size()) {
    const char c = value[i];
    if (c == '\r' || c == '\n') {
      // Drop trailing white space already copied, the line break, and the indent; keep one SP.
      while (!scratch.empty() && text::is_ws(scratch.back())) scratch.pop_back();
      while (i < value.size() && text::is_lws(value[i])) ++i;
      scratch.push_back(' ');
      continue;
    }
    scratch.push_back(c);
    ++i;
  }
  return scratch;
}

std::string_view unquote(std::string_view quoted, std::string& scratch) {
  if (quoted.size() < 2 || quoted.front() != '"' || quoted.back() != '"') return quoted;
  std::string_view inner = quoted.substr(1, quoted.size() - 2);
  if (inner.find('\\') == std::string_view::npos) return inner;
  scratch.clear();
  scratch.reserve(inner.size());
  for (std::size_t i = 0; i < inner.size(); ++i) {
    if (inner[i] == '\\' && i + 1 < inner.size()) ++i;  // quoted-pair: keep the escaped octet
    scratch.push_back(inner[i]);
  }
  return scratch;
}

}  // namespace webtrunk::sip

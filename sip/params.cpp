#include "sip/params.hpp"

#include <array>

#include "sip/text.hpp"

namespace webtrunk::sip {

namespace {

// Characters of a parameter name or unquoted value. This is the union of token, paramchar
// (RFC 3261 §19.1.1: escapes and "[]/:&+$") and host (IPv6 references), which is what a lazy
// reader needs; separators that would make the list ambiguous are excluded. A value may also hold
// '@' (maddr of a user@host form seen in the wild). Table-driven: this is on the routing path.
struct ParamChars {
  std::array<bool, 256> name{};
  std::array<bool, 256> value{};
};

constexpr ParamChars make_param_chars() {
  ParamChars t{};
  for (int c = 0x21; c < 0x7F; ++c) {
    const char ch = static_cast<char>(c);
    const bool sep = ch == ';' || ch == ',' || ch == '"' || ch == '<' || ch == '>' || ch == '?' || ch == '=';
    t.name[static_cast<std::size_t>(c)] = !sep && ch != '@';
    t.value[static_cast<std::size_t>(c)] = !sep;
  }
  return t;
}

constexpr ParamChars kParamChars = make_param_chars();

std::size_t span_of(std::string_view s, std::size_t i, const std::array<bool, 256>& table) noexcept {
  while (i < s.size() && table[static_cast<unsigned char>(s[i])]) ++i;
  return i;
}

}  // namespace

bool ParamCursor::next(Param& out) noexcept {
  if (!ok_) return false;
  const std::string_view s = s_;
  const std::size_t n = s.size();
  auto skip_lws = [&](std::size_t i) noexcept {
    while (i < n && text::is_lws(s[i])) ++i;
    return i;
  };
  auto bad = [&]() noexcept {
    ok_ = false;
    return false;
  };
  std::size_t i = skip_lws(pos_);
  if (i == n) return false;
  if (s[i] != ';') return bad();
  i = skip_lws(i + 1);
  const std::size_t name_start = i;
  i = span_of(s, i, kParamChars.name);
  if (i == name_start) return bad();  // ";;" (RFC 4475 §3.1.2.1)
  out.name = s.substr(name_start, i - name_start);
  out.value = {};
  out.has_value = false;
  // EQUAL = SWS "=" SWS
  std::size_t j = skip_lws(i);
  if (j < n && s[j] == '=') {
    j = skip_lws(j + 1);
    out.has_value = true;
    if (j < n && s[j] == '"') {
      text::Scanner sc(s);
      sc.set_pos(j);
      if (!sc.quoted_string(out.value)) return bad();
      i = sc.pos();
    } else {
      i = span_of(s, j, kParamChars.value);
      if (i == j) return bad();
      out.value = s.substr(j, i - j);
    }
  }
  // Whatever follows must be LWS then ';' or the end.
  j = skip_lws(i);
  if (j < n && s[j] != ';') return bad();
  pos_ = i;
  return true;
}

bool params_valid(std::string_view params) noexcept {
  ParamCursor c(params);
  Param p;
  while (c.next(p)) {
  }
  return c.ok();
}

std::optional<std::string_view> find_param(std::string_view params, std::string_view name) noexcept {
  ParamCursor c(params);
  Param p;
  while (c.next(p))
    if (text::iequals(p.name, name)) return p.value;
  return std::nullopt;
}

}  // namespace webtrunk::sip

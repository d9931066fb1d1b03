#include "sip/params.hpp"

#include "sip/text.hpp"

namespace webtrunk::sip {

namespace {

// Characters of a parameter name or unquoted value. This is the union of token, paramchar
// (RFC 3261 §19.1.1: escapes and "[]/:&+$") and host (IPv6 references), which is what a lazy
// reader needs; separators that would make the list ambiguous are excluded.
bool is_param_char(char c, bool in_value) noexcept {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7F) return false;
  switch (c) {
    case ';':
    case ',':
    case '"':
    case '<':
    case '>':
    case '?':
      return false;
    case '=':
      return false;
    case '[':
    case ']':
    case ':':
    case '/':
    case '&':
    case '$':
    case '@':
      return in_value || c != '@';
    default:
      return true;
  }
}

}  // namespace

bool ParamCursor::next(Param& out) noexcept {
  if (!ok_) return false;
  text::Scanner sc(s_);
  sc.set_pos(pos_);
  sc.skip_lws();
  if (sc.at_end()) return false;
  if (!sc.eat(';')) {
    ok_ = false;
    return false;
  }
  sc.skip_lws();
  const std::size_t name_start = sc.pos();
  while (!sc.at_end() && is_param_char(sc.peek(), false)) sc.set_pos(sc.pos() + 1);
  out.name = sc.slice(name_start, sc.pos());
  if (out.name.empty()) {
    ok_ = false;
    return false;
  }
  out.value = {};
  out.has_value = false;
  if (sc.eat_sep('=')) {
    out.has_value = true;
    if (sc.peek() == '"') {
      if (!sc.quoted_string(out.value)) {
        ok_ = false;
        return false;
      }
    } else {
      const std::size_t v_start = sc.pos();
      while (!sc.at_end() && is_param_char(sc.peek(), true)) sc.set_pos(sc.pos() + 1);
      out.value = sc.slice(v_start, sc.pos());
      if (out.value.empty()) {
        ok_ = false;
        return false;
      }
    }
  }
  // Whatever follows must be LWS then ';' or the end.
  const std::size_t after = sc.pos();
  sc.skip_lws();
  if (!sc.at_end() && sc.peek() != ';') {
    ok_ = false;
    return false;
  }
  pos_ = after;
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

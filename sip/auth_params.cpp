#include "sip/auth_params.hpp"

#include "sip/text.hpp"

namespace webtrunk::sip {

namespace {

bool is_token68_char(char c) noexcept {
  return text::is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

// An unquoted auth-param value: RFC 3261 asks for a token, but deployed stacks send things like
// algorithm=SHA-256-sess or qop=auth unquoted and some put '/' or ':' in them; take any visible
// octet up to the next separator.
bool is_bare_value_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7F && c != ',' && c != '"' && c != ';';
}

}  // namespace

bool AuthParams::is_digest() const noexcept { return text::iequals(scheme, "Digest"); }

const Param* AuthParams::find(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < count; ++i)
    if (text::iequals(params[i].name, name)) return &params[i];
  return nullptr;
}

std::optional<std::string_view> AuthParams::get(std::string_view name) const noexcept {
  const Param* p = find(name);
  if (p == nullptr) return std::nullopt;
  std::string_view v = p->value;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return v;
}

bool parse_auth(std::string_view value, AuthParams& out) noexcept {
  out.scheme = {};
  out.token68 = {};
  out.count = 0;
  text::Scanner sc(text::trim_lws(value));
  out.scheme = sc.token();
  if (out.scheme.empty()) return false;
  if (sc.at_end()) return true;  // a bare scheme
  if (!sc.skip_lws()) return false;

  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", alone after the scheme.
  {
    const std::size_t start = sc.pos();
    std::size_t i = start;
    const std::string_view s = sc.text();
    while (i < s.size() && is_token68_char(s[i])) ++i;
    const std::size_t body_end = i;
    while (i < s.size() && s[i] == '=') ++i;
    if (body_end > start && i == s.size()) {
      out.token68 = s.substr(start, i - start);
      return true;
    }
  }

  for (;;) {
    if (out.count == AuthParams::kMaxParams) return false;
    Param p;
    p.name = sc.token();
    if (p.name.empty() || !sc.eat_sep('=')) return false;
    p.has_value = true;
    if (sc.peek() == '"') {
      if (!sc.quoted_string(p.value)) return false;
    } else {
      const std::size_t v0 = sc.pos();
      while (!sc.at_end() && is_bare_value_char(sc.peek())) sc.set_pos(sc.pos() + 1);
      p.value = sc.slice(v0, sc.pos());
      if (p.value.empty()) return false;
    }
    if (out.find(p.name) != nullptr) return false;
    out.params[out.count++] = p;
    sc.skip_lws();
    if (sc.at_end()) return true;
    if (!sc.eat_sep(',')) return false;
  }
}

}  // namespace webtrunk::sip

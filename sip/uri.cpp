#include "sip/uri.hpp"

#include "sip/params.hpp"
#include "sip/text.hpp"

namespace webtrunk::sip {

namespace {

bool is_scheme(std::string_view s) noexcept {
  if (s.empty() || !text::is_alpha(s[0])) return false;
  for (char c : s)
    if (!text::is_alnum(c) && c != '+' && c != '-' && c != '.') return false;
  return true;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads one octet of a URI part, decoding "%XX" (RFC 3261 §19.1.4 compares decoded octets).
int next_octet(std::string_view s, std::size_t& i) noexcept {
  if (s[i] == '%' && i + 2 < s.size()) {
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi >= 0 && lo >= 0) {
      i += 3;
      return hi * 16 + lo;
    }
  }
  return static_cast<unsigned char>(s[i++]);
}

bool parse_sip(std::string_view rest, Uri& out) noexcept {
  // userinfo: '@' cannot appear unescaped in host, uri-parameters or headers, so the first one
  // ends the userinfo even when the user part holds ';', '?' or '/' (RFC 4475 §3.1.1.2, §3.1.1.9).
  const std::size_t at = rest.find('@');
  std::string_view hp = rest;
  if (at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    out.user = userinfo.substr(0, colon);
    if (colon != std::string_view::npos) out.password = userinfo.substr(colon + 1);
    if (out.user.empty()) return false;
    hp = rest.substr(at + 1);
  }
  std::size_t i = 0;
  if (!hp.empty() && hp[0] == '[') {
    // IPv6reference = "[" IPv6address "]" (RFC 3261 §25.1, RFC 5118)
    const std::size_t close = hp.find(']');
    if (close == std::string_view::npos) return false;
    out.host = hp.substr(1, close - 1);
    out.ipv6 = true;
    i = close + 1;
    if (!is_valid_host(out.host, true)) return false;
  } else {
    while (i < hp.size() && text::is_host_char(hp[i])) ++i;
    out.host = hp.substr(0, i);
    if (out.host.empty() || (i < hp.size() && hp[i] != ':' && hp[i] != ';' && hp[i] != '?')) return false;
  }
  if (i < hp.size() && hp[i] == ':') {
    const std::size_t p0 = ++i;
    while (i < hp.size() && text::is_digit(hp[i])) ++i;
    std::uint64_t port = 0;
    if (i - p0 > 5 || !text::parse_uint(hp.substr(p0, i - p0), 65535, port)) return false;
    out.port = static_cast<std::uint16_t>(port);
    out.has_port = true;
  }
  out.hostport = hp.substr(0, i);
  const std::size_t q = hp.find('?', i);
  out.params = hp.substr(i, q == std::string_view::npos ? std::string_view::npos : q - i);
  if (q != std::string_view::npos) {
    out.headers = hp.substr(q + 1);
    if (out.headers.empty()) return false;
  }
  if (!out.params.empty() && (out.params[0] != ';' || !params_valid(out.params))) return false;
  return true;
}

}  // namespace

bool is_valid_host(std::string_view host, bool ipv6) noexcept {
  if (host.empty()) return false;
  if (ipv6) {
    bool colon = false;
    for (char c : host) {
      if (c == ':') colon = true;
      else if (!text::is_hex(c) && c != '.') return false;
    }
    return colon;
  }
  // hostname / IPv4address: alphanumerics, '-' and '.'; '_' is tolerated as real DNS names carry it.
  for (char c : host)
    if (!text::is_host_char(c)) return false;
  return true;
}

bool parse_uri(std::string_view text, Uri& out) noexcept {
  out = Uri{};
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || !is_scheme(text.substr(0, colon))) return false;
  for (char c : text)
    if (!text::is_uri_char(c)) return false;
  out.scheme_text = text.substr(0, colon);
  const std::string_view rest = text.substr(colon + 1);
  if (rest.empty()) return false;
  if (text::iequals(out.scheme_text, "sip") || text::iequals(out.scheme_text, "sips")) {
    out.scheme = text::iequals(out.scheme_text, "sip") ? UriScheme::sip : UriScheme::sips;
    return parse_sip(rest, out);
  }
  if (text::iequals(out.scheme_text, "tel")) {
    // telephone-subscriber = global-number / local-number, then ";par" (RFC 3966 §3)
    out.scheme = UriScheme::tel;
    const std::size_t semi = rest.find(';');
    out.user = rest.substr(0, semi);
    if (out.user.empty()) return false;
    if (semi != std::string_view::npos) {
      out.params = rest.substr(semi);
      if (!params_valid(out.params)) return false;
    }
    return true;
  }
  out.scheme = UriScheme::other;
  out.opaque = rest;
  return true;
}

bool uri_part_equals(std::string_view a, std::string_view b) noexcept {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size())
    if (next_octet(a, i) != next_octet(b, j)) return false;
  return i == a.size() && j == b.size();
}

}  // namespace webtrunk::sip

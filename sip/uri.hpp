// SIP, SIPS and tel URIs as views (RFC 3261 §19.1, §25.1; RFC 3966), other schemes kept opaque.
//
// Lifetime: every view in a Uri points into the text given to parse_uri() and lives as long as
// that text (usually the receive buffer behind a MessageView). Escapes (%XX) are not decoded:
// compare with uri_part_equals(), which follows RFC 3261 §19.1.4.
#pragma once

#include <cstdint>
#include <string_view>

namespace webtrunk::sip {

enum class UriScheme : std::uint8_t { sip, sips, tel, other };

struct Uri {
  UriScheme scheme = UriScheme::other;
  std::string_view scheme_text;  // as written, e.g. "sip", "SIP", "urn"
  std::string_view user;         // sip/sips: userinfo user part (may contain ';' and escapes); tel: the number
  std::string_view password;
  std::string_view host;         // without the brackets of an IPv6 reference
  std::uint16_t port = 0;        // 0 when absent
  bool has_port = false;
  bool ipv6 = false;             // host was "[...]"
  std::string_view params;       // ";transport=ws;lr;ob" (leading ';' kept) or ""
  std::string_view headers;      // "Route=%3Csip:example.com%3E" (after '?') or ""
  std::string_view opaque;       // other schemes: everything after "scheme:"
  std::string_view hostport;     // as written, IPv6 brackets and ":port" included: "[2001:db8::1]:5060"

  [[nodiscard]] bool is_sip() const noexcept { return scheme == UriScheme::sip || scheme == UriScheme::sips; }
};

// Parses `text` (trimmed; no surrounding angle brackets). Returns false when it is not a URI we
// can read: an empty or bad host, a port above 65535, white space or control characters.
[[nodiscard]] bool parse_uri(std::string_view text, Uri& out) noexcept;

// RFC 3261 §19.1.4 comparison of two user/host/param texts: escapes decoded, case-sensitive.
[[nodiscard]] bool uri_part_equals(std::string_view a, std::string_view b) noexcept;

// True for a syntactically valid host: hostname, IPv4address, or an IPv6 reference's inner text.
[[nodiscard]] bool is_valid_host(std::string_view host, bool ipv6) noexcept;

}  // namespace webtrunk::sip

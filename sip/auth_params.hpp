// Authorization / Proxy-Authorization credentials and WWW-Authenticate / Proxy-Authenticate
// challenges (RFC 3261 §20.7, §20.27, §20.28, §20.44, §25.1; RFC 8760 for SHA-256 Digest;
// token68 for "Bearer <jwt>" as JsSIP's authorization_jwt sends it, RFC 7235 §2.1).
//
// Lifetime: every view points into the header value given to parse_auth(), i.e. into the receive
// buffer; it lives as long as that buffer. Values keep their escapes: run sip::unquote() on
// Param::value when a quoted value may hold a backslash.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include "sip/params.hpp"

namespace webtrunk::sip {

struct AuthParams {
  // Digest credentials carry at most ~10 (username realm nonce uri response algorithm cnonce
  // opaque qop nc); more than 16 is an attack or garbage.
  static constexpr std::size_t kMaxParams = 16;

  std::string_view scheme;   // "Digest", "Bearer", or any token (RFC 4475 §3.3.7)
  std::string_view token68;  // "Bearer eyJ..." form; empty for auth-param lists
  std::array<Param, kMaxParams> params{};
  std::size_t count = 0;

  [[nodiscard]] bool is_digest() const noexcept;
  [[nodiscard]] const Param* find(std::string_view name) const noexcept;  // case-insensitive name
  // The value with surrounding quotes removed (escapes left as written); nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept;
};

// auth-scheme LWS ( auth-param *(COMMA auth-param) / token68 ). False on a missing scheme, an
// empty or duplicate parameter (RFC 7235 §2.1: each name at most once), an unterminated quote, or
// more than kMaxParams parameters.
[[nodiscard]] bool parse_auth(std::string_view value, AuthParams& out) noexcept;

}  // namespace webtrunk::sip

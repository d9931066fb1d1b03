#include "auth/edge_token.hpp"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>

#include "auth/base64.hpp"

namespace webtrunk::auth {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// acct= and u= values: letters, digits and ._@- (no '~' '=' ':' '"' '\\' ',' ';' '+' or blanks),
// the characters that need no escaping in a quoted-string, URI user part, query or cookie.
bool valid_value(std::string_view v) noexcept {
  if (v.empty() || v.size() > kMaxClaimValueSize) return false;
  for (char c : v) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' || c == '_' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// One num= entry: "*", or 1..20 digits optionally followed by '*'.
bool valid_number_entry(std::string_view e) noexcept {
  if (e == "*") return true;
  if (!e.empty() && e.back() == '*') e.remove_suffix(1);
  if (e.empty() || e.size() > kMaxNumberDigits) return false;
  for (char c : e) {
    if (!is_digit(c)) return false;
  }
  return true;
}

bool valid_number_list(std::string_view list) noexcept {
  if (list.empty()) return false;
  std::size_t entries = 0;
  while (true) {
    const std::size_t dot = list.find('.');
    if (!valid_number_entry(list.substr(0, dot))) return false;
    if (++entries > kMaxNumberEntries) return false;
    if (dot == std::string_view::npos) return true;
    list.remove_prefix(dot + 1);
  }
}

// dur= and calls=: 1..10 digits, 1 <= value <= 2^31-1 (no sign, no leading zero).
std::optional<std::uint32_t> parse_positive_int31(std::string_view v) noexcept {
  if (v.empty() || v.size() > 10 || v.front() == '0') return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (!is_digit(c)) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > 0x7fffffff) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

// Kamailio str2int semantics (auth.md §1.2): optional '+', then digits; empty reads as 0.
bool parse_expiry(std::string_view s, std::int64_t& out) noexcept {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (s.empty()) return false;
  }
  std::int64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    const int d = c - '0';
    if (v > (INT64_MAX - d) / 10) return false;  // overflow
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// Claims: "kid=K~acct=A[~num=L][~dur=D][~calls=C][~u=U]", in this order, each at most once.
bool parse_claims(std::string_view rest, EdgeClaims& c) noexcept {
  static constexpr std::array<std::string_view, 6> kKeys = {"kid", "acct", "num", "dur", "calls", "u"};
  std::size_t next_key = 0;  // claims must come in kKeys order
  bool have_kid = false;
  bool have_acct = false;
  while (true) {
    const std::size_t tilde = rest.find('~');
    const std::string_view field = rest.substr(0, tilde);
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string_view key = field.substr(0, eq);
    const std::string_view val = field.substr(eq + 1);
    std::size_t k = next_key;
    while (k < kKeys.size() && kKeys[k] != key) ++k;
    if (k == kKeys.size()) return false;  // unknown, repeated or out of order: fail closed
    next_key = k + 1;
    switch (k) {
      case 0:
        if (!valid_kid(val)) return false;
        c.kid = val;
        have_kid = true;
        break;
      case 1:
        if (!valid_value(val)) return false;
        c.account = val;
        have_acct = true;
        break;
      case 2:
        if (!valid_number_list(val)) return false;
        c.numbers = val;
        c.has_numbers = true;
        break;
      case 3:
        c.max_duration_s = parse_positive_int31(val);
        if (!c.max_duration_s) return false;
        break;
      case 4:
        // A limit of 0 calls would be no token at all, so 0 is refused like dur=0.
        c.max_calls = parse_positive_int31(val);
        if (!c.max_calls) return false;
        break;
      default:
        if (!valid_value(val)) return false;
        c.user = val;
        break;
    }
    if (tilde == std::string_view::npos) break;
    rest.remove_prefix(tilde + 1);
  }
  return have_kid && have_acct;
}

}  // namespace

std::string_view reason_phrase(TokenError e) noexcept {
  switch (e) {
    case TokenError::none:
      return "OK";
    case TokenError::malformed:
      return "Malformed token";
    case TokenError::expired:
      return "Token expired";
    case TokenError::lifetime_too_long:
      return "Token lifetime too long";
    case TokenError::bad_claims:
      return "Bad token claims";
    case TokenError::unknown_kid:
      return "Unknown token key";
    case TokenError::legacy_refused:
      return "Token has no key id";
    case TokenError::bad_password:
      return "Invalid token";
    case TokenError::number_not_allowed:
      return "Number not allowed";
  }
  return "Invalid token";
}

bool EdgeClaims::allows_number(std::string_view called) const noexcept {
  if (!has_numbers) return true;
  if (!called.empty() && called.front() == '+') called.remove_prefix(1);
  // Entries are digits, so a called number with anything else can only match "*" (any number).
  bool digits = !called.empty();
  for (char c : called) digits = digits && is_digit(c);
  std::string_view list = numbers;
  while (true) {
    const std::size_t dot = list.find('.');
    std::string_view e = list.substr(0, dot);
    if (e == "*") return true;
    if (!digits) {
      // no match possible for this entry
    } else if (!e.empty() && e.back() == '*') {
      e.remove_suffix(1);
      if (called.starts_with(e)) return true;
    } else if (e == called) {
      return true;
    }
    if (dot == std::string_view::npos) return false;
    list.remove_prefix(dot + 1);
  }
}

TokenError parse_edge_username(std::string_view username, ParsedUsername& out) noexcept {
  out = ParsedUsername{};
  if (username.size() > kMaxUsernameSize) return TokenError::malformed;
  const std::size_t colon = username.find(':');
  std::string_view ts = username;
  if (colon != std::string_view::npos) {
    // Kamailio: the timestamp is s[0:pos] only if pos < len-1, else the whole string, which then
    // fails to parse ("1700000000:" and ":" are errors).
    if (colon + 1 == username.size()) return TokenError::malformed;
    ts = username.substr(0, colon);
    out.rest = username.substr(colon + 1);
  }
  if (!parse_expiry(ts, out.expires)) return TokenError::malformed;
  if (out.rest.starts_with("kid=")) {
    out.has_claims = true;
    if (!parse_claims(out.rest, out.claims)) return TokenError::bad_claims;
  }
  return TokenError::none;
}

bool valid_claim_value(std::string_view v) noexcept { return valid_value(v); }

bool valid_number_claim(std::string_view entry) noexcept {
  if (!entry.empty() && entry.front() == '+') entry.remove_prefix(1);
  return valid_number_entry(entry);
}

std::string ephemeral_password(std::string_view key, std::string_view username, HmacAlgo algo) {
  std::array<std::uint8_t, kMaxMacSize> mac{};
  const std::size_t n = HmacKey(algo, key).mac(username, mac);
  return base64_encode(std::span<const std::uint8_t>(mac.data(), n));
}

core::Result<EdgeToken> mint_edge_token(const Secret& secret, std::int64_t expiry, std::string_view id,
                                        const MintClaims& claims, HmacAlgo algo) {
  auto bad = [](std::string why) { return core::Error{-EINVAL, std::move(why)}; };
  if (!valid_kid(secret.kid)) return bad("mint: the secret needs a key id (1 to 32 of A-Z a-z 0-9 _ -)");
  if (secret.key.empty()) return bad("mint: empty secret");
  if (expiry <= 0) return bad("mint: expiry must be a positive unix time");
  if (!valid_value(claims.account)) return bad("mint: account must be 1 to 64 of A-Z a-z 0-9 . _ @ -");
  if (!id.empty() && !valid_value(id)) return bad("mint: user id must be 1 to 64 of A-Z a-z 0-9 . _ @ -");
  if (claims.numbers.size() > kMaxNumberEntries)
    return bad(fmt::format("mint: more than {} numbers", kMaxNumberEntries));
  if (claims.max_duration_s && (*claims.max_duration_s == 0 || *claims.max_duration_s > 0x7fffffffu)) {
    return bad("mint: max duration must be 1 to 2147483647 seconds");
  }
  if (claims.max_calls && (*claims.max_calls == 0 || *claims.max_calls > 0x7fffffffu)) {
    return bad("mint: max calls must be 1 to 2147483647");
  }

  std::string u = fmt::format("{}:kid={}~acct={}", expiry, secret.kid, claims.account);
  if (!claims.numbers.empty()) {
    u += "~num=";
    for (std::size_t i = 0; i < claims.numbers.size(); ++i) {
      std::string_view n = claims.numbers[i];
      if (!n.empty() && n.front() == '+') n.remove_prefix(1);  // E.164 '+' is implied (README)
      if (!valid_number_entry(n)) {
        return bad(fmt::format("mint: number {} must be digits with an optional trailing '*'", i + 1));
      }
      if (i > 0) u += '.';
      u += n;
    }
  }
  if (claims.max_duration_s) u += fmt::format("~dur={}", *claims.max_duration_s);
  if (claims.max_calls) u += fmt::format("~calls={}", *claims.max_calls);
  if (!id.empty()) {
    u += "~u=";
    u += id;
  }
  if (u.size() > kMaxUsernameSize) return bad(fmt::format("mint: username longer than {} bytes", kMaxUsernameSize));
  EdgeToken t;
  t.password = ephemeral_password(secret.key, u, algo);
  t.username = std::move(u);
  return t;
}

}  // namespace webtrunk::auth

// Edge tokens: ephemeral credentials in the TURN REST / Kamailio auth_ephemeral shape
// (auth.md §1.1, §1.2): username "<expiry unix time>:<rest>", password
// base64(HMAC(secret, username)), split at the FIRST ':'. Tokens we mint carry claims in <rest>,
// all covered by the MAC because the MAC input is the whole username:
//
//   1767225600:kid=k1~acct=shop~num=15551230000.1555123*~dur=3600~calls=20~u=alice
//
// auth/README.md "Edge token username" is the normative description; in short: fields separated by
// '~', in this order, kid and acct required, num/dur/calls/u optional, each value in a small safe
// alphabet, so the username survives a SIP quoted-string (JsSIP authorization_user must parse as
// one), a SIP URI user part, a URL query and a cookie without escaping (auth.md §5.16).
//
// Lifetimes: ParsedUsername and EdgeClaims hold views into the username string passed to
// parse_edge_username(); keep that string alive while using them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/hmac.hpp"
#include "auth/secret.hpp"
#include "core/result.hpp"

namespace webtrunk::auth {

inline constexpr std::size_t kMaxUsernameSize = 512;
inline constexpr std::size_t kMaxClaimValueSize = 64;  // acct, u
inline constexpr std::size_t kMaxNumberEntries = 32;
inline constexpr std::size_t kMaxNumberDigits = 20;

// Why a token was refused. reason_phrase() is the SIP 403 reason text (short, human, no secrets).
enum class TokenError : std::uint8_t {
  none,
  malformed,           // "Malformed token": not "<expiry>:<rest>", bad expiry digits, too long
  expired,             // "Token expired": now > expiry + skew
  lifetime_too_long,   // "Token lifetime too long": expiry - now > max lifetime + skew
  bad_claims,          // "Bad token claims": claim syntax, unknown or out-of-order claim
  unknown_kid,         // "Unknown token key": no live secret with this kid (rotated out?)
  legacy_refused,      // "Token has no key id": legacy "<expiry>:<id>" while legacy is off
  bad_password,        // "Invalid token": bearer password does not match
  number_not_allowed,  // "Number not allowed": the called number is outside the num claim
};
std::string_view reason_phrase(TokenError e) noexcept;

// Claims of a token we minted. Views into the username.
struct EdgeClaims {
  std::string_view kid;
  std::string_view account;
  std::string_view numbers;  // raw num= value, e.g. "15551230000.1555123*"; empty: no num claim
  std::string_view user;     // u=, may be empty
  std::optional<std::uint32_t> max_duration_s;
  std::optional<std::uint32_t> max_calls;  // calls=: concurrent calls of the account on one edge
  bool has_numbers = false;

  // True if the num claim is absent (unrestricted: the auth service always sets it for customers),
  // or if `called` (a Request-URI user, a leading '+' ignored) equals an entry, or starts with an
  // entry that ends in '*', or an entry is "*" alone.
  bool allows_number(std::string_view called) const noexcept;
};

struct ParsedUsername {
  std::int64_t expires = 0;
  std::string_view rest;    // after the first ':' (empty for a bare timestamp)
  bool has_claims = false;  // rest starts with "kid=": our format; otherwise a legacy id
  EdgeClaims claims;        // valid when has_claims
};

// Splits and checks the syntax only (no time, no secret). Kamailio format 1 rules (auth.md §1.2):
// - the expiry is everything before the first ':'; optional leading '+', then decimal digits;
//   64-bit (Kamailio stops at UINT_MAX; we reject far futures by the lifetime policy instead);
// - an empty expiry (":alice", "") reads as 0, which is expired, as in Kamailio's str2int;
// - "1700000000" (no ':') is a bare timestamp with an empty id;
// - "1700000000:" (trailing ':') is malformed (Kamailio parses the whole string and fails);
// - "alice:1700000000" (legacy format 0) is malformed: we accept timestamp-first only.
[[nodiscard]] TokenError parse_edge_username(std::string_view username, ParsedUsername& out) noexcept;

// The acct= / u= alphabet: 1..64 of A-Z a-z 0-9 . _ @ - (the auth service validates account ids with it).
bool valid_claim_value(std::string_view v) noexcept;
// One allowed-number entry as mint_edge_token takes it: "*", or 1..20 digits with an optional
// leading '+' (E.164, dropped in the token) and an optional trailing '*' (prefix).
bool valid_number_claim(std::string_view entry) noexcept;

// What the auth service puts in a token (owning; the minter validates every value).
struct MintClaims {
  std::string account;                          // required, [A-Za-z0-9._@-]{1,64}
  std::vector<std::string> numbers;             // digits, optional trailing '*' for a prefix, or "*"
  std::optional<std::uint32_t> max_duration_s;  // >= 1
  std::optional<std::uint32_t> max_calls = std::nullopt;  // >= 1: calls= claim
};

struct EdgeToken {
  std::string username;
  std::string password;  // base64(HMAC(secret.key, username)), standard alphabet, padded
};

// Mints "<expiry>:kid=<secret.kid>~acct=..~num=..~dur=..~calls=..~u=<id>". `id` may be empty (no u=).
// Errors (-EINVAL) name the offending field: empty kid, bad characters, too many numbers, ...
core::Result<EdgeToken> mint_edge_token(const Secret& secret, std::int64_t expiry, std::string_view id,
                                        const MintClaims& claims, HmacAlgo algo = HmacAlgo::sha256);

// The bare TURN REST / auth_ephemeral password: base64(HMAC(key, username)), standard alphabet
// with padding (28 characters for SHA-1, 44 for SHA-256). Used to mint legacy tokens and in tests.
std::string ephemeral_password(std::string_view key, std::string_view username, HmacAlgo algo);

}  // namespace webtrunk::auth

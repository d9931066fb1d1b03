// The customer token: step 1 of the chain of trust (DESIGN.md; auth.md §1.4, §2 M1). The
// customer's servlet mints it with the CUSTOMER secret; the hosted auth service checks it and
// answers an edge token. Same shape as Voxbone's WebrtcAuthServlet:
//
//   key = base64(HMAC(customer secret, "<expires>:<username>"))   SHA-1 (Voxbone) or SHA-256 (ours)
//
// The verifier accepts both and tells them apart by the decoded MAC length (20 or 32 bytes). The
// key is a bearer value that travels in JSON, URLs and forms, so it is decoded leniently
// (auth.md §5.3, §5.4: std or url alphabet, padding optional, ' ' for '+') and compared as bytes
// in constant time. The MAC is checked before the time, so "Token expired" from here proves the
// token was genuine: the customer's clock is the usual culprit (auth.md §2 "Step 1's clock").
//
// Lifetimes: everything here is owned strings or takes views only for the duration of a call.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "auth/hmac.hpp"
#include "auth/secret.hpp"

namespace webtrunk::auth {

struct CustomerToken {
  std::string account;   // the carrier's customer id; selects the secret. Voxbone: same as username
  std::string username;  // the signed login: the MAC input is "<expires>:<username>"
  std::int64_t expires = 0;
  std::string key;
};

inline constexpr std::int64_t kCustomerTokenTtl = 300;  // Voxbone servlet default (auth.md §1.4)
inline constexpr std::size_t kMaxCustomerUsernameSize = 256;

// Mints with expires = now + ttl. An empty account means account = username (Voxbone's shape).
CustomerToken mint_customer_token(std::string_view account, std::string_view username, std::string_view secret,
                                  std::int64_t now, std::int64_t ttl = kCustomerTokenTtl,
                                  HmacAlgo algo = HmacAlgo::sha256);

enum class CustomerTokenError : std::uint8_t {
  none,
  malformed,          // "Malformed token": empty or oversized username, control bytes, key not base64
  bad_key,            // "Invalid token": MAC mismatch (or wrong length: neither SHA-1 nor SHA-256)
  expired,            // "Token expired"
  lifetime_too_long,  // "Token lifetime too long"
};
std::string_view reason_phrase(CustomerTokenError e) noexcept;

struct CustomerTokenPolicy {
  std::int64_t skew_s = 30;
  std::int64_t max_lifetime_s = 600;  // auth.md §7 better 3: 10 min for the customer token
};

// `secret` is the account's customer secret (the caller looks it up by t.account).
[[nodiscard]] CustomerTokenError verify_customer_token(const CustomerToken& t, std::string_view secret,
                                                       std::int64_t now,
                                                       const CustomerTokenPolicy& policy = {}) noexcept;

// The same against each of an account's live secrets, in order (rotation: old and new both
// verify). One rejection is counted however many secrets were tried. When the MAC verified (result
// none, expired or lifetime_too_long), `matched_kid` names the secret that did.
[[nodiscard]] CustomerTokenError verify_customer_token(const CustomerToken& t, std::span<const Secret> secrets,
                                                       std::int64_t now, const CustomerTokenPolicy& policy = {},
                                                       std::string_view* matched_kid = nullptr) noexcept;

// A replay-cache id for a token: SHA-256 over account, username, expires and the DECODED key, so
// "+"/" "/"-" and padded/unpadded spellings of one key are one token. Returns 16 raw bytes as a
// string (empty if the key does not decode).
std::string customer_token_id(const CustomerToken& t);

// {"account":"..","username":"..","expires":N,"key":".."}
std::string customer_token_json(const CustomerToken& t);
// Voxbone servlet output shape: {"key":"..","expires":N,"username":".."}
std::string voxbone_config_json(const CustomerToken& t);
// What the Voxbone servlet serves as text/javascript: var <varname> = {..};  (varname must be a
// JavaScript identifier of [A-Za-z0-9_$]; anything else becomes "voxrtc_config")
std::string voxbone_config_script(const CustomerToken& t, std::string_view varname = "voxrtc_config");

}  // namespace webtrunk::auth

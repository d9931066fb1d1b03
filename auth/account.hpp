// A customer account of the hosted auth service (DESIGN.md "The chain of trust" 1): its customer
// secrets (with key ids, several live at once for rotation), the page origins allowed to trade its
// tokens, the numbers its calls may reach, and its limits. The admin API and the CLI speak it as
//
//   {"secrets":[{"kid":"k1","secret":"..."}],"origins":["https://shop.example"],
//    "numbers":["+15551230000","1555124*"],"limits":{"max_call_seconds":3600,"tokens_per_minute":600,"max_calls":100}}
//
// and never hand a secret back: public_json() lists kids and fingerprints only.
//
// Validation is strict and says which field is wrong (the admin reads the message): unknown
// fields are refused (a typo must not silently drop a limit), every value must fit the edge token
// it ends up in (auth/README.md "Edge token username").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/edge_token.hpp"
#include "auth/secret.hpp"
#include "core/result.hpp"

namespace webtrunk::auth {

inline constexpr std::size_t kMaxAccountSecrets = 16;
inline constexpr std::size_t kMaxAccountOrigins = 32;
inline constexpr std::size_t kMinCustomerSecretSize = 16;
inline constexpr std::size_t kMaxCustomerSecretSize = 256;
inline constexpr std::uint32_t kDefaultTokensPerMinute = 600;
// Concurrent calls of one account on one edge when the admin sets none: enough for a small
// contact centre, far below what one edge holds, so one account cannot take the whole edge.
inline constexpr std::uint32_t kDefaultMaxCalls = 100;

struct AccountLimits {
  std::optional<std::uint32_t> max_call_seconds;       // dur= claim; absent: no limit from the token
  std::uint32_t tokens_per_minute = kDefaultTokensPerMinute;  // token exchanges for this account
  std::uint32_t max_calls = kDefaultMaxCalls;  // calls= claim: concurrent calls per edge
};

struct Account {
  std::string id;                    // [A-Za-z0-9._@-]{1,64}: it becomes the acct= claim
  std::vector<Secret> secrets;       // kid + customer secret, 1..16, kids unique
  std::vector<std::string> origins;  // "https://host[:port]" exactly as browsers send Origin, or "*"
  std::vector<std::string> numbers;  // "+15551230000", "1555123*" or "*" (any); at least one
  AccountLimits limits;

  // The claims every edge token minted for this account carries.
  MintClaims claims() const;
  // Whether a page with this Origin may trade this account's tokens.
  bool allows_origin(std::string_view origin) const noexcept;
};

// Parses and validates the admin JSON for account `id` (id checked too). Errors (-EINVAL) name the
// field and never quote a secret.
core::Result<Account> account_from_json(std::string_view id, std::string_view json);
// What GET answers: {"id","secrets":[{"kid","fingerprint"}],"origins","numbers","limits"}.
std::string public_json(const Account& a);
// What the store keeps: the admin JSON with the secrets (never leaves the store or the process).
std::string stored_json(const Account& a);

bool valid_account_id(std::string_view id) noexcept;

}  // namespace webtrunk::auth

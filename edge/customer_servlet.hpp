// The customer side of the chain of trust (DESIGN.md step 2): the options both `webtrunk mint` and
// `webtrunk servlet` take, and the token they hand out. Minting is auth::mint_customer_token; this
// file only reads the flags and the secret file.
//
// Lifetimes: everything is owned strings. The secret lives in MinterOptions for the life of the
// process and is never logged or printed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/customer_token.hpp"
#include "auth/hmac.hpp"
#include "core/result.hpp"
#include "edge/flags.hpp"

namespace webtrunk::edge {

// Error::code for a bad flag (the CLI exits 2); anything else (an unreadable file) exits 1.
inline constexpr int kUsageError = 2;

struct MinterOptions {
  std::string account;
  std::string username = "web";
  std::string secret;
  std::int64_t ttl = auth::kCustomerTokenTtl;
  auth::HmacAlgo algo = auth::HmacAlgo::sha256;
};

// The customer secret from a file in the --edge-secret-file format (auth/secrets_file.hpp): the first
// secret counts, its kid (if any) is ignored since a customer token carries none.
core::Result<std::string> load_customer_secret(const std::string& path);

// --account, --secret-file, --username, --ttl, --algorithm.
core::Result<MinterOptions> minter_options_from(const FlagValues& flags);

auth::CustomerToken mint(const MinterOptions& opts, std::int64_t now);

}  // namespace webtrunk::edge

// A shared secret and its key id. Secrets are never logged, printed or returned in an error
// (auth.md §5.8: Kamailio logs them at INFO and dumps them over RPC; we do neither). To name a
// secret in a log line, use its kid or secret_fingerprint().
#pragma once

#include <string>
#include <string_view>

namespace webtrunk::auth {

struct Secret {
  // Key id carried in edge tokens as `kid=` so the edge picks the secret directly
  // (auth.md §7 "better" 2). Empty for a secret without an id: such a secret only verifies
  // legacy `<expiry>:<id>` tokens (tried in turn, like Kamailio) and cannot mint claims tokens.
  std::string kid;
  std::string key;  // the secret bytes, used as the HMAC key exactly as given (no trimming, no charset)
};

// kid syntax: 1..32 of [A-Za-z0-9_-] (SIP-, URL- and cookie-safe; see auth/README.md).
inline constexpr std::size_t kMaxKidSize = 32;
bool valid_kid(std::string_view kid) noexcept;

// A short, non-reversible fingerprint for logs: the first 8 hex digits of SHA-256("webtrunk-fp:" key).
std::string secret_fingerprint(std::string_view key);

}  // namespace webtrunk::auth

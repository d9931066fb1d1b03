// Stateless digest nonces: the edge keeps no per-challenge state, so any shard can check a nonce
// another shard issued, and a flood of REGISTERs costs no memory.
//
//   nonce = base64url( ts(8, big-endian unix seconds) || random(12) ||
//                      HMAC-SHA256(nonce key, ts || random || binding)[0..16) )     48 characters
//
// `binding` is optional context the nonce is tied to (e.g. the WebSocket flow id): a nonce issued
// on one flow does not verify on another. check() answers ok, stale (MAC right but older than
// max_age: challenge again with stale=true, RFC 7616 §3.3, so the client retries silently
// without asking the user), or invalid (not ours, tampered, from a previous process, or from the
// future): never accepted; EdgeAuthenticator re-challenges, with stale=true only if the response
// proves the password anyway (the client then retries silently, e.g. after an edge restart).
//
// What this does not give: nonce-count replay detection (Kamailio's nonce_count/one_time_nonce).
// Within max_age a captured Authorization can be replayed on the same binding; binding to the flow
// keeps that to the connection that got the challenge.
//
// Lifetimes and threads: a NonceKey is immutable after construction and may be shared read-only by
// every shard. Its key is generated at start (random) and lives only in memory: a restart makes
// outstanding nonces invalid, which costs one extra (stale) challenge round trip.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "auth/hmac.hpp"

namespace webtrunk::auth {

enum class NonceStatus : std::uint8_t { ok, stale, invalid };
std::string_view to_string(NonceStatus s) noexcept;

inline constexpr std::size_t kNonceRandomSize = 12;
inline constexpr std::size_t kNonceMacSize = 16;
inline constexpr std::size_t kNonceRawSize = 8 + kNonceRandomSize + kNonceMacSize;  // 36
inline constexpr std::size_t kNonceTextSize = 48;
inline constexpr std::int64_t kDefaultNonceMaxAge = 300;  // Kamailio auth nonce_expire default
inline constexpr std::int64_t kNonceFutureSlack = 5;      // wall-clock steps back a little (NTP)

class NonceKey {
 public:
  // A fresh random 32-byte key (RAND_bytes). Aborts if the CSPRNG fails: nothing can be
  // authenticated without it, and this runs once at start-up.
  static NonceKey generate();
  explicit NonceKey(std::span<const std::uint8_t> key, std::int64_t max_age_s = kDefaultNonceMaxAge) noexcept;

  std::int64_t max_age() const noexcept { return max_age_s_; }

  // A new nonce at `now` (unix seconds) with fresh random bytes.
  std::string issue(std::int64_t now, std::string_view binding = {}) const;
  // Deterministic form for tests and benches: the caller supplies the random part.
  std::string issue(std::int64_t now, std::string_view binding,
                    std::span<const std::uint8_t, kNonceRandomSize> random) const;

  // ok: issued by this key for this binding within max_age (issued_at <= now + slack);
  // stale: MAC right, older than max_age; invalid: anything else.
  [[nodiscard]] NonceStatus check(std::int64_t now, std::string_view nonce,
                                  std::string_view binding = {}) const noexcept;

 private:
  HmacKey key_;
  std::int64_t max_age_s_;
};

}  // namespace webtrunk::auth

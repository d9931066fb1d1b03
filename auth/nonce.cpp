#include "auth/nonce.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "auth/base64.hpp"
#include "core/bytes.hpp"
#include "core/metrics.hpp"

namespace webtrunk::auth {
namespace {

const core::Counter kNonceInvalid{"webtrunk_auth_nonce_invalid_total", "Digest nonces refused: not ours or tampered"};
const core::Counter kNonceStale{"webtrunk_auth_nonce_stale_total", "Digest nonces refused: older than max age"};

std::span<const std::uint8_t> bytes_of(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::string_view to_string(NonceStatus s) noexcept {
  switch (s) {
    case NonceStatus::ok:
      return "ok";
    case NonceStatus::stale:
      return "stale";
    case NonceStatus::invalid:
      return "invalid";
  }
  return "invalid";
}

NonceKey NonceKey::generate() {
  std::array<std::uint8_t, 32> k{};
  if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) {
    std::fputs("webtrunk: RAND_bytes failed: cannot make a nonce key\n", stderr);
    std::abort();
  }
  NonceKey key(k);
  OPENSSL_cleanse(k.data(), k.size());
  return key;
}

NonceKey::NonceKey(std::span<const std::uint8_t> key, std::int64_t max_age_s) noexcept
    : key_(HmacAlgo::sha256, key), max_age_s_(max_age_s) {}

std::string NonceKey::issue(std::int64_t now, std::string_view binding) const {
  std::array<std::uint8_t, kNonceRandomSize> r{};
  if (RAND_bytes(r.data(), static_cast<int>(r.size())) != 1) {
    // The random part only makes nonces unique; the MAC is what protects them. A CSPRNG failure
    // must not take the edge down: fall back to a process-wide counter.
    static std::atomic<std::uint64_t> counter{0};
    const std::uint64_t c = counter.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(r.data(), &c, sizeof c);
  }
  return issue(now, binding, r);
}

std::string NonceKey::issue(std::int64_t now, std::string_view binding,
                            std::span<const std::uint8_t, kNonceRandomSize> random) const {
  std::array<std::uint8_t, kNonceRawSize> raw{};
  core::store_be64(reinterpret_cast<std::byte*>(raw.data()), static_cast<std::uint64_t>(now));
  std::memcpy(raw.data() + 8, random.data(), kNonceRandomSize);
  std::array<std::uint8_t, kMaxMacSize> mac{};
  key_.mac2(std::span<const std::uint8_t>(raw.data(), 8 + kNonceRandomSize), bytes_of(binding), mac);
  std::memcpy(raw.data() + 8 + kNonceRandomSize, mac.data(), kNonceMacSize);
  return base64url_encode(raw);
}

NonceStatus NonceKey::check(std::int64_t now, std::string_view nonce, std::string_view binding) const noexcept {
  std::array<std::uint8_t, kNonceRawSize> raw{};
  const auto n = nonce.size() == kNonceTextSize ? base64url_decode_strict(nonce, raw) : std::nullopt;
  if (!n || *n != kNonceRawSize) {
    kNonceInvalid.inc();
    return NonceStatus::invalid;
  }
  std::array<std::uint8_t, kMaxMacSize> mac{};
  key_.mac2(std::span<const std::uint8_t>(raw.data(), 8 + kNonceRandomSize), bytes_of(binding), mac);
  if (!ct_equal(std::span<const std::uint8_t>(raw.data() + 8 + kNonceRandomSize, kNonceMacSize),
                std::span<const std::uint8_t>(mac.data(), kNonceMacSize))) {
    kNonceInvalid.inc();
    return NonceStatus::invalid;
  }
  const auto issued = static_cast<std::int64_t>(core::load_be64(reinterpret_cast<const std::byte*>(raw.data())));
  if (issued > now + kNonceFutureSlack) {  // ours, but from a clock we never had: treat as invalid
    kNonceInvalid.inc();
    return NonceStatus::invalid;
  }
  if (now - issued > max_age_s_) {
    kNonceStale.inc();
    return NonceStatus::stale;
  }
  return NonceStatus::ok;
}

}  // namespace webtrunk::auth

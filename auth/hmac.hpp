// HMAC with the key schedule done once. Every token check on the edge computes
// HMAC(edge secret, username); hashing the ipad/opad blocks once per secret and copying the two
// saved states per call halves the hash work for short usernames and allocates nothing
// (RFC 2104 §2; bench/micro/auth_token_bench.cpp measures this against EVP_MAC and HMAC_CTX).
//
// Lifetimes: an HmacKey owns copies of its derived states (no reference to the caller's secret),
// is immutable after construction, and may be used from several threads at once. It wipes its
// states when destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace webtrunk::auth {

enum class HmacAlgo : std::uint8_t {
  sha1,    // TURN REST / Kamailio auth_ephemeral default (sha_algorithm=0), coturn's only choice
  sha256,  // our default for what we mint (auth.md §7 "better than every anchor" 1)
};

inline constexpr std::size_t kMaxMacSize = 32;

constexpr std::size_t mac_size(HmacAlgo a) noexcept { return a == HmacAlgo::sha1 ? 20 : 32; }
std::string_view to_string(HmacAlgo a) noexcept;

class HmacKey {
 public:
  HmacKey() noexcept;  // an empty key (HMAC with a zero-length secret); assign a real one
  HmacKey(HmacAlgo algo, std::span<const std::uint8_t> key) noexcept;
  HmacKey(HmacAlgo algo, std::string_view key) noexcept;
  HmacKey(const HmacKey&) noexcept;
  HmacKey& operator=(const HmacKey&) noexcept;
  ~HmacKey();

  HmacAlgo algo() const noexcept { return algo_; }
  std::size_t size() const noexcept { return mac_size(algo_); }

  // Writes mac_size(algo()) bytes to out and returns that count.
  std::size_t mac(std::span<const std::uint8_t> msg, std::span<std::uint8_t, kMaxMacSize> out) const noexcept;
  std::size_t mac(std::string_view msg, std::span<std::uint8_t, kMaxMacSize> out) const noexcept;
  // Two-part message without concatenating (nonce fields, "<expires>:<user>").
  std::size_t mac2(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
                   std::span<std::uint8_t, kMaxMacSize> out) const noexcept;

 private:
  void init(HmacAlgo algo, std::span<const std::uint8_t> key) noexcept;
  void wipe() noexcept;

  HmacAlgo algo_ = HmacAlgo::sha256;
  // Two saved hash states, [0] after the ipad block, [1] after the opad block. Raw storage keeps
  // OpenSSL's low-level types out of this header; hmac.cpp static_asserts that they fit.
  static constexpr std::size_t kStateSize = 128;
  alignas(16) unsigned char st_[2][kStateSize]{};
};

// Constant-time equality of two byte strings of the same length (CRYPTO_memcmp); different
// lengths compare unequal without reading the bytes (lengths are public: 20 vs 32 bytes).
bool ct_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;
bool ct_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace webtrunk::auth

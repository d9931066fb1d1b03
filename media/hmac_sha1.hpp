// HMAC-SHA1 (RFC 2104) for SRTP's authentication tag (RFC 3711 §4.2.1), with the keyed inner and
// outer states computed once per session key. Per message it costs the SHA-1 compressions of the
// message and one of the outer hash, nothing else: where the CPU has the SHA extensions they run
// straight from the packet bytes (the tail, the suffix and the padding in one stack block);
// elsewhere, or when asked, a copy of OpenSSL's saved SHA_CTX is updated and finalized.
#pragma once

#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace webtrunk::media {

class HmacSha1 {
 public:
  static constexpr std::size_t kKeyLen = 20;  // RFC 3711 §4.2.1: n_a = 160
  static constexpr std::size_t kDigestLen = SHA_DIGEST_LENGTH;
  static constexpr std::size_t kMaxSuffix = 16;

  // True if this CPU has the SHA extensions (and SSE4.1); checked once.
  [[nodiscard]] static bool sha_ni_supported() noexcept;

  HmacSha1() = default;
  HmacSha1(const HmacSha1&) = delete;
  HmacSha1& operator=(const HmacSha1&) = delete;
  ~HmacSha1();

  // `sha_ni`: compress with the SHA extensions (only when sha_ni_supported()), else OpenSSL's SHA1.
  void set_key(std::span<const std::uint8_t, kKeyLen> key, bool sha_ni) noexcept;

  // The MAC of `msg` followed by `suffix` (the ROC for SRTP; empty for SRTCP; at most kMaxSuffix).
  void mac(const std::byte* msg, std::size_t len, std::span<const std::uint8_t> suffix,
           std::uint8_t (&out)[kDigestLen]) const noexcept;

 private:
  // OpenSSL's state after the keyed pad block; h0..h4 are what the SHA-NI path starts from.
  SHA_CTX inner_{};
  SHA_CTX outer_{};
  bool sha_ni_ = false;
};

}  // namespace webtrunk::media

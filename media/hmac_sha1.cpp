// HMAC-SHA1 with saved keyed states (see hmac_sha1.hpp).
//
// OpenSSL 3 marks the low-level SHA1_* functions deprecated but still ships them with their SHA-NI
// assembly; they are its only SHA-1 interface whose state is a plain struct that can be saved and
// copied (EVP_MD_CTX_copy_ex and EVP_MAC_CTX_dup allocate per call; bench/micro/srtp_bench.cpp
// measures the difference), so this file, and only it, silences the deprecation warning.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "media/hmac_sha1.hpp"

#include <openssl/crypto.h>

#include <climits>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WEBTRUNK_HAVE_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#define WEBTRUNK_SHANI __attribute__((target("sha,ssse3,sse4.1")))
#endif

namespace webtrunk::media {

namespace {

void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

#if defined(WEBTRUNK_HAVE_SHA_NI)

// Four of SHA-1's 80 rounds (FIPS 180-4 §6.1.2) with SHA1RNDS4, and the message schedule three
// groups ahead with SHA1MSG1/SHA1MSG2 (Intel, "New Instructions Supporting the Secure Hash
// Algorithm on Intel Architecture Processors", 2013, §3.2). `prev` is ABCD before the last group.
template <int I>
WEBTRUNK_SHANI inline void sha1_group(__m128i& abcd, __m128i& prev, const __m128i& e0, __m128i (&m)[4]) noexcept {
  const __m128i e = I == 0 ? _mm_add_epi32(e0, m[0]) : _mm_sha1nexte_epu32(prev, m[I % 4]);
  prev = abcd;
  if constexpr (I >= 3 && I <= 18) m[(I + 1) % 4] = _mm_sha1msg2_epu32(m[(I + 1) % 4], m[I % 4]);
  abcd = _mm_sha1rnds4_epu32(abcd, e, I / 5);
  if constexpr (I >= 1 && I <= 16) m[(I + 3) % 4] = _mm_sha1msg1_epu32(m[(I + 3) % 4], m[I % 4]);
  if constexpr (I >= 2 && I <= 17) m[(I + 2) % 4] = _mm_xor_si128(m[(I + 2) % 4], m[I % 4]);
}

// One SHA-1 compression on the state in register form: ABCD with A in the top lane, E in the
// top lane of `e`; `m` holds the block's words, W0 in the top lane of m[0].
WEBTRUNK_SHANI inline void sha1_block(__m128i& abcd, __m128i& e, __m128i (&m)[4]) noexcept {
  const __m128i abcd_save = abcd;
  __m128i prev = abcd;
  sha1_group<0>(abcd, prev, e, m);
  sha1_group<1>(abcd, prev, e, m);
  sha1_group<2>(abcd, prev, e, m);
  sha1_group<3>(abcd, prev, e, m);
  sha1_group<4>(abcd, prev, e, m);
  sha1_group<5>(abcd, prev, e, m);
  sha1_group<6>(abcd, prev, e, m);
  sha1_group<7>(abcd, prev, e, m);
  sha1_group<8>(abcd, prev, e, m);
  sha1_group<9>(abcd, prev, e, m);
  sha1_group<10>(abcd, prev, e, m);
  sha1_group<11>(abcd, prev, e, m);
  sha1_group<12>(abcd, prev, e, m);
  sha1_group<13>(abcd, prev, e, m);
  sha1_group<14>(abcd, prev, e, m);
  sha1_group<15>(abcd, prev, e, m);
  sha1_group<16>(abcd, prev, e, m);
  sha1_group<17>(abcd, prev, e, m);
  sha1_group<18>(abcd, prev, e, m);
  sha1_group<19>(abcd, prev, e, m);
  e = _mm_sha1nexte_epu32(prev, e);  // E after round 79, plus the E the block started with
  abcd = _mm_add_epi32(abcd, abcd_save);
}

// Byte order: the 16 bytes reversed, so big-endian words land W0 in the top lane.
WEBTRUNK_SHANI inline __m128i reverse_bytes(__m128i x) noexcept {
  return _mm_shuffle_epi8(x, _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL));
}

WEBTRUNK_SHANI inline void sha1_blocks(__m128i& abcd, __m128i& e, const std::uint8_t* data, std::size_t blocks) noexcept {
  for (; blocks > 0; --blocks, data += 64) {
    __m128i m[4];
    for (int i = 0; i < 4; ++i) m[i] = reverse_bytes(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * i)));
    sha1_block(abcd, e, m);
  }
}

WEBTRUNK_SHANI inline void load_state(const SHA_CTX& c, __m128i& abcd, __m128i& e) noexcept {
  abcd = _mm_set_epi32(static_cast<int>(c.h0), static_cast<int>(c.h1), static_cast<int>(c.h2), static_cast<int>(c.h3));
  e = _mm_set_epi32(static_cast<int>(c.h4), 0, 0, 0);
}

WEBTRUNK_SHANI void sha_ni_mac(const SHA_CTX& inner, const SHA_CTX& outer, const std::byte* msg, std::size_t len,
                               std::span<const std::uint8_t> suffix, std::uint8_t (&out)[20]) noexcept {
  const auto* p = reinterpret_cast<const std::uint8_t*>(msg);
  __m128i abcd;
  __m128i e;
  load_state(inner, abcd, e);
  sha1_blocks(abcd, e, p, len / 64);
  // The rest of the message, the suffix, 0x80, zeros and the bit length of pad block + message
  // (FIPS 180-4 §5.1.1), in one or two blocks.
  alignas(16) std::uint8_t tail[128] = {};
  const std::size_t rest = len % 64;
  std::memcpy(tail, p + len - rest, rest);
  if (!suffix.empty()) std::memcpy(tail + rest, suffix.data(), suffix.size());  // SRTCP: none
  const std::size_t used = rest + suffix.size();
  tail[used] = 0x80;
  const std::size_t tail_len = used + 9 <= 64 ? 64 : 128;
  const std::uint64_t bits = (64 + len + suffix.size()) * 8;
  store_be32(tail + tail_len - 8, static_cast<std::uint32_t>(bits >> 32));
  store_be32(tail + tail_len - 4, static_cast<std::uint32_t>(bits));
  sha1_blocks(abcd, e, tail, tail_len / 64);
  // The outer hash straight from the registers: W0..W4 the inner digest, then 0x80, zeros, and
  // 84 bytes in bits (no trip through memory between the two hashes).
  __m128i m[4] = {abcd, _mm_or_si128(_mm_and_si128(e, _mm_set_epi32(-1, 0, 0, 0)), _mm_set_epi32(0, INT32_MIN, 0, 0)),
                  _mm_setzero_si128(), _mm_set_epi32(0, 0, 0, 84 * 8)};
  load_state(outer, abcd, e);
  sha1_block(abcd, e, m);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), reverse_bytes(abcd));
  store_be32(out + 16, static_cast<std::uint32_t>(_mm_extract_epi32(e, 3)));
}

#endif

}  // namespace

bool HmacSha1::sha_ni_supported() noexcept {
#if defined(WEBTRUNK_HAVE_SHA_NI)
  static const bool yes = [] {
    // CPUID leaf 7 EBX bit 29 (clang's __builtin_cpu_supports has no "sha"); SSSE3 and SSE4.1
    // are leaf 1 ECX bits 9 and 19.
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & (1u << 9)) == 0 || (c & (1u << 19)) == 0) return false;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
    return (b & (1u << 29)) != 0;
  }();
  return yes;
#else
  return false;
#endif
}

HmacSha1::~HmacSha1() {
  OPENSSL_cleanse(&inner_, sizeof inner_);
  OPENSSL_cleanse(&outer_, sizeof outer_);
}

void HmacSha1::set_key(std::span<const std::uint8_t, kKeyLen> key, bool sha_ni) noexcept {
  sha_ni_ = sha_ni && sha_ni_supported();
  std::uint8_t pad[SHA_CBLOCK];
  std::memset(pad, 0x36, sizeof pad);
  for (std::size_t i = 0; i < key.size(); ++i) pad[i] ^= key[i];
  SHA1_Init(&inner_);
  SHA1_Update(&inner_, pad, sizeof pad);
  std::memset(pad, 0x5c, sizeof pad);
  for (std::size_t i = 0; i < key.size(); ++i) pad[i] ^= key[i];
  SHA1_Init(&outer_);
  SHA1_Update(&outer_, pad, sizeof pad);
  OPENSSL_cleanse(pad, sizeof pad);
}

void HmacSha1::mac(const std::byte* msg, std::size_t len, std::span<const std::uint8_t> suffix,
                   std::uint8_t (&out)[kDigestLen]) const noexcept {
#if defined(WEBTRUNK_HAVE_SHA_NI)
  if (sha_ni_ && suffix.size() <= kMaxSuffix) {
    sha_ni_mac(inner_, outer_, msg, len, suffix, out);
    return;
  }
#endif
  SHA_CTX c = inner_;
  SHA1_Update(&c, msg, len);
  if (!suffix.empty()) SHA1_Update(&c, suffix.data(), suffix.size());
  SHA1_Final(out, &c);
  c = outer_;
  SHA1_Update(&c, out, SHA_DIGEST_LENGTH);
  SHA1_Final(out, &c);
}

}  // namespace webtrunk::media

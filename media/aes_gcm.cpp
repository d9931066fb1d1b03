// AES-GCM on AES-NI and PCLMULQDQ (see aes_gcm.hpp). The GHASH arithmetic follows Gueron and
// Kounavis, "Intel Carry-Less Multiplication Instruction and its Usage for Computing the GCM Mode"
// (rev. 2.02, 2014): blocks are byte-reflected so that a carry-less product of two reflected field
// elements, shifted left by one bit, is their product; the 256-bit products of up to eight blocks
// with H^8..H^1 are summed before a single reduction (their "aggregated reduction"). AES runs
// eight counter blocks at a time, round by round, so the pipelined AES units stay busy.
//
// Every function that uses the instructions carries WEBTRUNK_AESNI (media/aes_ni.hpp).
#include "media/aes_gcm.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

#include "media/aes_ni.hpp"

namespace webtrunk::media {

AesGcm::~AesGcm() {
  OPENSSL_cleanse(round_keys_, sizeof round_keys_);
  OPENSSL_cleanse(h_powers_, sizeof h_powers_);
}

#if defined(WEBTRUNK_HAVE_AES_NI)

namespace {

using aes_ni::aes_any;
using aes_ni::aes_n;

// Byte reversal: GHASH's bit order (SP 800-38D §6.3) as PCLMULQDQ sees it.
WEBTRUNK_AESNI inline __m128i bswap128(__m128i x) noexcept {
  return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

// A 256-bit carry-less product before reduction: lo, hi and the two middle products summed.
struct Wide {
  __m128i lo, mid, hi;
};

WEBTRUNK_AESNI inline void clmul_add(Wide& w, __m128i a, __m128i b) noexcept {
  w.lo = _mm_xor_si128(w.lo, _mm_clmulepi64_si128(a, b, 0x00));
  w.hi = _mm_xor_si128(w.hi, _mm_clmulepi64_si128(a, b, 0x11));
  w.mid = _mm_xor_si128(w.mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10)));
}

// The product's shift by one bit (reflection) and its reduction modulo x^128 + x^7 + x^2 + x + 1
// (Gueron and Kounavis, Algorithm 5 and Figure 5).
WEBTRUNK_AESNI inline __m128i reduce(const Wide& w) noexcept {
  __m128i lo = _mm_xor_si128(w.lo, _mm_slli_si128(w.mid, 8));
  __m128i hi = _mm_xor_si128(w.hi, _mm_srli_si128(w.mid, 8));
  __m128i t7 = _mm_srli_epi32(lo, 31);
  __m128i t8 = _mm_srli_epi32(hi, 31);
  lo = _mm_slli_epi32(lo, 1);
  hi = _mm_slli_epi32(hi, 1);
  const __m128i t9 = _mm_srli_si128(t7, 12);
  t8 = _mm_slli_si128(t8, 4);
  t7 = _mm_slli_si128(t7, 4);
  lo = _mm_or_si128(lo, t7);
  hi = _mm_or_si128(_mm_or_si128(hi, t8), t9);
  t7 = _mm_xor_si128(_mm_xor_si128(_mm_slli_epi32(lo, 31), _mm_slli_epi32(lo, 30)), _mm_slli_epi32(lo, 25));
  t8 = _mm_srli_si128(t7, 4);
  t7 = _mm_slli_si128(t7, 12);
  lo = _mm_xor_si128(lo, t7);
  __m128i t2 = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi32(lo, 1), _mm_srli_epi32(lo, 2)), _mm_srli_epi32(lo, 7));
  t2 = _mm_xor_si128(t2, t8);
  lo = _mm_xor_si128(lo, t2);
  return _mm_xor_si128(hi, lo);
}

WEBTRUNK_AESNI inline __m128i gfmul(__m128i a, __m128i b) noexcept {
  Wide w{_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
  clmul_add(w, a, b);
  return reduce(w);
}

// X <- (X + b[0]) H^n + b[1] H^(n-1) + ... + b[n-1] H, for reflected blocks b and n <= 8.
template <int N>
WEBTRUNK_AESNI inline __m128i ghash_n(__m128i x, const __m128i* b, const __m128i* h) noexcept {
  Wide w{_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
  clmul_add(w, _mm_xor_si128(x, b[0]), h[N - 1]);
  for (int i = 1; i < N; ++i) clmul_add(w, b[i], h[N - 1 - i]);
  return reduce(w);
}

// GHASH input gathered eight blocks at a time (AAD, ciphertext and length blocks alike), so that
// eight products share one reduction: a 172-byte RTP packet costs two reductions, not twelve.
struct Ghash {
  const __m128i* h;  // H^1..H^8
  __m128i x;
  __m128i buf[8];
  int count;
};

WEBTRUNK_AESNI inline void ghash_push(Ghash& g, __m128i reflected) noexcept {
  g.buf[g.count++] = reflected;
  if (g.count == 8) {
    g.x = ghash_n<8>(g.x, g.buf, g.h);
    g.count = 0;
  }
}

WEBTRUNK_AESNI inline __m128i ghash_finish(Ghash& g) noexcept {
  switch (g.count) {
    case 0: break;
    case 1: g.x = ghash_n<1>(g.x, g.buf, g.h); break;
    case 2: g.x = ghash_n<2>(g.x, g.buf, g.h); break;
    case 3: g.x = ghash_n<3>(g.x, g.buf, g.h); break;
    case 4: g.x = ghash_n<4>(g.x, g.buf, g.h); break;
    case 5: g.x = ghash_n<5>(g.x, g.buf, g.h); break;
    case 6: g.x = ghash_n<6>(g.x, g.buf, g.h); break;
    default: g.x = ghash_n<7>(g.x, g.buf, g.h); break;
  }
  g.count = 0;
  return g.x;
}

// The AAD pieces concatenated and zero-padded to a block (SP 800-38D §7.1 step 5). Returns the
// AAD's length.
WEBTRUNK_AESNI std::size_t ghash_aad(Ghash& g, std::span<const AesGcm::Aad> aad) noexcept {
  alignas(16) std::uint8_t blk[16];
  std::size_t fill = 0;
  std::size_t total = 0;
  for (const AesGcm::Aad& a : aad) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(a.p);
    std::size_t n = a.n;
    total += n;
    while (n > 0) {
      if (fill == 0 && n >= 16) {
        ghash_push(g, bswap128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
        p += 16;
        n -= 16;
        continue;
      }
      const std::size_t take = std::min(16 - fill, n);
      std::memcpy(blk + fill, p, take);
      fill += take;
      p += take;
      n -= take;
      if (fill == 16) {
        ghash_push(g, bswap128(_mm_load_si128(reinterpret_cast<const __m128i*>(blk))));
        fill = 0;
      }
    }
  }
  if (fill > 0) {
    std::memset(blk + fill, 0, 16 - fill);
    ghash_push(g, bswap128(_mm_load_si128(reinterpret_cast<const __m128i*>(blk))));
  }
  return total;
}

WEBTRUNK_AESNI inline __m128i counter_block(__m128i base, std::uint32_t i) noexcept {
  return _mm_insert_epi32(base, static_cast<int>(__builtin_bswap32(i)), 3);
}

// The whole of GCM-AE or GCM-AD (SP 800-38D §7.1, §7.2) except the tag comparison: crypts `n`
// bytes in place and returns the tag it computes (over the ciphertext either way).
template <bool Encrypt>
WEBTRUNK_AESNI __m128i gcm(const __m128i* rk, int rounds, const __m128i* h, const std::uint8_t* iv,
                           std::span<const AesGcm::Aad> aad, std::uint8_t* data, std::size_t n) noexcept {
  alignas(16) std::uint8_t j0[16] = {};
  std::memcpy(j0, iv, 12);
  const __m128i base = _mm_load_si128(reinterpret_cast<const __m128i*>(j0));
  __m128i tag_mask = counter_block(base, 1);
  bool have_mask = false;

  Ghash g;
  g.h = h;
  g.x = _mm_setzero_si128();
  g.count = 0;
  const std::size_t aad_len = ghash_aad(g, aad);

  // Eight counter blocks per chunk; the last chunk also encrypts J0 for the tag if it has room.
  std::uint32_t ctr = 2;
  for (std::size_t off = 0; off < n; off += 128, ctr += 8) {
    const std::size_t rem = std::min<std::size_t>(n - off, 128);
    const int blocks = static_cast<int>((rem + 15) / 16);
    __m128i ks[8];
    for (int i = 0; i < blocks; ++i) ks[i] = counter_block(base, ctr + static_cast<std::uint32_t>(i));
    if (blocks == 8) {
      aes_n<8>(rk, rounds, ks);
    } else {
      ks[blocks] = tag_mask;
      aes_any(rk, rounds, ks, blocks + 1);
      tag_mask = ks[blocks];
      have_mask = true;
    }
    const int full = static_cast<int>(rem / 16);
    auto* p = reinterpret_cast<__m128i*>(data + off);
    for (int i = 0; i < full; ++i) {
      const __m128i in = _mm_loadu_si128(p + i);
      const __m128i out = _mm_xor_si128(in, ks[i]);
      _mm_storeu_si128(p + i, out);
      ghash_push(g, bswap128(Encrypt ? out : in));
    }
    if (full < blocks) {  // the last, partial block: its ciphertext zero-padded for GHASH
      const std::size_t tail = rem % 16;
      std::uint8_t* q = data + off + 16 * static_cast<std::size_t>(full);
      alignas(16) std::uint8_t in[16] = {};
      alignas(16) std::uint8_t out[16];
      std::memcpy(in, q, tail);
      _mm_store_si128(reinterpret_cast<__m128i*>(out),
                      _mm_xor_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(in)), ks[full]));
      std::memcpy(q, out, tail);
      if (Encrypt) std::memset(out + tail, 0, 16 - tail);
      ghash_push(g, bswap128(_mm_load_si128(reinterpret_cast<const __m128i*>(Encrypt ? out : in))));
    }
  }
  if (!have_mask) aes_n<1>(rk, rounds, &tag_mask);
  // The length block, len(A) || len(C) in bits, reflected.
  ghash_push(g, _mm_set_epi64x(static_cast<long long>(aad_len * 8), static_cast<long long>(n * 8)));
  return _mm_xor_si128(bswap128(ghash_finish(g)), tag_mask);
}

}  // namespace
bool AesGcm::supported() noexcept { return aes_ni::supported(); }

WEBTRUNK_AESNI void AesGcm::set_key(std::span<const std::uint8_t> key) noexcept {
  auto* rk = reinterpret_cast<__m128i*>(round_keys_);
  rounds_ = aes_ni::expand_key(key, rk);
  __m128i h = _mm_setzero_si128();
  aes_n<1>(rk, rounds_, &h);
  h = bswap128(h);
  auto* hp = reinterpret_cast<__m128i*>(h_powers_);
  hp[0] = h;
  for (int i = 1; i < kPowers; ++i) hp[i] = gfmul(hp[i - 1], h);
}

WEBTRUNK_AESNI void AesGcm::seal(const std::uint8_t (&iv)[kIvLen], std::span<const Aad> aad, std::byte* data,
                                 std::size_t n, std::byte* tag) const noexcept {
  const __m128i t = gcm<true>(reinterpret_cast<const __m128i*>(round_keys_), rounds_,
                              reinterpret_cast<const __m128i*>(h_powers_), iv, aad,
                              reinterpret_cast<std::uint8_t*>(data), n);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(tag), t);
}

WEBTRUNK_AESNI bool AesGcm::open(const std::uint8_t (&iv)[kIvLen], std::span<const Aad> aad, std::byte* data,
                                 std::size_t n, const std::byte* tag) const noexcept {
  alignas(16) std::uint8_t t[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(t),
                  gcm<false>(reinterpret_cast<const __m128i*>(round_keys_), rounds_,
                             reinterpret_cast<const __m128i*>(h_powers_), iv, aad,
                             reinterpret_cast<std::uint8_t*>(data), n));
  return CRYPTO_memcmp(t, tag, kTagLen) == 0;
}

#else  // not x86-64: never supported(), so the rest is never called

bool AesGcm::supported() noexcept { return false; }
void AesGcm::set_key(std::span<const std::uint8_t>) noexcept {}
void AesGcm::seal(const std::uint8_t (&)[kIvLen], std::span<const Aad>, std::byte*, std::size_t,
                  std::byte*) const noexcept {}
bool AesGcm::open(const std::uint8_t (&)[kIvLen], std::span<const Aad>, std::byte*, std::size_t,
                  const std::byte*) const noexcept {
  return false;
}

#endif

}  // namespace webtrunk::media

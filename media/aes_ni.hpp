// AES block encryption on AES-NI, for the files that build SRTP's ciphers on it (aes_gcm.cpp,
// aes_ctr.cpp): the key schedule and N blocks at a time. Internal: include only from a .cpp, and
// call only from functions that carry WEBTRUNK_AESNI, after aes_ni::supported() said yes. The
// target attribute (not -maes for the whole build) keeps the rest of the binary runnable on any
// x86-64 CPU.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WEBTRUNK_HAVE_AES_NI 1

#include <immintrin.h>

#include <cstdint>
#include <span>

#define WEBTRUNK_AESNI __attribute__((target("aes,pclmul,ssse3,sse4.1")))

namespace webtrunk::media::aes_ni {

// AES-NI, PCLMULQDQ, SSSE3 and SSE4.1: what every function here and in its users needs.
inline bool supported() noexcept {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("ssse3") &&
           __builtin_cpu_supports("sse4.1");
  }();
  return yes;
}

// AES over n blocks, round by round so that the blocks pipeline.
template <int N>
WEBTRUNK_AESNI inline void aes_n(const __m128i* rk, int rounds, __m128i* b) noexcept {
  for (int i = 0; i < N; ++i) b[i] = _mm_xor_si128(b[i], rk[0]);
  for (int r = 1; r < rounds; ++r) {
    for (int i = 0; i < N; ++i) b[i] = _mm_aesenc_si128(b[i], rk[r]);
  }
  for (int i = 0; i < N; ++i) b[i] = _mm_aesenclast_si128(b[i], rk[rounds]);
}

// aes_n for a count known only at run time (a packet's last chunk).
WEBTRUNK_AESNI inline void aes_any(const __m128i* rk, int rounds, __m128i* b, int n) noexcept {
  switch (n) {
    case 1: aes_n<1>(rk, rounds, b); break;
    case 2: aes_n<2>(rk, rounds, b); break;
    case 3: aes_n<3>(rk, rounds, b); break;
    case 4: aes_n<4>(rk, rounds, b); break;
    case 5: aes_n<5>(rk, rounds, b); break;
    case 6: aes_n<6>(rk, rounds, b); break;
    case 7: aes_n<7>(rk, rounds, b); break;
    default: aes_n<8>(rk, rounds, b); break;
  }
}

// FIPS 197 §5.2 key expansion with AESKEYGENASSIST (Intel's AES-NI white paper, rev. 3.01, §4).
WEBTRUNK_AESNI inline __m128i expand_step(__m128i k, __m128i assist) noexcept {
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 8));
  return _mm_xor_si128(k, assist);
}

template <int Rcon>
WEBTRUNK_AESNI inline __m128i expand128(__m128i k) noexcept {
  return expand_step(k, _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k, Rcon), 0xff));
}

WEBTRUNK_AESNI inline void expand_key128(const std::uint8_t* key, __m128i* rk) noexcept {
  rk[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  rk[1] = expand128<0x01>(rk[0]);
  rk[2] = expand128<0x02>(rk[1]);
  rk[3] = expand128<0x04>(rk[2]);
  rk[4] = expand128<0x08>(rk[3]);
  rk[5] = expand128<0x10>(rk[4]);
  rk[6] = expand128<0x20>(rk[5]);
  rk[7] = expand128<0x40>(rk[6]);
  rk[8] = expand128<0x80>(rk[7]);
  rk[9] = expand128<0x1b>(rk[8]);
  rk[10] = expand128<0x36>(rk[9]);
}

// AES-256: even round keys from the previous even one (RotWord+SubWord+Rcon), odd ones from the
// previous odd one (SubWord only).
template <int Rcon>
WEBTRUNK_AESNI inline void expand256(__m128i* rk, int i) noexcept {
  rk[i] = expand_step(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], Rcon), 0xff));
  if (i + 1 < 15) rk[i + 1] = expand_step(rk[i - 1], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i], 0), 0xaa));
}

WEBTRUNK_AESNI inline void expand_key256(const std::uint8_t* key, __m128i* rk) noexcept {
  rk[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  rk[1] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key + 16));
  expand256<0x01>(rk, 2);
  expand256<0x02>(rk, 4);
  expand256<0x04>(rk, 6);
  expand256<0x08>(rk, 8);
  expand256<0x10>(rk, 10);
  expand256<0x20>(rk, 12);
  expand256<0x40>(rk, 14);
}

// The round keys of a 16- or 32-byte key into rk[0..rounds]; returns the number of rounds.
WEBTRUNK_AESNI inline int expand_key(std::span<const std::uint8_t> key, __m128i* rk) noexcept {
  if (key.size() == 32) {
    expand_key256(key.data(), rk);
    return 14;
  }
  expand_key128(key.data(), rk);
  return 10;
}

}  // namespace webtrunk::media::aes_ni

#endif

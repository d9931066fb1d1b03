// AES counter mode on AES-NI (see aes_ctr.hpp).
#include "media/aes_ctr.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

#include "media/aes_ni.hpp"

namespace webtrunk::media {

AesCtr::~AesCtr() { OPENSSL_cleanse(round_keys_, sizeof round_keys_); }

#if defined(WEBTRUNK_HAVE_AES_NI)

bool AesCtr::supported() noexcept { return aes_ni::supported(); }

WEBTRUNK_AESNI void AesCtr::set_key(std::span<const std::uint8_t> key) noexcept {
  rounds_ = aes_ni::expand_key(key, reinterpret_cast<__m128i*>(round_keys_));
}

WEBTRUNK_AESNI bool AesCtr::xor_keystream(const std::uint8_t (&iv)[16], std::byte* data,
                                          std::size_t len) const noexcept {
  if (len > (std::size_t{1} << 20) || iv[14] != 0 || iv[15] != 0) return false;
  const auto* rk = reinterpret_cast<const __m128i*>(round_keys_);
  const __m128i base = _mm_loadu_si128(reinterpret_cast<const __m128i*>(iv));
  std::uint32_t block = 0;
  for (std::size_t off = 0; off < len; off += 128) {
    const std::size_t rem = std::min<std::size_t>(len - off, 128);
    const int blocks = static_cast<int>((rem + 15) / 16);
    __m128i ks[8];
    for (int i = 0; i < blocks; ++i, ++block) {
      // Block b is the IV with b, big-endian, in its last two bytes (16-bit lane 7).
      const auto be = static_cast<short>(((block & 0xff) << 8) | ((block >> 8) & 0xff));
      ks[i] = _mm_insert_epi16(base, be, 7);
    }
    if (blocks == 8) {
      aes_ni::aes_n<8>(rk, rounds_, ks);
    } else {
      aes_ni::aes_any(rk, rounds_, ks, blocks);
    }
    auto* p = reinterpret_cast<__m128i*>(data + off);
    const int full = static_cast<int>(rem / 16);
    for (int i = 0; i < full; ++i) _mm_storeu_si128(p + i, _mm_xor_si128(_mm_loadu_si128(p + i), ks[i]));
    if (full < blocks) {
      const std::size_t tail = rem % 16;
      std::byte* q = data + off + 16 * static_cast<std::size_t>(full);
      alignas(16) std::uint8_t t[16] = {};
      std::memcpy(t, q, tail);
      _mm_store_si128(reinterpret_cast<__m128i*>(t),
                      _mm_xor_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(t)), ks[full]));
      std::memcpy(q, t, tail);
    }
  }
  return true;
}

#else  // not x86-64: never supported()

bool AesCtr::supported() noexcept { return false; }
void AesCtr::set_key(std::span<const std::uint8_t>) noexcept {}
bool AesCtr::xor_keystream(const std::uint8_t (&)[16], std::byte*, std::size_t) const noexcept { return false; }

#endif

}  // namespace webtrunk::media

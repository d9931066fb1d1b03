// AES-GCM (NIST SP 800-38D) with a 12-byte IV and a 16-byte tag, on AES-NI and PCLMULQDQ, for
// SRTP's short packets (RFC 7714). OpenSSL 3's EVP costs ~250 ns for a 160-byte packet, most of
// it in per-call parameter dispatch (IV set, tag get or set), while the cipher and GHASH work is a
// fraction of that; this does the same work in ~70 ns (bench/RESULTS.md, SRTP). The key schedule
// and the powers of H are computed once per key; a packet costs only its blocks.
//
// Only for CPUs with AES-NI, PCLMULQDQ and SSE4.1 (`supported()`); elsewhere the SRTP transform
// uses EVP. Everything is in place; the object holds no pointers and no heap, and it is not
// thread-safe only in the sense that set_key must not race with use (seal/open are const).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace webtrunk::media {

class AesGcm {
 public:
  static constexpr std::size_t kIvLen = 12;
  static constexpr std::size_t kTagLen = 16;

  // A piece of additional authenticated data; the AAD is the pieces concatenated.
  struct Aad {
    const std::byte* p;
    std::size_t n;
  };

  // True if this CPU runs the code below (checked once, at the first call).
  [[nodiscard]] static bool supported() noexcept;

  AesGcm() = default;
  AesGcm(const AesGcm&) = delete;
  AesGcm& operator=(const AesGcm&) = delete;
  ~AesGcm();

  // A 16- or 32-byte AES key. Only when supported().
  void set_key(std::span<const std::uint8_t> key) noexcept;

  // Encrypts `n` bytes at `data` in place and writes the tag to `tag` (which may follow the data).
  void seal(const std::uint8_t (&iv)[kIvLen], std::span<const Aad> aad, std::byte* data, std::size_t n,
            std::byte* tag) const noexcept;

  // Checks `tag` and decrypts `n` bytes at `data` in place. False on a tag mismatch (compared in
  // constant time); the bytes at `data` are then unspecified.
  [[nodiscard]] bool open(const std::uint8_t (&iv)[kIvLen], std::span<const Aad> aad, std::byte* data,
                          std::size_t n, const std::byte* tag) const noexcept;

 private:
  static constexpr int kPowers = 8;  // blocks hashed per reduction
  alignas(16) std::uint8_t round_keys_[15][16] = {};
  alignas(16) std::uint8_t h_powers_[kPowers][16] = {};  // H^1..H^8, byte-reflected (see .cpp)
  int rounds_ = 0;
};

}  // namespace webtrunk::media

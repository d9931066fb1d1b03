// AES in counter mode as SRTP uses it (RFC 3711 §4.1.1: AES-CM for SRTP/SRTCP payloads and the
// key derivation of §4.3), on AES-NI: the round keys are expanded once per session key and a
// packet's counter blocks are encrypted eight at a time, round by round. OpenSSL's EVP does the
// same AES-NI rounds but pays its per-call dispatch (bench/RESULTS.md, SRTP). Only for CPUs where
// supported(); elsewhere the SRTP transform runs AES-ECB over counter blocks on EVP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace webtrunk::media {

class AesCtr {
 public:
  // True if this CPU runs the code below (checked once).
  [[nodiscard]] static bool supported() noexcept;

  AesCtr() = default;
  AesCtr(const AesCtr&) = delete;
  AesCtr& operator=(const AesCtr&) = delete;
  ~AesCtr();

  // A 16- or 32-byte AES key. Only when supported().
  void set_key(std::span<const std::uint8_t> key) noexcept;

  // XORs into `len` bytes at `data` the keystream that starts at counter block `iv`. SRTP's
  // counter only ever increments the IV's last 16 bits, which are zero at the start (RFC 3711
  // §4.1.1); so false, doing nothing, unless iv[14] == iv[15] == 0 and len <= 2^16 blocks.
  [[nodiscard]] bool xor_keystream(const std::uint8_t (&iv)[16], std::byte* data, std::size_t len) const noexcept;

 private:
  alignas(16) std::uint8_t round_keys_[15][16] = {};
  int rounds_ = 0;
};

}  // namespace webtrunk::media

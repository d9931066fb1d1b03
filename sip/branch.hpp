// Random identifiers for SIP: Via branches (RFC 3261 §8.1.1.7), From/To tags (§19.3) and Call-IDs
// (§8.1.1.4), from a fast non-cryptographic generator (xoshiro256**) seeded from getrandom(2).
//
// These values must be unique, not secret: a branch or a tag only has to be unlikely to collide
// (§19.3 asks for 32 bits of randomness; we use more than 60). Nothing here is used for auth.
//
// An IdGenerator is owned by one shard (no locks). The free functions use a generator private to
// the calling thread, seeded on first use. Every function returns a fresh std::string.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace webtrunk::sip {

// RFC 3261 §8.1.1.7: every branch we create starts with this, so peers know it is unique.
inline constexpr std::string_view kBranchMagicCookie = "z9hG4bK";

class IdGenerator {
 public:
  // Seeded from getrandom(2) (falls back to the clock and an address if the syscall fails).
  IdGenerator() noexcept;
  // A fixed seed, for tests and reproducible simulations.
  explicit IdGenerator(std::uint64_t seed) noexcept;

  // "z9hG4bK" + 20 characters of [0-9a-z] (~103 bits).
  [[nodiscard]] std::string branch();
  // 12 characters of [0-9a-z] (~62 bits).
  [[nodiscard]] std::string tag();
  // 24 characters of [0-9a-z] (~124 bits); a Call-ID needs no "@host" (RFC 3261 §20.8).
  [[nodiscard]] std::string call_id();
  // A first CSeq number for a new dialog: 1..2^16, leaving room below 2^31 (RFC 3261 §8.1.1.5).
  [[nodiscard]] std::uint32_t initial_cseq() noexcept;

  // Fills `out` with random characters of [0-9a-z].
  void fill(char* out, std::size_t n) noexcept;
  [[nodiscard]] std::uint64_t next() noexcept;

 private:
  std::array<std::uint64_t, 4> s_{};
};

// The calling thread's generator (each shard thread gets its own).
IdGenerator& thread_id_generator() noexcept;

[[nodiscard]] inline std::string new_branch() { return thread_id_generator().branch(); }
[[nodiscard]] inline std::string new_tag() { return thread_id_generator().tag(); }
[[nodiscard]] inline std::string new_call_id() { return thread_id_generator().call_id(); }

}  // namespace webtrunk::sip

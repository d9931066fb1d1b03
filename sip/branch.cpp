#include "sip/branch.hpp"

#include <sys/random.h>

#include <cerrno>
#include <chrono>

namespace webtrunk::sip {

namespace {

constexpr std::string_view kAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

}  // namespace

IdGenerator::IdGenerator() noexcept {
  std::uint64_t seed[4] = {};
  std::size_t got = 0;
  auto* p = reinterpret_cast<unsigned char*>(seed);
  while (got < sizeof seed) {
    const ssize_t n = ::getrandom(p + got, sizeof seed - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  if (got < sizeof seed) {
    // No getrandom: unique enough for branches and tags (they need not be secret).
    std::uint64_t x = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                      reinterpret_cast<std::uintptr_t>(this);
    for (auto& s : s_) s = splitmix64(x);
    return;
  }
  for (std::size_t i = 0; i < 4; ++i) s_[i] = seed[i];
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // xoshiro's one forbidden state
}

IdGenerator::IdGenerator(std::uint64_t seed) noexcept {
  for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t IdGenerator::next() noexcept {
  // xoshiro256** (Blackman & Vigna).
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void IdGenerator::fill(char* out, std::size_t n) noexcept {
  // 12 base-36 digits per 64-bit draw (36^12 < 2^63), so the tiny modulo bias stays irrelevant.
  while (n > 0) {
    std::uint64_t r = next();
    for (int i = 0; i < 12 && n > 0; ++i, --n) {
      *out++ = kAlphabet[r % 36];
      r /= 36;
    }
  }
}

std::string IdGenerator::branch() {
  std::string s(kBranchMagicCookie.size() + 20, '\0');
  s.replace(0, kBranchMagicCookie.size(), kBranchMagicCookie);
  fill(s.data() + kBranchMagicCookie.size(), 20);
  return s;
}

std::string IdGenerator::tag() {
  std::string s(12, '\0');
  fill(s.data(), s.size());
  return s;
}

std::string IdGenerator::call_id() {
  std::string s(24, '\0');
  fill(s.data(), s.size());
  return s;
}

std::uint32_t IdGenerator::initial_cseq() noexcept { return static_cast<std::uint32_t>(next() % 65536) + 1; }

IdGenerator& thread_id_generator() noexcept {
  thread_local IdGenerator gen;
  return gen;
}

}  // namespace webtrunk::sip

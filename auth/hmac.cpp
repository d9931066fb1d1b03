// OpenSSL 3 marks the low-level SHA*_Init/Update/Final deprecated but still ships them (and keeps
// their SHA-NI/AVX2 assembly). They are the only OpenSSL interface whose state is a plain struct,
// so a keyed HMAC state can be cloned by a copy instead of a provider dupctx (a malloc and a
// free per call). bench/micro/auth_token_bench.cpp compares the alternatives.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "auth/hmac.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstring>

namespace webtrunk::auth {
namespace {

static_assert(sizeof(SHA256_CTX) <= 128 && sizeof(SHA_CTX) <= 128, "grow HmacKey::kStateSize");
static_assert(alignof(SHA256_CTX) <= 16 && alignof(SHA_CTX) <= 16);

constexpr std::size_t kBlock = 64;  // both SHA-1 and SHA-256 hash 64-byte blocks (RFC 2104 B)

// The states live in raw storage; copy them in and out with memcpy (no aliasing questions).
template <class Ctx>
Ctx load_state(const unsigned char* p) noexcept {
  Ctx c;
  std::memcpy(&c, p, sizeof c);
  return c;
}

}  // namespace

std::string_view to_string(HmacAlgo a) noexcept { return a == HmacAlgo::sha1 ? "sha1" : "sha256"; }

HmacKey::HmacKey() noexcept { init(HmacAlgo::sha256, {}); }

HmacKey::HmacKey(HmacAlgo algo, std::span<const std::uint8_t> key) noexcept { init(algo, key); }

HmacKey::HmacKey(HmacAlgo algo, std::string_view key) noexcept {
  init(algo, {reinterpret_cast<const std::uint8_t*>(key.data()), key.size()});
}

HmacKey::HmacKey(const HmacKey& o) noexcept : algo_(o.algo_) { std::memcpy(st_, o.st_, sizeof st_); }

HmacKey& HmacKey::operator=(const HmacKey& o) noexcept {
  if (this != &o) {
    algo_ = o.algo_;
    std::memcpy(st_, o.st_, sizeof st_);
  }
  return *this;
}

HmacKey::~HmacKey() { wipe(); }

void HmacKey::wipe() noexcept { OPENSSL_cleanse(st_, sizeof st_); }

void HmacKey::init(HmacAlgo algo, std::span<const std::uint8_t> key) noexcept {
  algo_ = algo;
  // RFC 2104 §2: keys longer than the block are hashed first, shorter ones zero-padded.
  std::uint8_t k[kBlock] = {};
  if (key.size() > kBlock) {
    if (algo == HmacAlgo::sha1) {
      SHA1(key.data(), key.size(), k);
    } else {
      SHA256(key.data(), key.size(), k);
    }
  } else if (!key.empty()) {
    std::memcpy(k, key.data(), key.size());
  }
  std::uint8_t pad[kBlock];
  for (int which = 0; which < 2; ++which) {
    const std::uint8_t x = which == 0 ? 0x36 : 0x5c;  // ipad, opad
    for (std::size_t i = 0; i < kBlock; ++i) pad[i] = static_cast<std::uint8_t>(k[i] ^ x);
    if (algo == HmacAlgo::sha1) {
      SHA_CTX c;
      SHA1_Init(&c);
      SHA1_Update(&c, pad, kBlock);
      std::memcpy(st_[which], &c, sizeof c);
      OPENSSL_cleanse(&c, sizeof c);
    } else {
      SHA256_CTX c;
      SHA256_Init(&c);
      SHA256_Update(&c, pad, kBlock);
      std::memcpy(st_[which], &c, sizeof c);
      OPENSSL_cleanse(&c, sizeof c);
    }
  }
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
}

std::size_t HmacKey::mac(std::span<const std::uint8_t> msg, std::span<std::uint8_t, kMaxMacSize> out) const noexcept {
  return mac2(msg, {}, out);
}

std::size_t HmacKey::mac(std::string_view msg, std::span<std::uint8_t, kMaxMacSize> out) const noexcept {
  return mac2({reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()}, {}, out);
}

std::size_t HmacKey::mac2(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
                          std::span<std::uint8_t, kMaxMacSize> out) const noexcept {
  std::uint8_t inner[kMaxMacSize];
  if (algo_ == HmacAlgo::sha1) {
    auto c = load_state<SHA_CTX>(st_[0]);
    SHA1_Update(&c, a.data(), a.size());
    if (!b.empty()) SHA1_Update(&c, b.data(), b.size());
    SHA1_Final(inner, &c);
    c = load_state<SHA_CTX>(st_[1]);
    SHA1_Update(&c, inner, 20);
    SHA1_Final(out.data(), &c);
    return 20;
  }
  auto c = load_state<SHA256_CTX>(st_[0]);
  SHA256_Update(&c, a.data(), a.size());
  if (!b.empty()) SHA256_Update(&c, b.data(), b.size());
  SHA256_Final(inner, &c);
  c = load_state<SHA256_CTX>(st_[1]);
  SHA256_Update(&c, inner, 32);
  SHA256_Final(out.data(), &c);
  return 32;
}

bool ct_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool ct_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace webtrunk::auth

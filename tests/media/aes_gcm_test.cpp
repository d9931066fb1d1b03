// AesGcm against OpenSSL's AES-GCM (EVP) for every text length from 0 to 300 bytes (partial blocks,
// one and more eight-block chunks), AAD of 0 to 40 bytes split in two pieces at every point, both
// key sizes; and a published vector (McGrew and Viega, "The Galois/Counter Mode of Operation",
// test case 4, the one with AAD and a partial last block).
#include "media/aes_gcm.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <string>
#include <vector>

namespace webtrunk::media {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 29 + (i >> 3));
  return b;
}

// OpenSSL's ciphertext || tag.
Bytes evp_seal(const Bytes& key, const Bytes& iv, const Bytes& aad, const Bytes& text) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  const EVP_CIPHER* cipher = key.size() == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
  Bytes out(text.size() + 16);
  int n = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(c, cipher, nullptr, key.data(), iv.data()), 1);
  if (!aad.empty()) {
    EXPECT_EQ(EVP_EncryptUpdate(c, nullptr, &n, aad.data(), static_cast<int>(aad.size())), 1);
  }
  if (!text.empty()) {
    EXPECT_EQ(EVP_EncryptUpdate(c, out.data(), &n, text.data(), static_cast<int>(text.size())), 1);
  }
  EXPECT_EQ(EVP_EncryptFinal_ex(c, out.data() + text.size(), &n), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out.data() + text.size()), 1);
  EVP_CIPHER_CTX_free(c);
  return out;
}

std::string hex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

Bytes unhex(std::string_view s) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Seals `text` in place with AAD split at `split`; returns ciphertext || tag.
Bytes ours_seal(const AesGcm& g, const Bytes& iv, const Bytes& aad, std::size_t split, Bytes text) {
  const auto* a = reinterpret_cast<const std::byte*>(aad.data());
  const AesGcm::Aad pieces[2] = {{a, split}, {a + split, aad.size() - split}};
  std::uint8_t iv12[12];
  std::memcpy(iv12, iv.data(), 12);
  const std::size_t n = text.size();
  text.resize(n + 16);
  g.seal(iv12, pieces, reinterpret_cast<std::byte*>(text.data()), n, reinterpret_cast<std::byte*>(text.data() + n));
  return text;
}

class AesGcmTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  void SetUp() override {
    if (!AesGcm::supported()) GTEST_SKIP() << "no AES-NI and PCLMULQDQ on this CPU";
  }
};

TEST_P(AesGcmTest, SameBytesAsOpenSslForEveryLength) {
  const Bytes key = pattern(GetParam(), 3);
  AesGcm g;
  g.set_key(key);
  for (std::size_t len = 0; len <= 300; ++len) {
    const Bytes iv = pattern(12, static_cast<std::uint8_t>(len));
    const Bytes text = pattern(len, 101);
    const Bytes aad = pattern(len % 41, 55);
    const Bytes want = evp_seal(key, iv, aad, text);
    const Bytes got = ours_seal(g, iv, aad, (len * 7) % (aad.size() + 1), text);
    ASSERT_EQ(hex(got), hex(want)) << "text " << len << " aad " << aad.size();

    // And it opens in place: the plaintext comes back, and any flipped bit is refused.
    std::uint8_t iv12[12];
    std::memcpy(iv12, iv.data(), 12);
    const AesGcm::Aad pieces[1] = {{reinterpret_cast<const std::byte*>(aad.data()), aad.size()}};
    Bytes opened = got;
    ASSERT_TRUE(g.open(iv12, pieces, reinterpret_cast<std::byte*>(opened.data()), len,
                       reinterpret_cast<const std::byte*>(opened.data() + len)));
    opened.resize(len);
    ASSERT_EQ(hex(opened), hex(text)) << "text " << len;
    Bytes forged = got;
    forged[(len * 13) % forged.size()] ^= 0x20;
    EXPECT_FALSE(g.open(iv12, pieces, reinterpret_cast<std::byte*>(forged.data()), len,
                        reinterpret_cast<const std::byte*>(forged.data() + len)))
        << "text " << len;
  }
}

INSTANTIATE_TEST_SUITE_P(KeySizes, AesGcmTest, ::testing::Values(16, 32),
                         [](const auto& param_info) { return "Aes" + std::to_string(param_info.param * 8); });

TEST(AesGcm, McGreWViegaTestCase4) {
  if (!AesGcm::supported()) GTEST_SKIP() << "no AES-NI and PCLMULQDQ on this CPU";
  AesGcm g;
  g.set_key(unhex("feffe9928665731c6d6a8f9467308308"));
  const Bytes text = unhex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"
      "b16aedf5aa0de657ba637b39");
  const Bytes aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const Bytes got = ours_seal(g, unhex("cafebabefacedbaddecaf888"), aad, 0, text);
  EXPECT_EQ(hex(got),
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa05"
            "1ba30b396a0aac973d58e091"
            "5bc94fbc3221a5db94fae95ae7121a47");
}

}  // namespace
}  // namespace webtrunk::media

// Base64 as the token formats use it: RFC 4648 §10 vectors, the lenient bearer decoder and the
// strict nonce decoder.
#include "auth/base64.hpp"

#include <gtest/gtest.h>

#include <array>

namespace webtrunk::auth {
namespace {

std::span<const std::uint8_t> b(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string decode_lenient(std::string_view in) {
  std::array<std::uint8_t, 64> out{};
  auto n = base64_decode_lenient(in, out);
  return n ? std::string(reinterpret_cast<const char*>(out.data()), *n) : std::string("<bad>");
}

TEST(Base64, Rfc4648Vectors) {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* std_[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  const char* url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(base64_encode(b(plain[i])), std_[i]);
    EXPECT_EQ(base64url_encode(b(plain[i])), url[i]);
    EXPECT_EQ(decode_lenient(std_[i]), plain[i]);
    EXPECT_EQ(decode_lenient(url[i]), plain[i]);
  }
}

TEST(Base64, LenientRepairsAndRefusals) {
  EXPECT_EQ(decode_lenient("+/+/"), decode_lenient("-_-_"));
  EXPECT_EQ(decode_lenient(" / /"), decode_lenient("+/+/"));  // form-decoded '+'
  EXPECT_EQ(decode_lenient("Zg="), "<bad>");                  // wrong padding
  EXPECT_EQ(decode_lenient("Zm9v="), "<bad>");
  EXPECT_EQ(decode_lenient("Zg==="), "<bad>");
  EXPECT_EQ(decode_lenient("Z"), "<bad>");  // one leftover character
  EXPECT_EQ(decode_lenient("Zm9v\n"), "<bad>");
  EXPECT_EQ(decode_lenient("Zm=v"), "<bad>");
  std::array<std::uint8_t, 2> small{};
  EXPECT_FALSE(base64_decode_lenient("Zm9v", small));  // does not fit
}

TEST(Base64, StrictUrlIsCanonical) {
  std::array<std::uint8_t, 8> out{};
  EXPECT_EQ(base64url_decode_strict("Zg", out), 1u);
  EXPECT_FALSE(base64url_decode_strict("Zh", out));    // non-zero unused bits: a second spelling
  EXPECT_FALSE(base64url_decode_strict("Zg==", out));  // no padding
  EXPECT_FALSE(base64url_decode_strict("+/", out));    // std alphabet
}

}  // namespace
}  // namespace webtrunk::auth

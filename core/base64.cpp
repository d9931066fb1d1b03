#include "core/base64.hpp"

#include <openssl/evp.h>

#include <algorithm>

namespace webtrunk::core {
namespace {

bool is_b64_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

std::size_t base64_encode_to(std::span<const std::byte> bytes, std::span<char> out) noexcept {
  const std::size_t need = base64_encoded_size(bytes.size());
  if (out.size() < need || bytes.empty()) return 0;
  // EVP_EncodeBlock NUL-terminates, so encode whole groups in place and the tail via a small buffer.
  const std::size_t whole = bytes.size() / 3 * 3;
  std::size_t written = 0;
  // Chunks keep the int-typed OpenSSL length in range and leave room for the terminating NUL.
  constexpr std::size_t kChunk = 3 * 256;
  for (std::size_t off = 0; off < whole; off += kChunk) {
    const std::size_t n = std::min(kChunk, whole - off);
    char tmp[kChunk / 3 * 4 + 1];
    const int w = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(tmp),
                                  reinterpret_cast<const unsigned char*>(bytes.data() + off), static_cast<int>(n));
    for (int i = 0; i < w; ++i) out[written++] = tmp[i];
  }
  if (whole < bytes.size()) {
    char tmp[5];
    const int w = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(tmp),
                                  reinterpret_cast<const unsigned char*>(bytes.data() + whole),
                                  static_cast<int>(bytes.size() - whole));
    for (int i = 0; i < w; ++i) out[written++] = tmp[i];
  }
  return written;
}

std::string base64_encode(std::span<const std::byte> bytes) {
  std::string s(base64_encoded_size(bytes.size()), '\0');
  s.resize(base64_encode_to(bytes, s));
  return s;
}

std::optional<std::size_t> base64_decode_to(std::string_view text, std::span<std::byte> out) noexcept {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
  for (std::size_t i = 0; i < text.size() - pad; ++i) {
    if (!is_b64_char(text[i])) return std::nullopt;
  }
  const std::size_t raw = text.size() / 4 * 3;
  if (out.size() < raw) return std::nullopt;
  // Validated above, so EVP_DecodeBlock sees no whitespace to skip; it counts padding as zero bytes.
  constexpr std::size_t kChunk = 4 * 4096;
  std::size_t written = 0;
  for (std::size_t off = 0; off < text.size(); off += kChunk) {
    const std::size_t n = std::min(kChunk, text.size() - off);
    const int w = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                                  reinterpret_cast<const unsigned char*>(text.data() + off), static_cast<int>(n));
    if (w < 0) return std::nullopt;
    written += static_cast<std::size_t>(w);
  }
  return written - pad;
}

std::optional<std::vector<std::byte>> base64_decode(std::string_view text) {
  std::vector<std::byte> out(text.size() / 4 * 3);
  auto n = base64_decode_to(text, out);
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

}  // namespace webtrunk::core

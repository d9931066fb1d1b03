#include "auth/base64.hpp"

#include <array>

namespace webtrunk::auth {
namespace {

constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::uint8_t kBad = 0xff;

// Lenient table: both alphabets, and ' ' as '+' (auth.md §5.3).
constexpr std::array<std::uint8_t, 256> make_table(bool lenient) {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = kBad;
  for (std::uint8_t i = 0; i < 64; ++i) {
    t[static_cast<unsigned char>(kUrl[i])] = i;
    if (lenient) t[static_cast<unsigned char>(kStd[i])] = i;
  }
  if (lenient) t[' '] = 62;
  return t;
}
constexpr auto kLenient = make_table(true);
constexpr auto kUrlOnly = make_table(false);

std::size_t encode(std::span<const std::uint8_t> in, char* out, const char* alpha, bool pad) noexcept {
  std::size_t o = 0;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    out[o++] = alpha[(v >> 18) & 63];
    out[o++] = alpha[(v >> 12) & 63];
    out[o++] = alpha[(v >> 6) & 63];
    out[o++] = alpha[v & 63];
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16;
    out[o++] = alpha[(v >> 18) & 63];
    out[o++] = alpha[(v >> 12) & 63];
    if (pad) {
      out[o++] = '=';
      out[o++] = '=';
    }
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
    out[o++] = alpha[(v >> 18) & 63];
    out[o++] = alpha[(v >> 12) & 63];
    out[o++] = alpha[(v >> 6) & 63];
    if (pad) out[o++] = '=';
  }
  return o;
}

// Decodes `in` (no '=') with `table`. Rejects a final group of one character, and when `canonical`
// is set, non-zero unused bits.
std::optional<std::size_t> decode(std::string_view in, std::span<std::uint8_t> out,
                                  const std::array<std::uint8_t, 256>& table, bool canonical) noexcept {
  if (in.size() % 4 == 1) return std::nullopt;
  const std::size_t need = in.size() / 4 * 3 + (in.size() % 4 == 0 ? 0 : in.size() % 4 - 1);
  if (need > out.size()) return std::nullopt;
  std::size_t o = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    const std::uint8_t v = table[static_cast<unsigned char>(ch)];
    if (v == kBad) return std::nullopt;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = static_cast<std::uint8_t>(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (canonical && acc != 0) return std::nullopt;
  return o;
}

}  // namespace

std::size_t base64_encode(std::span<const std::uint8_t> in, char* out) noexcept { return encode(in, out, kStd, true); }

std::string base64_encode(std::span<const std::uint8_t> in) {
  std::string s(base64_padded_size(in.size()), '\0');
  base64_encode(in, s.data());
  return s;
}

std::size_t base64url_encode(std::span<const std::uint8_t> in, char* out) noexcept {
  return encode(in, out, kUrl, false);
}

std::string base64url_encode(std::span<const std::uint8_t> in) {
  std::string s(base64_unpadded_size(in.size()), '\0');
  base64url_encode(in, s.data());
  return s;
}

std::optional<std::size_t> base64_decode_lenient(std::string_view in, std::span<std::uint8_t> out) noexcept {
  // Padding is optional, but if present it must complete the last quantum exactly.
  std::size_t pads = 0;
  while (pads < 2 && pads < in.size() && in[in.size() - 1 - pads] == '=') ++pads;
  std::string_view body = in.substr(0, in.size() - pads);
  if (pads > 0 && (body.size() + pads) % 4 != 0) return std::nullopt;
  if (pads > 0 && body.size() % 4 == 0) return std::nullopt;
  return decode(body, out, kLenient, false);
}

std::optional<std::size_t> base64url_decode_strict(std::string_view in, std::span<std::uint8_t> out) noexcept {
  return decode(in, out, kUrlOnly, true);
}

}  // namespace webtrunk::auth

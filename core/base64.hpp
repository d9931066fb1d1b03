// Base64 (RFC 4648 §4, standard alphabet, '=' padding), on top of OpenSSL's EVP block coder.
// Used for Sec-WebSocket-Key/Accept (RFC 6455 §4.2.2); the decoder is strict so that a malformed
// key is rejected rather than silently "repaired" (OpenSSL's own decoder skips whitespace).
// Nothing here keeps a reference to its arguments: results are owned copies or written to `out`.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace webtrunk::core {

// Length of the padded encoding of `n` bytes.
constexpr std::size_t base64_encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

std::string base64_encode(std::span<const std::byte> bytes);

// Writes base64_encoded_size(bytes.size()) characters to `out` (no NUL); returns how many.
// `out` must be at least that large.
std::size_t base64_encode_to(std::span<const std::byte> bytes, std::span<char> out) noexcept;

// Strict decode: length a multiple of 4, only [A-Za-z0-9+/], '=' only as the last one or two
// characters. Returns the decoded size written to `out` (which needs text.size() / 4 * 3 bytes),
// or nullopt when the text is malformed or `out` is too small.
[[nodiscard]] std::optional<std::size_t> base64_decode_to(std::string_view text, std::span<std::byte> out) noexcept;

[[nodiscard]] std::optional<std::vector<std::byte>> base64_decode(std::string_view text);

}  // namespace webtrunk::core

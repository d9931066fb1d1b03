// Base64 as the token formats need it (RFC 4648).
// - Passwords are standard alphabet WITH padding, byte for byte what Kamailio's core/basex and
//   coturn produce (auth.md §1.2): in digest mode the exact string goes into HA1, so no leniency.
// - Nonces are base64url without padding (RFC 4648 §5): they sit in a quoted-string and in logs.
// - Bearer values (customer token keys, passwords sent in clear) are decoded leniently
//   (auth.md §5.3): std or url alphabet, padded or not, and ' ' read as '+' (a form decoder turned
//   '+' into a space; Voxbone's clearHmac repairs the same).
// Nothing here allocates except the std::string convenience overloads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace webtrunk::auth {

constexpr std::size_t base64_padded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }
constexpr std::size_t base64_unpadded_size(std::size_t n) noexcept { return (n * 4 + 2) / 3; }

// Writes base64_padded_size(in.size()) characters to out; returns that count.
std::size_t base64_encode(std::span<const std::uint8_t> in, char* out) noexcept;
std::string base64_encode(std::span<const std::uint8_t> in);
// URL-safe alphabet, no padding: writes base64_unpadded_size(in.size()) characters.
std::size_t base64url_encode(std::span<const std::uint8_t> in, char* out) noexcept;
std::string base64url_encode(std::span<const std::uint8_t> in);

// Lenient decode (see above). Returns the byte count written to out, or nullopt if the text is
// not base64 or does not fit. Padding, when present, must be correct; whitespace other than the
// ' '-for-'+' repair is rejected.
std::optional<std::size_t> base64_decode_lenient(std::string_view in, std::span<std::uint8_t> out) noexcept;

// Strict base64url without padding, as base64url_encode writes it (nonces): every character in the
// url alphabet, no '=', and unused trailing bits zero, so each byte string has one encoding.
std::optional<std::size_t> base64url_decode_strict(std::string_view in, std::span<std::uint8_t> out) noexcept;

}  // namespace webtrunk::auth

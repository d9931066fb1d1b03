// RFC 6455 §5 WebSocket framing: header parse with every check a server must make, in-place
// unmasking, UTF-8 validation (RFC 3629, as §8.1 requires for text), close payloads (§5.5.1,
// §7.4) and frame serialization. Sans-IO and allocation-free except the append_* writers, which
// append to the caller's vector. Nothing here keeps a pointer to its arguments; views returned
// (close reasons) point into the caller's payload and live as long as it does.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/http_head.hpp"  // ParseStatus

namespace webtrunk::core {

// RFC 6455 §5.2 opcodes. Values 3-7 and 0xB-0xF are reserved and rejected.
enum class WsOpcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

inline bool is_control(WsOpcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

// RFC 6455 §7.4.1 status codes used by this codebase.
inline constexpr std::uint16_t kWsCloseNormal = 1000;
inline constexpr std::uint16_t kWsCloseGoingAway = 1001;
inline constexpr std::uint16_t kWsCloseProtocolError = 1002;
inline constexpr std::uint16_t kWsCloseNoStatus = 1005;  // reported, never sent: the close had no code
inline constexpr std::uint16_t kWsCloseInvalidPayload = 1007;
inline constexpr std::uint16_t kWsClosePolicy = 1008;
inline constexpr std::uint16_t kWsCloseTooBig = 1009;
inline constexpr std::uint16_t kWsCloseInternalError = 1011;
inline constexpr std::uint16_t kWsCloseTryAgainLater = 1013;  // RFC 6455 §11.7 registry: "Try Again Later"

// §5.5: control frame payloads are at most 125 bytes; a close reason is that minus the 2-byte code.
inline constexpr std::size_t kWsMaxControlPayload = 125;
inline constexpr std::size_t kWsMaxCloseReason = 123;
// Largest header a server writes (unmasked, 64-bit length) and a client writes (plus the mask).
inline constexpr std::size_t kWsMaxServerHeader = 10;
inline constexpr std::size_t kWsMaxHeader = 14;

struct WsFrameHeader {
  bool fin = false;
  std::uint8_t rsv = 0;  // RSV1..RSV3 as bits 2..0
  WsOpcode opcode = WsOpcode::continuation;
  bool masked = false;
  std::array<std::byte, 4> mask{};
  std::uint8_t header_size = 0;  // 2..14 bytes before the payload
  std::uint64_t payload_size = 0;

  std::uint64_t frame_size() const noexcept { return header_size + payload_size; }
};

// What a receiver accepts. The defaults are a server's (§5.1: clients always mask) with no
// extension negotiated (§5.2: RSV bits must then be 0).
struct WsFrameRules {
  std::uint64_t max_payload = 65536;  // larger frames fail with 1009 before any byte is buffered
  bool require_mask = true;
  bool allow_rsv = false;
};

struct WsParseResult {
  ParseStatus status = ParseStatus::incomplete;
  std::uint16_t close_code = 0;  // when invalid: the §7.4.1 code to close with
  std::string_view why;          // when invalid: a static explanation, usable as the close reason
  std::size_t needed = 0;        // when incomplete: bytes needed before the header can be parsed
};

// Parses the frame header at the start of `bytes` (§5.2). The payload need not be present:
// callers compare header.frame_size() with what they hold. Violations are reported as soon as the
// bytes that show them have arrived, even if the header is not complete yet:
//   RSV bits set (1002), reserved opcode (1002), fragmented or >125-byte control frame (1002),
//   unmasked frame when require_mask (1002), 64-bit length with its top bit set (1002),
//   payload_size > rules.max_payload (1009).
// Non-minimal length encodings are accepted (§5.2 says MUST, but refusing them helps no one).
[[nodiscard]] WsParseResult parse_frame_header(std::span<const std::byte> bytes, const WsFrameRules& rules,
                                               WsFrameHeader& out) noexcept;

// XORs `payload` with the 4-byte masking key in place (§5.3). `offset` is the payload position of
// payload[0], for callers unmasking a payload in pieces. 8 bytes per step (unaligned-safe).
void ws_unmask(std::span<std::byte> payload, std::array<std::byte, 4> key, std::uint64_t offset = 0) noexcept;

// Incremental UTF-8 validator (RFC 3629 §4: no overlongs, no surrogates, nothing above U+10FFFF),
// so that a text message split over fragments fails at the first bad fragment (§8.1).
class Utf8Validator {
 public:
  // Feeds the next bytes; false once the input can no longer be valid UTF-8 (and from then on).
  bool feed(std::span<const std::byte> bytes) noexcept;
  // True when everything fed so far is valid and ends on a character boundary.
  bool complete() const noexcept { return !failed_ && need_ == 0; }
  void reset() noexcept { *this = Utf8Validator{}; }

 private:
  std::uint8_t need_ = 0;   // continuation bytes still expected
  std::uint8_t lo_ = 0x80;  // range of the next continuation byte
  std::uint8_t hi_ = 0xBF;
  bool failed_ = false;
};

bool is_valid_utf8(std::span<const std::byte> bytes) noexcept;
inline bool is_valid_utf8(std::string_view s) noexcept {
  return is_valid_utf8(std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
}

// Whether a close code may appear on the wire (§7.4.1, §7.4.2 and the IANA registry): 1000-1003,
// 1007-1014, 3000-4999. 1004, 1005, 1006 and 1015 are reserved for local reporting.
bool is_valid_close_code(std::uint16_t code) noexcept;

// Parses a close payload (§5.5.1). Returns 0 and sets code/reason (a view into `payload`) when
// valid; an empty payload gives kWsCloseNoStatus. Otherwise returns the code to fail with:
// 1002 for a 1-byte payload or an invalid code, 1007 for a reason that is not UTF-8.
[[nodiscard]] std::uint16_t parse_close_payload(std::span<const std::byte> payload, std::uint16_t& code,
                                                std::string_view& reason) noexcept;

// Writes an unmasked server header for a payload of `payload_size` bytes; returns its size (2..10).
std::size_t write_server_header(std::span<std::byte, kWsMaxServerHeader> out, WsOpcode op, std::uint64_t payload_size,
                                bool fin = true) noexcept;

// Appends a whole unmasked server frame (§5.1: servers never mask).
void append_server_frame(std::vector<std::byte>& out, WsOpcode op, std::span<const std::byte> payload, bool fin = true);
// Appends a close frame with `code` and `reason`, the reason cut to 123 bytes on a UTF-8 boundary.
void append_close_frame(std::vector<std::byte>& out, std::uint16_t code, std::string_view reason);
// Appends a masked client frame; for tests, fuzzers and the load generator's emulated browsers.
void append_client_frame(std::vector<std::byte>& out, WsOpcode op, std::span<const std::byte> payload,
                         std::array<std::byte, 4> key, bool fin = true);

}  // namespace webtrunk::core

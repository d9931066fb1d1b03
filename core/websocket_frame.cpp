#include "core/websocket_frame.hpp"

#include <cstring>

#include "core/bytes.hpp"

namespace webtrunk::core {
namespace {

WsParseResult fail(std::uint16_t code, std::string_view why) noexcept { return {ParseStatus::invalid, code, why, 0}; }
WsParseResult need(std::size_t n) noexcept { return {ParseStatus::incomplete, 0, {}, n}; }

bool is_known_opcode(std::uint8_t op) noexcept { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }

std::uint64_t load_u64(const std::byte* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store_u64(std::byte* p, std::uint64_t v) noexcept { std::memcpy(p, &v, sizeof v); }

// Length of the longest prefix of `reason` that fits `max` bytes without splitting a UTF-8 sequence.
std::size_t utf8_prefix(std::string_view reason, std::size_t max) noexcept {
  if (reason.size() <= max) return reason.size();
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;  // back to a lead byte
  return n;
}

}  // namespace

WsParseResult parse_frame_header(std::span<const std::byte> bytes, const WsFrameRules& rules,
                                 WsFrameHeader& out) noexcept {
  if (bytes.empty()) return need(2);
  // §5.2 byte 0: FIN, RSV1-3, opcode. Checked before byte 1 arrives so garbage fails at once.
  const auto b0 = std::to_integer<std::uint8_t>(bytes[0]);
  out.fin = (b0 & 0x80) != 0;
  out.rsv = static_cast<std::uint8_t>((b0 >> 4) & 0x7);
  const auto op = static_cast<std::uint8_t>(b0 & 0x0F);
  // §5.2: "MUST be 0 unless an extension is negotiated that defines meanings for non-zero values".
  if (out.rsv != 0 && !rules.allow_rsv) return fail(kWsCloseProtocolError, "RSV bits set without an extension");
  if (!is_known_opcode(op)) return fail(kWsCloseProtocolError, "reserved opcode");
  out.opcode = static_cast<WsOpcode>(op);
  // §5.5: "All control frames ... MUST NOT be fragmented."
  if (is_control(out.opcode) && !out.fin) return fail(kWsCloseProtocolError, "fragmented control frame");
  if (bytes.size() < 2) return need(2);

  // Byte 1: MASK and the 7-bit length.
  const auto b1 = std::to_integer<std::uint8_t>(bytes[1]);
  out.masked = (b1 & 0x80) != 0;
  // §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
  if (rules.require_mask && !out.masked) return fail(kWsCloseProtocolError, "unmasked client frame");
  const auto len7 = static_cast<std::uint8_t>(b1 & 0x7F);
  // §5.5: "All control frames MUST have a payload length of 125 bytes or less."
  if (is_control(out.opcode) && len7 > kWsMaxControlPayload) {
    return fail(kWsCloseProtocolError, "control frame longer than 125 bytes");
  }
  const std::size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  const std::size_t header = 2 + ext + (out.masked ? 4 : 0);
  if (len7 == 127 && bytes.size() >= 3 && (std::to_integer<std::uint8_t>(bytes[2]) & 0x80) != 0) {
    // §5.2: "the most significant bit MUST be 0" for the 64-bit length.
    return fail(kWsCloseProtocolError, "64-bit length with the top bit set");
  }
  // The length is checked as soon as its bytes are here, before the mask key, so that an
  // oversized frame is refused before anything of it is buffered.
  if (bytes.size() < 2 + ext) return need(header);
  if (len7 == 126) {
    out.payload_size = load_be16(bytes.data() + 2);
  } else if (len7 == 127) {
    out.payload_size = load_be64(bytes.data() + 2);
  } else {
    out.payload_size = len7;
  }
  if (out.payload_size > rules.max_payload) return fail(kWsCloseTooBig, "frame too large");
  if (bytes.size() < header) return need(header);
  if (out.masked) std::memcpy(out.mask.data(), bytes.data() + 2 + ext, 4);
  out.header_size = static_cast<std::uint8_t>(header);
  return {ParseStatus::ok, 0, {}, 0};
}

void ws_unmask(std::span<std::byte> payload, std::array<std::byte, 4> key, std::uint64_t offset) noexcept {
  // Rotate the key so that key[0] applies to payload[0], then repeat it into 64 bits in memory
  // order: XOR through memcpy'd words is then independent of endianness and alignment.
  std::array<std::byte, 8> k8{};
  for (std::size_t i = 0; i < 8; ++i) k8[i] = key[(i + offset) & 3];
  const std::uint64_t k = load_u64(k8.data());

  std::byte* p = payload.data();
  std::size_t n = payload.size();
  // Two words per step keeps both load ports busy; the compiler turns this into SIMD where it can.
  while (n >= 16) {
    store_u64(p, load_u64(p) ^ k);
    store_u64(p + 8, load_u64(p + 8) ^ k);
    p += 16;
    n -= 16;
  }
  if (n >= 8) {
    store_u64(p, load_u64(p) ^ k);
    p += 8;
    n -= 8;
  }
  for (std::size_t i = 0; i < n; ++i) p[i] ^= k8[i];
}

bool Utf8Validator::feed(std::span<const std::byte> bytes) noexcept {
  if (failed_) return false;
  const std::byte* p = bytes.data();
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    if (need_ == 0) {
      // ASCII fast path: SIP is almost all ASCII, so skip 8 bytes at a time while no high bit is set.
      while (i + 8 <= n && (load_u64(p + i) & 0x8080808080808080ULL) == 0) i += 8;
      if (i == n) break;
      const auto b = std::to_integer<std::uint8_t>(p[i++]);
      if (b < 0x80) continue;
      // RFC 3629 §4 table: C0, C1 and F5..FF never appear; E0, ED, F0, F4 narrow the next byte.
      if (b < 0xC2) {
        failed_ = true;
      } else if (b < 0xE0) {
        need_ = 1;
      } else if (b < 0xF0) {
        need_ = 2;
        lo_ = b == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F would be overlong
        hi_ = b == 0xED ? 0x9F : 0xBF;  // ED A0..BF would be a surrogate
      } else if (b < 0xF5) {
        need_ = 3;
        lo_ = b == 0xF0 ? 0x90 : 0x80;  // F0 80..8F would be overlong
        hi_ = b == 0xF4 ? 0x8F : 0xBF;  // F4 90.. would be above U+10FFFF
      } else {
        failed_ = true;
      }
      if (failed_) return false;
    } else {
      const auto b = std::to_integer<std::uint8_t>(p[i++]);
      if (b < lo_ || b > hi_) {
        failed_ = true;
        return false;
      }
      lo_ = 0x80;
      hi_ = 0xBF;
      --need_;
    }
  }
  return true;
}

bool is_valid_utf8(std::span<const std::byte> bytes) noexcept {
  Utf8Validator v;
  return v.feed(bytes) && v.complete();
}

bool is_valid_close_code(std::uint16_t code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

std::uint16_t parse_close_payload(std::span<const std::byte> payload, std::uint16_t& code,
                                  std::string_view& reason) noexcept {
  reason = {};
  if (payload.empty()) {
    code = kWsCloseNoStatus;  // §7.1.5: no status code was present
    return 0;
  }
  if (payload.size() == 1) return kWsCloseProtocolError;  // §5.5.1: a body starts with a 2-byte code
  code = load_be16(payload.data());
  if (!is_valid_close_code(code)) return kWsCloseProtocolError;
  auto text = payload.subspan(2);
  if (!is_valid_utf8(text)) return kWsCloseInvalidPayload;  // §5.5.1: the reason is UTF-8
  reason = {reinterpret_cast<const char*>(text.data()), text.size()};
  return 0;
}

std::size_t write_server_header(std::span<std::byte, kWsMaxServerHeader> out, WsOpcode op, std::uint64_t payload_size,
                                bool fin) noexcept {
  out[0] = static_cast<std::byte>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(op));
  // §5.2: the minimal length encoding.
  if (payload_size < 126) {
    out[1] = static_cast<std::byte>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = std::byte{126};
    store_be16(out.data() + 2, static_cast<std::uint16_t>(payload_size));
    return 4;
  }
  out[1] = std::byte{127};
  store_be64(out.data() + 2, payload_size);
  return 10;
}

void append_server_frame(std::vector<std::byte>& out, WsOpcode op, std::span<const std::byte> payload, bool fin) {
  std::array<std::byte, kWsMaxServerHeader> h;
  const std::size_t n = write_server_header(h, op, payload.size(), fin);
  out.reserve(out.size() + n + payload.size());
  out.insert(out.end(), h.begin(), h.begin() + static_cast<std::ptrdiff_t>(n));
  out.insert(out.end(), payload.begin(), payload.end());
}

void append_close_frame(std::vector<std::byte>& out, std::uint16_t code, std::string_view reason) {
  std::array<std::byte, 2 + kWsMaxCloseReason> body;
  store_be16(body.data(), code);
  const std::size_t n = utf8_prefix(reason, kWsMaxCloseReason);
  if (n > 0) std::memcpy(body.data() + 2, reason.data(), n);  // reason.data() may be null when empty
  append_server_frame(out, WsOpcode::close, std::span<const std::byte>(body.data(), 2 + n));
}

void append_client_frame(std::vector<std::byte>& out, WsOpcode op, std::span<const std::byte> payload,
                         std::array<std::byte, 4> key, bool fin) {
  std::array<std::byte, kWsMaxServerHeader> h;
  const std::size_t n = write_server_header(h, op, payload.size(), fin);
  h[1] |= std::byte{0x80};  // MASK bit
  const std::size_t start = out.size();
  out.reserve(start + n + 4 + payload.size());
  out.insert(out.end(), h.begin(), h.begin() + static_cast<std::ptrdiff_t>(n));
  out.insert(out.end(), key.begin(), key.end());
  out.insert(out.end(), payload.begin(), payload.end());
  ws_unmask(std::span<std::byte>(out.data() + start + n + 4, payload.size()), key);  // masking is the same XOR
}

}  // namespace webtrunk::core

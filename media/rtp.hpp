// RTP and RTCP views (RFC 3550): classify a datagram on the browser's port, read and rewrite the
// few RTP header fields the relay touches, check a compound RTCP packet, and write RFC 4733 DTMF.
// Nothing here copies or allocates; every function reads or writes only the span it is given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace webtrunk::media {

// RFC 7983 §7 by the first byte (0-3 STUN, 20-63 DTLS, 128-191 RTP/RTCP), then RFC 5761 §4 by
// the second: payload types 64-95 with the marker bit (bytes 192-223) are RTCP. ZRTP, TURN
// channels and anything else are `unknown`.
enum class PacketClass : std::uint8_t { stun, dtls, rtp, rtcp, unknown };
PacketClass classify(std::span<const std::byte> pkt) noexcept;

struct RtpHeader {
  std::uint8_t payload_type = 0;
  bool marker = false;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  std::size_t header_len = 0;   // fixed header + CSRCs + extension: where the payload starts
  std::size_t payload_len = 0;  // up to the padding (RFC 3550 §5.1 P bit), if any
};

// Validates version 2, the CSRC count, the extension length and the padding count against the
// packet's length. Parse after SRTP unprotect: in an SRTP packet the padding is encrypted.
std::optional<RtpHeader> parse_rtp(std::span<const std::byte> pkt) noexcept;

// Rewrites in place; the packet must hold at least the 12-byte fixed header (else no-op).
void set_payload_type(std::span<std::byte> pkt, std::uint8_t pt) noexcept;  // keeps the marker bit
void set_sequence(std::span<std::byte> pkt, std::uint16_t seq) noexcept;

// A compound RTCP packet (RFC 3550 §6.4.1 validity checks): every part is version 2 with an RTCP
// payload type (192-223), their lengths add up to the datagram exactly, and only the last part
// may carry padding, whose count fits inside it.
bool valid_rtcp(std::span<const std::byte> pkt) noexcept;

// RFC 4733 §3.2: the event code of a DTMF digit ('0'-'9' -> 0-9, '*' 10, '#' 11, 'A'-'D' 12-15;
// lower case a-d too).
std::optional<std::uint8_t> dtmf_event(char digit) noexcept;

inline constexpr std::size_t kDtmfPacketLen = 12 + 4;
// Writes one RTP packet carrying a telephone-event payload (RFC 4733 §2.3); returns its length
// (kDtmfPacketLen), or 0 if `out` is shorter. `volume` is clamped to 0-63 (-dBm0).
std::size_t write_dtmf_packet(std::span<std::byte> out, std::uint8_t pt, bool marker, std::uint16_t seq,
                              std::uint32_t timestamp, std::uint32_t ssrc, std::uint8_t event, bool end,
                              std::uint8_t volume, std::uint16_t duration) noexcept;

}  // namespace webtrunk::media

#include "media/rtp.hpp"

#include "core/bytes.hpp"

namespace webtrunk::media {
namespace {

constexpr std::size_t kRtpFixed = 12;
constexpr std::size_t kRtcpFixed = 4;  // V/P/count, PT, length

unsigned byte_at(std::span<const std::byte> p, std::size_t i) noexcept { return std::to_integer<unsigned>(p[i]); }

}  // namespace

PacketClass classify(std::span<const std::byte> pkt) noexcept {
  if (pkt.empty()) return PacketClass::unknown;
  const unsigned b = byte_at(pkt, 0);
  if (b <= 3) return PacketClass::stun;
  if (b >= 20 && b <= 63) return PacketClass::dtls;
  if (b >= 128 && b <= 191) {
    if (pkt.size() < 2) return PacketClass::unknown;
    const unsigned pt = byte_at(pkt, 1);
    return pt >= 192 && pt <= 223 ? PacketClass::rtcp : PacketClass::rtp;
  }
  return PacketClass::unknown;  // 16-19 ZRTP, 64-79 TURN channels, the rest reserved
}

std::optional<RtpHeader> parse_rtp(std::span<const std::byte> pkt) noexcept {
  if (pkt.size() < kRtpFixed) return std::nullopt;
  const unsigned b0 = byte_at(pkt, 0);
  if ((b0 >> 6) != 2) return std::nullopt;
  std::size_t h = kRtpFixed + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {  // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in words
    if (pkt.size() < h + 4) return std::nullopt;
    h += 4 + 4 * std::size_t{core::load_be16(pkt.data() + h + 2)};
  }
  if (pkt.size() < h) return std::nullopt;
  std::size_t end = pkt.size();
  if (b0 & 0x20) {  // the last byte counts the padding, itself included
    const unsigned pad = byte_at(pkt, pkt.size() - 1);
    if (pad == 0 || pkt.size() - h < pad) return std::nullopt;
    end -= pad;
  }
  RtpHeader r;
  r.payload_type = static_cast<std::uint8_t>(byte_at(pkt, 1) & 0x7f);
  r.marker = (byte_at(pkt, 1) & 0x80) != 0;
  r.seq = core::load_be16(pkt.data() + 2);
  r.timestamp = core::load_be32(pkt.data() + 4);
  r.ssrc = core::load_be32(pkt.data() + 8);
  r.header_len = h;
  r.payload_len = end - h;
  return r;
}

void set_payload_type(std::span<std::byte> pkt, std::uint8_t pt) noexcept {
  if (pkt.size() < kRtpFixed) return;
  pkt[1] = (pkt[1] & std::byte{0x80}) | static_cast<std::byte>(pt & 0x7f);
}

void set_sequence(std::span<std::byte> pkt, std::uint16_t seq) noexcept {
  if (pkt.size() < kRtpFixed) return;
  core::store_be16(pkt.data() + 2, seq);
}

bool valid_rtcp(std::span<const std::byte> pkt) noexcept {
  if (pkt.size() < kRtcpFixed) return false;
  std::size_t at = 0;
  // Bounded: every part advances by at least 4 bytes.
  while (at < pkt.size()) {
    if (pkt.size() - at < kRtcpFixed) return false;
    const unsigned b0 = byte_at(pkt, at);
    const unsigned pt = byte_at(pkt, at + 1);
    if ((b0 >> 6) != 2 || pt < 192 || pt > 223) return false;
    const std::size_t part = 4 * (std::size_t{core::load_be16(pkt.data() + at + 2)} + 1);
    if (pkt.size() - at < part) return false;
    const bool last = at + part == pkt.size();
    if (b0 & 0x20) {
      if (!last) return false;
      const unsigned pad = byte_at(pkt, pkt.size() - 1);
      if (pad == 0 || pad > part - kRtcpFixed) return false;
    }
    at += part;
  }
  return true;
}

std::optional<std::uint8_t> dtmf_event(char digit) noexcept {
  if (digit >= '0' && digit <= '9') return static_cast<std::uint8_t>(digit - '0');
  if (digit == '*') return std::uint8_t{10};
  if (digit == '#') return std::uint8_t{11};
  if (digit >= 'A' && digit <= 'D') return static_cast<std::uint8_t>(12 + (digit - 'A'));
  if (digit >= 'a' && digit <= 'd') return static_cast<std::uint8_t>(12 + (digit - 'a'));
  return std::nullopt;
}

std::size_t write_dtmf_packet(std::span<std::byte> out, std::uint8_t pt, bool marker, std::uint16_t seq,
                              std::uint32_t timestamp, std::uint32_t ssrc, std::uint8_t event, bool end,
                              std::uint8_t volume, std::uint16_t duration) noexcept {
  if (out.size() < kDtmfPacketLen) return 0;
  std::byte* p = out.data();
  p[0] = std::byte{0x80};
  p[1] = static_cast<std::byte>((marker ? 0x80 : 0) | (pt & 0x7f));
  core::store_be16(p + 2, seq);
  core::store_be32(p + 4, timestamp);
  core::store_be32(p + 8, ssrc);
  // RFC 4733 §2.3: event | E R volume(6) | duration (in timestamp units).
  p[12] = static_cast<std::byte>(event);
  p[13] = static_cast<std::byte>((end ? 0x80 : 0) | (volume > 63 ? 63 : volume));
  core::store_be16(p + 14, duration);
  return kDtmfPacketLen;
}

}  // namespace webtrunk::media

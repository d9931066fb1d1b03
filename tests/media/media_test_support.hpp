// What the relay's tests share: the emulated browser's ICE credentials, an RTP packet writer and
// the codec map of a typical call (Opus, PCMU, telephone-event with different numbers per leg).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.hpp"
#include "media/types.hpp"

namespace webtrunk::media::test {

inline IceCredentials browser_ice() { return IceCredentials{"brWs", "browserpasswordbrowserpw"}; }

// Writes an RTP packet (12-byte header) with `payload_len` bytes of a pattern after it.
inline std::size_t write_rtp(std::span<std::byte> out, std::uint8_t pt, bool marker, std::uint16_t seq,
                             std::uint32_t ts, std::uint32_t ssrc, std::size_t payload_len) {
  out[0] = std::byte{0x80};
  out[1] = static_cast<std::byte>((marker ? 0x80 : 0) | pt);
  core::store_be16(out.data() + 2, seq);
  core::store_be32(out.data() + 4, ts);
  core::store_be32(out.data() + 8, ssrc);
  for (std::size_t i = 0; i < payload_len; ++i) out[12 + i] = static_cast<std::byte>((seq + i) & 0xff);
  return 12 + payload_len;
}

// Browser Opus 111 / trunk 96, PCMU 0 both, telephone-event browser 126 / trunk 101.
inline CodecMap opus_pcmu_dtmf() {
  CodecMap m;
  m.codecs.push_back(CodecMapping{111, 96, 48000, "opus"});
  m.codecs.push_back(CodecMapping{0, 0, 8000, "PCMU"});
  m.codecs.push_back(CodecMapping{126, 101, 8000, "telephone-event"});
  m.trunk_dtmf_pt = 101;
  m.browser_dtmf_pt = 126;
  return m;
}

}  // namespace webtrunk::media::test

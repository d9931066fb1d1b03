// RTP/RTCP views: the RFC 7983 demux ranges, RTP headers with CSRCs, extensions and padding,
// malformed lengths, compound RTCP, and RFC 4733 DTMF packets.
#include "media/rtp.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace webtrunk::media {
namespace {

using Bytes = std::vector<std::byte>;

Bytes bytes(std::initializer_list<int> v) {
  Bytes out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

TEST(RtpClassify, Rfc7983FirstByteRangesThenRfc5761PayloadTypes) {
  for (int b = 0; b < 256; ++b) {
    const Bytes p = bytes({b, 0x00, 0, 0});
    const PacketClass c = classify(p);
    if (b <= 3) {
      EXPECT_EQ(c, PacketClass::stun) << b;
    } else if (b >= 20 && b <= 63) {
      EXPECT_EQ(c, PacketClass::dtls) << b;
    } else if (b >= 128 && b <= 191) {
      EXPECT_EQ(c, PacketClass::rtp) << b;
    } else {
      EXPECT_EQ(c, PacketClass::unknown) << b;  // ZRTP 16-19, TURN channels 64-79, reserved
    }
  }
  // RFC 5761 §4: the second byte 192-223 is RTCP (SR 200, RR 201, ... ), the rest RTP.
  EXPECT_EQ(classify(bytes({0x80, 191})), PacketClass::rtp);  // PT 63 with the marker
  EXPECT_EQ(classify(bytes({0x80, 192})), PacketClass::rtcp);
  EXPECT_EQ(classify(bytes({0x81, 200})), PacketClass::rtcp);
  EXPECT_EQ(classify(bytes({0x80, 223})), PacketClass::rtcp);
  EXPECT_EQ(classify(bytes({0x80, 224})), PacketClass::rtp);  // PT 96 with the marker
  EXPECT_EQ(classify(bytes({0x80, 111})), PacketClass::rtp);  // Opus
  EXPECT_EQ(classify(bytes({0x80})), PacketClass::unknown);
  EXPECT_EQ(classify({}), PacketClass::unknown);
}

Bytes rtp(unsigned csrcs, int ext_words, int pad, std::size_t payload) {
  Bytes b = bytes({0x80 | (ext_words >= 0 ? 0x10 : 0) | (pad ? 0x20 : 0) | static_cast<int>(csrcs), 0x80 | 0,
                   0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe});
  for (unsigned i = 0; i < 4 * csrcs; ++i) b.push_back(std::byte{0xcc});
  if (ext_words >= 0) {
    for (int x : {0xbe, 0xde, 0, ext_words}) b.push_back(static_cast<std::byte>(x));
    for (int i = 0; i < 4 * ext_words; ++i) b.push_back(std::byte{0xee});
  }
  for (std::size_t i = 0; i < payload; ++i) b.push_back(std::byte{0x55});
  for (int i = 0; i < pad; ++i) b.push_back(i == pad - 1 ? static_cast<std::byte>(pad) : std::byte{0});
  return b;
}

TEST(RtpParse, FixedHeader) {
  const auto h = parse_rtp(rtp(0, -1, 0, 160));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->payload_type, 0);
  EXPECT_TRUE(h->marker);
  EXPECT_EQ(h->seq, 0x1234);
  EXPECT_EQ(h->timestamp, 0xdeadbeef);
  EXPECT_EQ(h->ssrc, 0xcafebabe);
  EXPECT_EQ(h->header_len, 12u);
  EXPECT_EQ(h->payload_len, 160u);
}

TEST(RtpParse, CsrcsExtensionAndPadding) {
  const auto h = parse_rtp(rtp(3, 2, 4, 20));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->header_len, 12u + 12 + 4 + 8);
  EXPECT_EQ(h->payload_len, 20u);
  const auto e = parse_rtp(rtp(0, 0, 0, 0));  // an empty extension and no payload
  ASSERT_TRUE(e);
  EXPECT_EQ(e->header_len, 16u);
  EXPECT_EQ(e->payload_len, 0u);
}

TEST(RtpParse, MalformedLengthsAreRefused) {
  EXPECT_FALSE(parse_rtp(bytes({0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})));  // 11 bytes
  Bytes v1 = rtp(0, -1, 0, 10);
  v1[0] = std::byte{0x40};
  EXPECT_FALSE(parse_rtp(v1));  // version 1
  Bytes cc = rtp(0, -1, 0, 10);
  cc[0] = std::byte{0x85};  // 5 CSRCs (20 bytes) in a 10-byte payload
  EXPECT_FALSE(parse_rtp(cc));
  Bytes ext = rtp(0, 1, 0, 0);
  ext[15] = std::byte{2};  // the extension claims 2 words, 1 is there
  EXPECT_FALSE(parse_rtp(ext));
  Bytes ext_head = rtp(0, -1, 0, 2);
  ext_head[0] = std::byte{0x90};  // X set, but not even the extension header fits
  EXPECT_FALSE(parse_rtp(ext_head));
  Bytes pad0 = rtp(0, -1, 1, 10);
  pad0.back() = std::byte{0};  // padding count 0
  EXPECT_FALSE(parse_rtp(pad0));
  Bytes pad_big = rtp(0, -1, 1, 10);
  pad_big.back() = std::byte{12};  // more padding than payload
  EXPECT_FALSE(parse_rtp(pad_big));
  Bytes pad_all = rtp(0, -1, 1, 10);
  pad_all.back() = std::byte{11};  // the whole payload is padding: allowed
  ASSERT_TRUE(parse_rtp(pad_all));
  EXPECT_EQ(parse_rtp(pad_all)->payload_len, 0u);
}

TEST(RtpRewrite, PayloadTypeKeepsTheMarkerAndSequenceIsBigEndian) {
  Bytes p = rtp(0, -1, 0, 4);
  set_payload_type(p, 101);
  set_sequence(p, 0xabcd);
  auto h = parse_rtp(p);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->payload_type, 101);
  EXPECT_TRUE(h->marker);
  EXPECT_EQ(h->seq, 0xabcd);
  p[1] = std::byte{8};  // no marker
  set_payload_type(p, 0);
  EXPECT_EQ(p[1], std::byte{0});
  Bytes tiny = bytes({0x80, 0});
  set_sequence(tiny, 1);  // too short: untouched
  EXPECT_EQ(tiny, bytes({0x80, 0}));
}

// An RR (2 words after the header) followed by an SDES, optionally padded at the end.
Bytes compound(int pad) {
  Bytes b = bytes({0x80, 201, 0, 1, 1, 2, 3, 4});
  const int sdes_words = 2 + (pad ? 1 : 0);
  for (int x : {0x81 | (pad ? 0x20 : 0), 202, 0, sdes_words, 1, 2, 3, 4, 1, 1, int{'x'}, 0}) b.push_back(static_cast<std::byte>(x));
  if (pad) {
    for (int x : {0, 0, 0, 4}) b.push_back(static_cast<std::byte>(x));
  }
  return b;
}

TEST(RtcpValidate, CompoundLengthsMustAddUp) {
  EXPECT_TRUE(valid_rtcp(compound(0)));
  EXPECT_TRUE(valid_rtcp(compound(4)));
  Bytes longer = compound(0);
  longer.push_back(std::byte{0});
  EXPECT_FALSE(valid_rtcp(longer));  // a stray byte after the last part
  Bytes shorter = compound(0);
  shorter.pop_back();
  EXPECT_FALSE(valid_rtcp(shorter));  // the SDES runs past the end
  Bytes bad_pt = compound(0);
  bad_pt[1] = std::byte{96};
  EXPECT_FALSE(valid_rtcp(bad_pt));
  Bytes bad_version = compound(0);
  bad_version[8] = std::byte{0x41};
  EXPECT_FALSE(valid_rtcp(bad_version));
  Bytes pad_first = compound(0);
  pad_first[0] |= std::byte{0x20};  // padding only on the last part
  EXPECT_FALSE(valid_rtcp(pad_first));
  Bytes pad_too_big = compound(4);
  pad_too_big.back() = std::byte{13};
  EXPECT_FALSE(valid_rtcp(pad_too_big));
  EXPECT_FALSE(valid_rtcp(bytes({0x80, 200, 0})));
  EXPECT_FALSE(valid_rtcp({}));
}

TEST(Dtmf, Rfc4733EventCodes) {
  EXPECT_EQ(dtmf_event('0'), 0);
  EXPECT_EQ(dtmf_event('9'), 9);
  EXPECT_EQ(dtmf_event('*'), 10);
  EXPECT_EQ(dtmf_event('#'), 11);
  EXPECT_EQ(dtmf_event('A'), 12);
  EXPECT_EQ(dtmf_event('D'), 15);
  EXPECT_EQ(dtmf_event('d'), 15);
  EXPECT_FALSE(dtmf_event('E'));
  EXPECT_FALSE(dtmf_event(' '));
}

TEST(Dtmf, WritesATelephoneEventPacket) {
  Bytes out(20);
  const std::size_t n = write_dtmf_packet(out, 101, true, 7, 16000, 0x01020304, 11, true, 10, 800);
  ASSERT_EQ(n, kDtmfPacketLen);
  out.resize(n);
  EXPECT_EQ(out, bytes({0x80, 0x80 | 101, 0, 7, 0, 0, 0x3e, 0x80, 1, 2, 3, 4, 11, 0x80 | 10, 0x03, 0x20}));
  const auto h = parse_rtp(out);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->payload_type, 101);
  EXPECT_EQ(h->payload_len, 4u);
  Bytes small(15);
  EXPECT_EQ(write_dtmf_packet(small, 101, false, 0, 0, 0, 1, false, 10, 0), 0u);
}

}  // namespace
}  // namespace webtrunk::media

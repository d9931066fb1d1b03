#include "core/websocket_frame.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/base64.hpp"

namespace webtrunk::core {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}
std::span<const std::byte> as_span(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
std::vector<std::byte> as_vec(std::string_view s) {
  auto p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}
std::string as_string(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

constexpr WsFrameRules kClientRules{1 << 20, /*require_mask=*/false, false};  // reading server frames
constexpr std::array<std::byte, 4> kRfcKey{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21}, std::byte{0x3d}};

// The masked "Hello" of RFC 6455 §5.7.
const std::vector<std::byte> kMaskedHello = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});

TEST(WebSocketFrame, Rfc6455Section57UnmaskedHello) {
  const auto f = bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  WsFrameHeader h;
  auto r = parse_frame_header(f, kClientRules, h);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.opcode, WsOpcode::text);
  EXPECT_FALSE(h.masked);
  EXPECT_EQ(h.header_size, 2);
  EXPECT_EQ(h.payload_size, 5u);
  EXPECT_EQ(as_string(std::span(f).subspan(2)), "Hello");
  // A server refuses the very same frame: clients must mask (§5.1).
  r = parse_frame_header(f, WsFrameRules{}, h);
  EXPECT_EQ(r.status, ParseStatus::invalid);
  EXPECT_EQ(r.close_code, kWsCloseProtocolError);
  // And the server writes exactly these bytes.
  std::vector<std::byte> out;
  append_server_frame(out, WsOpcode::text, as_span("Hello"));
  EXPECT_EQ(out, f);
}

TEST(WebSocketFrame, Rfc6455Section57MaskedHello) {
  auto f = kMaskedHello;
  WsFrameHeader h;
  ASSERT_EQ(parse_frame_header(f, WsFrameRules{}, h).status, ParseStatus::ok);
  EXPECT_TRUE(h.masked);
  EXPECT_EQ(h.header_size, 6);
  EXPECT_EQ(h.mask, kRfcKey);
  auto payload = std::span(f).subspan(h.header_size);
  ws_unmask(payload, h.mask);
  EXPECT_EQ(as_string(payload), "Hello");
  std::vector<std::byte> client;
  append_client_frame(client, WsOpcode::text, as_span("Hello"), kRfcKey);
  EXPECT_EQ(client, kMaskedHello);
}

TEST(WebSocketFrame, Rfc6455Section57FragmentedHello) {
  const auto first = bytes({0x01, 0x03, 0x48, 0x65, 0x6c});
  const auto last = bytes({0x80, 0x02, 0x6c, 0x6f});
  WsFrameHeader h;
  ASSERT_EQ(parse_frame_header(first, kClientRules, h).status, ParseStatus::ok);
  EXPECT_FALSE(h.fin);
  EXPECT_EQ(h.opcode, WsOpcode::text);
  EXPECT_EQ(h.payload_size, 3u);
  ASSERT_EQ(parse_frame_header(last, kClientRules, h).status, ParseStatus::ok);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.opcode, WsOpcode::continuation);
  EXPECT_EQ(h.payload_size, 2u);
  std::vector<std::byte> out;
  append_server_frame(out, WsOpcode::text, as_span("Hel"), /*fin=*/false);
  append_server_frame(out, WsOpcode::continuation, as_span("lo"));
  auto both = first;
  both.insert(both.end(), last.begin(), last.end());
  EXPECT_EQ(out, both);
}

TEST(WebSocketFrame, Rfc6455Section57PingAndMaskedPong) {
  const auto ping = bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  WsFrameHeader h;
  ASSERT_EQ(parse_frame_header(ping, kClientRules, h).status, ParseStatus::ok);
  EXPECT_EQ(h.opcode, WsOpcode::ping);
  std::vector<std::byte> out;
  append_server_frame(out, WsOpcode::ping, as_span("Hello"));
  EXPECT_EQ(out, ping);

  auto pong = bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  ASSERT_EQ(parse_frame_header(pong, WsFrameRules{}, h).status, ParseStatus::ok);
  EXPECT_EQ(h.opcode, WsOpcode::pong);
  ws_unmask(std::span(pong).subspan(6), h.mask);
  EXPECT_EQ(as_string(std::span(pong).subspan(6)), "Hello");
}

TEST(WebSocketFrame, Rfc6455Section57LongLengths) {
  // 256 bytes: 0x82 0x7E 0x0100; 64 KiB: 0x82 0x7F 0x0000000000010000.
  std::vector<std::byte> out;
  append_server_frame(out, WsOpcode::binary, std::vector<std::byte>(256, std::byte{7}));
  EXPECT_EQ(std::vector<std::byte>(out.begin(), out.begin() + 4), bytes({0x82, 0x7E, 0x01, 0x00}));
  WsFrameHeader h;
  ASSERT_EQ(parse_frame_header(out, kClientRules, h).status, ParseStatus::ok);
  EXPECT_EQ(h.header_size, 4);
  EXPECT_EQ(h.payload_size, 256u);

  out.clear();
  append_server_frame(out, WsOpcode::binary, std::vector<std::byte>(65536, std::byte{7}));
  EXPECT_EQ(std::vector<std::byte>(out.begin(), out.begin() + 10),
            bytes({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
  ASSERT_EQ(parse_frame_header(out, kClientRules, h).status, ParseStatus::ok);
  EXPECT_EQ(h.header_size, 10);
  EXPECT_EQ(h.payload_size, 65536u);
  EXPECT_EQ(out.size(), 65546u);

  // Masked client frames with both lengths, as a server reads them (default limit 64 KiB).
  for (std::size_t n : {125u, 126u, 65535u, 65536u}) {
    std::vector<std::byte> c;
    append_client_frame(c, WsOpcode::binary, std::vector<std::byte>(n, std::byte{1}), kRfcKey);
    ASSERT_EQ(parse_frame_header(c, WsFrameRules{}, h).status, ParseStatus::ok) << n;
    EXPECT_EQ(h.payload_size, n);
    EXPECT_EQ(h.frame_size(), c.size());
  }
}

TEST(WebSocketFrame, EveryTruncatedHeaderIsIncompleteWithTheBytesNeeded) {
  std::vector<std::byte> c;
  append_client_frame(c, WsOpcode::binary, std::vector<std::byte>(70000, std::byte{1}), kRfcKey);
  WsFrameRules rules;
  rules.max_payload = 1 << 20;
  for (std::size_t n = 0; n < 14; ++n) {
    WsFrameHeader h;
    auto r = parse_frame_header(std::span(c).first(n), rules, h);
    ASSERT_EQ(r.status, ParseStatus::incomplete) << n;
    EXPECT_EQ(r.needed, n < 2 ? 2u : 14u);
  }
  WsFrameHeader h;
  EXPECT_EQ(parse_frame_header(std::span(c).first(14), rules, h).status, ParseStatus::ok);
}

struct Bad {
  const char* what;
  std::vector<std::byte> frame;
  std::uint16_t code;
};

TEST(WebSocketFrame, RejectsWhatRfc6455ForbidsWithTheRightCode) {
  const std::vector<Bad> cases = {
      {"RSV1 without extension", bytes({0xC1, 0x80, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"RSV2", bytes({0xA1, 0x80, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"RSV3", bytes({0x91, 0x80, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"reserved data opcode 3", bytes({0x83, 0x80, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"reserved data opcode 7", bytes({0x87, 0x80, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"reserved control opcode B", bytes({0x8B, 0x80, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"reserved control opcode F", bytes({0x8F, 0x80, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"unmasked client frame", bytes({0x81, 0x00}), kWsCloseProtocolError},
      {"fragmented ping", bytes({0x09, 0x80, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"fragmented close", bytes({0x08, 0x80, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"ping of 126 bytes", bytes({0x89, 0xFE, 0x00, 0x7E}), kWsCloseProtocolError},
      {"close with 64-bit length", bytes({0x88, 0xFF}), kWsCloseProtocolError},
      {"64-bit length with MSB set", bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), kWsCloseProtocolError},
      {"frame over the limit", bytes({0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0}), kWsCloseTooBig},
  };
  for (const Bad& b : cases) {
    WsFrameHeader h;
    auto r = parse_frame_header(b.frame, WsFrameRules{}, h);
    EXPECT_EQ(r.status, ParseStatus::invalid) << b.what;
    EXPECT_EQ(r.close_code, b.code) << b.what;
    EXPECT_FALSE(r.why.empty()) << b.what;
  }
  // Detected early: byte 0 alone shows a reserved opcode; 3 bytes show the MSB of a 64-bit length.
  WsFrameHeader h;
  EXPECT_EQ(parse_frame_header(bytes({0x83}), WsFrameRules{}, h).status, ParseStatus::invalid);
  EXPECT_EQ(parse_frame_header(bytes({0x82, 0xFF, 0x80}), WsFrameRules{}, h).status, ParseStatus::invalid);
  // RSV allowed when an extension is negotiated.
  WsFrameRules ext;
  ext.allow_rsv = true;
  EXPECT_EQ(parse_frame_header(bytes({0xC1, 0x80, 0, 0, 0, 0}), ext, h).status, ParseStatus::ok);
}

TEST(WebSocketFrame, UnmaskMatchesTheByteWiseDefinitionAtAnyLengthAndAlignment) {
  const std::array<std::byte, 4> key{std::byte{0xa1}, std::byte{0x02}, std::byte{0xf3}, std::byte{0x44}};
  for (std::size_t align = 0; align < 8; ++align) {
    for (std::size_t len = 0; len < 80; ++len) {
      for (std::uint64_t offset : {0u, 1u, 3u, 6u}) {
        std::vector<std::byte> buf(align + len);
        for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<std::byte>(i * 7 + 3);
        std::vector<std::byte> want = buf;
        for (std::size_t i = 0; i < len; ++i) want[align + i] ^= key[(i + offset) % 4];  // §5.3
        ws_unmask(std::span(buf).subspan(align), key, offset);
        ASSERT_EQ(buf, want) << align << " " << len << " " << offset;
      }
    }
  }
}

TEST(WebSocketFrame, Utf8ValidationFollowsRfc3629) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("INVITE sip:bob@example.com SIP/2.0\r\n"));
  EXPECT_TRUE(is_valid_utf8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));  // κόσμε
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x93\x9e"));                              // U+1F4DE
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));                              // U+10FFFF
  EXPECT_TRUE(is_valid_utf8("\xed\x9f\xbf"));                                  // U+D7FF
  EXPECT_FALSE(is_valid_utf8("\x80"));                                         // lone continuation
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));                                     // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));                                 // overlong
  EXPECT_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));                             // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));                                 // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));                             // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xce"));                  // truncated
  EXPECT_FALSE(is_valid_utf8("abcdefgh\xce\xba\xce"));  // truncated after the ASCII fast path
  EXPECT_FALSE(is_valid_utf8("\xce\x41"));
}

TEST(WebSocketFrame, Utf8ValidatorAcceptsSplitsAnywhereAndFailsFast) {
  const std::string_view text = "ab\xce\xba\xe1\xbd\xb9 \xf0\x9f\x93\x9e z";
  for (std::size_t i = 0; i <= text.size(); ++i) {
    Utf8Validator v;
    EXPECT_TRUE(v.feed(as_span(text.substr(0, i))));
    EXPECT_EQ(v.complete(), i != 3 && i != 5 && i != 6 && !(i >= 9 && i <= 11)) << i;
    EXPECT_TRUE(v.feed(as_span(text.substr(i))));
    EXPECT_TRUE(v.complete()) << i;
  }
  Utf8Validator v;
  EXPECT_TRUE(v.feed(as_span("\xed")));
  EXPECT_FALSE(v.feed(as_span("\xa0\x80")));  // the surrogate is visible at its 2nd byte
  EXPECT_FALSE(v.feed(as_span("ok")));        // sticky
  v.reset();
  EXPECT_TRUE(v.feed(as_span("ok")));
}

TEST(WebSocketFrame, ClosePayloads) {
  std::uint16_t code = 0;
  std::string_view reason;
  EXPECT_EQ(parse_close_payload({}, code, reason), 0);
  EXPECT_EQ(code, kWsCloseNoStatus);
  EXPECT_EQ(parse_close_payload(bytes({0x03}), code, reason), kWsCloseProtocolError);  // §5.5.1
  auto with = [](int c, std::string_view r) {
    auto v = bytes({c >> 8, c & 0xff});
    v.insert(v.end(), as_span(r).begin(), as_span(r).end());
    return v;
  };
  auto ok = with(1000, "Normal closure");
  EXPECT_EQ(parse_close_payload(ok, code, reason), 0);
  EXPECT_EQ(code, 1000);
  EXPECT_EQ(reason, "Normal closure");
  for (int c : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999}) {
    EXPECT_EQ(parse_close_payload(with(c, ""), code, reason), 0) << c;
  }
  for (int c : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}) {
    EXPECT_EQ(parse_close_payload(with(c, ""), code, reason), kWsCloseProtocolError) << c;
  }
  EXPECT_EQ(parse_close_payload(with(1000, "\xce"), code, reason), kWsCloseInvalidPayload);
}

TEST(WebSocketFrame, CloseFramesCutLongReasonsOnACharacterBoundary) {
  std::vector<std::byte> out;
  append_close_frame(out, 1001, "going away");
  EXPECT_EQ(out, (bytes({0x88, 0x0C, 0x03, 0xE9, 'g', 'o', 'i', 'n', 'g', ' ', 'a', 'w', 'a', 'y'})));
  out.clear();
  std::string reason(122, 'x');
  reason += "\xce\xba";  // would end at byte 124: cut before it
  append_close_frame(out, 1000, reason);
  WsFrameHeader h;
  ASSERT_EQ(parse_frame_header(out, kClientRules, h).status, ParseStatus::ok);
  EXPECT_EQ(h.payload_size, 124u);
  std::uint16_t code = 0;
  std::string_view r;
  EXPECT_EQ(parse_close_payload(std::span(out).subspan(2), code, r), 0);
  EXPECT_EQ(r, std::string(122, 'x'));
}

TEST(WebSocketFrame, ServerHeaderUsesTheMinimalLengthEncoding) {
  std::array<std::byte, kWsMaxServerHeader> h;
  EXPECT_EQ(write_server_header(h, WsOpcode::text, 125), 2u);
  EXPECT_EQ(write_server_header(h, WsOpcode::text, 126), 4u);
  EXPECT_EQ(write_server_header(h, WsOpcode::text, 65535), 4u);
  EXPECT_EQ(write_server_header(h, WsOpcode::text, 65536), 10u);
  EXPECT_EQ(write_server_header(h, WsOpcode::pong, 0, true), 2u);
  EXPECT_EQ(h[0], std::byte{0x8A});
}

// A header parse right before an unreadable page: no over-read at any truncation.
TEST(WebSocketFrame, NeverReadsPastTheEnd) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* m = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  auto* base = static_cast<std::byte*>(m);
  ASSERT_EQ(mprotect(base + page, page, PROT_NONE), 0);
  std::vector<std::byte> c;
  append_client_frame(c, WsOpcode::binary, std::vector<std::byte>(70000, std::byte{1}), kRfcKey);
  for (std::size_t n = 0; n <= 14; ++n) {
    std::byte* p = base + page - n;
    std::memcpy(p, c.data(), n);
    WsFrameHeader h;
    WsFrameRules rules;
    rules.max_payload = 1 << 20;
    auto r = parse_frame_header({p, n}, rules, h);
    EXPECT_EQ(r.status, n < 14 ? ParseStatus::incomplete : ParseStatus::ok);
  }
  munmap(m, 2 * page);
}

// Base64 backs the Sec-WebSocket-Key check and the accept hash (RFC 6455 §4.2.1, §4.2.2).

TEST(Base64, RoundTripsAndIsStrict) {
  EXPECT_EQ(base64_encode(as_vec("")), "");
  EXPECT_EQ(base64_encode(as_vec("f")), "Zg==");
  EXPECT_EQ(base64_encode(as_vec("fo")), "Zm8=");
  EXPECT_EQ(base64_encode(as_vec("foobar")), "Zm9vYmFy");  // RFC 4648 §10
  EXPECT_EQ(base64_decode("Zm9vYg=="), as_vec("foob"));
  EXPECT_EQ(base64_decode("Zm9vYmE="), as_vec("fooba"));
  EXPECT_EQ(base64_decode(""), as_vec(""));
  EXPECT_FALSE(base64_decode("Zm9vYg=").has_value());   // length
  EXPECT_FALSE(base64_decode("Zm9v Yg=").has_value());  // whitespace
  EXPECT_FALSE(base64_decode("Zm=vYg==").has_value());  // padding inside
  EXPECT_FALSE(base64_decode("Zm9vYg-_").has_value());  // URL-safe alphabet
  std::vector<std::byte> big(5000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i * 31);
  EXPECT_EQ(base64_decode(base64_encode(big)), big);
}

}  // namespace
}  // namespace webtrunk::core

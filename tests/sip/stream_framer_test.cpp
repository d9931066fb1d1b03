// StreamFramer: SIP messages cut out of a TCP byte stream (RFC 3261 §18.3) however the bytes are
// split, CRLF keep-alives (RFC 5626 §4.4.1), and the bounds: a missing Content-Length, a message
// over the limit, and a stream that stays failed.
#include "sip/stream_framer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace webtrunk::sip {
namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span<const char>(s.data(), s.size())); }

const std::string kBye =
    "BYE sip:edge@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
    "From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n";
const std::string kOk =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK2\r\n"
    "From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\n"
    "Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";

// Every event, with messages copied out.
std::vector<std::string> drain(StreamFramer& f) {
  std::vector<std::string> out;
  for (;;) {
    const auto n = f.next();
    if (n.kind == StreamFramer::Kind::none) return out;
    if (n.kind == StreamFramer::Kind::ping) out.emplace_back("<ping>");
    if (n.kind == StreamFramer::Kind::pong) out.emplace_back("<pong>");
    if (n.kind == StreamFramer::Kind::message) out.emplace_back(n.message);
    if (n.kind == StreamFramer::Kind::invalid) {
      out.emplace_back("<invalid:" + std::string(n.reason) + ">");
      return out;
    }
  }
}

TEST(StreamFramer, CutsMessagesAtAnySplitWithKeepAlives) {
  const std::string stream = "\r\n\r\n" + kBye + "\r\n" + kOk + kBye;
  for (std::size_t chunk = 1; chunk <= stream.size(); chunk = chunk * 2 + 1) {
    StreamFramer f;
    std::vector<std::string> got;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      f.feed(bytes(std::string_view(stream).substr(at, chunk)));
      for (auto& m : drain(f)) got.push_back(std::move(m));
    }
    ASSERT_EQ(got, (std::vector<std::string>{"<ping>", kBye, kOk, kBye})) << "chunk " << chunk;
    EXPECT_EQ(f.buffered(), 0u);
  }
}

TEST(StreamFramer, ALoneCrlfIsAPongOnlyWhenOneIsExpected) {
  // RFC 5626 §4.4.1: our CRLFCRLF ping is answered with one CRLF, which may arrive alone.
  StreamFramer f;
  f.feed(bytes("\r\n"));
  EXPECT_TRUE(drain(f).empty());  // could be the start of the peer's ping
  f.expect_pong();
  EXPECT_EQ(drain(f), (std::vector<std::string>{"<pong>"}));
  EXPECT_EQ(f.buffered(), 0u);
  // One pong per ping: the next lone CRLF is padding again.
  f.feed(bytes("\r\n" + kBye));
  EXPECT_EQ(drain(f), (std::vector<std::string>{kBye}));
  // A pong followed by a message in the same read, and a peer's ping while ours is out.
  f.expect_pong();
  f.feed(bytes("\r\n\r\n\r\n" + kOk));
  EXPECT_EQ(drain(f), (std::vector<std::string>{"<ping>", "<pong>", kOk}));
}

TEST(StreamFramer, ContentLengthIsRequiredOnAStream) {
  std::string no_length = kBye;
  no_length.erase(no_length.find("Content-Length: 0\r\n"), 19);
  StreamFramer f;
  f.feed(bytes(no_length));
  const auto got = drain(f);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].rfind("<invalid:", 0), 0u) << got[0];
  f.feed(bytes(kBye));  // failed for good: the stream cannot be resynchronised
  EXPECT_EQ(f.next().kind, StreamFramer::Kind::invalid);
  EXPECT_TRUE(f.failed());
}

TEST(StreamFramer, RefusesAMessageOverTheLimitWithoutHoldingMore) {
  StreamFramer f(1024);
  const std::string head = "INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK3\r\nContent-Length: 5000\r\n\r\n";
  f.feed(bytes(head));
  // Refused as soon as the head says 5000 > 1024, or once the body passes the limit.
  auto n = f.next();
  if (n.kind == StreamFramer::Kind::none) {
    f.feed(bytes(std::string(1000, 'a')));
    n = f.next();
  }
  EXPECT_EQ(n.kind, StreamFramer::Kind::invalid);
  EXPECT_EQ(f.buffered(), 0u);
}

TEST(StreamFramer, UnterminatedHeadOverTheLimitIsInvalid) {
  StreamFramer f(2048);
  f.feed(bytes("OPTIONS sip:x@y SIP/2.0\r\nX-Pad: "));
  for (int i = 0; i < 4; ++i) {
    f.feed(bytes(std::string(1000, 'p')));
    if (f.next().kind == StreamFramer::Kind::invalid) return;
  }
  FAIL() << "3 KB of head without an end was accepted under a 2 KB limit";
}

}  // namespace
}  // namespace webtrunk::sip

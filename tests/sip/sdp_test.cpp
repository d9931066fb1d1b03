// sip/sdp: parsing the SDP real peers sent (Chromium offers and answers, JsSIP re-offers rewritten by
// sdp-transform, rtpengine and sipp SDP in tests/data/sdp and tests/data/transcripts), writing it back byte for byte, and refusing
// malformed input with a reason.
#include "sip/sdp.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace webtrunk;
using namespace webtrunk::sip::sdp;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string crlf(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out += '\r';
    out += s[i];
  }
  return out;
}

const std::filesystem::path kData = WEBTRUNK_TEST_DATA;

std::vector<std::filesystem::path> example_files() {
  std::vector<std::filesystem::path> out;
  for (const char* dir : {"sdp/chromium", "sdp/chain", "sdp/rtpengine"}) {
    for (const auto& e : std::filesystem::directory_iterator(kData / dir))
      if (e.path().extension() == ".sdp") out.push_back(e.path());
  }
  return out;
}

// SDP bodies in the WebSocket transcripts: from a "v=0" line to the next empty line.
std::vector<std::string> capture_bodies() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(kData / "transcripts")) {
    if (e.path().extension() != ".txt") continue;
    std::istringstream in(read_file(e.path()));
    std::string line, body;
    bool inside = false;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line == "v=0") inside = true;
      if (inside && line.empty()) {
        out.push_back(body);
        body.clear();
        inside = false;
      }
      if (inside) body += line + "\r\n";
    }
    if (inside) out.push_back(body);
  }
  return out;
}

TEST(Sdp, ParsesTheChromiumOffer) {
  const std::string text = read_file(kData / "sdp/chromium/offer-example.sdp");
  auto r = parse(text);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Session& s = r.value();
  EXPECT_EQ(s.origin.username, "-");
  EXPECT_EQ(s.origin.session_id, "4781285960896215454");
  EXPECT_EQ(s.origin.session_version, "2");
  EXPECT_EQ(s.origin.address, "127.0.0.1");
  EXPECT_EQ(s.session_name, "-");
  EXPECT_EQ(s.attribute("group"), std::optional<std::string_view>("BUNDLE 0"));
  EXPECT_EQ(s.attribute("msid-semantic"), std::optional<std::string_view>(" WMS 9edcf8ca-6517-4f0e-92cd-c0e99f04531c"));
  ASSERT_EQ(s.media.size(), 1u);
  const Media& m = s.media[0];
  EXPECT_EQ(m.media, "audio");
  EXPECT_EQ(m.port, 58206);
  EXPECT_EQ(m.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(m.formats, (std::vector<std::string_view>{"111", "63", "9", "0", "8", "13", "110", "126"}));
  ASSERT_TRUE(m.connection);
  EXPECT_EQ(m.connection->address, "127.0.0.1");
  EXPECT_EQ(s.attribute(m, "ice-ufrag"), std::optional<std::string_view>("aj7f"));
  EXPECT_EQ(m.attribute("setup"), std::optional<std::string_view>("actpass"));
  EXPECT_TRUE(m.has_attribute("rtcp-mux"));
  EXPECT_EQ(m.attribute("rtcp-mux"), std::optional<std::string_view>(""));
  EXPECT_FALSE(m.has_attribute("ice-lite"));
  EXPECT_EQ(s.direction(m), "sendrecv");
  EXPECT_EQ(m.rtpmap(111), (Rtpmap{111, "opus", 48000, 2}));
  EXPECT_EQ(m.rtpmap(126), (Rtpmap{126, "telephone-event", 8000, 1}));
  EXPECT_EQ(m.rtpmap(0), (Rtpmap{0, "PCMU", 8000, 1}));
  EXPECT_EQ(m.fmtp(111), "minptime=10;useinbandfec=1");
  EXPECT_EQ(m.fmtp(63), "111/111");
  EXPECT_EQ(m.fmtp(0), "");
  EXPECT_FALSE(m.rtpmap(96));
  auto addr = to_sockaddr(*s.connection_for(m), m.port);
  ASSERT_TRUE(addr.ok());
  EXPECT_EQ(addr.value().to_string(), "127.0.0.1:58206");
}

TEST(Sdp, EveryExampleWritesBackByteForByte) {
  const auto files = example_files();
  ASSERT_GE(files.size(), 6u);
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const std::string text = crlf(read_file(f));
    auto r = parse(text);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(write(r.value()), text);
  }
}

TEST(Sdp, EveryCapturedBodyParsesAndRoundTrips) {
  const auto bodies = capture_bodies();
  ASSERT_GE(bodies.size(), 20u);
  for (const auto& b : bodies) {
    auto r = parse(b);
    ASSERT_TRUE(r.ok()) << r.error().message << "\n" << b;
    ASSERT_FALSE(r.value().media.empty());
    const std::string again = write(r.value());
    auto r2 = parse(again);
    ASSERT_TRUE(r2.ok());
    EXPECT_EQ(r2.value(), r.value());
  }
}

TEST(Sdp, SipCapturesWithSdpBodies) {
  int seen = 0;
  for (const auto& e : std::filesystem::directory_iterator(kData / "sip/captures")) {
    if (e.path().extension() != ".sip") continue;
    const std::string msg = read_file(e.path());
    if (msg.find("application/sdp") == std::string::npos) continue;
    const std::size_t body = msg.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos);
    SCOPED_TRACE(e.path().string());
    auto r = parse(std::string_view(msg).substr(body + 4));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r.value().media.at(0).media, "audio");
    ++seen;
  }
  EXPECT_GE(seen, 4);
}

TEST(Sdp, JsSipHoldReofferInAnyAttributeOrder) {
  // JsSIP rewrites re-offers through sdp-transform: direction and ICE lines move around.
  std::string hold;
  for (const auto& b : capture_bodies())
    if (b.find("a=sendonly") != std::string::npos && b.find("a=extmap:") == std::string::npos) hold = b;
  ASSERT_FALSE(hold.empty());
  auto r = parse(hold);
  ASSERT_TRUE(r.ok());
  const Session& s = r.value();
  EXPECT_EQ(s.direction(s.media[0]), "sendonly");
  EXPECT_TRUE(s.attribute(s.media[0], "ice-pwd"));
  EXPECT_EQ(s.media[0].rtpmap(8), (Rtpmap{8, "PCMA", 8000, 1}));
}

TEST(Sdp, BareLfNoFinalNewlineAndBlankLines) {
  auto r = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n\nt=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 192.0.2.1\na=sendonly");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r.value().media.size(), 1u);
  EXPECT_EQ(r.value().direction(r.value().media[0]), "sendonly");
  EXPECT_EQ(write(r.value()),
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
            "c=IN IP4 192.0.2.1\r\na=sendonly\r\n");
}

TEST(Sdp, SessionLevelDirectionAndConnection) {
  auto r = parse("v=0\r\no=x 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::7\r\nt=0 0\r\na=inactive\r\n"
                 "m=audio 5004 RTP/AVP 8\r\n");
  ASSERT_TRUE(r.ok());
  const Session& s = r.value();
  EXPECT_EQ(s.direction(s.media[0]), "inactive");
  const Connection* c = s.connection_for(s.media[0]);
  ASSERT_NE(c, nullptr);
  auto a = to_sockaddr(*c, 5004);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a.value().to_string(), "[2001:db8::7]:5004");
}

TEST(Sdp, ConnectionAddressesWeCannotSendTo) {
  EXPECT_FALSE(to_sockaddr(Connection{"IN", "IP4", "pbx.example.com"}, 1).ok());
  EXPECT_FALSE(to_sockaddr(Connection{"IN", "IP4", "224.2.1.1/127"}, 1).ok());
  EXPECT_FALSE(to_sockaddr(Connection{"IN", "IP4", "2001:db8::1"}, 1).ok());
  EXPECT_FALSE(to_sockaddr(Connection{"IN", "IP6", "192.0.2.1"}, 1).ok());
  EXPECT_FALSE(to_sockaddr(Connection{"ATM", "IP4", "192.0.2.1"}, 1).ok());
  EXPECT_FALSE(to_sockaddr(Connection{"IN", "IPX", "192.0.2.1"}, 1).ok());
  EXPECT_FALSE(to_sockaddr(Connection{"IN", "IP6", std::string_view("fe80::1%eth0")}, 1).ok());
  EXPECT_FALSE(to_sockaddr(Connection{"IN", "IP6", std::string(100, '1')}, 1).ok());
  auto ok = to_sockaddr(Connection{"IN", "IP4", "0.0.0.0"}, 0);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value().to_string(), "0.0.0.0:0");
}

TEST(Sdp, PortCountAndStaticPayloadTypes) {
  auto r = parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 49170/2 RTP/AVP 0 18 96\r\n");
  ASSERT_TRUE(r.ok());
  const Media& m = r.value().media[0];
  EXPECT_EQ(m.port, 49170);
  EXPECT_EQ(m.port_count, 2);
  EXPECT_EQ(m.rtpmap(18), (Rtpmap{18, "G729", 8000, 1}));
  EXPECT_FALSE(m.rtpmap(96));
  EXPECT_EQ(write(r.value()), "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 49170/2 RTP/AVP 0 18 96\r\n");
}

TEST(Sdp, RtpmapValues) {
  EXPECT_EQ(parse_rtpmap("111 opus/48000/2"), (Rtpmap{111, "opus", 48000, 2}));
  EXPECT_EQ(parse_rtpmap("0 PCMU/8000"), (Rtpmap{0, "PCMU", 8000, 1}));
  EXPECT_FALSE(parse_rtpmap("128 x/8000"));
  EXPECT_FALSE(parse_rtpmap("96 x"));
  EXPECT_FALSE(parse_rtpmap("96 /8000"));
  EXPECT_FALSE(parse_rtpmap("96 x/0"));
  EXPECT_FALSE(parse_rtpmap("96 x/8000/0"));
  EXPECT_FALSE(parse_rtpmap("96 x/8000/256"));
  EXPECT_FALSE(parse_rtpmap("96"));
  EXPECT_FALSE(parse_rtpmap("x PCMU/8000"));
  EXPECT_EQ(payload_type("127"), std::optional<std::uint8_t>(127));
  EXPECT_FALSE(payload_type("0127"));
  EXPECT_FALSE(payload_type("webrtc-datachannel"));
  EXPECT_EQ(static_rtpmap(9), (Rtpmap{9, "G722", 8000, 1}));
  EXPECT_FALSE(static_rtpmap(34));
}

struct Bad {
  std::string text;
  std::string reason;  // a part of the message
};

TEST(Sdp, MalformedInputIsRefusedWithAReason) {
  const std::string head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
  const std::vector<Bad> bad = {
      {"", "no v= line"},
      {"\r\n\r\n", "no v= line"},
      {"o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n", "line 1: the first line is not v="},
      {"v=1\r\n", "SDP version is not 0"},
      {"v=0\r\ns=-\r\n", "no o= line"},
      {"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n", "no s= line"},
      {"v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n", "line 2: o= line needs six fields"},
      {head + "v=0\r\n", "line 4: second v= line"},
      {head + "s=again\r\n", "s= line out of place"},
      {head + "x=1\r\n", "unknown line type 'x='"},
      {head + "A=1\r\n", "not a <type>=<value> line"},
      {head + "a\r\n", "not a <type>=<value> line"},
      {head + "a=\r\n", "a= line without a valid attribute name"},
      {head + "a=:x\r\n", "a= line without a valid attribute name"},
      {head + "a=ok\rbad\r\n", "NUL or CR inside a line"},
      {head + std::string("a=nul\0x\r\n", 9), "NUL or CR inside a line"},
      {head + "c=IN IP4\r\n", "c= line needs"},
      {head + "c=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n", "more than one c= line"},
      {"v=0\r\nm=audio 1 RTP/AVP 0\r\n", "m= line before o= and s="},
      {head + "m=audio 1 RTP/AVP\r\n", "m= line without formats"},
      {head + "m=audio 1\r\n", "m= line needs"},
      {head + "m=audio 65536 RTP/AVP 0\r\n", "bad port in m= line"},
      {head + "m=audio -1 RTP/AVP 0\r\n", "bad port in m= line"},
      {head + "m=audio 1/ RTP/AVP 0\r\n", "bad number of ports"},
      {head + "m=audio 1/0 RTP/AVP 0\r\n", "bad number of ports"},
      {head + "m=au:dio 1 RTP/AVP 0\r\n", "bad media type"},
      {head + "m=audio 1 RTP/AV\x01P 0\r\n", "bad proto in m= line"},
      {head + "m=audio 1 RTP/AVP 0 \xff\r\n", "bad format in m= line"},
      {head + "m=audio 1 RTP/AVP 0\r\nt=0 0\r\n", "t= line inside a media section"},
      {head + "m=audio 1 RTP/AVP 0\r\no=- 1 1 IN IP4 192.0.2.1\r\n", "o= line out of place"},
  };
  for (const Bad& b : bad) {
    auto r = parse(b.text);
    ASSERT_FALSE(r.ok()) << b.text;
    EXPECT_NE(r.error().message.find(b.reason), std::string::npos) << r.error().message << " for " << b.text;
  }
}

TEST(Sdp, LimitsBoundTheWork) {
  const std::string head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
  Limits small;
  small.max_size = 100;
  auto big = parse(head + std::string(80, 'i') + "\r\n", small);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("larger than 100 bytes"), std::string::npos);

  std::string many = head;
  for (int i = 0; i < 2100; ++i) many += "a=x\r\n";
  auto lines = parse(many);
  ASSERT_FALSE(lines.ok());
  EXPECT_NE(lines.error().message.find("more than 2048 lines"), std::string::npos);

  auto longline = parse(head + "a=" + std::string(5000, 'x') + "\r\n");
  ASSERT_FALSE(longline.ok());
  EXPECT_NE(longline.error().message.find("longer than 4096"), std::string::npos);

  std::string media = head;
  for (int i = 0; i < 65; ++i) media += "m=audio 0 RTP/AVP 0\r\n";
  auto m = parse(media);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("more than 64 media sections"), std::string::npos);

  std::string fmts = head + "m=audio 1 RTP/AVP";
  for (int i = 0; i < 129; ++i) fmts += " 0";
  auto f = parse(fmts + "\r\n");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("too many formats"), std::string::npos);

  // A Chrome-sized offer (~16 kB, 500 attributes) is well inside the defaults.
  std::string chrome = read_file(kData / "sdp/chromium/offer-example.sdp");
  for (int i = 0; i < 450; ++i) chrome += "a=ssrc:1 cname:" + std::string(16, 'c') + "\r\n";
  EXPECT_TRUE(parse(chrome).ok());
}

TEST(Sdp, WriterBuildsCanonicalLines) {
  std::string out;
  Writer w(out);
  auto v4 = core::SockAddr::parse("198.51.100.20:50000").value();
  auto v6 = core::SockAddr::parse("[2001:db8::20]:50002").value();
  const std::uint8_t pts[] = {0, 101};
  w.version().origin("-", 42, 7, v4).session_name("-").connection(v6).timing();
  w.media("audio", v4.port(), "RTP/AVP", pts);
  w.rtpmap(Rtpmap{0, "PCMU", 8000, 1}).rtpmap(Rtpmap{111, "opus", 48000, 2}).fmtp(101, "0-15");
  w.attribute("rtcp-mux").attribute("ptime", "20").host_candidate("1", 1, 2130706431, v6);
  EXPECT_EQ(out,
            "v=0\r\no=- 42 7 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP6 2001:db8::20\r\nt=0 0\r\n"
            "m=audio 50000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:111 opus/48000/2\r\n"
            "a=fmtp:101 0-15\r\na=rtcp-mux\r\na=ptime:20\r\n"
            "a=candidate:1 1 udp 2130706431 2001:db8::20 50002 typ host\r\n");
  auto r = parse(out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(write(r.value()), out);
}

TEST(Sdp, WriteReordersLinesIntoRfcOrder) {
  // t= before c= and b= (seen from some stacks) is read, and written in RFC 8866 §5 order.
  auto r = parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\n"
                 "m=audio 1 RTP/AVP 0\r\nb=AS:64\r\ni=voice\r\nc=IN IP4 192.0.2.2\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(write(r.value()),
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\nt=0 0\r\n"
            "m=audio 1 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 192.0.2.2\r\nb=AS:64\r\n");
}

}  // namespace

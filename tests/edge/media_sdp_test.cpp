// edge/media_sdp: the offer/answer rules of issue 4 on the Chromium offers and JsSIP re-offers the
// peers really sent (tests/data/sdp, tests/data/transcripts), checked the way the other side reads them: the trunk offer carries
// nothing WebRTC, the browser answer carries everything Chromium needs, codecs and telephone-event
// are mapped by name and clock, hold directions are answered as RFC 3264 says.
#include "edge/media_sdp.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sip/sdp.hpp"

namespace {

using namespace webtrunk;
using namespace webtrunk::edge;
using media::Direction;

const std::filesystem::path kData = WEBTRUNK_TEST_DATA;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string chromium_offer() { return read_file(kData / "sdp/chromium/offer-example.sdp"); }

// The JsSIP hold re-offer (a=sendonly, attributes reordered by sdp-transform) from run B.
std::string jssip_hold_offer() {
  std::istringstream in(read_file(kData / "transcripts/run-b-jssip-sipjs-full.txt"));
  std::string line, body;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "v=0") {
      inside = true;
      body.clear();
    }
    if (inside && line.empty()) {
      if (body.find("a=sendonly") != std::string::npos) return body;
      inside = false;
    }
    if (inside) body += line + "\r\n";
  }
  return {};
}

std::string replace(std::string s, std::string_view from, std::string_view to) {
  const std::size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::string drop_lines(std::string s, std::string_view prefix) {
  std::string out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) != 0) out += line + "\n";
  return out;
}

media::LocalMedia local_media() {
  media::LocalMedia l;
  l.ice = {"Qm3tZ0aa", "vRz2PpL0k1XyY7bZmNq8sW4h"};
  l.fingerprint =
      "12:B7:87:BD:2C:D9:47:5B:22:2E:20:18:E1:5D:76:75:06:DE:6A:B4:D0:4F:B0:7C:68:29:26:DA:CD:74:93:45";
  l.browser_addr = core::SockAddr::parse("203.0.113.10:40000").value();
  l.trunk_addr = core::SockAddr::parse("198.51.100.20:50000").value();
  return l;
}

// A trunk's answer in the shape sipp and carriers send: session-level c=, static types without rtpmap.
std::string trunk_answer(std::string_view formats, std::string_view extra = "") {
  return "v=0\r\no=trunk 53655765 2353687637 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
         "m=audio 30012 RTP/AVP " + std::string(formats) + "\r\n" + std::string(extra);
}

BrowserOffer offer_of(const std::string& text) {
  auto r = read_browser_offer(text);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : BrowserOffer{};
}

TrunkSdp trunk_of(const std::string& text) {
  auto r = read_trunk_sdp(text);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : TrunkSdp{};
}

std::vector<std::string> lines_of(const std::string& sdp) {
  std::vector<std::string> out;
  std::istringstream in(sdp);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

bool has_line(const std::string& sdp, std::string_view want) {
  for (const std::string& l : lines_of(sdp))
    if (l == want) return true;
  return false;
}

// ---- reading the browser's offer ----

TEST(MediaSdp, ReadsTheChromiumOffer) {
  const BrowserOffer o = offer_of(chromium_offer());
  EXPECT_EQ(o.remote.ice.ufrag, "aj7f");
  EXPECT_EQ(o.remote.ice.pwd, "+BmAjVNCJqk/MfBiI+1h9OHK");
  EXPECT_EQ(o.remote.fingerprint_sha256,
            "02:FA:96:EF:A1:32:50:67:82:18:D9:88:A0:22:E1:55:07:7B:18:ED:7D:31:3D:89:C8:E8:48:B7:31:9F:8A:38");
  EXPECT_EQ(o.setup, "actpass");
  EXPECT_EQ(o.mid, "0");
  EXPECT_EQ(o.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(o.direction, Direction::sendrecv);
  EXPECT_TRUE(o.others.empty());
  EXPECT_TRUE(o.rtcp_rsize);
  std::vector<std::string> names;
  for (const SdpCodec& c : o.codecs) names.push_back(std::to_string(c.pt) + " " + c.name + "/" + std::to_string(c.clock_rate));
  EXPECT_EQ(names, (std::vector<std::string>{"111 opus/48000", "63 red/48000", "9 G722/8000", "0 PCMU/8000",
                                             "8 PCMA/8000", "13 CN/8000", "110 telephone-event/48000",
                                             "126 telephone-event/8000"}));
  EXPECT_EQ(o.codecs[0].channels, 2);
  EXPECT_EQ(o.codecs[0].fmtp, "minptime=10;useinbandfec=1");
}

TEST(MediaSdp, ReadsEveryCapturedBrowserOffer) {
  for (const char* f : {"sdp/chromium/offer-example.sdp", "sdp/chain/jssip-invite-offer.sdp", "sdp/rtpengine/webrtc-offer.sdp"}) {
    SCOPED_TRACE(f);
    const BrowserOffer o = offer_of(read_file(kData / f));
    EXPECT_EQ(o.codecs.size(), 8u);
    EXPECT_EQ(o.remote.ice.ufrag.size(), 4u);
  }
}

TEST(MediaSdp, SessionLevelIceAndFingerprintAsFirefoxWritesThem) {
  std::string s = chromium_offer();
  s = drop_lines(s, "a=ice-ufrag");
  s = drop_lines(s, "a=ice-pwd");
  s = drop_lines(s, "a=fingerprint");
  s = replace(s, "t=0 0\r\n",
              "t=0 0\r\na=fingerprint:sha-1 AA:BB\r\na=fingerprint:sha-256 "
              "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n"
              "a=ice-ufrag:sess\r\na=ice-pwd:0123456789abcdef012345\r\n");
  const BrowserOffer o = offer_of(s);
  EXPECT_EQ(o.remote.ice.ufrag, "sess");
  EXPECT_EQ(o.remote.ice.pwd, "0123456789abcdef012345");
  EXPECT_EQ(o.remote.fingerprint_sha256.substr(0, 5), "AB:CD");
}

TEST(MediaSdp, OffersTheEdgeCannotTakeAreRefusedWithAReason) {
  const std::string offer = chromium_offer();
  struct Case {
    std::string sdp;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"v=0\r\ns=-\r\n", "malformed SDP: no o= line"},
      {"garbage", "malformed SDP: line 1: not a <type>=<value> line"},
      {replace(offer, "m=audio 58206", "m=video 58206"), "no audio stream"},
      {replace(offer, "m=audio 58206", "m=audio 0"), "no audio stream"},
      {drop_lines(offer, "a=ice-pwd"), "no ICE credentials"},
      {replace(offer, "a=ice-ufrag:aj7f", "a=ice-ufrag:a j7f"), "malformed SDP: bad ice-ufrag or ice-pwd"},
      {drop_lines(offer, "a=fingerprint"), "no DTLS fingerprint (sha-256)"},
      {replace(offer, "fingerprint:sha-256", "fingerprint:sha-1"), "no DTLS fingerprint (sha-256)"},
      {replace(offer, "sha-256 02:FA", "sha-256 02FA"), "malformed SDP: bad sha-256 fingerprint"},
      {replace(offer, "UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "UDP/TLS/RTP/SAVPF 111 63 13 110"),
       "no codec a trunk understands (PCMU, PCMA, G722)"},
      {replace(offer, "a=setup:actpass", "a=setup:passive"), "DTLS role passive offered (the edge is the DTLS server)"},
      {replace(offer, "a=mid:0", "a=mid:0 1"), "malformed SDP: bad a=mid"},
  };
  for (const Case& c : cases) {
    auto r = read_browser_offer(c.sdp);
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_EQ(r.error().message, c.why);
  }
}

// ---- the offer toward the trunk ----

// The codec a call offers the trunk with the default --codecs (PCMU, PCMA).
SdpCodec first_codec(const BrowserOffer& o) {
  const std::vector<SdpCodec> c = codec_candidates(o, default_codec_preference());
  EXPECT_FALSE(c.empty());
  return c.empty() ? SdpCodec{} : c.front();
}

TEST(MediaSdp, TrunkOfferIsPlainRtpWithTheOneChosenCodec) {
  const BrowserOffer o = offer_of(chromium_offer());
  const std::string sdp = write_trunk_offer(o, first_codec(o), local_media(), SdpOrigin{1795811422, 1});
  // RFC 3261 §13.2.1: one codec, chosen before the INVITE, so the early answer and the 2xx agree.
  EXPECT_EQ(sdp,
            "v=0\r\no=- 1795811422 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
            "m=audio 50000 RTP/AVP 0 126\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-15\r\na=ptime:20\r\na=sendrecv\r\n");
  for (const std::string& l : lines_of(sdp)) {
    for (std::string_view banned : {"a=ice", "a=candidate", "a=fingerprint", "a=setup", "a=extmap", "a=msid", "a=ssrc",
                                    "a=rtcp-fb", "a=mid", "a=group", "a=rtcp-mux", "a=crypto", "opus", "red/"})
      EXPECT_EQ(l.find(banned), std::string::npos) << l;
  }
  // Our own reader takes it as a trunk would send it.
  const TrunkSdp t = trunk_of(sdp);
  EXPECT_EQ(t.rtp.to_string(), "198.51.100.20:50000");
  EXPECT_EQ(t.codecs.size(), 2u);
}

TEST(MediaSdp, BrowserOfferForACallFromTheTrunkIsActpassWithTheOneCodecAndItsDtmf) {
  const SdpCodec pcma{8, "PCMA", 8000, 1, {}};
  const SdpCodec dtmf{101, "telephone-event", 8000, 1, "0-16"};
  const std::string sdp = write_browser_offer(pcma, dtmf, media::Direction::sendrecv, local_media(), SdpOrigin{7, 1});
  // Chromium takes it as an offer: readable as one, the edge's ICE and fingerprint, actpass.
  auto read = read_browser_offer(sdp);
  ASSERT_TRUE(read.ok()) << read.error().message << "\n" << sdp;
  EXPECT_EQ(read->setup, "actpass");
  EXPECT_EQ(read->mid, "0");
  ASSERT_EQ(read->codecs.size(), 2u);
  EXPECT_EQ(read->codecs[0].name, "PCMA");
  EXPECT_EQ(read->codecs[1].pt, 101);
  for (std::string_view line : {"a=ice-lite", "a=group:BUNDLE 0", "a=rtcp-mux", "UDP/TLS/RTP/SAVPF 8 101", "typ host"}) {
    EXPECT_NE(sdp.find(line), std::string::npos) << line << "\n" << sdp;
  }
  const std::string no_dtmf = write_browser_offer(pcma, std::nullopt, media::Direction::sendrecv, local_media(), SdpOrigin{7, 1});
  EXPECT_EQ(no_dtmf.find("telephone-event"), std::string::npos) << no_dtmf;
}

TEST(MediaSdp, CodecCandidatesFollowThePreferenceNotTheBrowsersOrder) {
  const BrowserOffer o = offer_of(chromium_offer());  // opus, red, G722, PCMU, PCMA, CN, 2 x telephone-event
  auto names = [](const std::vector<SdpCodec>& cs) {
    std::vector<std::string> n;
    for (const SdpCodec& c : cs) n.push_back(c.name + "/" + std::to_string(c.pt));
    return n;
  };
  EXPECT_EQ(names(codec_candidates(o, default_codec_preference())), (std::vector<std::string>{"PCMU/0", "PCMA/8"}));
  const std::vector<std::string> pref{"G722", "PCMA", "PCMU", "opus"};
  EXPECT_EQ(names(codec_candidates(o, pref)), (std::vector<std::string>{"G722/9", "PCMA/8", "PCMU/0", "opus/111"}));
  // A codec the browser did not offer is skipped.
  const std::string no_pcma = replace(replace(chromium_offer(), " 0 8 13 ", " 0 13 "), "a=rtpmap:8 PCMA/8000\r\n", "");
  EXPECT_EQ(names(codec_candidates(offer_of(no_pcma), default_codec_preference())), (std::vector<std::string>{"PCMU/0"}));
}

TEST(MediaSdp, OpusToTheTrunkGoesWithTheTelephoneEventOfItsClockAndKnownFmtpOnly) {
  std::string s = replace(chromium_offer(), "a=fmtp:111 minptime=10;useinbandfec=1",
                          "a=fmtp:111 minptime=10;useinbandfec=1;x-evil=<script>;stereo=1;maxaveragebitrate=abc");
  const BrowserOffer o = offer_of(s);
  const std::vector<std::string> pref{"opus"};
  const std::vector<SdpCodec> c = codec_candidates(o, pref);
  ASSERT_EQ(c.size(), 1u);
  const std::string sdp = write_trunk_offer(o, c.front(), local_media(), SdpOrigin{1, 1});
  EXPECT_TRUE(has_line(sdp, "m=audio 50000 RTP/AVP 111 110")) << sdp;
  EXPECT_TRUE(has_line(sdp, "a=rtpmap:111 opus/48000/2"));
  EXPECT_TRUE(has_line(sdp, "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1")) << sdp;
  EXPECT_TRUE(has_line(sdp, "a=rtpmap:110 telephone-event/48000"));
  const media::CodecMap m = offered_codecs(o, c.front());
  EXPECT_EQ(m.browser_dtmf_pt, std::optional<std::uint8_t>(110));
}

TEST(MediaSdp, TrunkOfferFmtpIsBoundedWhateverTheBrowserSent) {
  // A browser's fmtp never reaches the trunk verbatim: 4 KB of it, or text in the event list.
  std::string s = replace(chromium_offer(), "a=rtpmap:126 telephone-event/8000",
                          "a=rtpmap:126 telephone-event/8000\r\na=fmtp:126 " + std::string(4000, '1'));
  BrowserOffer o = offer_of(s);
  std::string sdp = write_trunk_offer(o, first_codec(o), local_media(), SdpOrigin{1, 1});
  EXPECT_TRUE(has_line(sdp, "a=fmtp:126 0-15"));
  EXPECT_LT(sdp.size(), 400u);
  s = replace(chromium_offer(), "a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/8000\r\na=fmtp:0 annexb=no;junk=1");
  o = offer_of(s);
  sdp = write_trunk_offer(o, first_codec(o), local_media(), SdpOrigin{1, 1});
  EXPECT_EQ(sdp.find("a=fmtp:0"), std::string::npos) << sdp;
}

TEST(MediaSdp, CodecPreferenceFlag) {
  auto ok = parse_codec_preference("pcma, PCMU,G722,Opus");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, (std::vector<std::string>{"PCMA", "PCMU", "G722", "opus"}));
  EXPECT_EQ(parse_codec_preference("PCMU,G729").error().message, "'G729' is not one of PCMU, PCMA, G722, opus");
  EXPECT_EQ(parse_codec_preference("PCMU,pcmu").error().message, "'pcmu' listed twice");
  EXPECT_EQ(parse_codec_preference("").error().message, "no codec given");
}

TEST(MediaSdp, TrunkOfferForHoldAndIpv6) {
  BrowserOffer o = offer_of(jssip_hold_offer());
  EXPECT_EQ(o.direction, Direction::sendonly);
  media::LocalMedia l = local_media();
  l.trunk_addr = core::SockAddr::parse("[2001:db8::20]:50002").value();
  const std::string sdp = write_trunk_offer(o, first_codec(o), l, SdpOrigin{7, 3});
  EXPECT_TRUE(has_line(sdp, "o=- 7 3 IN IP6 2001:db8::20"));
  EXPECT_TRUE(has_line(sdp, "c=IN IP6 2001:db8::20"));
  EXPECT_TRUE(has_line(sdp, "m=audio 50002 RTP/AVP 0 126"));
  EXPECT_TRUE(has_line(sdp, "a=sendonly"));
}

TEST(MediaSdp, TrunkOfferKeepsTheBrowsersNumbersAndFmtp) {
  // sipwise/rtpengine#2108: a WebRTC offer with other dynamic numbers (telephone-event 97).
  std::string s = replace(chromium_offer(), "110 126\r\n", "110 97\r\n");
  s = replace(s, "a=rtpmap:126 telephone-event/8000", "a=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-16");
  const BrowserOffer o = offer_of(s);
  const std::string sdp = write_trunk_offer(o, first_codec(o), local_media(), SdpOrigin{1, 1});
  EXPECT_TRUE(has_line(sdp, "m=audio 50000 RTP/AVP 0 97"));
  EXPECT_TRUE(has_line(sdp, "a=fmtp:97 0-16"));
}

// ---- the trunk's SDP ----

TEST(MediaSdp, ReadsATrunkAnswer) {
  const TrunkSdp t = trunk_of(trunk_answer("8 0 101", "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
                                                       "a=ptime:20\r\na=sendrecv\r\n"));
  EXPECT_EQ(t.rtp.to_string(), "192.0.2.50:30012");
  EXPECT_FALSE(t.rtcp);
  EXPECT_FALSE(t.rtcp_mux);
  EXPECT_EQ(t.direction, Direction::sendrecv);
  ASSERT_EQ(t.codecs.size(), 3u);
  EXPECT_EQ(t.codecs[0].name, "PCMA");  // static type, no a=rtpmap
  EXPECT_EQ(t.codecs[2].pt, 101);
  EXPECT_EQ(t.codecs[2].fmtp, "0-16");
}

TEST(MediaSdp, TrunkRtcpAttributesMediaLevelAddressAndOldHold) {
  TrunkSdp t = trunk_of(trunk_answer("0", "c=IN IP4 192.0.2.60\r\na=rtcp:30013\r\na=rtcp-mux\r\n"));
  EXPECT_EQ(t.rtp.to_string(), "192.0.2.60:30012");
  ASSERT_TRUE(t.rtcp);
  EXPECT_EQ(t.rtcp->to_string(), "192.0.2.60:30013");
  EXPECT_TRUE(t.rtcp_mux);

  t = trunk_of(trunk_answer("0", "a=rtcp:40001 IN IP4 192.0.2.61\r\n"));
  ASSERT_TRUE(t.rtcp);
  EXPECT_EQ(t.rtcp->to_string(), "192.0.2.61:40001");

  // RFC 2543 hold: c=0.0.0.0 -> the trunk receives nothing.
  t = trunk_of(replace(trunk_answer("0"), "c=IN IP4 192.0.2.50", "c=IN IP4 0.0.0.0"));
  EXPECT_EQ(t.direction, Direction::sendonly);
  t = trunk_of(replace(trunk_answer("0", "a=recvonly\r\n"), "c=IN IP4 192.0.2.50", "c=IN IP4 0.0.0.0"));
  EXPECT_EQ(t.direction, Direction::inactive);
  t = trunk_of(trunk_answer("0", "a=recvonly\r\n"));
  EXPECT_EQ(t.direction, Direction::recvonly);
}

TEST(MediaSdp, TrunkSdpTheEdgeCannotUse) {
  struct Case {
    std::string sdp;
    std::string why;
  };
  const std::string plain = trunk_answer("0");
  const std::vector<Case> cases = {
      {"v=0\r\n", "malformed SDP: no o= line"},
      {replace(plain, "m=audio", "m=video"), "no audio stream"},
      {replace(plain, "m=audio 30012", "m=audio 0"), "audio stream rejected (port 0)"},
      {replace(plain, "RTP/AVP", "RTP/SAVP"), "media profile RTP/SAVP is not RTP/AVP"},
      {replace(plain, "c=IN IP4 192.0.2.50\r\n", ""), "no connection address (c=)"},
      {replace(plain, "c=IN IP4 192.0.2.50", "c=IN IP4 pbx.example.com"), "c= address is not an IPv4 address"},
      {trunk_answer("0", "a=rtcp:x\r\n"), "malformed SDP: bad a=rtcp port"},
      {trunk_answer("0", "a=rtcp:9 IN IP4\r\n"), "malformed SDP: bad a=rtcp address"},
  };
  for (const Case& c : cases) {
    auto r = read_trunk_sdp(c.sdp);
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_EQ(r.error().message, c.why);
  }
  // The browser-side answer of the captured chain (UDP/TLS/RTP/SAVPF) is no trunk SDP.
  const std::string msg = read_file(std::filesystem::path(WEBTRUNK_TEST_DATA) / "sip/captures/trunk_200_invite_sdp.sip");
  auto r = read_trunk_sdp(msg.substr(msg.find("\r\n\r\n") + 4));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "media profile UDP/TLS/RTP/SAVPF is not RTP/AVP");
}

// ---- codec mapping ----

TEST(MediaSdp, TrunkPickingPcmaWhenTheBrowserOfferedPcmuFirst) {
  const BrowserOffer o = offer_of(replace(chromium_offer(), "111 63 9 0 8", "111 63 0 8 9"));
  const media::CodecMap m = map_codecs(o, trunk_of(trunk_answer("8")));
  ASSERT_EQ(m.codecs.size(), 1u);
  EXPECT_EQ(m.codecs[0].name, "PCMA");
  EXPECT_EQ(m.codecs[0].browser_pt, 8);
  EXPECT_EQ(m.codecs[0].trunk_pt, 8);
  EXPECT_FALSE(m.trunk_dtmf_pt);
}

TEST(MediaSdp, TelephoneEventNumbersDifferAndAreMapped) {
  const BrowserOffer o = offer_of(chromium_offer());
  const media::CodecMap m =
      map_codecs(o, trunk_of(trunk_answer("0 101", "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")));
  ASSERT_EQ(m.codecs.size(), 2u);
  EXPECT_EQ(m.codecs[0].name, "PCMU");
  EXPECT_EQ(m.codecs[1].name, "telephone-event");
  EXPECT_EQ(m.codecs[1].browser_pt, 126);
  EXPECT_EQ(m.codecs[1].trunk_pt, 101);
  EXPECT_EQ(m.codecs[1].clock_rate, 8000u);
  EXPECT_EQ(m.browser_dtmf_pt, std::optional<std::uint8_t>(126));
  EXPECT_EQ(m.trunk_dtmf_pt, std::optional<std::uint8_t>(101));
}

TEST(MediaSdp, OpusOfferedByTheBrowserButAbsentAtTheTrunkIsNotUsed) {
  const BrowserOffer o = offer_of(chromium_offer());
  const media::CodecMap m = map_codecs(o, trunk_of(trunk_answer("9 0")));
  ASSERT_EQ(m.codecs.size(), 2u);
  for (const media::CodecMapping& c : m.codecs) EXPECT_NE(c.name, "opus");
  EXPECT_EQ(m.codecs[0].name, "G722");
}

TEST(MediaSdp, OpusWhenTheTrunkListsItWithItsOwnNumbers) {
  // A trunk re-INVITE offering Opus (96) and telephone-event/48000 (97): matched by name and clock.
  const BrowserOffer o = offer_of(chromium_offer());
  const media::CodecMap m = map_codecs(
      o, trunk_of(trunk_answer("96 0 97 101", "a=rtpmap:96 opus/48000/2\r\na=rtpmap:97 telephone-event/48000\r\n"
                                             "a=rtpmap:101 telephone-event/8000\r\n")));
  ASSERT_EQ(m.codecs.size(), 3u);
  EXPECT_EQ(m.codecs[0].name, "opus");
  EXPECT_EQ(m.codecs[0].browser_pt, 111);
  EXPECT_EQ(m.codecs[0].trunk_pt, 96);
  EXPECT_EQ(m.codecs[1].name, "PCMU");
  // The DTMF clock follows the first audio codec's (48 kHz here).
  EXPECT_EQ(m.browser_dtmf_pt, std::optional<std::uint8_t>(110));
  EXPECT_EQ(m.trunk_dtmf_pt, std::optional<std::uint8_t>(97));
}

TEST(MediaSdp, TrunkReinviteOfferAnsweredWithTheTrunksNumbers) {
  // The trunk re-offers Opus 96, PCMU and telephone-event 101 and puts us on hold (sendonly).
  const BrowserOffer o = offer_of(chromium_offer());
  const TrunkSdp t = trunk_of(trunk_answer("96 0 101", "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n"
                                                       "a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"));
  const media::CodecMap m = map_codecs(o, t);
  const std::string sdp = write_trunk_answer(t, m, answer_direction(t.direction), local_media(), SdpOrigin{5, 2});
  EXPECT_EQ(sdp,
            "v=0\r\no=- 5 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
            "m=audio 50000 RTP/AVP 96 0\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=recvonly\r\n");
  const std::string none = write_trunk_answer(t, media::CodecMap{}, Direction::sendrecv, local_media(), SdpOrigin{5, 3});
  EXPECT_TRUE(has_line(none, "m=audio 0 RTP/AVP 96"));
}

TEST(MediaSdp, NothingInCommonIsAnEmptyMap) {
  const BrowserOffer o = offer_of(chromium_offer());
  const media::CodecMap m =
      map_codecs(o, trunk_of(trunk_answer("18 101", "a=rtpmap:101 telephone-event/8000\r\n")));
  EXPECT_TRUE(m.codecs.empty());
  EXPECT_FALSE(m.trunk_dtmf_pt);
  EXPECT_FALSE(m.browser_dtmf_pt);
}

TEST(MediaSdp, OfferedCodecsForEarlyMedia) {
  const BrowserOffer o = offer_of(chromium_offer());
  const media::CodecMap m = offered_codecs(o, first_codec(o));
  ASSERT_EQ(m.codecs.size(), 2u);
  EXPECT_EQ(m.codecs[0].name, "PCMU");
  EXPECT_EQ(m.codecs[0].browser_pt, 0);
  EXPECT_EQ(m.codecs[0].trunk_pt, 0);
  EXPECT_EQ(m.browser_dtmf_pt, std::optional<std::uint8_t>(126));
  EXPECT_EQ(m.trunk_dtmf_pt, std::optional<std::uint8_t>(126));
}

// ---- the answer toward the browser ----

TEST(MediaSdp, BrowserAnswerHasWhatChromiumNeeds) {
  const BrowserOffer o = offer_of(chromium_offer());
  const media::CodecMap m =
      map_codecs(o, trunk_of(trunk_answer("0 101", "a=rtpmap:101 telephone-event/8000\r\n")));
  const std::string sdp = write_browser_answer(o, m, Direction::sendrecv, local_media(), SdpOrigin{6723149012209861731u, 1});
  EXPECT_EQ(sdp,
            "v=0\r\no=- 6723149012209861731 1 IN IP4 203.0.113.10\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n"
            "a=group:BUNDLE 0\r\n"
            "m=audio 40000 UDP/TLS/RTP/SAVPF 0 126\r\nc=IN IP4 203.0.113.10\r\na=mid:0\r\n"
            "a=ice-ufrag:Qm3tZ0aa\r\na=ice-pwd:vRz2PpL0k1XyY7bZmNq8sW4h\r\n"
            "a=fingerprint:sha-256 "
            "12:B7:87:BD:2C:D9:47:5B:22:2E:20:18:E1:5D:76:75:06:DE:6A:B4:D0:4F:B0:7C:68:29:26:DA:CD:74:93:45\r\n"
            "a=setup:passive\r\na=sendrecv\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\na=ptime:20\r\n"
            "a=candidate:1 1 udp 2130706431 203.0.113.10 40000 typ host\r\na=end-of-candidates\r\n");
  // It is SDP our parser (and so the fuzzer's round trip) accepts, with the session-level ICE-lite.
  auto parsed = sip::sdp::parse(sdp);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed.value().attribute("ice-lite"));
}

TEST(MediaSdp, BrowserAnswerKeepsTheBrowsersRtpmapAndFmtpForOpus) {
  const BrowserOffer o = offer_of(chromium_offer());
  const media::CodecMap m = map_codecs(
      o, trunk_of(trunk_answer("96 97", "a=rtpmap:96 opus/48000/2\r\na=rtpmap:97 telephone-event/48000\r\n")));
  const std::string sdp = write_browser_answer(o, m, Direction::sendrecv, local_media(), SdpOrigin{1, 1});
  EXPECT_TRUE(has_line(sdp, "m=audio 40000 UDP/TLS/RTP/SAVPF 111 110"));
  EXPECT_TRUE(has_line(sdp, "a=rtpmap:111 opus/48000/2"));
  EXPECT_TRUE(has_line(sdp, "a=fmtp:111 minptime=10;useinbandfec=1"));
  EXPECT_TRUE(has_line(sdp, "a=rtpmap:110 telephone-event/48000"));
}

TEST(MediaSdp, HoldSendonlyIsAnsweredRecvonly) {
  const BrowserOffer o = offer_of(jssip_hold_offer());
  ASSERT_EQ(o.direction, Direction::sendonly);
  EXPECT_EQ(answer_direction(o.direction), Direction::recvonly);
  // Whatever the trunk answered (run C: a wrong sendrecv), the browser gets a subset of its offer.
  EXPECT_EQ(answer_direction(o.direction, Direction::sendrecv), Direction::recvonly);
  EXPECT_EQ(answer_direction(o.direction, Direction::recvonly), Direction::recvonly);
  EXPECT_EQ(answer_direction(o.direction, Direction::inactive), Direction::inactive);
  const std::string sdp = write_browser_answer(o, offered_codecs(o, first_codec(o)), answer_direction(o.direction, Direction::recvonly),
                                               local_media(), SdpOrigin{1, 2});
  EXPECT_TRUE(has_line(sdp, "a=recvonly"));
  EXPECT_FALSE(has_line(sdp, "a=sendrecv"));
  EXPECT_TRUE(has_line(sdp, "a=setup:passive"));
}

TEST(MediaSdp, AnswerDirections) {
  EXPECT_EQ(answer_direction(Direction::sendrecv), Direction::sendrecv);
  EXPECT_EQ(answer_direction(Direction::sendonly), Direction::recvonly);
  EXPECT_EQ(answer_direction(Direction::recvonly), Direction::sendonly);
  EXPECT_EQ(answer_direction(Direction::inactive), Direction::inactive);
  EXPECT_EQ(answer_direction(Direction::sendrecv, Direction::sendrecv), Direction::sendrecv);
  // The trunk put us on hold (it sends only): the browser hears it and sends nothing.
  EXPECT_EQ(answer_direction(Direction::sendrecv, Direction::sendonly), Direction::sendonly);
  EXPECT_EQ(answer_direction(Direction::sendrecv, Direction::recvonly), Direction::recvonly);
  EXPECT_EQ(answer_direction(Direction::recvonly, Direction::sendrecv), Direction::sendonly);
  EXPECT_EQ(answer_direction(Direction::recvonly, Direction::recvonly), Direction::inactive);
  EXPECT_EQ(parse_direction("inactive"), Direction::inactive);
  EXPECT_EQ(parse_direction("bogus"), Direction::sendrecv);
}

TEST(MediaSdp, VideoAndDataChannelAreRejectedWithPortZeroInOfferOrder) {
  // Video first, then the audio, then a data channel: the answer keeps that order.
  std::string s = chromium_offer();
  s = replace(s, "a=group:BUNDLE 0", "a=group:BUNDLE 1 0 2");
  s = replace(s, "m=audio", "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
                            "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\nm=audio");
  s += "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=sctp-port:5000\r\n";
  const BrowserOffer o = offer_of(s);
  ASSERT_EQ(o.others.size(), 2u);
  EXPECT_EQ(o.audio_index, 1u);
  EXPECT_EQ(o.others[0].media, "video");
  EXPECT_EQ(o.others[0].fmt, "96");
  EXPECT_EQ(o.others[1].mid, "2");
  const std::string sdp = write_browser_answer(o, offered_codecs(o, first_codec(o)), Direction::sendrecv, local_media(), SdpOrigin{1, 1});
  auto parsed = sip::sdp::parse(sdp);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const auto& media = parsed.value().media;
  ASSERT_EQ(media.size(), 3u);
  EXPECT_EQ(media[0].media, "video");
  EXPECT_EQ(media[0].port, 0);
  EXPECT_EQ(media[0].attribute("mid"), std::optional<std::string_view>("1"));
  EXPECT_EQ(media[1].media, "audio");
  EXPECT_EQ(media[1].port, 40000);
  EXPECT_EQ(media[2].media, "application");
  EXPECT_EQ(media[2].port, 0);
  EXPECT_EQ(media[2].formats, (std::vector<std::string_view>{"webrtc-datachannel"}));
  EXPECT_EQ(parsed.value().attribute("group"), std::optional<std::string_view>("BUNDLE 0"));
  // Nothing of the rejected streams reaches the trunk.
  const std::string trunk = write_trunk_offer(o, first_codec(o), local_media(), SdpOrigin{1, 1});
  EXPECT_EQ(trunk.find("video"), std::string::npos);
  EXPECT_EQ(trunk.find("application"), std::string::npos);
}

TEST(MediaSdp, EmptyCodecMapRejectsTheAudioSection) {
  const BrowserOffer o = offer_of(chromium_offer());
  const std::string sdp = write_browser_answer(o, media::CodecMap{}, Direction::sendrecv, local_media(), SdpOrigin{1, 1});
  EXPECT_TRUE(has_line(sdp, "m=audio 0 UDP/TLS/RTP/SAVPF 111"));
  EXPECT_FALSE(has_line(sdp, "a=group:BUNDLE 0"));
  EXPECT_TRUE(sip::sdp::parse(sdp).ok());
}

TEST(MediaSdp, IceRestartReofferGivesNewRemoteCredentials) {
  // JsSIP's ICE-restart re-offer in run B: new ufrag/pwd, same fingerprint, actpass again.
  const std::string text = read_file(kData / "transcripts/run-b-jssip-sipjs-full.txt");
  const std::size_t at = text.find("a=ice-ufrag:7NmF");
  ASSERT_NE(at, std::string::npos);
  const std::size_t start = text.rfind("v=0\r\n", at);
  const std::size_t end = text.find("\n\n", at);
  const BrowserOffer o = offer_of(text.substr(start, end - start + 1));
  EXPECT_EQ(o.remote.ice.ufrag, "7NmF");
  EXPECT_EQ(o.setup, "actpass");
  EXPECT_EQ(o.remote.fingerprint_sha256.size(), 95u);
}

}  // namespace

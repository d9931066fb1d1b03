// SDP speed per call: parsing the browser's offer (generic parse, and read_browser_offer on top),
// writing the trunk offer, reading the trunk's answer with the codec map, and writing the browser
// answer, on the captured Chromium offer (tests/data/sdp/chromium/offer-example.sdp).
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "edge/media_sdp.hpp"
#include "sip/sdp.hpp"

namespace {

using namespace webtrunk;

std::string crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// Chromium 156, 1,551 bytes, 40 lines.
const std::string kOffer = crlf(R"SDP(v=0
o=- 4781285960896215454 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS 9edcf8ca-6517-4f0e-92cd-c0e99f04531c
m=audio 58206 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 127.0.0.1
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:609460023 1 udp 2122260223 127.0.0.1 58206 typ host generation 0 network-id 1 network-cost 50
a=candidate:1520205231 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0 network-id 1 network-cost 50
a=ice-ufrag:aj7f
a=ice-pwd:+BmAjVNCJqk/MfBiI+1h9OHK
a=ice-options:trickle
a=fingerprint:sha-256 02:FA:96:EF:A1:32:50:67:82:18:D9:88:A0:22:E1:55:07:7B:18:ED:7D:31:3D:89:C8:E8:48:B7:31:9F:8A:38
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:9edcf8ca-6517-4f0e-92cd-c0e99f04531c f5cde156-9915-414c-b4b8-b53b20a37bb1
a=rtcp-mux
a=rtcp-rsize
a=rtcp-xr:rcvr-rtt=all
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:3856974948 cname:/E5NsazP3bDkVT9Z
a=ssrc:3856974948 msid:9edcf8ca-6517-4f0e-92cd-c0e99f04531c f5cde156-9915-414c-b4b8-b53b20a37bb1
)SDP");

const std::string kTrunkAnswer = crlf(R"SDP(v=0
o=trunk 53655765 2353687637 IN IP4 192.0.2.50
s=-
c=IN IP4 192.0.2.50
t=0 0
m=audio 30012 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
)SDP");

media::LocalMedia local_media() {
  media::LocalMedia l;
  l.ice = {"Qm3tZ0aa", "vRz2PpL0k1XyY7bZmNq8sW4h"};
  l.fingerprint =
      "12:B7:87:BD:2C:D9:47:5B:22:2E:20:18:E1:5D:76:75:06:DE:6A:B4:D0:4F:B0:7C:68:29:26:DA:CD:74:93:45";
  l.browser_addr = core::SockAddr::parse("203.0.113.10:40000").value();
  l.trunk_addr = core::SockAddr::parse("198.51.100.20:50000").value();
  return l;
}

void SdpParseChromiumOffer(benchmark::State& state) {
  for (auto _ : state) {
    auto r = sip::sdp::parse(kOffer);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kOffer.size()));
}
BENCHMARK(SdpParseChromiumOffer);

void SdpReadBrowserOffer(benchmark::State& state) {
  for (auto _ : state) {
    auto r = edge::read_browser_offer(kOffer);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(SdpReadBrowserOffer);

void SdpWriteTrunkOffer(benchmark::State& state) {
  const edge::BrowserOffer offer = edge::read_browser_offer(kOffer).value();
  const media::LocalMedia local = local_media();
  const edge::SdpCodec codec = edge::codec_candidates(offer, edge::default_codec_preference()).front();
  for (auto _ : state) {
    std::string s = edge::write_trunk_offer(offer, codec, local, edge::SdpOrigin{1795811422, 1});
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(SdpWriteTrunkOffer);

void SdpReadTrunkAnswerAndMap(benchmark::State& state) {
  const edge::BrowserOffer offer = edge::read_browser_offer(kOffer).value();
  for (auto _ : state) {
    auto t = edge::read_trunk_sdp(kTrunkAnswer);
    media::CodecMap m = edge::map_codecs(offer, t.value());
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(SdpReadTrunkAnswerAndMap);

void SdpWriteBrowserAnswer(benchmark::State& state) {
  const edge::BrowserOffer offer = edge::read_browser_offer(kOffer).value();
  const media::CodecMap map = edge::map_codecs(offer, edge::read_trunk_sdp(kTrunkAnswer).value());
  const media::LocalMedia local = local_media();
  for (auto _ : state) {
    std::string s = edge::write_browser_answer(offer, map, media::Direction::sendrecv, local, edge::SdpOrigin{1, 1});
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(SdpWriteBrowserAnswer);

// What one call costs in SDP work: the browser's offer in, trunk offer out, trunk answer in, browser
// answer out.
void SdpWholeCall(benchmark::State& state) {
  const media::LocalMedia local = local_media();
  for (auto _ : state) {
    const edge::BrowserOffer offer = edge::read_browser_offer(kOffer).value();
    const edge::SdpCodec codec = edge::codec_candidates(offer, edge::default_codec_preference()).front();
    std::string to_trunk = edge::write_trunk_offer(offer, codec, local, edge::SdpOrigin{1, 1});
    const edge::TrunkSdp trunk = edge::read_trunk_sdp(kTrunkAnswer).value();
    const media::CodecMap map = edge::map_codecs(offer, trunk);
    std::string to_browser = edge::write_browser_answer(offer, map, media::Direction::sendrecv, local, edge::SdpOrigin{1, 1});
    benchmark::DoNotOptimize(to_trunk);
    benchmark::DoNotOptimize(to_browser);
  }
}
BENCHMARK(SdpWholeCall);

}  // namespace

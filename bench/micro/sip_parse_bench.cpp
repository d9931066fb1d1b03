// SIP parse speed: what routing needs (start line, header index, top Via branch, Call-ID, CSeq,
// To and From tags) and a full parse of every header, on a captured JsSIP INVITE with SDP and the
// trunk's 200 OK (tests/data/sip/captures/). Target: routing parse <= 500 ns per message.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "sip/auth_params.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/uri.hpp"
#include "sip/validate.hpp"
#include "sip/writer.hpp"

namespace {

using namespace webtrunk::sip;

std::string crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// jssip_invite_sdp.sip (JsSIP 3.13.8, 2085 bytes) and trunk_200_invite_sdp.sip (sipp, 1000 bytes).
const std::string kInvite = crlf(R"SIP(INVITE sip:trunk@edge.test SIP/2.0
Via: SIP/2.0/WS 2ptt6va5fmo9.invalid;branch=z9hG4bK4609336
Max-Forwards: 69
To: <sip:trunk@edge.test>
From: <sip:alice@edge.test>;tag=jj68q4f2rq
Call-ID: 97qcmidekhpsoulq4v3j
CSeq: 1864 INVITE
Contact: <sip:alice@edge.test;gr=urn:uuid:fbdc327a-460a-4d74-8047-b41673616bc6>
Content-Type: application/sdp
Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY,SUBSCRIBE
Supported: gruu,ice,replaces,outbound
User-Agent: JsSIP 3.13.8 (headless test)
Content-Length: 1552

v=0
o=- 7510124429310766391 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS b9077d71-60f0-4dc1-a1a9-8ea042fddc42
m=audio 48819 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 127.0.0.1
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:2161066967 1 udp 2122260223 127.0.0.1 48819 typ host generation 0 network-id 1 network-cost 50
a=candidate:2120587075 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0 network-id 1 network-cost 50
a=ice-ufrag:G8/r
a=ice-pwd:Vl3FUbFdYcsA2VfzjTPnUXWO
a=ice-options:trickle
a=fingerprint:sha-256 B0:E3:17:94:80:BF:13:94:67:42:28:9A:D5:5F:2F:76:24:DD:85:71:E2:A6:3B:38:BC:F6:17:B9:6D:E1:CD:6A
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:b9077d71-60f0-4dc1-a1a9-8ea042fddc42 bedd1995-6f68-49b7-98b4-02df5e24f9ee
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
a=ssrc:2633685853 cname:fgihcLoaiWkXp53k
a=ssrc:2633685853 msid:b9077d71-60f0-4dc1-a1a9-8ea042fddc42 bedd1995-6f68-49b7-98b4-02df5e24f9ee
)SIP");
const std::string kOk = crlf(R"SIP(SIP/2.0 200 OK
Via: SIP/2.0/WS 2ptt6va5fmo9.invalid;rport=40390;received=127.0.0.1;branch=z9hG4bK4609336
Record-Route: <sip:127.0.0.1;r2=on;lr;ftag=jj68q4f2rq>, <sip:127.0.0.1:8080;transport=ws;r2=on;lr;ftag=jj68q4f2rq>
From: <sip:alice@edge.test>;tag=jj68q4f2rq
To: <sip:trunk@edge.test>;tag=24681SIPpTag011
Call-ID: 97qcmidekhpsoulq4v3j
CSeq: 1864 INVITE
Contact: <sip:127.0.0.1:5080;transport=UDP>
Content-Type: application/sdp
Content-Length:   535

v=0
o=trunk 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 30012 UDP/TLS/RTP/SAVPF 0 8
a=mid:0
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=sendrecv
a=rtcp:30012
a=rtcp-mux
a=setup:passive
a=fingerprint:sha-256 12:B7:87:BD:2C:D9:47:5B:22:2E:20:18:E1:5D:76:75:06:DE:6A:B4:D0:4F:B0:7C:68:29:26:DA:CD:74:93:45
a=ptime:20
a=ice-ufrag:Z9kpvziW
a=ice-pwd:85WT5IJ9SaJt5V9Xmkd0L1UknT
a=ice-options:trickle
a=candidate:jdMSRju2QBeMOdyI 1 UDP 2130706431 127.0.0.1 30012 typ host
a=end-of-candidates
)SIP");

void route(benchmark::State& state, const std::string& text) {
  MessageView m;
  for (auto _ : state) {
    const ParseResult r = parse_message(text, m, {Framing::datagram});
    const auto via = top_via(m);
    const auto cs = cseq(m);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(via->branch);
    benchmark::DoNotOptimize(call_id(m));
    benchmark::DoNotOptimize(cs->number);
    benchmark::DoNotOptimize(to_tag(m));
    benchmark::DoNotOptimize(from_tag(m));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

// Every header parsed by its helper, plus validation.
void full(benchmark::State& state, const std::string& text) {
  MessageView m;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse_message(text, m, {Framing::datagram}));
    benchmark::DoNotOptimize(m.is_request() ? validate_request(m) : validate_response(m));
    std::string_view e;
    for (const HeaderField& h : m.headers()) {
      switch (h.id) {
        case HeaderId::via: {
          ListCursor c(h.value);
          Via v;
          while (c.next(e)) benchmark::DoNotOptimize(parse_via(e, v));
          break;
        }
        case HeaderId::from:
        case HeaderId::to:
        case HeaderId::contact:
        case HeaderId::route:
        case HeaderId::record_route: {
          ListCursor c(h.value);
          while (c.next(e)) {
            NameAddr na;
            Uri u;
            benchmark::DoNotOptimize(parse_name_addr(e, na) && parse_uri(na.uri, u));
          }
          break;
        }
        case HeaderId::cseq: {
          CSeq c;
          benchmark::DoNotOptimize(parse_cseq(h.value, c));
          break;
        }
        case HeaderId::max_forwards: benchmark::DoNotOptimize(parse_max_forwards(h.value)); break;
        case HeaderId::content_type: {
          MediaType mt;
          benchmark::DoNotOptimize(parse_media_type(h.value, mt));
          break;
        }
        case HeaderId::supported:
        case HeaderId::allow: {
          ListCursor c(h.value);
          while (c.next(e)) benchmark::DoNotOptimize(e);
          break;
        }
        default: break;
      }
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void BM_SipParseRouteInvite(benchmark::State& s) { route(s, kInvite); }
void BM_SipParseRoute200Ok(benchmark::State& s) { route(s, kOk); }
void BM_SipParseFullInvite(benchmark::State& s) { full(s, kInvite); }
void BM_SipParseFull200Ok(benchmark::State& s) { full(s, kOk); }

void BM_SipMakeResponse(benchmark::State& state) {
  MessageView m;
  (void)parse_message(kInvite, m);
  for (auto _ : state) benchmark::DoNotOptimize(make_response(m, 180, "Ringing", "edge-tag-1"));
}

void BM_SipForwardWithEdits(benchmark::State& state) {
  MessageView m;
  (void)parse_message(kInvite, m);
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    MessageEdits e;
    (void)e.prepend("Via", "SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKedge");
    (void)e.replace(*m.find(HeaderId::max_forwards), "68");
    (void)e.remove_all(HeaderId::user_agent);
    MessageWriter w(out);
    benchmark::DoNotOptimize(write_message(m, e, w));
  }
}

BENCHMARK(BM_SipParseRouteInvite);
BENCHMARK(BM_SipParseRoute200Ok);
BENCHMARK(BM_SipParseFullInvite);
BENCHMARK(BM_SipParseFull200Ok);
BENCHMARK(BM_SipMakeResponse);
BENCHMARK(BM_SipForwardWithEdits);

}  // namespace

// bench_sip_load, part 2: the SIP text the emulated peers send.
//
// Browser side: JsSIP 3.13.8 as captured in tests/data/transcripts/run-a-jssip-basic.txt
// (header order and values, Via host "<random>.invalid", GRUU Contact, Session-Expires: 90 as JsSIP
// sends by default, the Chrome audio offer cut to ~1.1 KB by dropping its TCP candidate, two
// header extensions, rtcp-xr and the ssrc msid line), and the Proxy-Authorization JsSIP writes
// (DigestAuthentication.js: algorithm first, qop=auth with cnonce and nc).
// Trunk side: the sipp UAS of tests/integration/sipp/answer.xml (copies Via, From, To + tag,
// Call-ID, CSeq and Record-Route; Contact; a plain RTP/AVP SDP answer).
//
// Lifetimes: every builder returns an owned std::string; arguments are read during the call only.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/digest.hpp"
#include "sip/header_parsers.hpp"
#include "sip/message_view.hpp"
#include "sip/writer.hpp"

namespace webtrunk::bench {

inline constexpr std::string_view kRealm = "edge.test";
inline constexpr std::string_view kNumberPrefix = "1555";  // called number = prefix + 8-digit call index
inline constexpr std::string_view kJsSipAllow =
    "INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY,SUBSCRIBE";
inline constexpr std::string_view kJsSipAgent = "JsSIP 3.13.8";

// The Chrome offer of the capture; {0} = o= session id, {1} = the audio port.
inline constexpr std::string_view kOfferTemplate =
    "v=0\r\n"
    "o=- {0} 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS b9077d71-60f0-4dc1-a1a9-8ea042fddc42\r\n"
    "m=audio {1} UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:2161066967 1 udp 2122260223 127.0.0.1 {1} typ host generation 0 network-id 1 network-cost 50\r\n"
    "a=ice-ufrag:G8/r\r\n"
    "a=ice-pwd:Vl3FUbFdYcsA2VfzjTPnUXWO\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "B0:E3:17:94:80:BF:13:94:67:42:28:9A:D5:5F:2F:76:24:DD:85:71:E2:A6:3B:38:BC:F6:17:B9:6D:E1:CD:6A\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=sendrecv\r\n"
    "a=msid:b9077d71-60f0-4dc1-a1a9-8ea042fddc42 bedd1995-6f68-49b7-98b4-02df5e24f9ee\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "a=fmtp:63 111/111\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=ssrc:2633685853 cname:fgihcLoaiWkXp53k\r\n";

// A trunk's answer as the sipp trunk of the integration tests sends it (tests/integration/sipp/
// answer-media.xml): plain RTP/AVP, G.711 and telephone-event. The edge offers the trunk plain RTP
// and answers 502 (bad trunk SDP) to anything else, e.g. the SAVPF answer captured when it still
// passed the browser's SDP through. No RTP flows in this test (no browser does ICE).
inline constexpr std::string_view kTrunkAnswer =
    "v=0\r\n"
    "o=trunk 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 30012 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n";

inline std::string make_offer(std::uint64_t session_id, unsigned port) {
  return fmt::format(fmt::runtime(kOfferTemplate), session_id, port);
}

// What one emulated browser is: its WebSocket Via host, GRUU instance and edge token.
struct BrowserIdentity {
  std::string via_host;  // "2ptt6va5fmo9.invalid"
  std::string user;      // From user = the token's u= claim
  std::string instance;  // urn:uuid for the GRUU Contact
  std::string token_user;
  std::string token_password;
};

// One call's browser-side dialog identifiers.
struct BrowserCallIds {
  std::string_view ruri;  // sip:<number>@edge.test
  std::string_view number;
  std::string_view call_id;
  std::string_view from_tag;
  std::string_view to_tag;  // "" before the edge answered
};

namespace detail {
inline void jssip_common(sip::MessageWriter& w, const BrowserIdentity& b, const BrowserCallIds& c,
                         std::string_view method, std::string_view branch, std::uint32_t cseq) {
  w.header("Via", fmt::format("SIP/2.0/WS {};branch={}", b.via_host, branch));
  w.header("Max-Forwards", "69");
  if (c.to_tag.empty()) {
    w.header("To", fmt::format("<sip:{}@{}>", c.number, kRealm));
  } else {
    w.header("To", fmt::format("<sip:{}@{}>;tag={}", c.number, kRealm, c.to_tag));
  }
  w.header("From", fmt::format("<sip:{}@{}>;tag={}", b.user, kRealm, c.from_tag));
  w.header("Call-ID", c.call_id);
  w.header("CSeq", fmt::format("{} {}", cseq, method));
}
}  // namespace detail

// JsSIP's INVITE; `proxy_auth` is the Proxy-Authorization value or "" for the first attempt.
inline std::string jssip_invite(const BrowserIdentity& b, const BrowserCallIds& c, std::string_view branch,
                                std::uint32_t cseq, std::string_view proxy_auth, std::string_view sdp) {
  std::string out;
  out.reserve(700 + sdp.size() + proxy_auth.size());
  sip::MessageWriter w(out);
  w.request_line("INVITE", c.ruri);
  detail::jssip_common(w, b, c, "INVITE", branch, cseq);
  if (!proxy_auth.empty()) w.header("Proxy-Authorization", proxy_auth);
  w.header("Contact", fmt::format("<sip:{}@{};gr={}>", b.user, kRealm, b.instance));
  w.header("Content-Type", "application/sdp");
  w.header("Session-Expires", "90");
  w.header("Allow", kJsSipAllow);
  w.header("Supported", "timer,gruu,ice,replaces,outbound");
  w.header("User-Agent", kJsSipAgent);
  w.finish(sdp);
  return out;
}

// ACK (of a 2xx: new branch, Request-URI = the 2xx Contact; of a non-2xx: the INVITE's branch and
// Request-URI, RFC 3261 §17.1.1.3) and BYE, both with JsSIP's trailing headers.
inline std::string jssip_in_dialog(const BrowserIdentity& b, const BrowserCallIds& c, std::string_view method,
                                   std::string_view ruri, std::string_view branch, std::uint32_t cseq) {
  std::string out;
  out.reserve(600);
  sip::MessageWriter w(out);
  w.request_line(method, ruri);
  detail::jssip_common(w, b, c, method, branch, cseq);
  w.header("Allow", kJsSipAllow);
  w.header("Supported", "outbound");
  w.header("User-Agent", kJsSipAgent);
  w.finish();
  return out;
}

// Proxy-Authorization (Authorization for REGISTER) as JsSIP writes it for a qop="auth" MD5 challenge.
inline std::string jssip_digest(const BrowserIdentity& b, std::string_view ruri, std::string_view nonce,
                                std::uint32_t nc, std::string_view cnonce, std::string_view method = "INVITE") {
  const std::string nc_text = fmt::format("{:08x}", nc);
  auth::DigestCredentials c;
  c.username = b.token_user;
  c.realm = kRealm;
  c.nonce = nonce;
  c.uri = ruri;
  c.algorithm = "MD5";
  c.qop = "auth";
  c.nc = nc_text;
  c.cnonce = cnonce;
  auth::DigestHex h;
  if (auth::compute_digest_response(c, method, b.token_password, h) != auth::DigestStatus::ok) return {};
  return fmt::format(
      "Digest algorithm=MD5, username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", qop=auth, "
      "cnonce=\"{}\", nc={}",
      b.token_user, kRealm, nonce, ruri, h.view(), cnonce, nc_text);
}

// JsSIP's REGISTER (the capture's: GRUU instance, reg-id, 600 s); `authorization` "" at first.
inline std::string jssip_register(const BrowserIdentity& b, std::string_view call_id, std::string_view from_tag,
                                  std::string_view branch, std::uint32_t cseq, std::string_view authorization) {
  std::string out;
  out.reserve(800);
  sip::MessageWriter w(out);
  w.request_line("REGISTER", fmt::format("sip:{}", kRealm));
  w.header("Via", fmt::format("SIP/2.0/WS {};branch={}", b.via_host, branch));
  w.header("Max-Forwards", "69");
  w.header("To", fmt::format("<sip:{}@{}>", b.user, kRealm));
  w.header("From", fmt::format("<sip:{}@{}>;tag={}", b.user, kRealm, from_tag));
  w.header("Call-ID", call_id);
  w.header("CSeq", fmt::format("{} REGISTER", cseq));
  if (!authorization.empty()) w.header("Authorization", authorization);
  w.header("Expires", "600");
  w.header("Contact", fmt::format("<sip:{}@{};transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<{}>\";expires=600",
                                  b.user, b.via_host, b.instance));
  w.header("Allow", kJsSipAllow);
  w.header("Supported", "path,gruu,outbound");
  w.header("User-Agent", kJsSipAgent);
  w.finish();
  return out;
}

// The trunk's offer of a call to a browser, as tests/integration/sipp/call-browser.xml sends it:
// plain RTP/AVP, PCMU, PCMA, telephone-event. {0} = the RTP port.
inline constexpr std::string_view kTrunkOfferTemplate =
    "v=0\r\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio {0} RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=sendrecv\r\n";

// Chromium's answer to the edge's offer to a browser: the session part and the ICE/DTLS lines of
// kOfferTemplate, with a=setup:active (the edge stays the DTLS server), and the payload types of
// the offer's m= line with their a=rtpmap/a=fmtp lines, as Chromium keeps what it supports. The
// edge offers one codec and telephone-event, all of which Chromium supports. {0} = o= session id.
inline std::string chromium_answer(std::string_view offer, std::uint64_t session_id) {
  std::string fmts, attrs;
  std::size_t pos = 0;
  while (pos < offer.size()) {
    std::size_t eol = offer.find('\n', pos);
    if (eol == std::string_view::npos) eol = offer.size();
    std::string_view line = offer.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("m=audio ", 0) == 0) {
      // m=audio PORT PROTO FMT...: the formats follow the third space.
      std::size_t sp = line.find(' ', line.find(' ', 8) + 1);
      if (sp != std::string_view::npos) fmts = std::string(line.substr(sp));
    } else if (line.rfind("a=rtpmap:", 0) == 0 || line.rfind("a=fmtp:", 0) == 0) {
      attrs += fmt::format("{}\r\n", line);
    }
  }
  return fmt::format(
      "v=0\r\n"
      "o=- {} 2 IN IP4 127.0.0.1\r\n"
      "s=-\r\n"
      "t=0 0\r\n"
      "a=group:BUNDLE 0\r\n"
      "a=msid-semantic: WMS b9077d71-60f0-4dc1-a1a9-8ea042fddc42\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF{}\r\n"
      "c=IN IP4 0.0.0.0\r\n"
      "a=rtcp:9 IN IP4 0.0.0.0\r\n"
      "a=ice-ufrag:G8/r\r\n"
      "a=ice-pwd:Vl3FUbFdYcsA2VfzjTPnUXWO\r\n"
      "a=ice-options:trickle\r\n"
      "a=fingerprint:sha-256 "
      "B0:E3:17:94:80:BF:13:94:67:42:28:9A:D5:5F:2F:76:24:DD:85:71:E2:A6:3B:38:BC:F6:17:B9:6D:E1:CD:6A\r\n"
      "a=setup:active\r\n"
      "a=mid:0\r\n"
      "a=sendrecv\r\n"
      "a=msid:b9077d71-60f0-4dc1-a1a9-8ea042fddc42 bedd1995-6f68-49b7-98b4-02df5e24f9ee\r\n"
      "a=rtcp-mux\r\n"
      "{}"
      "a=ssrc:2633685853 cname:fgihcLoaiWkXp53k\r\n",
      session_id, fmts, attrs);
}

// One call's trunk-side dialog identifiers (a call from the trunk to a browser).
struct TrunkCallIds {
  std::string_view local;   // the trunk's host:port
  std::string_view edge;    // the edge's host:port
  std::string_view caller;  // From user: the called number of this bench, "1555NNNNNNNN"
  std::string_view callee;  // the browser's user
  std::string_view call_id;
  std::string_view from_tag;
  std::string_view to_tag;  // "" before the edge answered
};

// A request of the trunk as sipp's call-browser.xml sends it: INVITE (with `sdp`), ACK, BYE.
inline std::string trunk_request(const TrunkCallIds& c, std::string_view method, std::string_view ruri,
                                 std::string_view branch, std::uint32_t cseq, std::string_view sdp = {}) {
  std::string out;
  out.reserve(500 + sdp.size());
  sip::MessageWriter w(out);
  w.request_line(method, ruri);
  w.header("Via", fmt::format("SIP/2.0/UDP {};branch={}", c.local, branch));
  w.header("From", fmt::format("<sip:{}@{}>;tag={}", c.caller, c.local, c.from_tag));
  if (c.to_tag.empty()) {
    w.header("To", fmt::format("<sip:{}@{}>", c.callee, c.edge));
  } else {
    w.header("To", fmt::format("<sip:{}@{}>;tag={}", c.callee, c.edge, c.to_tag));
  }
  w.header("Call-ID", c.call_id);
  w.header("CSeq", fmt::format("{} {}", cseq, method));
  if (method == "INVITE") w.header("Contact", fmt::format("<sip:trunk@{}>", c.local));
  w.header("Max-Forwards", "70");
  if (!sdp.empty()) w.header("Content-Type", "application/sdp");
  w.finish(sdp);
  return out;
}

// A trunk response to `req` as sipp builds it: Via, From, To (+ tag), Call-ID, CSeq copied,
// Record-Route copied for dialog-creating responses, then Contact and the body.
inline std::string trunk_response(const sip::MessageView& req, int code, std::string_view reason,
                                  std::string_view to_tag, std::string_view contact, std::string_view sdp = {}) {
  std::string out;
  out.reserve(400 + sdp.size());
  sip::MessageWriter w(out);
  sip::write_response_head(req, code, reason, code > 100 ? to_tag : std::string_view{}, w);
  if (code > 100 && req.method() == sip::Method::invite) {
    for (const sip::HeaderField* h = req.find(sip::HeaderId::record_route); h != nullptr; h = req.find_next(h)) {
      w.header(*h);
    }
  }
  if (code > 100) w.header("Contact", contact);
  if (!sdp.empty()) w.header("Content-Type", "application/sdp");
  w.finish(sdp);
  return out;
}

// The URI user of a name-addr header value (To) or of a Request-URI; "" if none.
inline std::string_view uri_user_of(std::string_view uri_text) {
  sip::Uri u;
  if (!sip::parse_uri(uri_text, u)) return {};
  return u.user;
}
inline std::string_view name_addr_user(std::string_view value) {
  sip::NameAddr na;
  if (!sip::parse_name_addr(value, na)) return {};
  return uri_user_of(na.uri);
}

// The call index carried in a called number "1555NNNNNNNN"; -1 if it is not one of ours.
inline std::int64_t call_index_of_number(std::string_view number) {
  if (number.size() != kNumberPrefix.size() + 8 || number.substr(0, kNumberPrefix.size()) != kNumberPrefix) return -1;
  std::int64_t v = 0;
  for (char ch : number.substr(kNumberPrefix.size())) {
    if (ch < '0' || ch > '9') return -1;
    v = v * 10 + (ch - '0');
  }
  return v;
}

}  // namespace webtrunk::bench

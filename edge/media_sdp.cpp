#include "edge/media_sdp.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/metrics.hpp"
#include "sip/sdp.hpp"
#include "sip/text.hpp"

namespace webtrunk::edge {

namespace {

namespace sdp = sip::sdp;
using sip::text::iequals;

const core::Counter kBrowserSdpRejected{"webtrunk_sdp_browser_rejected_total",
                                        "browser offers the edge could not use (488)"};
const core::Counter kTrunkSdpRejected{"webtrunk_sdp_trunk_rejected_total",
                                      "trunk SDP bodies the edge could not use"};

constexpr std::string_view kTelephoneEvent = "telephone-event";
// RFC 8445 §5.1.2.1 type preference 126 for host, local preference 65535, component 1.
constexpr std::uint32_t kHostPriority = 2130706431;

core::Error reject(const core::Counter& counter, std::string message) {
  counter.inc();
  return core::Error{-EINVAL, std::move(message)};
}

bool is_telephone_event(const SdpCodec& c) noexcept { return iequals(c.name, kTelephoneEvent); }

// The audio codecs every SIP trunk can be assumed to take (research/features.md §2.6). Their RTP
// clock is 8000, G.722's included (RFC 3551 §4.5.2).
bool trunk_understands(const SdpCodec& c) noexcept {
  return c.clock_rate == 8000 && c.channels == 1 &&
         (iequals(c.name, "PCMU") || iequals(c.name, "PCMA") || iequals(c.name, "G722"));
}

bool same_codec(const SdpCodec& a, const SdpCodec& b) noexcept {
  return iequals(a.name, b.name) && a.clock_rate == b.clock_rate;
}

// The fmtp our trunk offer carries for a codec of the browser's: only what the codec needs, so a
// browser cannot put arbitrary text (or kilobytes of it) into the trunk's INVITE. Opus keeps its
// known parameters with numeric values (RFC 7587 §6.1); telephone-event its event list (RFC 4733
// §7.1.1: no list means 0-15, said outright for trunks that insist); G.711 and G.722 have none.
std::string trunk_fmtp(const SdpCodec& c) {
  if (is_telephone_event(c)) {
    const bool list = !c.fmtp.empty() && c.fmtp.size() <= 32 &&
                      std::all_of(c.fmtp.begin(), c.fmtp.end(), [](char ch) {
                        return sip::text::is_digit(ch) || ch == ',' || ch == '-';
                      });
    return list ? c.fmtp : std::string("0-15");
  }
  if (!iequals(c.name, "opus")) return {};
  constexpr std::array<std::string_view, 10> kOpusParams{"minptime",       "useinbandfec",    "usedtx",
                                                         "stereo",         "sprop-stereo",    "maxplaybackrate",
                                                         "sprop-maxcapturerate", "maxaveragebitrate", "cbr",
                                                         "ptime"};
  std::string out;
  std::string_view rest = c.fmtp;
  while (!rest.empty()) {
    const std::size_t semi = rest.find(';');
    const std::string_view param = sip::text::trim_lws(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    const std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = param.substr(0, eq);
    const std::string_view value = param.substr(eq + 1);
    const bool known = std::find(kOpusParams.begin(), kOpusParams.end(), key) != kOpusParams.end();
    const bool numeric = !value.empty() && value.size() <= 10 &&
                         std::all_of(value.begin(), value.end(), [](char ch) { return sip::text::is_digit(ch); });
    if (!known || !numeric) continue;
    if (!out.empty()) out += ';';
    out.append(param);
  }
  return out;
}

// Every payload type of the m-line that has a name (a=rtpmap or RFC 3551 static), in m-line order.
// Non-numeric formats and unnamed dynamic types are left out: nobody can map them.
std::vector<SdpCodec> read_codecs(const sdp::Media& m) {
  std::vector<SdpCodec> out;
  out.reserve(m.formats.size());
  for (std::string_view f : m.formats) {
    const std::optional<std::uint8_t> pt = sdp::payload_type(f);
    if (!pt) continue;
    const std::optional<sdp::Rtpmap> r = m.rtpmap(*pt);
    if (!r) continue;
    bool dup = false;
    for (const SdpCodec& c : out) dup = dup || c.pt == *pt;
    if (dup) continue;
    out.push_back(SdpCodec{*pt, std::string(r->encoding), r->clock_rate, r->channels, std::string(m.fmtp(*pt))});
  }
  return out;
}

// ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.4); ufrag 4-256, pwd 22-256 characters.
bool is_ice_string(std::string_view s, std::size_t min) noexcept {
  if (s.size() < min || s.size() > 256) return false;
  for (char c : s)
    if (!sip::text::is_alnum(c) && c != '+' && c != '/') return false;
  return true;
}

// "AB:CD:..." with 32 hex octets (RFC 8122 §5, sha-256).
bool is_sha256_fingerprint(std::string_view fp) noexcept {
  if (fp.size() != 32 * 3 - 1) return false;
  for (std::size_t i = 0; i < fp.size(); ++i) {
    if (i % 3 == 2) {
      if (fp[i] != ':') return false;
    } else if (!sip::text::is_hex(fp[i])) {
      return false;
    }
  }
  return true;
}

// The a=fingerprint with hash "sha-256" at media level, else at session level (Firefox writes it
// there). Browsers may list several hashes; we verify only SHA-256.
std::optional<std::string_view> sha256_fingerprint(const std::vector<sdp::Attribute>& attrs) {
  for (const sdp::Attribute& a : attrs) {
    if (a.name != "fingerprint") continue;
    const std::string_view v = sip::text::trim_lws(a.value);
    const std::size_t sp = v.find(' ');
    if (sp == std::string_view::npos || !iequals(v.substr(0, sp), "sha-256")) continue;
    return sip::text::trim_lws(v.substr(sp + 1));
  }
  return std::nullopt;
}

bool is_unspecified(const core::SockAddr& a) noexcept {
  if (a.family() == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(a.data())->sin_addr.s_addr == htonl(INADDR_ANY);
  if (a.family() == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(a.data())->sin6_addr);
  return false;
}

bool sends(media::Direction d) noexcept {
  return d == media::Direction::sendrecv || d == media::Direction::sendonly;
}
bool receives(media::Direction d) noexcept {
  return d == media::Direction::sendrecv || d == media::Direction::recvonly;
}
media::Direction make_direction(bool send, bool recv) noexcept {
  if (send && recv) return media::Direction::sendrecv;
  if (send) return media::Direction::sendonly;
  if (recv) return media::Direction::recvonly;
  return media::Direction::inactive;
}

const SdpCodec* find_pt(const std::vector<SdpCodec>& codecs, std::uint8_t pt) noexcept {
  for (const SdpCodec& c : codecs)
    if (c.pt == pt) return &c;
  return nullptr;
}

void write_codec(sdp::Writer& w, const SdpCodec& c) {
  w.rtpmap(sdp::Rtpmap{c.pt, c.name, c.clock_rate, c.channels});
  if (!c.fmtp.empty()) w.fmtp(c.pt, c.fmtp);
}

void write_rejected(sdp::Writer& w, const SdpOtherStream& s, const core::SockAddr& addr) {
  const std::string_view fmt = s.fmt;
  w.media(s.media, 0, s.proto, std::span<const std::string_view>(&fmt, 1));
  w.connection(addr);
  if (!s.mid.empty()) w.attribute("mid", s.mid);
}

void write_audio_answer(sdp::Writer& w, const BrowserOffer& offer, const media::CodecMap& codecs,
                        media::Direction dir, const media::LocalMedia& local, std::string_view setup = "passive") {
  std::vector<std::uint8_t> pts;
  for (const media::CodecMapping& m : codecs.codecs) pts.push_back(m.browser_pt);
  // telephone-event is in codecs.codecs when map_codecs() found it; a hand-made map may carry only
  // browser_dtmf_pt. Either way only an offered type can be answered (RFC 3264 §6.1).
  if (!pts.empty() && codecs.browser_dtmf_pt && find_pt(offer.codecs, *codecs.browser_dtmf_pt)) {
    bool listed = false;
    for (std::uint8_t pt : pts) listed = listed || pt == *codecs.browser_dtmf_pt;
    if (!listed) pts.push_back(*codecs.browser_dtmf_pt);
  }
  if (pts.empty()) {
    // Nothing in common: a rejected audio section keeps the answer well-formed.
    SdpOtherStream audio{"audio", offer.proto, offer.mid,
                         offer.codecs.empty() ? std::string("0") : std::to_string(offer.codecs.front().pt)};
    write_rejected(w, audio, local.browser_addr);
    return;
  }
  w.media("audio", local.browser_addr.port(), offer.proto, pts);
  w.connection(local.browser_addr);
  if (!offer.mid.empty()) w.attribute("mid", offer.mid);
  w.attribute("ice-ufrag", local.ice.ufrag);
  w.attribute("ice-pwd", local.ice.pwd);
  w.out() += "a=fingerprint:sha-256 ";
  w.out() += local.fingerprint;
  w.out() += "\r\n";
  // RFC 5763 §5: the answerer picks its role; the edge is always the DTLS server, and the same role
  // in every answer of the dialog (Chrome fails "Failed to set SSL role" on a flip).
  w.attribute("setup", setup);
  w.attribute(media::to_string(dir));
  w.attribute("rtcp-mux");
  if (offer.rtcp_rsize) w.attribute("rtcp-rsize");
  for (std::uint8_t pt : pts) {
    if (const SdpCodec* c = find_pt(offer.codecs, pt)) {
      write_codec(w, *c);
      continue;
    }
    for (const media::CodecMapping& m : codecs.codecs)
      if (m.browser_pt == pt) w.rtpmap(sdp::Rtpmap{pt, m.name, m.clock_rate, 1});
  }
  w.attribute("ptime", "20");
  w.host_candidate("1", 1, kHostPriority, local.browser_addr);
  w.attribute("end-of-candidates");
}

}  // namespace

media::Direction parse_direction(std::string_view s) noexcept {
  if (s == "sendonly") return media::Direction::sendonly;
  if (s == "recvonly") return media::Direction::recvonly;
  if (s == "inactive") return media::Direction::inactive;
  return media::Direction::sendrecv;
}

media::Direction answer_direction(media::Direction offered) {
  return make_direction(receives(offered), sends(offered));
}

media::Direction answer_direction(media::Direction browser_offered, media::Direction trunk) {
  // Edge -> browser: what the trunk sends, if the browser takes it. Browser -> edge: what the
  // browser sends, if the trunk takes it.
  return make_direction(sends(trunk) && receives(browser_offered), sends(browser_offered) && receives(trunk));
}

core::Result<BrowserOffer> read_browser_offer(std::string_view text) {
  core::Result<sdp::Session> parsed = sdp::parse(text);
  if (!parsed) return reject(kBrowserSdpRejected, "malformed SDP: " + parsed.error().message);
  const sdp::Session& s = parsed.value();

  // The first audio m-line with a port carries the call; a port-0 audio line is a stopped
  // transceiver (JSEP §5.2.2) and, like video and data channels, is answered with port 0.
  const sdp::Media* audio = nullptr;
  BrowserOffer offer;
  for (std::size_t i = 0; i < s.media.size(); ++i) {
    const sdp::Media& m = s.media[i];
    if (!audio && m.media == "audio" && m.port != 0) {
      audio = &m;
      offer.audio_index = i;
      continue;
    }
    offer.others.push_back(SdpOtherStream{std::string(m.media), std::string(m.proto),
                                          std::string(m.attribute("mid").value_or("")),
                                          std::string(m.formats.front())});
  }
  if (!audio) return reject(kBrowserSdpRejected, "no audio stream");
  // RFC 5888: identification-tag = token. Our answer repeats mids in a=mid and a=group:BUNDLE.
  const std::string_view mid = audio->attribute("mid").value_or("");
  if (!mid.empty() && !sip::text::is_token(mid)) return reject(kBrowserSdpRejected, "malformed SDP: bad a=mid");
  for (const SdpOtherStream& o : offer.others)
    if (!o.mid.empty() && !sip::text::is_token(o.mid)) return reject(kBrowserSdpRejected, "malformed SDP: bad a=mid");

  const std::string_view ufrag = s.attribute(*audio, "ice-ufrag").value_or("");
  const std::string_view pwd = s.attribute(*audio, "ice-pwd").value_or("");
  if (ufrag.empty() || pwd.empty()) return reject(kBrowserSdpRejected, "no ICE credentials");
  if (!is_ice_string(ufrag, 4) || !is_ice_string(pwd, 22))
    return reject(kBrowserSdpRejected, "malformed SDP: bad ice-ufrag or ice-pwd");

  std::optional<std::string_view> fp = sha256_fingerprint(audio->attributes);
  if (!fp) fp = sha256_fingerprint(s.attributes);
  if (!fp) return reject(kBrowserSdpRejected, "no DTLS fingerprint (sha-256)");
  if (!is_sha256_fingerprint(*fp)) return reject(kBrowserSdpRejected, "malformed SDP: bad sha-256 fingerprint");

  const std::string_view setup = s.attribute(*audio, "setup").value_or("");
  // RFC 5763 §5: an offer of "passive" would make the edge the DTLS client, which it never is.
  if (setup == "passive")
    return reject(kBrowserSdpRejected, "DTLS role passive offered (the edge is the DTLS server)");

  offer.remote.ice = media::IceCredentials{std::string(ufrag), std::string(pwd)};
  offer.remote.fingerprint_sha256 = std::string(*fp);
  offer.setup = std::string(setup);
  offer.mid = std::string(mid);
  offer.proto = std::string(audio->proto);
  offer.codecs = read_codecs(*audio);
  offer.direction = parse_direction(s.direction(*audio));
  offer.rtcp_rsize = audio->has_attribute("rtcp-rsize");

  bool usable = false;
  for (const SdpCodec& c : offer.codecs) usable = usable || trunk_understands(c);
  if (!usable) return reject(kBrowserSdpRejected, "no codec a trunk understands (PCMU, PCMA, G722)");
  return offer;
}

core::Result<std::vector<std::string>> parse_codec_preference(std::string_view list) {
  constexpr std::array<std::string_view, 4> kKnown{"PCMU", "PCMA", "G722", "opus"};
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view name = sip::text::trim_lws(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    const auto* k = std::find_if(kKnown.begin(), kKnown.end(), [&](std::string_view n) { return iequals(n, name); });
    if (k == kKnown.end()) {
      return core::Error{EINVAL, "'" + std::string(name) + "' is not one of PCMU, PCMA, G722, opus"};
    }
    if (std::find(out.begin(), out.end(), *k) != out.end()) {
      return core::Error{EINVAL, "'" + std::string(name) + "' listed twice"};
    }
    out.emplace_back(*k);
  }
  if (out.empty()) return core::Error{EINVAL, "no codec given"};
  return out;
}

std::vector<std::string> default_codec_preference() { return {"PCMU", "PCMA"}; }

std::vector<SdpCodec> codec_candidates(const BrowserOffer& offer, std::span<const std::string> preference) {
  std::vector<SdpCodec> out;
  for (const std::string& name : preference) {
    const bool opus = iequals(name, "opus");
    for (const SdpCodec& c : offer.codecs) {
      // Opus is 48 kHz stereo in SDP whatever is sent (RFC 7587 §7); the others are 8 kHz mono.
      const bool usable = opus ? c.clock_rate == 48000 && c.channels == 2 : trunk_understands(c);
      if (usable && iequals(c.name, name)) {
        out.push_back(c);
        break;
      }
    }
  }
  return out;
}

const SdpCodec* find_codec(const BrowserOffer& offer, const SdpCodec& like) noexcept {
  for (const SdpCodec& c : offer.codecs)
    if (same_codec(c, like) && c.channels == like.channels) return &c;
  return nullptr;
}

std::string write_trunk_offer(const BrowserOffer& offer, const SdpCodec& codec, const media::LocalMedia& local,
                              const SdpOrigin& origin) {
  // RFC 4733 §2.1: telephone-event runs at the clock of the audio it goes with.
  const SdpCodec* dtmf = nullptr;
  for (const SdpCodec& c : offer.codecs) {
    if (is_telephone_event(c) && c.clock_rate == codec.clock_rate && c.pt != codec.pt) {
      dtmf = &c;
      break;
    }
  }
  std::vector<std::uint8_t> pts{codec.pt};
  if (dtmf != nullptr) pts.push_back(dtmf->pt);

  std::string out;
  out.reserve(320);
  sdp::Writer w(out);
  w.version().origin("-", origin.session_id, origin.version, local.trunk_addr).session_name("-");
  w.connection(local.trunk_addr).timing();
  w.media("audio", local.trunk_addr.port(), "RTP/AVP", pts);
  w.rtpmap(sdp::Rtpmap{codec.pt, codec.name, codec.clock_rate, codec.channels});
  if (const std::string fmtp = trunk_fmtp(codec); !fmtp.empty()) w.fmtp(codec.pt, fmtp);
  if (dtmf != nullptr) {
    w.rtpmap(sdp::Rtpmap{dtmf->pt, dtmf->name, dtmf->clock_rate, dtmf->channels});
    w.fmtp(dtmf->pt, trunk_fmtp(*dtmf));
  }
  w.attribute("ptime", "20");
  w.attribute(media::to_string(offer.direction));
  return out;
}

core::Result<TrunkSdp> read_trunk_sdp(std::string_view text) {
  core::Result<sdp::Session> parsed = sdp::parse(text);
  if (!parsed) return reject(kTrunkSdpRejected, "malformed SDP: " + parsed.error().message);
  const sdp::Session& s = parsed.value();

  const sdp::Media* audio = nullptr;
  for (const sdp::Media& m : s.media) {
    if (m.media == "audio") {
      audio = &m;
      break;
    }
  }
  if (!audio) return reject(kTrunkSdpRejected, "no audio stream");
  if (audio->port == 0) return reject(kTrunkSdpRejected, "audio stream rejected (port 0)");
  if (!iequals(audio->proto, "RTP/AVP") && !iequals(audio->proto, "RTP/AVPF"))
    return reject(kTrunkSdpRejected, "media profile " + std::string(audio->proto) + " is not RTP/AVP");
  const sdp::Connection* conn = s.connection_for(*audio);
  if (!conn) return reject(kTrunkSdpRejected, "no connection address (c=)");
  core::Result<core::SockAddr> rtp = sdp::to_sockaddr(*conn, audio->port);
  if (!rtp) return reject(kTrunkSdpRejected, rtp.error().message);

  TrunkSdp out;
  out.rtp = rtp.value();
  out.rtcp_mux = audio->has_attribute("rtcp-mux");
  if (std::optional<std::string_view> rtcp = audio->attribute("rtcp")) {
    // RFC 3605: a=rtcp:<port> [<nettype> <addrtype> <address>]
    const std::string_view v = sip::text::trim_lws(*rtcp);
    const std::size_t sp = v.find(' ');
    std::uint64_t port = 0;
    if (!sip::text::parse_uint(v.substr(0, sp), 65535, port) || port == 0)
      return reject(kTrunkSdpRejected, "malformed SDP: bad a=rtcp port");
    sdp::Connection rc = *conn;
    if (sp != std::string_view::npos) {
      const std::string_view rest = sip::text::trim_lws(v.substr(sp + 1));
      const std::size_t a = rest.find(' ');
      const std::size_t b = a == std::string_view::npos ? a : rest.find(' ', a + 1);
      if (b == std::string_view::npos) return reject(kTrunkSdpRejected, "malformed SDP: bad a=rtcp address");
      rc = sdp::Connection{rest.substr(0, a), rest.substr(a + 1, b - a - 1), sip::text::trim_lws(rest.substr(b + 1))};
    }
    core::Result<core::SockAddr> r = sdp::to_sockaddr(rc, static_cast<std::uint16_t>(port));
    if (!r) return reject(kTrunkSdpRejected, "a=rtcp: " + r.error().message);
    out.rtcp = r.value();
  }
  out.codecs = read_codecs(*audio);
  out.direction = parse_direction(s.direction(*audio));
  if (is_unspecified(out.rtp)) {
    // RFC 3264 §8.4: the old hold (RFC 2543) — the trunk wants nothing sent to it.
    out.direction = make_direction(sends(out.direction), false);
  }
  return out;
}

std::string write_trunk_answer(const TrunkSdp& offer, const media::CodecMap& codecs, media::Direction dir,
                               const media::LocalMedia& local, const SdpOrigin& origin) {
  std::vector<const SdpCodec*> answered;
  std::vector<std::uint8_t> pts;
  for (const media::CodecMapping& m : codecs.codecs) {
    if (const SdpCodec* c = find_pt(offer.codecs, m.trunk_pt)) {
      answered.push_back(c);
      pts.push_back(c->pt);
    }
  }
  std::string out;
  out.reserve(320);
  sdp::Writer w(out);
  w.version().origin("-", origin.session_id, origin.version, local.trunk_addr).session_name("-");
  w.connection(local.trunk_addr).timing();
  if (pts.empty()) {
    pts.push_back(offer.codecs.empty() ? 0 : offer.codecs.front().pt);
    w.media("audio", 0, "RTP/AVP", pts);
    return out;
  }
  w.media("audio", local.trunk_addr.port(), "RTP/AVP", pts);
  for (const SdpCodec* c : answered) write_codec(w, *c);
  w.attribute("ptime", "20");
  w.attribute(media::to_string(dir));
  return out;
}

media::CodecMap map_codecs(const BrowserOffer& offer, const TrunkSdp& trunk) {
  media::CodecMap out;
  for (const SdpCodec& t : trunk.codecs) {
    if (is_telephone_event(t)) continue;
    const SdpCodec* b = nullptr;
    for (const SdpCodec& c : offer.codecs) {
      if (!is_telephone_event(c) && same_codec(c, t)) {
        b = &c;
        break;
      }
    }
    if (!b) continue;
    bool taken = false;
    for (const media::CodecMapping& m : out.codecs) taken = taken || m.browser_pt == b->pt || m.trunk_pt == t.pt;
    if (taken) continue;
    out.codecs.push_back(media::CodecMapping{b->pt, t.pt, t.clock_rate, b->name});
  }
  if (out.codecs.empty()) return out;
  // Telephone-event by name and clock, never by number (research/features.md §2.6, run C: a trunk
  // answering PT 101 for the browser's 126). Its clock must be the audio codec's.
  const std::uint32_t clock = out.codecs.front().clock_rate;
  for (const SdpCodec& t : trunk.codecs) {
    if (!is_telephone_event(t) || t.clock_rate != clock) continue;
    for (const SdpCodec& b : offer.codecs) {
      if (!is_telephone_event(b) || b.clock_rate != clock) continue;
      out.codecs.push_back(media::CodecMapping{b.pt, t.pt, clock, std::string(kTelephoneEvent)});
      out.browser_dtmf_pt = b.pt;
      out.trunk_dtmf_pt = t.pt;
      return out;
    }
  }
  return out;
}

media::CodecMap offered_codecs(const BrowserOffer& offer, const SdpCodec& codec) {
  media::CodecMap out;
  out.codecs.push_back(media::CodecMapping{codec.pt, codec.pt, codec.clock_rate, codec.name});
  for (const SdpCodec& c : offer.codecs) {
    if (!is_telephone_event(c) || c.clock_rate != codec.clock_rate || c.pt == codec.pt) continue;
    out.codecs.push_back(media::CodecMapping{c.pt, c.pt, c.clock_rate, std::string(kTelephoneEvent)});
    out.browser_dtmf_pt = c.pt;
    out.trunk_dtmf_pt = c.pt;
    break;
  }
  return out;
}

std::string write_browser_answer(const BrowserOffer& offer, const media::CodecMap& codecs, media::Direction dir,
                                 const media::LocalMedia& local, const SdpOrigin& origin) {
  std::string out;
  out.reserve(768);
  sdp::Writer w(out);
  w.version().origin("-", origin.session_id, origin.version, local.browser_addr).session_name("-").timing();
  // RFC 8445 §5.1.1: a lite agent says so at session level; the browser then controls and nominates.
  w.attribute("ice-lite");
  // RFC 8843: BUNDLE of the one audio section we accept (rejected sections leave the group).
  if (!offer.mid.empty() && !codecs.codecs.empty()) w.attribute("group", "BUNDLE " + offer.mid);
  // RFC 3264 §6: as many m-lines as offered, in the offer's order.
  const std::size_t total = offer.others.size() + 1;
  const std::size_t audio_at = std::min(offer.audio_index, offer.others.size());
  for (std::size_t k = 0; k < total; ++k) {
    if (k == audio_at) {
      write_audio_answer(w, offer, codecs, dir, local);
    } else {
      write_rejected(w, offer.others[k < audio_at ? k : k - 1], local.browser_addr);
    }
  }
  return out;
}

std::string write_browser_offer(const SdpCodec& codec, const std::optional<SdpCodec>& dtmf, media::Direction dir,
                                const media::LocalMedia& local, const SdpOrigin& origin) {
  // The offer is the answer's shape with the edge's own choices as "what was offered": one audio
  // section, mid 0, the browser profile, the one codec (and telephone-event).
  BrowserOffer mine;
  mine.mid = "0";
  mine.proto = "UDP/TLS/RTP/SAVPF";
  mine.codecs.push_back(codec);
  media::CodecMap map;
  map.codecs.push_back(media::CodecMapping{codec.pt, codec.pt, codec.clock_rate, codec.name});
  if (dtmf) {
    mine.codecs.push_back(*dtmf);
    map.browser_dtmf_pt = dtmf->pt;
  }
  std::string out;
  out.reserve(768);
  sdp::Writer w(out);
  w.version().origin("-", origin.session_id, origin.version, local.browser_addr).session_name("-").timing();
  w.attribute("ice-lite");
  w.attribute("group", "BUNDLE 0");
  // RFC 5763 §5: an offerer says actpass; the browser answers active, so the edge stays the DTLS server.
  write_audio_answer(w, mine, map, dir, local, "actpass");
  return out;
}

}  // namespace webtrunk::edge

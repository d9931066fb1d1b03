// Offer/answer (RFC 3264): the SDP the edge writes toward each side is generated from
// call state (the browser's offer as data, the media session's LocalMedia, the codec map), never
// patched from the other side's SDP. Two dialects (research/features.md §2.6):
// - toward the browser: ICE-lite, DTLS-SRTP (a=setup:passive), rtcp-mux, BUNDLE of one audio m-line;
// - toward the trunk: plain RTP/AVP with the codecs trunks understand and none of the WebRTC lines.
//
// Pure functions: they read no clock, own no socket and keep no state. Results own their strings
// (nothing points into the SDP text they were given).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/socket.hpp"
#include "media/types.hpp"

namespace webtrunk::edge {

struct SdpCodec {
  std::uint8_t pt;
  std::string name;
  std::uint32_t clock_rate;
  std::uint8_t channels = 1;
  std::string fmtp;
};

// A browser m-line the edge does not carry (video, data channel, a second audio): answered with
// port 0 (RFC 3264 §6).
struct SdpOtherStream {
  std::string media;
  std::string proto;
  std::string mid;
  std::string fmt;  // the first format offered, repeated in the rejecting answer
};

struct BrowserOffer {
  media::BrowserRemote remote;        // a=ice-ufrag/ice-pwd (media or session level), a=fingerprint:sha-256
  std::string setup;                  // actpass / active / passive as offered (empty if absent)
  std::string mid;                    // the audio m-line's a=mid (may be empty)
  std::string proto;                  // "UDP/TLS/RTP/SAVPF" as offered
  std::vector<SdpCodec> codecs;       // the audio codecs in the browser's order
  std::vector<SdpOtherStream> others; // video / application m-lines: rejected with port 0 in our answer
  media::Direction direction = media::Direction::sendrecv;
  // Where the audio m-line sits among the offer's m-lines: the answer keeps the offer's order
  // (RFC 3264 §6), so `others` before this index come before the audio section.
  std::size_t audio_index = 0;
  // The browser's a=rtcp-rsize: echoed in the answer (RFC 5506 needs both sides to agree).
  bool rtcp_rsize = false;
};

// Reads a browser's offer (its INVITE, a re-INVITE or an UPDATE). Errors say why in words fit for a
// SIP 488 reason: "no audio stream", "no ICE credentials", "no DTLS fingerprint (sha-256)", "no codec
// a trunk understands (PCMU, PCMA, G722)", "DTLS role passive offered (the edge is the DTLS server)",
// "malformed SDP: <what>".
core::Result<BrowserOffer> read_browser_offer(std::string_view sdp);

// o= fields the caller keeps per leg: session_id fixed for the dialog, version bumped per new SDP
// (RFC 3264 §8).
struct SdpOrigin {
  std::uint64_t session_id = 0;
  std::uint64_t version = 0;
};

// The audio codecs the edge may choose for a call, in order of preference (--codecs): a comma list
// of PCMU, PCMA, G722 and opus (any case). The error names the codec it does not know or that is
// listed twice.
core::Result<std::vector<std::string>> parse_codec_preference(std::string_view list);
// PCMU then PCMA: every trunk takes G.711 (research/features.md §2.6).
std::vector<std::string> default_codec_preference();

// The browser's audio codecs the edge may offer the trunk, in the order of `preference` (one per
// entry the browser offered; its own payload numbers and fmtp). RFC 3261 §13.2.1: the call's codec
// is fixed before the trunk INVITE goes out, so the answer the browser gets in a 18x and the one in
// the 2xx are the same; the next entry is the fallback when the trunk refuses the first.
std::vector<SdpCodec> codec_candidates(const BrowserOffer& offer, std::span<const std::string> preference);

// The codec of `offer` that is `like` (same name and clock rate), or null.
const SdpCodec* find_codec(const BrowserOffer& offer, const SdpCodec& like) noexcept;

// Toward the trunk: plain RTP/AVP, c= and m= from local.trunk_addr, `codec` (one of the browser's
// codecs, with the browser's payload number) and telephone-event at its clock if the browser offered
// it, a=rtpmap and an fmtp limited to what the codec needs (Opus: its known parameters;
// telephone-event: the event list), a=ptime:20, the offer's direction; none of ICE, DTLS, extmap,
// msid, ssrc, rtcp-fb, mid, BUNDLE.
std::string write_trunk_offer(const BrowserOffer& offer, const SdpCodec& codec, const media::LocalMedia& local,
                              const SdpOrigin& origin);

// The trunk's SDP (its answer, or an offer in its re-INVITE).
struct TrunkSdp {
  core::SockAddr rtp;                  // c= (media or session level) and the audio m= port
  std::optional<core::SockAddr> rtcp;  // a=rtcp if present (else RTCP is on rtp port + 1)
  bool rtcp_mux = false;
  std::vector<SdpCodec> codecs;        // in the trunk's order of preference
  // RFC 3264 §8.4 / RFC 2543 hold: c=0.0.0.0 means "send me nothing"; read as sendonly (or
  // inactive), with `rtp` left at 0.0.0.0.
  media::Direction direction = media::Direction::sendrecv;
};
// Errors: "malformed SDP: <what>", "no audio stream", "audio stream rejected (port 0)", "no
// connection address (c=)", "c= address is not an IPv4 address", "media profile <p> is not RTP/AVP".
core::Result<TrunkSdp> read_trunk_sdp(std::string_view sdp);

// Our answer to an offer in the trunk's re-INVITE (RFC 3264 §6.1): c= and m= from local.trunk_addr,
// the codecs of `codecs` with the TRUNK's payload numbers and its rtpmap/fmtp lines (Opus too when
// the trunk offered it and the browser has it), a=ptime:20 and `dir`. With empty `codecs` the audio
// m-line is answered with port 0.
std::string write_trunk_answer(const TrunkSdp& offer, const media::CodecMap& codecs, media::Direction dir,
                               const media::LocalMedia& local, const SdpOrigin& origin);

// Which codecs flow: the trunk's codecs (its order) that the browser offered, matched by name and
// clock rate, each side keeping its own payload number; then telephone-event mapped by clock rate
// (the audio codec's clock first; research/features.md §2.6: the DTMF clock must match). Empty
// codecs = nothing in common (the caller answers 488).
media::CodecMap map_codecs(const BrowserOffer& offer, const TrunkSdp& trunk);

// What flows once the trunk takes our offer of `codec`: the browser's and the trunk's payload
// numbers are the same (our trunk offer carries the browser's), plus telephone-event at the codec's
// clock if the browser offered it. Used for the browser's early answer before the trunk's SDP.
media::CodecMap offered_codecs(const BrowserOffer& offer, const SdpCodec& codec);

// Toward the browser: a=ice-lite (session level), a=group:BUNDLE <mid>, m=audio <port> <proto as
// offered> <pts>, c= from local.browser_addr, a=mid, a=ice-ufrag/ice-pwd (local.ice),
// a=fingerprint:sha-256 local.fingerprint, a=setup:passive, a=rtcp-mux, the codecs of `codecs` with the
// BROWSER's payload numbers and the browser's own rtpmap/fmtp lines for them, telephone-event, the
// direction, one host candidate (a=candidate:1 1 udp 2130706431 <ip> <port> typ host) and
// a=end-of-candidates. Other m-lines answered with port 0. With empty `codecs` the audio m-line is
// answered with port 0 too (callers answer 488 instead; this keeps the SDP valid).
std::string write_browser_answer(const BrowserOffer& offer, const media::CodecMap& codecs, media::Direction dir,
                                 const media::LocalMedia& local, const SdpOrigin& origin);

// Toward the browser in a call from the trunk (edge/inbound_call.hpp): the edge offers, in the
// same dialect as write_browser_answer, with a=setup:actpass (RFC 5763 §5: the browser answers
// active and the edge stays the DTLS server), mid 0 in a BUNDLE of one, `codec` alone with the
// trunk's payload number, and `dtmf` (telephone-event at the codec's clock) when the trunk offered it.
std::string write_browser_offer(const SdpCodec& codec, const std::optional<SdpCodec>& dtmf, media::Direction dir,
                                const media::LocalMedia& local, const SdpOrigin& origin);

// What we answer to an offered direction (RFC 3264 §6.1): sendonly -> recvonly, recvonly -> sendonly,
// sendrecv and inactive unchanged.
media::Direction answer_direction(media::Direction offered);
// The direction to answer the browser with when the trunk leg negotiated `trunk` (the direction in
// the trunk's SDP, from the trunk's side): the edge sends to the browser only what the trunk sends
// and the browser accepts, and takes from the browser only what the browser sends and the trunk
// accepts. Always a subset of answer_direction(browser_offered), so Chromium accepts it.
media::Direction answer_direction(media::Direction browser_offered, media::Direction trunk);

// "sendrecv" / "sendonly" / "recvonly" / "inactive" (anything else: sendrecv).
media::Direction parse_direction(std::string_view s) noexcept;

}  // namespace webtrunk::edge

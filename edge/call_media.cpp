// Call (edge/call.hpp), the media half: the SDP each leg gets is written here from the call's
// state and its media session (edge/media_sdp.hpp), never copied from the other leg; DTMF from SIP
// INFO becomes RFC 4733; a session that ends by itself hangs the call up.
#include <fmt/format.h>

#include <array>

#include "core/log.hpp"
#include "edge/call.hpp"
#include "edge/sip_messages.hpp"

namespace webtrunk::edge {
namespace {

using Purpose = CallClientTxn::Purpose;
using Pairs = std::vector<sip::HeaderPair>;
using media::Direction;

bool sends(Direction d) noexcept { return d == Direction::sendrecv || d == Direction::sendonly; }
bool receives(Direction d) noexcept { return d == Direction::sendrecv || d == Direction::recvonly; }
Direction direction_of(bool send, bool recv) noexcept {
  if (send && recv) return Direction::sendrecv;
  if (send) return Direction::sendonly;
  if (recv) return Direction::recvonly;
  return Direction::inactive;
}
// The same stream seen from the other end (sendonly there is recvonly here).
Direction reversed(Direction d) noexcept { return direction_of(receives(d), sends(d)); }

// Writes `text` as the next SDP of a leg: the o= version moves only when the description changes
// (RFC 3264 §8: an unchanged SDP keeps its version; a changed one has version + 1).
template <typename Write>
const std::string& next_sdp(std::string& last, SdpOrigin& origin, Write write) {
  std::string text = write(origin);
  if (!last.empty() && text != last) {
    ++origin.version;
    text = write(origin);
  }
  last = std::move(text);
  return last;
}

}  // namespace

Direction Call::browser_direction() const noexcept {
  // Our a= toward the browser, seen from the browser's end.
  return reversed(answer_direction(b_offer.direction, t_direction));
}

const media::LocalMedia* Call::local_media() const {
  return media_id != 0 && core.cfg_.media != nullptr ? core.cfg_.media->local(media_id) : nullptr;
}

const std::string& Call::browser_answer() {
  const media::LocalMedia* local = local_media();
  if (local == nullptr) return b_local_sdp;  // the call ended meanwhile: nothing new to say
  const Direction ours = answer_direction(b_offer.direction, t_direction);
  return next_sdp(b_local_sdp, b_origin, [&](const SdpOrigin& o) {
    return write_browser_answer(b_offer, codecs, ours, *local, o);
  });
}

const SdpCodec* Call::trunk_codec() const {
  if (trunk_media_known && !codecs.codecs.empty()) {
    // What flows: the trunk's audio codec, under the browser's name for it.
    const media::CodecMapping& m = codecs.codecs.front();
    for (const SdpCodec& c : b_offer.codecs)
      if (c.pt == m.browser_pt) return &c;
  }
  if (t_candidate >= t_candidates.size()) return nullptr;
  // A re-offer may renumber; the codec is found again by name and clock.
  return find_codec(b_offer, t_candidates[t_candidate]);
}

const std::string& Call::trunk_offer() {
  const media::LocalMedia* local = local_media();
  const SdpCodec* codec = trunk_codec();
  if (local == nullptr || codec == nullptr) return t_local_sdp;
  return next_sdp(t_local_sdp, t_origin,
                  [&](const SdpOrigin& o) { return write_trunk_offer(b_offer, *codec, *local, o); });
}

const std::string& Call::final_browser_answer() {
  if (!early_sdp_sent || b_local_sdp.empty()) return browser_answer();
  // RFC 3261 §13.2.1: the answer in the 2xx is the one already in the early dialog. If the
  // trunk's answer changed what flows, the browser learns it from a re-offer after its ACK.
  // What matters is what flows: the audio codec the browser sends and the direction. A trunk that
  // answers more codecs than we offered (PCMU, PCMA and telephone-event to an offer of PCMU) still
  // sends the first, so that needs no re-offer.
  const std::optional<std::uint8_t> pt =
      codecs.codecs.empty() ? std::nullopt : std::optional<std::uint8_t>(codecs.codecs.front().browser_pt);
  b_reoffer_owed = pt != b_early_pt || answer_direction(b_offer.direction, t_direction) != b_early_direction;
  return b_local_sdp;
}

void Call::reoffer_browser(core::Instant now) {
  if (!b_dialog || flow_gone || state == CallState::ended) return;
  const sip::SessionTimerHeaders st = b_timer.active() ? b_timer.request_headers() : sip::SessionTimerHeaders{};
  const Pairs h(st.pairs().begin(), st.pairs().end());
  reinvite_pending = true;
  kCallsBrowserReoffers.inc();
  send_browser_request(now, sip::Method::invite, Purpose::refresh, h, "application/sdp", browser_answer());
}

void Call::on_browser_confirmed(core::Instant now) {
  if (!b_reoffer_owed) return;
  b_reoffer_owed = false;
  core::log(core::LogLevel::info, "call.reoffer", "call={} codec={} why=trunk answered differently from the early answer",
            b_call_id, codecs.codecs.empty() ? std::string_view("none") : std::string_view(codecs.codecs.front().name));
  reoffer_browser(now);
}

const std::string& Call::trunk_answer(const TrunkSdp& offer) {
  // RFC 3264 §6.1: what flows, on the trunk's payload numbers, the offered direction answered and
  // limited by what the browser itself does.
  const Direction answered = answer_direction(offer.direction);
  const Direction dir =
      direction_of(sends(answered) && sends(b_offer.direction), receives(answered) && receives(b_offer.direction));
  const media::LocalMedia* local = local_media();
  if (local == nullptr) return t_local_sdp;
  return next_sdp(t_local_sdp, t_origin,
                  [&](const SdpOrigin& o) { return write_trunk_answer(offer, codecs, dir, *local, o); });
}

core::Result<TrunkSdp> Call::take_trunk_sdp(std::string_view sdp) {
  if (local_media() == nullptr) return core::Error{ECANCELED, "the call has ended"};
  auto trunk_sdp = read_trunk_sdp(sdp);
  if (!trunk_sdp) return trunk_sdp.error();
  media::CodecMap map = map_codecs(b_offer, *trunk_sdp);
  if (map.codecs.empty()) return core::Error{ENOMSG, "no codec in common with the browser"};
  codecs = std::move(map);
  t_direction = trunk_sdp->direction;
  trunk_media_known = true;
  t_sdp = std::string(sdp);
  core.cfg_.media->set_trunk_remote(media_id, trunk_sdp->rtp, codecs);
  core.cfg_.media->set_direction(media_id, browser_direction());
  return trunk_sdp;
}

void Call::early_answer(const sip::MessageView& resp) {
  const bool trunk_sdp = has_sdp(resp);
  if (trunk_sdp) {
    // Early media from the trunk: its RTP flows to the browser before the answer.
    if (auto r = take_trunk_sdp(resp.body()); !r) {
      kCallsBadTrunkSdp.inc();
      core::log(core::LogLevel::info, "call.early_sdp_ignored", "call={} status={} why={}", b_call_id,
                resp.status_code(), r.error().message);
    }
  }
  const std::string contact = browser_contact();
  const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Contact", contact}}};
  if (early_sdp_sent) {
    core.send_ws(flow, build_response(b_invite->view, resp.status_code(), resp.reason_phrase(), b_local_tag, h));
    return;
  }
  // Before the trunk's SDP, the codec we offered it; ICE and DTLS do not wait for the trunk.
  if (!trunk_media_known) {
    if (const SdpCodec* c = trunk_codec()) codecs = offered_codecs(b_offer, *c);
  }
  const std::string& sdp = browser_answer();
  early_sdp_sent = true;
  if (!codecs.codecs.empty()) b_early_pt = codecs.codecs.front().browser_pt;
  b_early_direction = answer_direction(b_offer.direction, t_direction);
  // The trunk's own early media (ringback, announcements) reaches the browser in a 183, as
  // DESIGN.md's early-media rule and every WebRTC library expect; a 180 without SDP stays a 180.
  const int code = trunk_sdp && trunk_media_known ? 183 : resp.status_code();
  const std::string_view reason = code == resp.status_code() ? resp.reason_phrase() : "Session Progress";
  core.send_ws(flow, build_response(b_invite->view, code, reason, b_local_tag, h, "application/sdp", sdp));
}

bool Call::take_trunk_answer(core::Instant now, std::string_view sdp) {
  core::Result<void> r = core::Error{EPROTO, "no SDP answer from the trunk"};
  if (!sdp.empty()) {
    auto taken = take_trunk_sdp(sdp);
    r = taken ? core::Result<void>{} : core::Result<void>{taken.error()};
  } else if (trunk_media_known) {
    r = {};  // the answer came in a provisional already (RFC 3261 §13.2.1 allows it there)
  }
  if (r) return true;
  kCallsBadTrunkSdp.inc();
  core::log(core::LogLevel::warn, "call.bad_trunk_answer", "call={} trunk_call_id={} why={}", b_call_id, t_call_id,
            r.error().message);
  const std::string text = safe_reason("trunk SDP: " + r.error().message);
  const std::string reason = fmt::format("SIP;cause=488;text=\"{}\"", text);
  const Pairs h{{"Reason", reason}};
  send_trunk_request(now, sip::Method::bye, Purpose::bye, h, {}, {});
  // An answer with no codec the browser has: the next codec may suit the trunk (a new dialog).
  if (r.error().code == ENOMSG && fail_over_codec(now, r.error().message)) return false;
  fail_browser(now, 502, "Bad Gateway: " + text, "bad trunk SDP");
  return false;
}

core::Result<std::string> Call::answer_trunk_offer(core::Instant now, std::string_view sdp) {
  const Direction before = browser_direction();
  const std::string codec_before = codecs.codecs.empty() ? std::string() : codecs.codecs.front().name;
  auto offer = take_trunk_sdp(sdp);
  if (!offer) return offer.error();
  std::string answer = trunk_answer(*offer);
  const bool codec_changed = codecs.codecs.front().name != codec_before;
  if ((browser_direction() != before || codec_changed) && !reinvite_pending) {
    // The trunk put the call on hold, took it off, or changed the codec: the browser learns it
    // from a re-INVITE with our new SDP (its answer changes nothing here: the media state is
    // already set).
    reoffer_browser(now);
  }
  return answer;
}

bool Call::handle_dtmf_info(const sip::MessageView& req) {
  const DtmfInfo d = read_dtmf_info(content_type_of(req), req.body());
  if (!d.is_dtmf) return false;
  if (!d.valid) {
    kDtmfInfoBad.inc();
    core.send_ws(flow, build_response(req, 400, safe_reason("Bad DTMF: " + std::string(d.why)), {}));
    return true;
  }
  // RFC 4733 toward the trunk when it took telephone-event; otherwise it gets the INFO as sent.
  if (!codecs.trunk_dtmf_pt || local_media() == nullptr || !core.cfg_.media->send_dtmf(media_id, d.digit, d.duration_ms)) {
    kDtmfInfoRelayed.inc();
    return false;
  }
  kDtmfInfoConverted.inc();
  core::log(core::LogLevel::debug, "call.dtmf", "call={} digit={} duration_ms={}", b_call_id, d.digit, d.duration_ms);
  core.send_ws(flow, build_response(req, 200, "OK", {}));
  return true;
}

void Call::on_media_ended(core::Instant now, media::MediaEnd why) {
  if (state == CallState::ended) return;
  kCallsMediaEnded.inc();
  const std::string_view text = media::to_string(why);
  core::log(core::LogLevel::info, "call.media_ended", "call={} trunk_call_id={} why={}", b_call_id, t_call_id, text);
  if (state == CallState::calling && !b_answered) {
    // Still ringing: the browser's INVITE fails, the trunk's is cancelled.
    fail_browser(now, 480, fmt::format("Temporarily Unavailable: {}", text), text);
    t_cancelled = true;
    if (invite_txn != nullptr) invite_txn->txn->cancel(now);
    return;
  }
  // RFC 3326: the Reason tells both sides why the edge hung up.
  hang_up(now, text, true, true, fmt::format("SIP;cause=480;text=\"Media {}\"", text));
}

}  // namespace webtrunk::edge

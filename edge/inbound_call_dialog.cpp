// InboundCall (edge/inbound_call.hpp): offer/answer inside the answered call. Each leg's
// re-INVITE/UPDATE is answered on that leg from the media state; the relay's direction follows
// both legs; the browser's DTMF INFO becomes RFC 4733 toward the trunk.
#include <fmt/format.h>

#include <array>

#include "edge/call_controller.hpp"
#include "edge/inbound_call.hpp"
#include "sip/header_parsers.hpp"

namespace webtrunk::edge {

// Our answer to the trunk: the edge sends it what the browser sends and the trunk takes, and
// takes from it what it sends and the browser takes: answer_direction(trunk, browser), the
// mirror of the browser-side answer_direction(browser, trunk).
void InboundCall::apply_direction() {
  // The edge sends each side only what the other sends and this side accepts.
  ctx_.media->set_direction(media_id_, answer_direction(b_dir_, t_dir_));
}

void InboundCall::on_browser_in_dialog(core::Instant now, BrowserFlow flow, const sip::MessageView& req) {
  (void)now;
  const sip::Method m = req.method();
  if (auto v = b_dialog_->check_request(req); !v.ok()) return send_ws(flow, build_response(req, v.code, v.reason, {}));
  if (m == sip::Method::info) {
    // JsSIP's DTMF (application/dtmf-relay) becomes RFC 4733 toward the trunk.
    const DtmfInfo d = read_dtmf_info(content_type_of(req), req.body());
    if (d.is_dtmf && !d.valid) {
      kDtmfInfoBad.inc();
      return send_ws(flow, build_response(req, 400, safe_reason("Bad DTMF: " + std::string(d.why)), {}));
    }
    if (d.is_dtmf && trunk_dtmf_ && ctx_.media->send_dtmf(media_id_, d.digit, d.duration_ms)) {
      kDtmfInfoConverted.inc();
      return send_ws(flow, build_response(req, 200, "OK", {}));
    }
    kSipUnsupported.inc();  // no telephone-event with this trunk, or an INFO that is no DTMF
    return send_ws(flow, build_response(req, 501, "Not Implemented", {}));
  }
  if (m != sip::Method::invite && m != sip::Method::update) {
    kSipUnsupported.inc();
    return send_ws(flow, build_response(req, 501, "Not Implemented", {}));
  }
  const bool offer = has_sdp(req);
  const std::string contact = fmt::format("<sip:edge@{};transport=ws>", host_port(ctx_.sip_host, ctx_.sip_port));
  const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Contact", contact}}};
  if (offer && sdp_origin(req.body()) != b_remote_origin_) {
    auto re = read_browser_offer(req.body());
    media::CodecMap map;
    if (re) map = map_codecs(*re, t_offer_);
    if (!re || map.codecs.empty()) {
      kInboundBadAnswer.inc();
      return send_ws(flow, build_response(req, 488,
                                          safe_reason("Not Acceptable Here: " +
                                                      (re ? std::string("no codec in common") : re.error().message)),
                                          {}));
    }
    // Hold, resume, an ICE restart: answered here from the media state (RFC 3264 §8).
    b_remote_origin_ = std::string(sdp_origin(req.body()));
    b_dir_ = re->direction;
    ctx_.media->set_browser_remote(media_id_, re->remote);
    apply_direction();
    ++b_origin_.version;
    b_local_sdp_ = write_browser_answer(*re, map_, answer_direction(re->direction, t_dir_),
                                        *ctx_.media->local(media_id_), b_origin_);
  }
  // A session refresh (RFC 4028) or the same offer again: our current SDP.
  const bool body = m == sip::Method::invite || offer;
  send_ws(flow, build_response(req, 200, "OK", {}, h, body ? "application/sdp" : "", body ? b_local_sdp_ : ""));
}

void InboundCall::on_trunk_in_dialog(core::Instant now, const core::SockAddr& from, const sip::MessageView& req) {
  const sip::Method m = req.method();
  if (auto v = t_dialog_->check_request(req); !v.ok()) return send_udp(from, build_response(req, v.code, v.reason, {}));
  if (m != sip::Method::invite && m != sip::Method::update) {
    kSipUnsupported.inc();
    return send_udp(from, build_response(req, 501, "Not Implemented", {}));
  }
  const bool offer = has_sdp(req);
  if (offer && sdp_origin(req.body()) != t_remote_origin_) {
    auto re = read_trunk_sdp(req.body());
    if (!re) {
      kInboundBadOffer.inc();
      return send_udp(from, build_response(req, 488, safe_reason("Not Acceptable Here: " + re.error().message), {}));
    }
    // The trunk's hold (a=sendonly or c=0.0.0.0), resume or new RTP address: answered here.
    t_remote_origin_ = std::string(sdp_origin(req.body()));
    t_dir_ = re->direction;
    ctx_.media->set_trunk_remote(media_id_, re->rtp, map_);  // c=0.0.0.0 comes with a hold direction
    apply_direction();
    ++t_origin_.version;
    t_answer_ =
        write_trunk_answer(*re, map_, answer_direction(t_dir_, b_dir_), *ctx_.media->local(media_id_), t_origin_);
  }
  const std::string contact = fmt::format("<sip:edge@{}>", host_port(ctx_.sip_host, ctx_.sip_port));
  const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Contact", contact}}};
  const bool body = m == sip::Method::invite || offer;
  std::string ok = build_response(req, 200, "OK", {}, h, body ? "application/sdp" : "", body ? t_answer_ : "");
  // RFC 3261 §13.3.1.4: a 2xx to a re-INVITE is sent again until its ACK.
  if (m == sip::Method::invite && !t_ack_wait_) t_ack_wait_.emplace(now, ok, sip::Transport::udp, ctx_.timers);
  send_udp(from, std::move(ok));
}

}  // namespace webtrunk::edge

// InboundCall (edge/inbound_call.hpp): a call from a trunk, forked to every browser registered as
// its called user.
#include "edge/inbound_call.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "core/log.hpp"
#include "edge/auth_gate.hpp"
#include "edge/call_controller.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/text.hpp"
#include "sip/writer.hpp"

namespace webtrunk::edge {
namespace {

using Pairs = std::vector<sip::HeaderPair>;

// RFC 3261 §16.7 step 6: a 6xx wins; else the lowest class; 503 becomes 500 (§16.7 step 6 says
// a proxy must not forward a 503). Among 4xx, the first busy (486) or decline is the most telling.
bool better_final(int candidate, int best) {
  if (best == 0) return true;
  const int cc = candidate / 100;
  const int bc = best / 100;
  if (bc == 6) return false;
  if (cc == 6) return true;
  if (cc != bc) return cc < bc;
  return candidate == 486 && best != 486;
}

}  // namespace

InboundCall::InboundCall(InboundContext ctx, core::Instant now, const core::SockAddr& peer,
                         const sip::MessageView& invite, const std::vector<BindingTarget>& bindings,
                         std::span<const unsigned> lookups, std::span<const std::string> codecs)
    : ctx_(std::move(ctx)), peer_(peer), awaiting_(lookups.begin(), lookups.end()) {
  t_invite_ = std::make_unique<sip::OwnedMessage>(invite.raw());
  t_txn_ = std::make_unique<sip::ServerTransaction>(now, invite, sip::Transport::udp, ctx_.timers);
  t_call_id_ = std::string(sip::call_id(invite));
  t_local_tag_ = ctx_.ids.tag();
  b_call_id_ = ctx_.ids.call_id();
  b_local_tag_ = ctx_.ids.tag();
  called_ = std::string(uri_user(invite.request_uri()));

  if (bindings.empty() && awaiting_.empty()) {
    kInboundNotRegistered.inc();
    answer_trunk(now, 480, safe_reason("Temporarily Unavailable: " + called_ + " is not registered"),
                        "not registered");
    return;
  }
  if (!has_sdp(invite)) {
    // An offerless INVITE would make the browser offer; the edge's media needs the trunk's first.
    kInboundBadOffer.inc();
    answer_trunk(now, 488, "Not Acceptable Here: no SDP offer", "bad offer");
    return;
  }
  auto offer = read_trunk_sdp(invite.body());
  if (!offer) {
    kInboundBadOffer.inc();
    answer_trunk(now, 488, safe_reason("Not Acceptable Here: " + offer.error().message), "bad offer");
    return;
  }
  t_offer_ = std::move(*offer);
  // The call's codec: the first of --codecs the trunk offers (its payload number kept), so the
  // browser's answer, and with it ours to the trunk, can only be that codec.
  BrowserOffer as_offer;
  as_offer.codecs = t_offer_.codecs;
  const std::vector<SdpCodec> candidates = codec_candidates(as_offer, codecs);
  if (candidates.empty()) {
    kInboundBadOffer.inc();
    answer_trunk(now, 488,
                        safe_reason(fmt::format("Not Acceptable Here: no codec this edge uses ({}) offered",
                                                fmt::join(codecs, ", "))),
                        "no common codec");
    return;
  }
  codec_ = candidates.front();
  std::optional<SdpCodec> dtmf;
  for (const SdpCodec& c : t_offer_.codecs) {
    if (sip::text::iequals(c.name, "telephone-event") && c.clock_rate == codec_.clock_rate) {
      dtmf = c;
      break;
    }
  }
  if (ctx_.media == nullptr) {
      answer_trunk(now, 503, "Service Unavailable: no media on this edge", "no media");
      return;
  }
  auto session = ctx_.media->create();
  if (!session) {
    kCallsNoMedia.inc();
    answer_trunk(now, 503, "Media ports exhausted", "media ports exhausted");
    return;
  }
  media_id_ = *session;
  kMediaSessionsOpened.inc();
  const media::LocalMedia* local = ctx_.media->local(media_id_);
  b_origin_ = SdpOrigin{ctx_.ids.next() >> 2, 1};
  // The edge passes on what the trunk does: a trunk that only sends makes a browser that only receives.
  b_offer_ = write_browser_offer(codec_, dtmf, t_offer_.direction, *local, b_origin_);
  b_local_sdp_ = b_offer_;
  trunk_dtmf_ = dtmf.has_value();
  t_remote_origin_ = std::string(sdp_origin(invite.body()));
  t_dir_ = t_offer_.direction;

  const std::string caller = uri_safe_user(from_user(invite));
  b_from_ = fmt::format("<sip:{}@{}>;tag={}", caller, bracket_host(ctx_.sip_host), b_local_tag_);
  max_forwards_ = sip::parse_max_forwards(invite.value(sip::HeaderId::max_forwards)).value_or(70);
  b_cseq_ = ctx_.ids.initial_cseq();
  for (const BindingTarget& t : bindings) add_branch(now, t);
  ring_deadline_ = now + ctx_.max_ringing;
  if (!awaiting_.empty()) lookup_deadline_ = now + ctx_.lookup_timeout;
  kInboundCallsStarted.inc();
  core::log(core::LogLevel::info, "call.inbound", "trunk_call_id={} called={} branches={} shards_asked={} codec={} media={}",
            t_call_id_, called_, branches_.size(), awaiting_.size(), codec_.name, media_id_);
}

void InboundCall::add_branch(core::Instant now, const BindingTarget& target) {
  Branch b;
  b.flow = target.flow;
  const std::string branch = ctx_.ids.branch();
  sip::MessageWriter w(b.request_bytes);
  // The Request-URI is the binding's Contact: JsSIP and SIP.js take a request for their
  // contact user (RFC 5626: it goes down the flow whatever the host says).
  w.request_line("INVITE", target.contact_uri);
  w.header(sip::HeaderId::via, fmt::format("SIP/2.0/WSS {};branch={}", browser_via(), branch));
  w.header(sip::HeaderId::max_forwards, std::to_string(max_forwards_ > 0 ? max_forwards_ - 1 : 0));
  w.header(sip::HeaderId::from, b_from_);
  w.header(sip::HeaderId::to, fmt::format("<{}>", target.aor));
  w.header(sip::HeaderId::call_id, b_call_id_);
  w.header(sip::HeaderId::cseq, fmt::format("{} INVITE", b_cseq_));
  w.header(sip::HeaderId::contact, fmt::format("<sip:edge@{};transport=ws>", host_port(ctx_.sip_host, ctx_.sip_port)));
  w.header("Allow", kDialogAllow);
  w.header("User-Agent", ctx_.user_agent);
  w.header(sip::HeaderId::content_type, "application/sdp");
  w.finish(b_offer_);
  b.invite = std::make_unique<sip::ClientTransaction>(now, sip::Method::invite, b.request_bytes, branch,
                                                      sip::Transport::ws, ctx_.timers);
  if (target.flow.shard != ctx_.shard) kInboundRemoteBranches.inc();
  branches_.push_back(std::move(b));
}

void InboundCall::add_bindings(core::Instant now, unsigned from, const std::vector<BindingTarget>& bindings) {
  auto it = std::find(awaiting_.begin(), awaiting_.end(), from);
  if (it == awaiting_.end()) return;  // late (after lookup_timeout) or twice
  awaiting_.erase(it);
  if (awaiting_.empty()) lookup_deadline_ = core::Instant::max();
  if (state_ != State::ringing || final_status_ != 0) return;
  for (const BindingTarget& t : bindings) add_branch(now, t);
  core::log(core::LogLevel::debug, "call.inbound_bindings", "trunk_call_id={} shard={} branches={}", t_call_id_, from,
            bindings.size());
  maybe_all_failed(now);
}

std::vector<unsigned> InboundCall::remote_shards() const {
  std::vector<unsigned> out;
  for (const Branch& b : branches_) {
    if (b.flow.shard != ctx_.shard && std::find(out.begin(), out.end(), b.flow.shard) == out.end()) {
      out.push_back(b.flow.shard);
    }
  }
  return out;
}

void InboundCall::maybe_all_failed(core::Instant now) {
  if (winner_ != nullptr || !awaiting_.empty()) return;
  if (std::any_of(branches_.begin(), branches_.end(), [](const Branch& b) { return b.final_status == 0; })) return;
  if (branches_.empty() && state_ == State::ringing && final_status_ == 0) {
    kInboundNotRegistered.inc();
    return answer_trunk(now, 480, safe_reason("Temporarily Unavailable: " + called_ + " is not registered"),
                        "not registered");
  }
  all_branches_failed(now);
}

std::string InboundCall::browser_via() const { return host_port(ctx_.sip_host, ctx_.sip_port); }
std::string InboundCall::trunk_via() const { return host_port(ctx_.sip_host, ctx_.sip_port) + ";rport"; }

void InboundCall::send_ws(BrowserFlow flow, std::string bytes) {
  if (flow.shard == ctx_.shard || ctx_.notes == nullptr) {
    ctx_.out.push_back(SipTransmit{SipTransmit::To::flow, flow.conn, {}, std::move(bytes)});
    return;
  }
  // The browser's WebSocket is on another shard: that shard sends it (edge/shard_note.hpp).
  ShardNote n;
  n.kind = ShardNote::Kind::to_flow;
  n.from = ctx_.shard;
  n.to = flow.shard;
  n.call = b_call_id_;
  n.flow = flow.conn;
  n.bytes = std::move(bytes);
  ctx_.notes->push_back(std::move(n));
}

void InboundCall::send_udp(const core::SockAddr& to, std::string bytes) {
  ctx_.out.push_back(SipTransmit{SipTransmit::To::udp, {}, to, std::move(bytes)});
}

void InboundCall::end(std::string_view reason) {
  if (state_ == State::ended) return;
  state_ = State::ended;
  end_reason_ = std::string(reason);
  if (media_id_ != 0 && ctx_.media != nullptr) {
    ctx_.media->release(media_id_);
    kMediaSessionsReleased.inc();
  }
  media_id_ = 0;
  core::log(core::LogLevel::info, "call.inbound_end", "trunk_call_id={} code={} why={}", t_call_id_, final_status_,
            end_reason_);
}

void InboundCall::hang_up(core::Instant now, bool bye_browser, std::string_view reason) {
  const bool to_browser = bye_browser && b_dialog_ && winner_ != nullptr && !winner_->gone;
  sip::Dialog* d = to_browser ? &*b_dialog_ : (!bye_browser && t_dialog_ ? &*t_dialog_ : nullptr);
  if (d != nullptr) {
    const std::string branch = ctx_.ids.branch();
    Client c;
    c.to_trunk = !bye_browser;
    if (to_browser) c.flow = winner_->flow;
    c.txn = std::make_unique<sip::ClientTransaction>(
        now, sip::Method::bye, d->make_request(sip::Method::bye, bye_browser ? browser_via() : trunk_via(), branch),
        branch, bye_browser ? sip::Transport::ws : sip::Transport::udp, ctx_.timers);
    clients_.push_back(std::move(c));
  }
  t_ack_wait_.reset();
  end(reason);
}

void InboundCall::answer_trunk(core::Instant now, int code, std::string_view reason, std::string_view end_reason) {
  if (final_status_ != 0) return;
  final_status_ = code;
  t_txn_->respond(now, build_response(t_invite_->view, code, reason, t_local_tag_), code);
  end(end_reason);
}

void InboundCall::cancel_branches(core::Instant now, const Branch* except) {
  for (Branch& b : branches_) {
    if (&b == except || b.final_status != 0 || !b.invite) continue;
    b.invite->cancel(now);
  }
}

void InboundCall::ack_and_bye(core::Instant now, Branch& b, const sip::MessageView& resp) {
  sip::MessageView req;
  if (sip::parse_message(std::string_view(b.request_bytes), req).status != sip::ParseStatus::ok) return;
  auto d = sip::Dialog::from_uac(req, resp);
  if (!d) return;
  send_ws(b.flow, d->make_request(sip::Method::ack, browser_via(), ctx_.ids.branch()));
  const std::string branch = ctx_.ids.branch();
  Client c;
  c.flow = b.flow;
  c.txn = std::make_unique<sip::ClientTransaction>(now, sip::Method::bye, d->make_request(sip::Method::bye, browser_via(), branch),
                                                   branch, sip::Transport::ws, ctx_.timers);
  clients_.push_back(std::move(c));
  kInboundLateAnswers.inc();
}

void InboundCall::on_branch_2xx(core::Instant now, Branch& b, const sip::MessageView& resp) {
  if (winner_ != nullptr || state_ != State::ringing) return ack_and_bye(now, b, resp);
  sip::MessageView req;
  if (sip::parse_message(std::string_view(b.request_bytes), req).status != sip::ParseStatus::ok) return;
  auto d = sip::Dialog::from_uac(req, resp);
  BrowserOffer answer;
  media::CodecMap map;
  if (!d || !read_answer(resp, answer, map)) {
    // Unusable: hang this branch up; the others may still answer.
    b.final_status = 488;
    b.final_reason = "Not Acceptable Here";
    ack_and_bye(now, b, resp);
    return maybe_all_failed(now);
  }
  winner_ = &b;
  b.final_status = resp.status_code();
  b_dialog_ = std::move(d);
  send_ws(b.flow, b_dialog_->make_request(sip::Method::ack, browser_via(), ctx_.ids.branch()));
  cancel_branches(now, &b);

  if (early_ != &b) ctx_.media->set_browser_remote(media_id_, answer.remote);
  map_ = map;
  b_remote_origin_ = std::string(sdp_origin(resp.body()));
  b_dir_ = answer.direction;
  apply_direction();
  if (early_ == nullptr) {
    ctx_.media->set_trunk_remote(media_id_, t_offer_.rtp, map);
    const media::LocalMedia* local = ctx_.media->local(media_id_);
    t_origin_ = SdpOrigin{ctx_.ids.next() >> 2, 1};
    t_answer_ = write_trunk_answer(t_offer_, map,
                                   answer_direction(t_offer_.direction, answer.direction), *local,
                                   t_origin_);
  }
  // else: the 200 repeats the 183's answer (RFC 3261 §13.2.1): the codec cannot differ, it is
  // the one codec offered to every branch.
  const std::string contact = fmt::format("<sip:edge@{}>", host_port(ctx_.sip_host, ctx_.sip_port));
  const std::array<std::pair<std::string_view, std::string_view>, 3> h{
      {{"Contact", contact}, {"Allow", kDialogAllow}, {"User-Agent", ctx_.user_agent}}};
  std::string ok = build_response(t_invite_->view, 200, "OK", t_local_tag_, h, "application/sdp", t_answer_);
  t_dialog_ = sip::Dialog::from_uas(t_invite_->view, t_local_tag_, contact);
  if (t_dialog_) {
    t_dialog_->confirm();
    t_dialog_->set_local_cseq(ctx_.ids.initial_cseq());
  }
  final_status_ = 200;
  t_txn_->respond(now, ok, 200);
  t_ack_wait_.emplace(now, std::move(ok), sip::Transport::udp, ctx_.timers);
  state_ = State::answered;
  kInboundCallsAnswered.inc();
  core::log(core::LogLevel::info, "call.inbound_answered", "trunk_call_id={} shard={} flow={}", t_call_id_, b.flow.shard,
            b.flow.conn.index);
}

bool InboundCall::read_answer(const sip::MessageView& resp, BrowserOffer& answer, media::CodecMap& map) const {
  auto a = has_sdp(resp) ? read_browser_offer(resp.body()) : core::Result<BrowserOffer>(core::Error{0, "no SDP answer"});
  if (a) map = map_codecs(*a, t_offer_);
  if (!a || map.codecs.empty()) {
    kInboundBadAnswer.inc();
    core::log(core::LogLevel::warn, "call.inbound_bad_answer", "trunk_call_id={} status={} why={}", t_call_id_,
              resp.status_code(), !a ? a.error().message : std::string("no codec in common"));
    return false;
  }
  answer = std::move(*a);
  return true;
}

void InboundCall::on_branch_early(core::Instant now, Branch& b, const sip::MessageView& resp) {
  BrowserOffer answer;
  media::CodecMap map;
  if (!read_answer(resp, answer, map)) return;  // the branch may still answer properly in its 200
  ctx_.media->set_browser_remote(media_id_, answer.remote);
  const bool first = early_ == nullptr;
  early_ = &b;
  if (!first) return;  // one 183 to the trunk; a second early branch only re-points the browser side
  ctx_.media->set_trunk_remote(media_id_, t_offer_.rtp, map);
  const media::LocalMedia* local = ctx_.media->local(media_id_);
  t_origin_ = SdpOrigin{ctx_.ids.next() >> 2, 1};
  t_answer_ = write_trunk_answer(t_offer_, map, answer_direction(t_offer_.direction, answer.direction),
                                 *local, t_origin_);
  const std::string contact = fmt::format("<sip:edge@{}>", host_port(ctx_.sip_host, ctx_.sip_port));
  const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Contact", contact}}};
  t_ringing_sent_ = true;
  t_txn_->respond(now, build_response(t_invite_->view, 183, "Session Progress", t_local_tag_, h, "application/sdp", t_answer_),
                  183);
  kInboundEarlyMedia.inc();
}

void InboundCall::on_branch_final(core::Instant now, Branch& b, const sip::MessageView& resp) {
  b.final_status = resp.status_code();
  b.final_reason = std::string(resp.reason_phrase());
  maybe_all_failed(now);
}

void InboundCall::all_branches_failed(core::Instant now) {
  if (state_ != State::ringing) return;
  int best = 0;
  std::string reason;
  for (const Branch& b : branches_) {
    if (b.final_status >= 300 && better_final(b.final_status, best)) {
      best = b.final_status;
      reason = b.final_reason;
    }
  }
  if (best == 0 || best == 503) {
    best = best == 503 ? 500 : 480;
    reason = best == 500 ? "Server Internal Error" : "Temporarily Unavailable";
  }
  answer_trunk(now, best, safe_reason(reason), best == 486 ? "busy" : best == 487 ? "cancelled" : "rejected");
}

void InboundCall::on_browser_response(core::Instant now, BrowserFlow flow, const sip::MessageView& resp) {
  const auto key = sip::TransactionKey::of_response(resp);
  if (!key) return;
  for (Branch& b : branches_) {
    if (b.flow == flow && b.invite && b.invite->branch() == key->branch && key->method == sip::Method::invite) {
      b.invite->handle_response(now, resp);
      return;
    }
  }
  for (Client& c : clients_) {
    if (!c.to_trunk && c.flow == flow && c.txn->branch() == key->branch) {
      c.txn->handle_response(now, resp);
      return;
    }
  }
  // A 2xx retransmitted after its transaction ended: the browser missed our ACK (§13.2.2.4).
  const auto cs = sip::cseq(resp);
  if (cs && cs->method == sip::Method::invite && resp.status_code() / 100 == 2) {
    if (winner_ != nullptr && winner_->flow == flow && b_dialog_ && sip::to_tag(resp) == b_dialog_->remote_tag()) {
      send_ws(flow, b_dialog_->make_request(sip::Method::ack, browser_via(), ctx_.ids.branch()));
      return;
    }
    for (Branch& b : branches_) {
      if (b.flow == flow) return ack_and_bye(now, b, resp);
    }
  }
  kSipStrayResponses.inc();
}

void InboundCall::on_browser_request(core::Instant now, BrowserFlow flow, const sip::MessageView& req) {
  const sip::Method m = req.method();
  if (m == sip::Method::ack) return;
  const bool ours = winner_ != nullptr && winner_->flow == flow && b_dialog_ &&
                    sip::from_tag(req) == b_dialog_->remote_tag() && sip::to_tag(req) == b_local_tag_;
  if (!ours || state_ == State::ended) {
    kSipUnknownDialog.inc();
    send_ws(flow, build_response(req, m == sip::Method::bye && ours ? 200 : 481,
                                 m == sip::Method::bye && ours ? "OK" : "Call/Transaction Does Not Exist", {}));
    return;
  }
  if (m != sip::Method::bye) return on_browser_in_dialog(now, flow, req);
  send_ws(flow, build_response(req, 200, "OK", {}));
  hang_up(now, false, "browser hung up");
}

void InboundCall::on_trunk_request(core::Instant now, const core::SockAddr& from, const sip::MessageView& req) {
  const sip::Method m = req.method();
  if (m == sip::Method::invite && sip::to_tag(req).empty()) {
    t_txn_->handle_retransmission(now);  // the INVITE again
    if (t_ack_wait_) t_ack_wait_->handle_retransmission(now);
    return;
  }
  if (m == sip::Method::ack) {
    if (final_status_ >= 300) return t_txn_->handle_ack(now);
    if (t_ack_wait_) t_ack_wait_->handle_ack(now);
    if (state_ == State::answered) state_ = State::established;
    return;
  }
  if (m == sip::Method::cancel) {
    send_udp(from, build_response(req, 200, "OK", t_local_tag_));
    if (state_ != State::ringing) return;
    kInboundCancelled.inc();
    answer_trunk(now, 487, "Request Terminated", "cancelled");
    cancel_branches(now, nullptr);
    return;
  }
  if (sip::to_tag(req) != t_local_tag_ || !t_dialog_ || state_ == State::ended) {
    kSipUnknownDialog.inc();
    return send_udp(from, build_response(req, m == sip::Method::bye ? 200 : 481,
                                         m == sip::Method::bye ? "OK" : "Call/Transaction Does Not Exist", {}));
  }
  if (m != sip::Method::bye) return on_trunk_in_dialog(now, from, req);
  send_udp(from, build_response(req, 200, "OK", {}));
  hang_up(now, true, "trunk hung up");
}

void InboundCall::on_flow_closed(core::Instant now, BrowserFlow flow) {
  for (Branch& b : branches_) {
    if (!(b.flow == flow)) continue;
    b.gone = true;
    if (&b == winner_ && state_ != State::ended) {
      hang_up(now, false, "browser disconnected");
    } else if (b.final_status == 0) {
      b.invite.reset();
      b.final_status = 480;
      b.final_reason = "Temporarily Unavailable";
      maybe_all_failed(now);
    }
  }
  std::erase_if(clients_, [&](const Client& c) { return !c.to_trunk && c.flow == flow; });
}

bool InboundCall::step(core::Instant now) {
  bool any = false;
  for (Branch& b : branches_) {
    if (!b.invite) continue;
    while (auto bytes = b.invite->poll_transmit()) {
      any = true;
      if (!b.gone) send_ws(b.flow, std::move(*bytes));
    }
    while (auto ev = b.invite->poll_event()) {
      any = true;
      switch (ev->kind) {
        case sip::TxnEvent::Kind::response: {
          if (!ev->message || !ev->message->parsed) break;
          const sip::MessageView& resp = ev->message->view;
          if (ev->status < 200) {
            if (ev->status > 100 && state_ == State::ringing && has_sdp(resp)) {
              on_branch_early(now, b, resp);
            }
            if (ev->status > 100 && state_ == State::ringing && !t_ringing_sent_) {
              t_ringing_sent_ = true;
              t_txn_->respond(now, build_response(t_invite_->view, 180, "Ringing", t_local_tag_), 180);
            }
          } else if (ev->status < 300) {
            on_branch_2xx(now, b, resp);
          } else {
            on_branch_final(now, b, resp);
          }
          break;
        }
        case sip::TxnEvent::Kind::timeout:
        case sip::TxnEvent::Kind::transport_error:
          if (b.final_status == 0) {
            b.final_status = 408;
            b.final_reason = "Request Timeout";
            maybe_all_failed(now);
          }
          break;
        case sip::TxnEvent::Kind::cancel_ready: {
          Client c;
          c.flow = b.flow;
          c.txn = std::make_unique<sip::ClientTransaction>(now, sip::Method::cancel, std::move(ev->request),
                                                           std::string(b.invite->branch()), sip::Transport::ws,
                                                           ctx_.timers);
          clients_.push_back(std::move(c));
          break;
        }
        case sip::TxnEvent::Kind::terminated:
          break;
      }
    }
    if (b.invite && b.invite->terminated()) b.invite.reset();
  }
  for (Client& c : clients_) {
    while (auto bytes = c.txn->poll_transmit()) {
      any = true;
      if (c.to_trunk) {
        send_udp(peer_, std::move(*bytes));
      } else {
        send_ws(c.flow, std::move(*bytes));
      }
    }
    while (auto ev = c.txn->poll_event()) any = true;
  }
  std::erase_if(clients_, [](const Client& c) { return c.txn->terminated(); });
  while (auto bytes = t_txn_->poll_transmit()) {
    any = true;
    send_udp(peer_, std::move(*bytes));
  }
  while (auto ev = t_txn_->poll_event()) any = true;
  if (t_ack_wait_) {
    while (auto bytes = t_ack_wait_->poll_transmit()) {
      any = true;
      send_udp(peer_, std::move(*bytes));
    }
    bool timed_out = false;
    while (auto ev = t_ack_wait_->poll_event()) timed_out = timed_out || ev->kind == sip::TxnEvent::Kind::timeout;
    if (t_ack_wait_->done()) t_ack_wait_.reset();
    if (timed_out && state_ != State::ended) {
      any = true;
      // RFC 3261 §13.3.1.4: no ACK for our 2xx: the session is over; the browser gets a BYE.
      hang_up(now, true, "trunk never acknowledged");
    }
  }
  return any;
}

void InboundCall::handle_timeout(core::Instant now) {
  for (Branch& b : branches_) {
    if (!b.invite) continue;
    if (auto d = b.invite->poll_timeout(); d && *d <= now) b.invite->handle_timeout(now);
  }
  for (Client& c : clients_) {
    if (auto d = c.txn->poll_timeout(); d && *d <= now) c.txn->handle_timeout(now);
  }
  if (auto d = t_txn_->poll_timeout(); d && *d <= now) t_txn_->handle_timeout(now);
  if (t_ack_wait_) {
    if (auto d = t_ack_wait_->poll_timeout(); d && *d <= now) t_ack_wait_->handle_timeout(now);
  }
  if (!awaiting_.empty() && now >= lookup_deadline_) {
    // A shard that has not answered (its mailbox lane was full) has no bindings for this call.
    core::log(core::LogLevel::warn, "call.inbound_lookup_timeout", "trunk_call_id={} shards_silent={}", t_call_id_,
              awaiting_.size());
    awaiting_.clear();
    lookup_deadline_ = core::Instant::max();
    if (state_ == State::ringing) maybe_all_failed(now);
  }
  if (state_ == State::ringing && now >= ring_deadline_) {
    // RFC 3261 §16.6 Timer C: a browser that rings for ever is not an answer.
    ring_deadline_ = core::Instant::max();
    kInboundRingTimeouts.inc();
    answer_trunk(now, 408, "Request Timeout: nobody answered", "ring timeout");
    cancel_branches(now, nullptr);
  }
}

std::optional<core::Instant> InboundCall::next_deadline() const {
  std::optional<core::Instant> best;
  auto take = [&](std::optional<core::Instant> t) {
    if (t && (!best || *t < *best)) best = t;
  };
  for (const Branch& b : branches_) {
    if (b.invite) take(b.invite->poll_timeout());
  }
  for (const Client& c : clients_) take(c.txn->poll_timeout());
  take(t_txn_->poll_timeout());
  if (t_ack_wait_) take(t_ack_wait_->poll_timeout());
  if (state_ == State::ringing) take(ring_deadline_);
  if (!awaiting_.empty()) take(lookup_deadline_);
  return best;
}

bool InboundCall::done() const noexcept {
  if (state_ != State::ended || !clients_.empty() || t_ack_wait_ || !t_txn_->terminated()) return false;
  return std::none_of(branches_.begin(), branches_.end(), [](const Branch& b) { return b.invite != nullptr; });
}

}  // namespace webtrunk::edge

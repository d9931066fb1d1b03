// CallController: the B2BUA call (edge/call.hpp): starting it, mapping responses, in-dialog requests on
// both legs, CANCEL, BYE, session timers, the CDR.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "core/log.hpp"
#include "core/log_sampler.hpp"
#include "edge/call.hpp"
#include "edge/call_controller.hpp"
#include "edge/sip_messages.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/uri.hpp"
#include "sip/writer.hpp"

namespace webtrunk::edge {
namespace {

using Purpose = CallClientTxn::Purpose;
using Pairs = std::vector<sip::HeaderPair>;
constexpr std::string_view kAllow = kDialogAllow;
// Log sampler key for calls refused over a limit (call_controller.cpp uses 1 and 2): one line per
// interval however many a client tries.
constexpr std::uint64_t kCallLimitLogKey = 3;
// And for calls refused because their trunk's name does not resolve.
constexpr std::uint64_t kTrunkUnresolvedLogKey = 4;


std::string browser_key(std::string_view call_id, std::string_view tag) {
  std::string k;
  k.reserve(call_id.size() + 1 + tag.size());
  k.append(call_id);
  k.push_back('\n');
  k.append(tag);
  return k;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Lookup and bookkeeping

Call* CallController::find_browser_call(std::string_view call_id, std::string_view browser_tag) {
  auto it = by_browser_.find(browser_key(call_id, browser_tag));
  if (it == by_browser_.end()) return nullptr;
  auto c = calls_.find(it->second);
  return c == calls_.end() ? nullptr : c->second.get();
}

Call* CallController::find_trunk_call(std::string_view call_id) {
  auto it = by_trunk_.find(std::string(call_id));
  if (it == by_trunk_.end()) return nullptr;
  auto c = calls_.find(it->second);
  return c == calls_.end() ? nullptr : c->second.get();
}

void CallController::pump(core::Instant now, Call& call) {
  for (int i = 0; i < 64 && call.step(now); ++i) {
  }
  if (call.reapable()) return reap(call);
  schedule(call);
}

void CallController::schedule(Call& call) {
  if (call.scheduled) deadlines_.erase(*call.scheduled);
  call.scheduled.reset();
  if (auto t = call.next_deadline()) {
    call.scheduled = std::make_pair(*t, call.id);
    deadlines_.insert(*call.scheduled);
  }
}

void CallController::reap(Call& call) {
  if (call.scheduled) deadlines_.erase(*call.scheduled);
  by_browser_.erase(browser_key(call.b_call_id, call.b_tag));
  by_trunk_.erase(call.t_call_id);
  if (auto f = by_flow_.find(flow_key(call.flow)); f != by_flow_.end()) {
    f->second.erase(call.id);
    if (f->second.empty()) by_flow_.erase(f);
  }
  if (!call.cdr_written) finish_call(core::Instant{}, call, 500, "internal: call dropped");
  calls_.erase(call.id);  // destroys `call`
}

void CallController::finish_call(core::Instant now, Call& call, int code, std::string_view end_reason) {
  if (call.cdr_written) return;
  call.cdr_written = true;
  call.state = CallState::ended;
  CallRecord& r = call.cdr;
  r.end = now == core::Instant{} ? r.start : unix_at(now);
  r.duration_s = r.answer != 0 ? std::max<std::int64_t>(r.end - r.answer, 0) : 0;
  r.code = code;
  r.end_reason = std::string(end_reason);
  kCallsActive.dec();
  if (r.answer == 0) {
    kCallsFailed.inc();
    if (code >= 400 && code < 500) kCallsFailed4xx.inc();
    if (code >= 500 && code < 600) kCallsFailed5xx.inc();
    if (code >= 600) kCallsFailed6xx.inc();
    if (code == 486) kCallsBusy.inc();
    if (code == 487) kCallsCancelled.inc();
    if (code == 404) kCallsNoRoute.inc();
    if (code == 408) kCallsTrunkTimeout.inc();
    if (code == 503) kCallsTrunkUnreachable.inc();
    if (code == 403) kCallsForbidden.inc();
    if (call.trunk != nullptr) count_route_failure(call.trunk->series, call.t_failure);
  }
  call.b_timer.stop();
  call.t_timer.stop();
  release_media(call);
  limiter_.release(call.limit_slot);
  core::log(core::LogLevel::info, "cdr", "{}", r.to_json());
  if (on_cdr) on_cdr(r);
}

void CallController::release_media(Call& call) {
  // Every way a call ends passes here once (finish_call): the port pair and buffers come back.
  if (call.media_id == 0) return;
  by_media_.erase(call.media_id);
  if (cfg_.media != nullptr) cfg_.media->release(call.media_id);
  call.media_id = 0;
  kMediaSessionsReleased.inc();
}

void CallController::handle_media_ended(core::Instant now, media::SessionId id, media::MediaEnd why) {
  auto m = by_media_.find(id);
  if (m == by_media_.end()) return;
  auto it = calls_.find(m->second);
  if (it == calls_.end()) return;
  it->second->on_media_ended(now, why);
  pump(now, *it->second);
}

// ---------------------------------------------------------------------------------------------
// A new call

void CallController::start_call(core::Instant now, core::ConnId flow, const sip::MessageView& invite, AuthDecision&& who) {
  const std::string called(uri_user(invite.request_uri()));
  CallRecord rec;
  rec.call_id = std::string(sip::call_id(invite));
  rec.caller = who.identity;
  rec.called = called;
  rec.start = unix_at(now);
  auto refuse = [&](int code, std::string_view reason, std::string_view why, HeaderList extra = {}) {
    reply_ws(flow, invite, code, reason, extra);
    rec.end = rec.start;
    rec.code = code;
    rec.end_reason = std::string(why);
    kCallsFailed.inc();
    if (code == 404) kCallsNoRoute.inc();
    if (code >= 400 && code < 500) kCallsFailed4xx.inc();
    if (code >= 500 && code < 600) kCallsFailed5xx.inc();
    core::log(core::LogLevel::info, "cdr", "{}", rec.to_json());
    if (on_cdr) on_cdr(rec);
  };
  const std::string agent = host_port(cfg_.sip_host, cfg_.sip_port);
  auto refuse_offer = [&](std::string_view why) {
    // RFC 3261 §21.4.26 with a Warning (§20.43: 305 incompatible media format, 399 anything else)
    // so that the page's developer reads why in the browser's console.
    kCallsBadOffer.inc();
    core::log(core::LogLevel::info, "call.bad_offer", "call={} why={}", rec.call_id, why);
    const std::string warning = warning_value(why.find("codec") != std::string_view::npos ? 305 : 399, agent, why);
    const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Warning", warning}}};
    refuse(488, safe_reason(fmt::format("Not Acceptable Here: {}", why)), "bad offer", h);
  };

  // The browser's offer is read, never forwarded (issue 4). JsSIP always offers in the INVITE;
  // an offer in the ACK would leave no way to refuse a bad one, so that is refused up front.
  if (invite.body().empty()) return refuse_offer("no SDP offer");
  if (!has_sdp(invite)) {
    const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Accept", "application/sdp"}}};
    return refuse(415, "Unsupported Media Type", "bad offer", h);
  }
  auto offer = read_browser_offer(invite.body());
  if (!offer) return refuse_offer(offer.error().message);
  std::vector<SdpCodec> candidates = codec_candidates(*offer, cfg_.codecs);
  if (candidates.empty()) {
    kCallsNoCommonCodec.inc();
    return refuse_offer(fmt::format("no codec this edge uses ({}) offered", fmt::join(cfg_.codecs, ", ")));
  }
  const TrunkTarget* route = called.empty() ? nullptr : cfg_.routes->lookup(called);
  if (route == nullptr) {
    const std::string reason = safe_reason("No route to " + called);
    return refuse(404, reason, "no route");
  }
  if (trunk_down(route->addr)) {
    // Failing at once beats an INVITE that times out after 32 s (README "Dead trunks").
    kCallsTrunkDown.inc();
    count_route_failure(route->series, RouteFailure::trunk_down);
    core::log_sampled(log_sampler_, now, core::address_key(route->addr), core::LogLevel::info, "call.trunk_down",
                      "call={} trunk={}", rec.call_id, route->spec);
    const std::string retry = std::to_string(
        std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(cfg_.trunk_ping.interval).count()));
    const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Retry-After", retry}}};
    return refuse(503, "Service Unavailable: trunk not answering", "trunk down", h);
  }
  // A name's targets as the resolver has them now; the call keeps this list for its failover.
  std::shared_ptr<const TrunkTargets> targets = route->resolved();
  if (targets->list.empty()) {
    kCallsTrunkUnresolved.inc();
    core::log_sampled(log_sampler_, now, kTrunkUnresolvedLogKey, core::LogLevel::info, "call.trunk_unresolved",
                      "call={} trunk={} why={}", rec.call_id, route->spec, targets->error);
    return refuse(503, safe_reason(fmt::format("Service Unavailable: trunk unresolved ({})", targets->error)),
                  "trunk unresolved");
  }
  if (cfg_.media == nullptr) return refuse(503, "Service Unavailable: no media on this edge", "no media");
  // Before any media port is taken: an account at its limit costs the edge nothing more.
  CallSlot slot;
  if (const auto v = limiter_.try_acquire(who.account, who.identity, who.max_calls, slot); v != CallLimiter::Verdict::ok) {
    kCallsForbidden.inc();
    core::log_sampled(log_sampler_, now, kCallLimitLogKey, core::LogLevel::info, "call.over_limit",
                      "call={} account={} caller={} limit={}", rec.call_id, who.account, who.identity,
                      v == CallLimiter::Verdict::account_full ? "account" : "token");
    return refuse(403, "Forbidden: too many calls for this account", "too many calls");
  }
  auto session = cfg_.media->create();
  if (!session) {
    limiter_.release(slot);
    kCallsNoMedia.inc();
    core::log(core::LogLevel::warn, "call.no_media", "call={} why={}", rec.call_id, session.error().message);
    const std::string warning = warning_value(399, agent, session.error().message);
    const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Warning", warning}}};
    return refuse(503, "Media ports exhausted", "media ports exhausted", h);
  }
  cfg_.media->set_browser_remote(*session, offer->remote);
  kMediaSessionsOpened.inc();

  sip::SessionTimerConfig b_st;
  b_st.min_se = cfg_.min_se;
  b_st.session_expires = std::max(cfg_.min_se, 90u);
  b_st.prefer_peer_refresher = true;
  b_st.timer_without_peer_request = false;
  sip::SessionTimerConfig t_st;
  t_st.min_se = cfg_.min_se;
  t_st.session_expires = cfg_.trunk_session_expires;
  t_st.refresh_without_peer_support = false;

  const std::uint64_t id = next_call_id_++;
  auto owned = std::make_unique<Call>(*this, id, b_st, t_st);
  Call& call = *owned;
  call.flow = flow;
  call.b_call_id = rec.call_id;
  call.b_tag = std::string(sip::from_tag(invite));
  call.b_local_tag = ids_.tag();
  call.b_invite = std::make_unique<sip::OwnedMessage>(invite.raw());
  call.b_sdp = std::string(invite.body());
  call.media_id = *session;
  call.b_offer = std::move(*offer);
  // o= session ids: 62 random bits (RFC 8866 §5.2 asks for a number that is unique; it must fit
  // the signed 64-bit integers some parsers use). Versions count from 1 per leg.
  call.b_origin = SdpOrigin{ids_.next() >> 2, 1};
  call.t_origin = SdpOrigin{ids_.next() >> 2, 1};
  call.trunk = std::shared_ptr<const TrunkTarget>(cfg_.routes, route);
  const TrunkTarget* trunk = route;
  call.t_targets = std::move(targets);
  call.trunk_dest = call.target_addr();
  call.t_call_id = ids_.call_id();
  call.t_local_tag = ids_.tag();
  call.t_candidates = std::move(candidates);
  call.cdr = rec;
  call.cdr.trunk = trunk->spec;
  call.cdr.trunk_call_id = call.t_call_id;
  call.ring_deadline = now + cfg_.max_ringing;
  call.max_duration_s = who.max_duration_s;
  call.limit_slot = std::move(slot);
  call.b_timer.on_request_received(invite);
  call.b_timer.note_peer_allow(invite);

  // 100 Trying at once: the browser stops waiting for us while the trunk thinks (RFC 3261 §16.2).
  send_ws(flow, build_response(invite, 100, "Trying", {}));

  // The trunk INVITE, built from scratch: nothing of the browser's Via, Contact, Call-ID or
  // Record-Route goes out.
  const std::uint32_t mf = sip::parse_max_forwards(invite.value(sip::HeaderId::max_forwards)).value_or(70);
  call.t_max_forwards = mf > 0 ? mf - 1 : 0;
  call.t_from_user = uri_safe_user(!who.identity.empty() ? std::string_view(who.identity) : from_user(invite));
  call.t_ruri = fmt::format("sip:{}@{}", called, trunk->hostport());
  call.t_to = fmt::format("<sip:{}@{}>", called, bracket_host(trunk->host));
  call.t_cseq = ids_.initial_cseq();
  call.send_trunk_invite(now);

  by_browser_[browser_key(call.b_call_id, call.b_tag)] = id;
  by_trunk_[call.t_call_id] = id;
  by_flow_[flow_key(flow)].insert(id);
  by_media_[call.media_id] = id;
  calls_.emplace(id, std::move(owned));
  kCallsStarted.inc();
  kRouteCallsAttempted.inc(route->series);
  kCallsActive.inc();
  core::log(core::LogLevel::info, "call.start", "call={} caller={} called={} trunk={} trunk_call_id={} media={}",
            rec.call_id, rec.caller, called, trunk->spec, call.t_call_id, call.media_id);
  pump(now, call);
}

// ---------------------------------------------------------------------------------------------
// Browser CANCEL and in-dialog requests

void CallController::on_browser_cancel(core::Instant now, core::ConnId flow, const sip::MessageView& cancel) {
  Call* call = find_browser_call(sip::call_id(cancel), sip::from_tag(cancel));
  if (call == nullptr || !(call->flow == flow)) {
    kSipUnknownDialog.inc();
    return reply_ws(flow, cancel, 481, "Call/Transaction Does Not Exist");
  }
  // RFC 3261 §9.2: 200 to the CANCEL (same To tag as the INVITE's responses), then 487 to the
  // INVITE if it is still unanswered; the trunk gets its CANCEL once it sent a provisional.
  send_ws(flow, build_response(cancel, 200, "OK", call->b_local_tag));
  if (call->state == CallState::calling && !call->b_answered) {
    call->t_failure = RouteFailure::cancelled;
    call->fail_browser(now, 487, "Request Terminated", "cancelled");
    call->t_cancelled = true;
    if (call->invite_txn != nullptr) call->invite_txn->txn->cancel(now);
  }
  pump(now, *call);
}

void CallController::on_browser_in_dialog(core::Instant now, core::ConnId flow, const sip::MessageView& req) {
  const sip::Method m = req.method();
  Call* call = find_browser_call(sip::call_id(req), sip::from_tag(req));
  if (call == nullptr || !(call->flow == flow) || sip::to_tag(req) != call->b_local_tag) {
    if (m == sip::Method::ack) return;
    kSipUnknownDialog.inc();
    return reply_ws(flow, req, 481, "Call/Transaction Does Not Exist");
  }
  Call& c = *call;
  if (m == sip::Method::ack) {
    const auto cs = sip::cseq(req);
    if (c.state == CallState::answered && c.b_dialog && cs && cs->number == c.b_dialog->remote_cseq().value_or(0)) {
      if (c.b_ack_wait) c.b_ack_wait->handle_ack(now);
      c.state = CallState::established;
      if (cfg_.call_ping > core::Duration::zero()) c.probe_at = now + cfg_.call_ping;
      c.on_browser_confirmed(now);
    }
    return pump(now, c);  // other ACKs (re-INVITEs we answered or relayed) end here
  }
  if (c.state == CallState::ended || !c.b_dialog) {
    if (m == sip::Method::bye) return reply_ws(flow, req, 200, "OK");
    return reply_ws(flow, req, 481, "Call/Transaction Does Not Exist");
  }
  if (sip::Verdict v = c.b_dialog->check_request(req); !v.ok()) return reply_ws(flow, req, v.code, v.reason);

  switch (m) {
    case sip::Method::bye:
      reply_ws(flow, req, 200, "OK");
      c.hang_up(now, "browser hung up", false, true);
      break;
    case sip::Method::invite:
    case sip::Method::update: {
      c.b_timer.on_request_received(req);
      c.b_timer.note_peer_allow(req);
      if (c.reinvite_pending) {
        reply_ws(flow, req, 491, "Request Pending");
        break;
      }
      const bool offer = has_sdp(req);
      if (!offer || sdp_origin(req.body()) == sdp_origin(c.b_sdp)) {
        // A session refresh or an unchanged offer: answered here with our current answer.
        const sip::SessionTimerHeaders st = c.b_timer.response_headers();
        Pairs h(st.pairs().begin(), st.pairs().end());
        const std::string contact = c.browser_contact();
        h.emplace_back("Contact", contact);
        const bool body = m == sip::Method::invite || offer;
        send_ws(flow, build_response(req, 200, "OK", {}, h, body ? "application/sdp" : "", body ? c.b_local_sdp : ""));
        c.b_timer.handle_refresh(now);
        break;
      }
      auto re = read_browser_offer(req.body());
      if (!re) {
        kCallsBadOffer.inc();
        const std::string warning = warning_value(399, host_port(cfg_.sip_host, cfg_.sip_port), re.error().message);
        const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Warning", warning}}};
        reply_ws(flow, req, 488, safe_reason("Not Acceptable Here: " + re.error().message), h);
        break;
      }
      // A real change (hold, resume, an ICE restart): the trunk gets our new offer; its answer
      // sets the direction and comes back as ours (on_client_final). Until then the old offer is
      // kept to go back to if the trunk refuses.
      c.reinvite_pending = true;
      c.b_offer_before = std::move(c.b_offer);
      c.b_offer = std::move(*re);
      cfg_.media->set_browser_remote(c.media_id, c.b_offer.remote);
      const sip::SessionTimerHeaders st = c.t_timer.active() ? c.t_timer.request_headers() : sip::SessionTimerHeaders{};
      Pairs h(st.pairs().begin(), st.pairs().end());
      c.send_trunk_request(now, m, Purpose::relay, h, "application/sdp", c.trunk_offer(),
                           std::make_unique<sip::OwnedMessage>(req.raw()));
      break;
    }
    case sip::Method::info: {
      // JsSIP's DTMF (application/dtmf-relay) becomes RFC 4733 toward the trunk; any other INFO
      // (or DTMF a trunk without telephone-event must get as INFO) is the trunk's to answer.
      if (c.handle_dtmf_info(req)) break;
      c.send_trunk_request(now, m, Purpose::relay, {}, content_type_of(req), req.body(),
                           std::make_unique<sip::OwnedMessage>(req.raw()));
      break;
    }
    case sip::Method::options: {
      const std::array<std::pair<std::string_view, std::string_view>, 2> h{
          {{"Allow", kAllow}, {"Accept", "application/sdp"}}};
      reply_ws(flow, req, 200, "OK", h);
      break;
    }
    default:
      kSipUnsupported.inc();
      reply_ws(flow, req, 501, "Not Implemented");
      break;
  }
  pump(now, c);
}

// ---------------------------------------------------------------------------------------------
// Trunk in-dialog requests

void CallController::on_trunk_in_dialog(core::Instant now, const core::SockAddr& from, const sip::MessageView& req) {
  const sip::Method m = req.method();
  Call* call = find_trunk_call(sip::call_id(req));
  if (m == sip::Method::cancel) {
    // Only re-INVITEs can come from the trunk; we answer those at once, so a CANCEL has nothing left.
    if (call == nullptr) return reply_udp(from, req, 481, "Call/Transaction Does Not Exist");
    return send_udp(from, build_response(req, 200, "OK", {}));
  }
  if (call == nullptr || sip::to_tag(req) != call->t_local_tag) {
    if (m == sip::Method::ack) return;
    kSipUnknownDialog.inc();
    return reply_udp(from, req, 481, "Call/Transaction Does Not Exist");
  }
  Call& c = *call;
  auto key = sip::TransactionKey::of_request(req);
  if (m == sip::Method::ack) {
    // The ACK of a non-2xx final we sent (same branch as its INVITE), else of our 2xx.
    bool matched = false;
    if (key) {
      for (auto& s : c.servers) {
        if (s->key == *key) {
          s->txn->handle_ack(now);
          matched = true;
        }
      }
    }
    if (!matched && c.t_ack_wait) c.t_ack_wait->handle_ack(now);
    if (!matched && c.t_answer_in_ack && has_sdp(req)) {
      // RFC 3261 §14.2: its re-INVITE had no offer, our 2xx made one, the ACK has the answer.
      c.t_answer_in_ack = false;
      if (auto r = c.take_trunk_sdp(req.body()); !r) {
        kCallsBadTrunkSdp.inc();
        core::log(core::LogLevel::warn, "call.bad_trunk_answer", "call={} in=ACK why={}", c.b_call_id, r.error().message);
      }
    }
    return pump(now, c);
  }
  if (key) {
    for (auto& s : c.servers) {
      if (s->key == *key) {
        s->txn->handle_retransmission(now);
        return pump(now, c);
      }
    }
  }
  if (!key) return reply_udp(from, req, 400, "Bad Via branch");
  auto srv = std::make_unique<CallServerTxn>();
  srv->id = c.next_server_id++;
  srv->key = *key;
  srv->txn = std::make_unique<sip::ServerTransaction>(now, req, sip::Transport::udp, cfg_.timers);
  srv->peer = from;
  CallServerTxn& s = *srv;
  c.servers.push_back(std::move(srv));
  auto respond = [&](int code, std::string_view reason, HeaderList extra = {}, std::string_view ct = {},
                     std::string_view body = {}) {
    s.txn->respond(now, build_response(req, code, reason, {}, extra, ct, body), code);
  };

  if (c.state == CallState::ended || !c.t_dialog) {
    respond(m == sip::Method::bye ? 200 : 481, m == sip::Method::bye ? "OK" : "Call/Transaction Does Not Exist");
    return pump(now, c);
  }
  if (sip::Verdict v = c.t_dialog->check_request(req); !v.ok()) {
    respond(v.code, v.reason);
    return pump(now, c);
  }
  switch (m) {
    case sip::Method::bye:
      respond(200, "OK");
      c.hang_up(now, "trunk hung up", true, false);
      break;
    case sip::Method::invite:
    case sip::Method::update: {
      c.t_timer.on_request_received(req);
      c.t_timer.note_peer_allow(req);
      if (c.reinvite_pending) {
        respond(491, "Request Pending");
        break;
      }
      const bool offer = has_sdp(req);
      std::string answer;
      if (!offer || sdp_origin(req.body()) == sdp_origin(c.t_sdp)) {
        answer = c.t_local_sdp;  // a refresh or an unchanged offer: what the trunk has from us
        c.t_answer_in_ack = !offer && m == sip::Method::invite;  // then ours is an offer
      } else {
        // The trunk's hold, resume or new address: answered here from the media state (the
        // browser hears of it only when the direction changes: answer_trunk_offer).
        auto a = c.answer_trunk_offer(now, req.body());
        if (!a) {
          kCallsBadTrunkSdp.inc();
          const std::string warning = warning_value(399, host_port(cfg_.sip_host, cfg_.sip_port), a.error().message);
          const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Warning", warning}}};
          respond(488, safe_reason("Not Acceptable Here: " + a.error().message), h);
          break;
        }
        answer = std::move(*a);
      }
      const sip::SessionTimerHeaders st = c.t_timer.response_headers();
      Pairs h(st.pairs().begin(), st.pairs().end());
      const std::string contact = c.trunk_contact();
      h.emplace_back("Contact", contact);
      const bool body = m == sip::Method::invite || offer;
      std::string ok = build_response(req, 200, "OK", {}, h, body ? "application/sdp" : "", body ? answer : "");
      if (m == sip::Method::invite) {
        c.t_ack_wait.emplace(now, ok, sip::Transport::udp, cfg_.timers);
        c.t_ack_wait_peer = from;
      }
      s.txn->respond(now, std::move(ok), 200);
      c.t_timer.handle_refresh(now);
      break;
    }
    case sip::Method::info:
      c.send_browser_request(now, m, Purpose::relay, {}, content_type_of(req), req.body(),
                             std::make_unique<sip::OwnedMessage>(req.raw()), s.id);
      break;
    case sip::Method::options: {
      const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Allow", kAllow}}};
      respond(200, "OK", h);
      break;
    }
    default:
      kSipUnsupported.inc();
      respond(501, "Not Implemented");
      break;
  }
  pump(now, c);
}

}  // namespace webtrunk::edge

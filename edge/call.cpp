// Call (edge/call.hpp): one B2BUA call's reactions to responses, transaction events, timers and
// the loss of either leg. CallController (call_controller_calls.cpp) routes messages to it.
#include "edge/call.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>

#include "core/log.hpp"
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
constexpr std::string_view kTrunkRefusedCredentials = "Forbidden: trunk refused our credentials";

// Where an in-dialog request toward the trunk goes: the first Route, else the remote target, when
// it names an IP address; otherwise the configured trunk address (names are not resolved on the
// data path).
core::SockAddr dialog_destination(const sip::Dialog& d, const core::SockAddr& fallback) {
  std::string_view target = d.remote_target();
  sip::NameAddr na;
  if (!d.route_set().empty() && sip::parse_name_addr(d.route_set().front(), na)) target = na.uri;
  sip::Uri uri;
  if (!sip::parse_uri(target, uri)) return fallback;
  const std::uint16_t port = uri.has_port ? uri.port : 5060;
  auto addr = core::SockAddr::parse(uri.ipv6 ? fmt::format("[{}]:{}", uri.host, port) : fmt::format("{}:{}", uri.host, port));
  return addr ? *addr : fallback;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Call

std::string Call::browser_contact() const {
  // The browser sends in-dialog requests down its WebSocket whatever this says; the flow
  // parameter names the connection the dialog lives on (RFC 5626 flow, for logs and tools).
  return fmt::format("<sip:edge@{};transport=ws;flow={}-{}-{}>", bracket_host(core.cfg_.sip_host), core.cfg_.shard,
                     flow.index, flow.generation);
}

std::string Call::trunk_contact() const {
  // A TLS trunk sends its in-dialog requests back over TLS, on our connection (the Via alias).
  return fmt::format("<sip:edge@{}{}>", host_port(core.cfg_.sip_host, core.cfg_.sip_port),
                     trunk_transport() == sip::Transport::tls ? ";transport=tls" : "");
}

std::string Call::trunk_via() const {
  return fmt::format("{};rport{}", host_port(core.cfg_.sip_host, core.cfg_.sip_port), via_alias());
}

// RFC 5923 §5: ";alias" lets a TLS trunk reuse our connection for requests to the sent-by address
// (the edge accepts no TLS connections of its own toward trunks).
std::string_view Call::via_alias() const { return trunk_transport() == sip::Transport::tls ? ";alias" : ""; }

void Call::send_trunk_request(core::Instant now, sip::Method m, Purpose purpose, std::span<const sip::HeaderPair> extra,
                              std::string_view content_type, std::string_view body,
                              std::unique_ptr<sip::OwnedMessage> origin, std::uint64_t origin_server,
                              const TrunkAuthAnswer* auth) {
  if (!t_dialog) return;
  const std::string branch = core.ids_.branch();
  Pairs all(extra.begin(), extra.end());
  if (auth != nullptr) all.emplace_back(auth->header_name, auth->header_value);
  std::string bytes = t_dialog->make_request(m, trunk_via(), branch, all, body.empty() ? "" : content_type, body);
  auto t = std::make_unique<CallClientTxn>();
  t->with_credentials = auth != nullptr;
  if (trunk != nullptr && !trunk->credentials.empty()) {
    for (const auto& [n, v] : extra) t->extra.emplace_back(n, v);
    t->content_type = std::string(content_type);
    t->body = std::string(body);
  }
  t->txn = std::make_unique<sip::ClientTransaction>(now, m, std::move(bytes), branch, trunk_transport(),
                                                    core.cfg_.timers);
  t->leg = Leg::trunk;
  t->purpose = purpose;
  t->method = m;
  t->origin = std::move(origin);
  t->origin_server = origin_server;
  clients.push_back(std::move(t));
}

void Call::send_browser_request(core::Instant now, sip::Method m, Purpose purpose,
                                std::span<const sip::HeaderPair> extra, std::string_view content_type,
                                std::string_view body, std::unique_ptr<sip::OwnedMessage> origin,
                                std::uint64_t origin_server) {
  if (!b_dialog || flow_gone) {
    // Nobody to ask: a relayed request is answered as the browser would if it were gone.
    if (purpose == Purpose::relay && origin_server != 0) {
      if (CallServerTxn* s = trunk_server(origin_server); s != nullptr && origin && origin->parsed) {
        s->txn->respond(now, build_response(origin->view, 481, "Call/Transaction Does Not Exist", {}), 481);
      }
      reinvite_pending = false;
    }
    return;
  }
  const std::string branch = core.ids_.branch();
  std::string bytes = b_dialog->make_request(m, host_port(core.cfg_.sip_host, core.cfg_.sip_port), branch, extra,
                                             body.empty() ? "" : content_type, body);
  auto t = std::make_unique<CallClientTxn>();
  t->txn = std::make_unique<sip::ClientTransaction>(now, m, std::move(bytes), branch, sip::Transport::ws,
                                                    core.cfg_.timers);
  t->leg = Leg::browser;
  t->purpose = purpose;
  t->method = m;
  t->origin = std::move(origin);
  t->origin_server = origin_server;
  clients.push_back(std::move(t));
}

bool Call::retry_with_credentials(core::Instant now, CallClientTxn& t, const sip::MessageView& challenge,
                                  TrunkAuthOutcome& why) {
  why = TrunkAuthOutcome::no_credentials;
  sip::MessageView req;
  if (trunk == nullptr || t.method == sip::Method::cancel ||
      sip::parse_message(t.txn->request(), req).status != sip::ParseStatus::ok) {
    kTrunkAuthFailed.inc();
    return false;
  }
  const TrunkAuthAnswer a =
      t_auth.answer(challenge, req.method_text(), req.request_uri(), t.with_credentials, trunk->credentials, core.ids_.tag());
  why = a.outcome;
  if (a.outcome != TrunkAuthOutcome::answered) {
    kTrunkAuthFailed.inc();
    const std::string_view what = a.outcome == TrunkAuthOutcome::no_credentials ? "no credentials configured"
                                  : a.outcome == TrunkAuthOutcome::refused     ? "credentials refused"
                                                                               : "no challenge we can answer";
    core::log_sampled(core.log_sampler_, now, core::address_key(trunk_dest), core::LogLevel::warn, "call.trunk_auth_failed",
                      "call={} trunk={} method={} code={} why={}", b_call_id, trunk->spec, req.method_text(),
                      challenge.status_code(), what);
    return false;
  }
  kTrunkAuthAnswered.inc();
  if (t.purpose == Purpose::prack) {
    // The same RAck in a new PRACK (the dialog's next CSeq) with our credentials.
    const std::string rack = t.extra.empty() ? std::string() : t.extra.front().second;
    send_prack(now, t.early_tag, rack, &a);
    return true;
  }
  if (t.purpose == Purpose::invite) {
    // RFC 3261 §22.2: the same Call-ID, From and To, the next CSeq.
    ++t_cseq;
    send_trunk_invite(now, &a);
    return true;
  }
  const Pairs extra(t.extra.begin(), t.extra.end());
  send_trunk_request(now, t.method, t.purpose, extra, t.content_type, t.body, std::move(t.origin), t.origin_server, &a);
  return true;
}

CallServerTxn* Call::trunk_server(std::uint64_t sid) {
  for (auto& s : servers) {
    if (s->id == sid) return s.get();
  }
  return nullptr;
}

void Call::fail_browser(core::Instant now, int code, std::string_view reason, std::string_view end_reason) {
  if (!b_answered && !flow_gone && b_invite && b_invite->parsed) {
    core.send_ws(flow, build_response(b_invite->view, code, reason, b_local_tag));
  }
  b_answered = true;
  core.finish_call(now, *this, code, end_reason);
}

void Call::hang_up(core::Instant now, std::string_view end_reason, bool bye_browser, bool bye_trunk,
                   std::string_view reason_header) {
  const bool was_ended = state == CallState::ended;
  core.finish_call(now, *this, cdr.answer != 0 ? 200 : 487, end_reason);
  if (was_ended) return;
  Pairs h;
  if (!reason_header.empty()) h.emplace_back("Reason", reason_header);
  if (b_ack_wait) b_ack_wait.reset();
  if (bye_trunk) {
    if (t_dialog) {
      send_trunk_request(now, sip::Method::bye, Purpose::bye, h, {}, {});
    } else if (invite_txn != nullptr) {
      t_cancelled = true;
      invite_txn->txn->cancel(now);
    }
  }
  if (bye_browser) send_browser_request(now, sip::Method::bye, Purpose::bye, h, {}, {});
}

void Call::answer_browser(core::Instant now, const sip::MessageView& resp, std::string_view sdp) {
  if (b_answered || flow_gone || !b_invite || !b_invite->parsed) return;
  const sip::MessageView& inv = b_invite->view;
  const std::string contact = browser_contact();
  const sip::SessionTimerHeaders st = b_timer.response_headers();
  Pairs h(st.pairs().begin(), st.pairs().end());
  h.emplace_back("Contact", contact);
  h.emplace_back("Allow", kAllow);
  if (!st.supported_timer()) h.emplace_back("Supported", "timer");
  std::string ok = build_response(inv, resp.status_code(), resp.reason_phrase(), b_local_tag, h, "application/sdp", sdp);
  b_dialog = sip::Dialog::from_uas(inv, b_local_tag, contact);
  if (b_dialog) {
    b_dialog->confirm();
    b_dialog->set_local_cseq(core.ids_.initial_cseq());
  }
  core.send_ws(flow, ok);
  b_ack_wait.emplace(now, std::move(ok), sip::Transport::ws, core.cfg_.timers);
  b_answered = true;
}

void Call::send_trunk_invite(core::Instant now, const TrunkAuthAnswer* auth) {
  // A new INVITE with the same Call-ID and From tag: its CSeq goes above the PRACKs sent before it.
  for (const EarlyDialog& e : t_early) t_cseq = std::max(t_cseq, e.dialog.local_cseq() + 1);
  t_early.clear();
  const std::string branch = core.ids_.branch();
  t_invite_bytes.clear();
  sip::MessageWriter w(t_invite_bytes);
  w.request_line("INVITE", t_ruri);
  w.header(sip::HeaderId::via, fmt::format("SIP/2.0/{} {};branch={};rport{}", sip::via_transport_name(trunk_transport()),
                                           host_port(core.cfg_.sip_host, core.cfg_.sip_port), branch, via_alias()));
  w.header(sip::HeaderId::max_forwards, std::to_string(t_max_forwards));
  w.header(sip::HeaderId::from, fmt::format("<sip:{}@{}>;tag={}", t_from_user, bracket_host(core.cfg_.sip_host), t_local_tag));
  w.header(sip::HeaderId::to, t_to);
  w.header(sip::HeaderId::call_id, t_call_id);
  w.header(sip::HeaderId::cseq, fmt::format("{} INVITE", t_cseq));
  w.header(sip::HeaderId::contact, trunk_contact());
  w.header("Allow", kAllow);
  const sip::SessionTimerHeaders st = t_timer.request_headers();
  st.write_to(w);
  // RFC 3262 §3: we PRACK the trunk's reliable provisionals.
  if (core.cfg_.trunk_100rel) w.header("Supported", "100rel");
  w.header("User-Agent", core.cfg_.user_agent);
  if (auth != nullptr) w.header(auth->header_name, auth->header_value);
  w.header(sip::HeaderId::content_type, "application/sdp");
  w.finish(trunk_offer());
  // RFC 3261 §18.1.1: a request within 200 bytes of the path MTU (1,300 bytes here) goes over a
  // congestion-controlled transport, when the route allows it; the rest of the call follows.
  if (trunk_transport() == sip::Transport::udp && t_invite_bytes.size() > TrunkTarget::kUdpMtuLimit) {
    if (trunk != nullptr && trunk->tcp_fallback) {
      t_tcp_fallback = true;
      kTrunkTcpFallbacks.inc();
      return send_trunk_invite(now, auth);  // written again with Via SIP/2.0/TCP
    }
    kTrunkUdpOversize.inc();
  }

  auto txn = std::make_unique<CallClientTxn>();
  txn->txn = std::make_unique<sip::ClientTransaction>(now, sip::Method::invite, t_invite_bytes, branch,
                                                      trunk_transport(), core.cfg_.timers);
  txn->leg = Leg::trunk;
  txn->purpose = Purpose::invite;
  txn->method = sip::Method::invite;
  txn->with_credentials = auth != nullptr;
  invite_txn = txn.get();
  clients.push_back(std::move(txn));
}

bool Call::fail_over_codec(core::Instant now, std::string_view why) {
  if (state != CallState::calling || t_cancelled || b_answered || flow_gone) return false;
  if (t_candidate + 1 >= t_candidates.size()) return false;
  const std::string refused = t_candidates[t_candidate].name;
  ++t_candidate;
  kCallsCodecFailover.inc();
  core::log(core::LogLevel::info, "call.codec_failover", "call={} trunk_call_id={} refused={} next={} why={}", b_call_id,
            t_call_id, refused, t_candidates[t_candidate].name, why);
  // RFC 3261 §8.1.3.5: the new request keeps Call-ID, From and To with a higher CSeq. After a
  // 2xx (a dialog we just hung up) it also takes a new From tag, so it cannot match the old dialog.
  if (t_dialog) {
    t_cseq = std::max(t_cseq, t_dialog->local_cseq());
    t_local_tag = core.ids_.tag();
    t_dialog.reset();
    t_ack.clear();
  }
  ++t_cseq;
  trunk_media_known = false;
  t_sdp.clear();
  t_provisional = false;
  send_trunk_invite(now);
  return true;
}

bool Call::fail_over_target(core::Instant now, std::string_view why) {
  if (state != CallState::calling || t_cancelled || b_answered || flow_gone || t_dialog) return false;
  if (!t_targets || t_target + 1 >= t_targets->list.size()) return false;
  const core::SockAddr failed = target_addr();
  ++t_target;
  trunk_dest = target_addr();
  kCallsTrunkFailover.inc();
  core::log(core::LogLevel::info, "call.trunk_failover", "call={} trunk_call_id={} trunk={} failed={} next={}:{} why={}",
            b_call_id, t_call_id, trunk != nullptr ? trunk->spec : "", failed.to_string(),
            sip::uri_transport_param(trunk_transport()), trunk_dest.to_string(), why);
  // RFC 3263 §4.3: a new transaction (new branch, next CSeq) of the same request to the next target.
  ++t_cseq;
  t_provisional = false;
  t_unreachable_detail.clear();
  send_trunk_invite(now);
  return true;
}

void Call::on_invite_response(core::Instant now, CallClientTxn& t, const sip::TxnEvent& ev) {
  if (!ev.message || !ev.message->parsed) return;
  const sip::MessageView& resp = ev.message->view;
  const int status = ev.status;
  t_timer.note_peer_allow(resp);
  if (status < 200) {
    if (status == 100) return;
    // RFC 3262 §4: a reliable 18x is PRACKed, and processed only when it is the next RSeq.
    if (sip::has_token(resp, sip::HeaderId::require, "100rel") && !acknowledge_reliable(now, resp)) return;
    t_provisional = true;
    if (state != CallState::calling || b_answered || flow_gone || !b_invite) return;
    // 180 / 183 go to the browser with our tag, Contact and (the first time) our answer.
    early_answer(resp);
    return;
  }
  if (status < 300) {
    invite_txn = nullptr;
    auto dialog = [&]() -> std::optional<sip::Dialog> {
      sip::MessageView req;
      if (sip::parse_message(std::string_view(t_invite_bytes), req).status != sip::ParseStatus::ok) return std::nullopt;
      return sip::Dialog::from_uac(req, resp);
    }();
    if (!dialog) {
      fail_browser(now, 502, "Bad Gateway: unusable 2xx from the trunk", "bad trunk answer");
      return;
    }
    t_dialog = std::move(dialog);
    confirm_early_dialog();
    // A TCP trunk's in-dialog requests reuse the connection to the trunk (the edge does not listen
    // on TCP, so the trunk's Contact is not dialled).
    trunk_dest = trunk_transport() == sip::Transport::udp ? dialog_destination(*t_dialog, target_addr()) : target_addr();
    if (state == CallState::ended || t_cancelled) {
      // Answered after we gave up (CANCEL crossed the 2xx, browser gone): ACK it, then BYE.
      t_ack = t_dialog->make_request(sip::Method::ack, trunk_via(), core.ids_.branch(), {}, {}, {});
      core.send_trunk(trunk_dest, trunk_transport(), t_ack);
      send_trunk_request(now, sip::Method::bye, Purpose::bye, {}, {}, {});
      return;
    }
    t_ack = t_dialog->make_request(sip::Method::ack, trunk_via(), core.ids_.branch(), {}, {}, {});
    core.send_trunk(trunk_dest, trunk_transport(), t_ack);
    if (!take_trunk_answer(now, has_sdp(resp) ? resp.body() : std::string_view{})) return;
    t_timer.on_response_received(resp);
    t_timer.handle_refresh(now);
    answer_browser(now, resp, final_browser_answer());
    b_timer.handle_refresh(now);
    state = CallState::answered;
    cdr.answer = core.unix_at(now);
    if (max_duration_s) hard_stop = now + std::chrono::seconds(*max_duration_s);
    kCallsAnswered.inc();
    if (trunk != nullptr) kRouteCallsAnswered.inc(trunk->series);
    core::log(core::LogLevel::info, "call.answered", "call={} trunk_call_id={}", b_call_id, t_call_id);
    return;
  }
  // 3xx-6xx: the browser sees the trunk's code and reason. A trunk's own challenge means nothing
  // to the browser (its credentials are ours): answered here, or a configuration problem.
  invite_txn = nullptr;
  if (state != CallState::calling || t_cancelled) return;
  t_failure = status >= 600   ? RouteFailure::trunk_6xx
              : status >= 500 ? RouteFailure::trunk_5xx
              : status >= 400 ? RouteFailure::trunk_4xx
                              : RouteFailure::other;
  if (status == 401 || status == 407) {
    TrunkAuthOutcome why{};
    if (retry_with_credentials(now, t, resp, why)) return;
    if (why == TrunkAuthOutcome::no_credentials) {
      return fail_browser(now, 503, "Service Unavailable: trunk asks for authentication", "trunk auth");
    }
    if (why == TrunkAuthOutcome::unsupported) {
      return fail_browser(now, 503, "Service Unavailable: trunk asks for an authentication we cannot answer",
                          "trunk auth");
    }
    return fail_browser(now, 403, kTrunkRefusedCredentials, "trunk refused credentials");
  }
  if (status == 503 && fail_over_target(now, fmt::format("503 {}", resp.reason_phrase()))) return;
  // RFC 3264 §5 / RFC 3261 §21.4.26, §21.6.4: the trunk cannot take the codec we offered; the
  // next one of --codecs goes out before the browser hears of it.
  if ((status == 488 || status == 606) && fail_over_codec(now, fmt::format("{} {}", status, resp.reason_phrase()))) {
    return;
  }
  if (status == 488 || status == 606) {
    kCallsNoCommonCodec.inc();
    std::vector<std::string_view> tried;
    for (std::size_t i = 0; i <= t_candidate && i < t_candidates.size(); ++i) tried.push_back(t_candidates[i].name);
    return fail_browser(now, 488, safe_reason(fmt::format("Not Acceptable Here: the trunk refused {}", fmt::join(tried, ", "))),
                        "no common codec");
  }
  const std::string reason = safe_reason(resp.reason_phrase());
  const std::string_view why = status == 486 ? "busy" : status == 487 ? "cancelled by trunk" : "rejected";
  fail_browser(now, status, reason, why);
}

void Call::on_client_final(core::Instant now, CallClientTxn& t, const sip::TxnEvent& ev) {
  const bool response = ev.kind == sip::TxnEvent::Kind::response && ev.message && ev.message->parsed;
  if (response && ev.status < 200) return;
  // A trunk challenge: the request again with our credentials, else the request fails with 403
  // (the browser must not see the trunk's challenge: it would answer with its own credentials).
  bool auth_refused = false;
  if (response && t.leg == Leg::trunk && (ev.status == 401 || ev.status == 407)) {
    TrunkAuthOutcome why{};
    if (retry_with_credentials(now, t, ev.message->view, why)) return;
    auth_refused = true;
  }
  const int status = auth_refused ? 403 : response ? ev.status : (ev.kind == sip::TxnEvent::Kind::timeout ? 408 : 503);
  if (response) {
    if (t.leg == Leg::trunk && t_dialog) t_dialog->handle_response(ev.message->view);
    if (t.leg == Leg::browser && b_dialog) b_dialog->handle_response(ev.message->view);
  }
  switch (t.purpose) {
    case Purpose::relay: {
      if (t.method == sip::Method::invite || t.method == sip::Method::update) reinvite_pending = false;
      if (!t.origin || !t.origin->parsed) return;
      const sip::MessageView& origin = t.origin->view;
      const std::string_view reason = auth_refused ? kTrunkRefusedCredentials
                                      : response   ? ev.message->view.reason_phrase()
                                                   : (status == 408 ? "Request Timeout" : "Service Unavailable");
      std::string_view body = response ? ev.message->view.body() : std::string_view{};
      std::string_view ct = response && !body.empty() ? content_type_of(ev.message->view) : std::string_view{};
      const bool ok = status >= 200 && status < 300;
      const bool offer_answer = ok && (t.method == sip::Method::invite || t.method == sip::Method::update);
      if (t.leg == Leg::trunk) {
        // Relayed from the browser: ACK the trunk's 2xx ourselves, answer the browser.
        if (ok && t.method == sip::Method::invite && t_dialog) {
          t_ack = t_dialog->make_request(sip::Method::ack, trunk_via(), core.ids_.branch(), {}, {}, {});
          core.send_trunk(trunk_dest, trunk_transport(), t_ack);
        }
        Pairs h;
        sip::SessionTimerHeaders st;
        std::string contact;
        if (offer_answer) {
          t_timer.on_response_received(ev.message->view);
          t_timer.handle_refresh(now);
          if (b_offer_before) {
            // The browser's re-offer: the trunk's answer sets the media, ours goes back.
            b_sdp = std::string(origin.body());
            if (has_sdp(ev.message->view)) {
              if (auto r = take_trunk_sdp(body); !r) {
                kCallsBadTrunkSdp.inc();
                core::log(core::LogLevel::warn, "call.bad_trunk_answer", "call={} trunk_call_id={} why={}", b_call_id,
                          t_call_id, r.error().message);
              }
            }
            b_offer_before.reset();
          }
          body = browser_answer();
          ct = "application/sdp";
          b_timer.handle_refresh(now);
          st = b_timer.response_headers();
          h.assign(st.pairs().begin(), st.pairs().end());
          contact = browser_contact();
          h.emplace_back("Contact", contact);
        } else if (b_offer_before && (t.method == sip::Method::invite || t.method == sip::Method::update)) {
          // Refused (488, 491, ...): RFC 3264 §8: the session stays as it was.
          b_offer = std::move(*b_offer_before);
          b_offer_before.reset();
          if (media_id != 0) core.cfg_.media->set_browser_remote(media_id, b_offer.remote);
          // Our next offer to the trunk (a refresh) describes the session as it stands, in a
          // version above the refused one.
          trunk_offer();
        }
        if (!offer_answer && response && has_sdp(ev.message->view)) {
          body = {};  // nothing of the trunk's SDP reaches the browser
          ct = {};
        }
        if (!flow_gone) core.send_ws(flow, build_response(origin, status, safe_reason(reason), {}, h, ct, body));
        if (status == 481 || status == 408) hang_up(now, "trunk lost the dialog", true, status == 408);
      } else {
        // Relayed from the trunk (INFO): ACK a 2xx to an INVITE, answer the trunk.
        if (ok && t.method == sip::Method::invite && b_dialog && !flow_gone) {
          core.send_ws(flow, b_dialog->make_request(sip::Method::ack, host_port(core.cfg_.sip_host, core.cfg_.sip_port),
                                                    core.ids_.branch(), {}, {}, {}));
        }
        if (response && has_sdp(ev.message->view)) {
          body = {};  // nothing of the browser's SDP reaches the trunk
          ct = {};
        }
        std::string resp_bytes = build_response(origin, status, safe_reason(reason), {}, {}, ct, body);
        if (CallServerTxn* s = trunk_server(t.origin_server)) s->txn->respond(now, std::move(resp_bytes), status);
        if (status == 481 || status == 408) hang_up(now, "browser lost the dialog", status == 408, true);
      }
      return;
    }
    case Purpose::refresh: {
      sip::SessionTimer& timer = t.leg == Leg::trunk ? t_timer : b_timer;
      if (status >= 200 && status < 300) {
        if (response) timer.on_response_received(ev.message->view);
        timer.handle_refresh(now);
        if (t.method == sip::Method::invite) {
          // Our own re-INVITE refresh: the ACK is ours to send.
          if (t.leg == Leg::trunk && t_dialog) {
            t_ack = t_dialog->make_request(sip::Method::ack, trunk_via(), core.ids_.branch(), {}, {}, {});
            core.send_trunk(trunk_dest, trunk_transport(), t_ack);
          } else if (t.leg == Leg::browser && b_dialog && !flow_gone) {
            core.send_ws(flow, b_dialog->make_request(sip::Method::ack, host_port(core.cfg_.sip_host, core.cfg_.sip_port),
                                                      core.ids_.branch(), {}, {}, {}));
          }
        }
        if (t.method == sip::Method::update || t.method == sip::Method::invite) reinvite_pending = false;
        return;
      }
      if (t.method == sip::Method::invite) reinvite_pending = false;
      if (t.method == sip::Method::update) reinvite_pending = false;
      if ((status == 405 || status == 501) && t.method == sip::Method::update && t.leg == Leg::trunk) {
        // RFC 4028 §7.4 allows either method: fall back to re-INVITE with the current offer.
        t_refresh_by_invite = true;
        const sip::SessionTimerHeaders st = t_timer.request_headers();
        const Pairs h(st.pairs().begin(), st.pairs().end());
        reinvite_pending = true;
        send_trunk_request(now, sip::Method::invite, Purpose::refresh, h, "application/sdp", t_local_sdp);
        return;
      }
      if (response && status == 422) {
        if (timer.on_422(ev.message->view)) {
          const sip::SessionTimerHeaders st = timer.request_headers();
          const Pairs h(st.pairs().begin(), st.pairs().end());
          reinvite_pending = true;
          if (t.leg == Leg::trunk) {
            send_trunk_request(now, t.method, Purpose::refresh, h, t.method == sip::Method::invite ? "application/sdp" : "",
                               t.method == sip::Method::invite ? std::string_view(t_local_sdp) : std::string_view{});
          }
        }
        return;
      }
      // 481 or 408 on a refresh: the dialog is gone (RFC 3261 §12.2.1.2).
      if (status == 481 || status == 408) hang_up(now, "session refresh failed", true, true);
      return;
    }
    case Purpose::probe: {
      probe_in_flight = false;
      if (state == CallState::ended) return;
      // Any answer but these means the trunk still holds the dialog (a 405 or 501 to OPTIONS too).
      // RFC 3261 §12.2.1.2: 481 and 408 end the dialog; a transport error means nobody is there.
      const bool lost = status == 481 || status == 408 || (!response && status == 503);
      if (!lost) {
        probe_at = now + core.cfg_.call_ping;
        return;
      }
      kCallsTrunkLost.inc();
      const std::string_view why = status == 481 ? "481" : status == 408 ? "timeout" : "unreachable";
      core::log(core::LogLevel::info, "call.trunk_lost", "call={} trunk_call_id={} why={}", b_call_id, t_call_id, why);
      hang_up(now, "trunk not answering", true, status == 408,
              status == 481 ? "SIP;cause=481;text=\"Trunk lost the call\"" : "SIP;cause=408;text=\"Trunk not answering\"");
      return;
    }
    case Purpose::prack:
      // RFC 3262 §7.2 leaves the INVITE alone whatever the PRACK's fate: the trunk's final
      // response decides the call.
      if (status >= 300) {
        core::log(core::LogLevel::info, "call.prack_failed", "call={} trunk_call_id={} status={}", b_call_id, t_call_id,
                  status);
      }
      return;
    case Purpose::invite:
      // Timer B or a transport error with no final response.
      if (ev.kind == sip::TxnEvent::Kind::timeout || ev.kind == sip::TxnEvent::Kind::transport_error) {
        invite_txn = nullptr;
        const bool timeout = ev.kind == sip::TxnEvent::Kind::timeout;
        if (fail_over_target(now, timeout ? "timeout" : t_unreachable_detail.empty() ? "unreachable" : t_unreachable_detail)) {
          return;
        }
        if (state == CallState::calling && !t_cancelled) {
          if (timeout) {
            t_failure = RouteFailure::timeout;
            fail_browser(now, 408, t_provisional ? "Request Timeout" : "Trunk did not answer", "trunk timeout");
          } else {
            fail_browser(now, 503,
                         t_unreachable_detail.empty()
                             ? std::string("Service Unavailable: trunk unreachable")
                             : fmt::format("Service Unavailable: trunk unreachable ({})", t_unreachable_detail),
                         "trunk unreachable");
          }
        } else if (state == CallState::ended) {
          // Cancelled and the trunk never answered the INVITE: nothing more to do.
        }
      }
      return;
    case Purpose::cancel:
    case Purpose::bye:
      return;
  }
}

bool Call::step(core::Instant now) {
  bool any = false;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    CallClientTxn* t = clients[i].get();
    while (auto bytes = t->txn->poll_transmit()) {
      any = true;
      if (t->leg == Leg::trunk) {
        core.send_trunk(trunk_dest, trunk_transport(), std::move(*bytes));
      } else if (!flow_gone) {
        core.send_ws(flow, std::move(*bytes));
      }
    }
    while (auto ev = t->txn->poll_event()) {
      any = true;
      switch (ev->kind) {
        case sip::TxnEvent::Kind::response:
          if (t->purpose == Purpose::invite) {
            on_invite_response(now, *t, *ev);
          } else {
            on_client_final(now, *t, *ev);
          }
          break;
        case sip::TxnEvent::Kind::timeout:
        case sip::TxnEvent::Kind::transport_error:
          on_client_final(now, *t, *ev);
          break;
        case sip::TxnEvent::Kind::cancel_ready: {
          auto c = std::make_unique<CallClientTxn>();
          c->txn = std::make_unique<sip::ClientTransaction>(now, sip::Method::cancel, std::move(ev->request),
                                                            std::string(t->txn->branch()), trunk_transport(),
                                                            core.cfg_.timers);
          c->leg = Leg::trunk;
          c->purpose = Purpose::cancel;
          c->method = sip::Method::cancel;
          clients.push_back(std::move(c));
          break;
        }
        case sip::TxnEvent::Kind::terminated:
          if (t == invite_txn) invite_txn = nullptr;
          break;
      }
    }
  }
  std::erase_if(clients, [&](const std::unique_ptr<CallClientTxn>& t) {
    if (!t->txn->terminated()) return false;
    if (t.get() == invite_txn) invite_txn = nullptr;
    return true;
  });

  for (std::size_t i = 0; i < servers.size(); ++i) {
    CallServerTxn* s = servers[i].get();
    while (auto bytes = s->txn->poll_transmit()) {
      any = true;
      core.send_udp(s->peer, std::move(*bytes));
    }
    while (auto ev = s->txn->poll_event()) {
      (void)ev;  // timeout (non-2xx never ACKed) and terminated need nothing from the call
    }
  }
  std::erase_if(servers, [](const std::unique_ptr<CallServerTxn>& s) { return s->txn->terminated(); });

  if (t_ack_wait) {
    while (auto bytes = t_ack_wait->poll_transmit()) {
      any = true;
      core.send_udp(t_ack_wait_peer, std::move(*bytes));
    }
    bool timed_out = false;
    while (auto ev = t_ack_wait->poll_event()) timed_out = timed_out || ev->kind == sip::TxnEvent::Kind::timeout;
    if (t_ack_wait->done()) t_ack_wait.reset();
    if (timed_out) {
      any = true;
      hang_up(now, "trunk never acknowledged", true, true);
    }
  }
  if (b_ack_wait) {
    while (auto bytes = b_ack_wait->poll_transmit()) {
      if (!flow_gone) core.send_ws(flow, std::move(*bytes));
    }
    bool timed_out = false;
    while (auto ev = b_ack_wait->poll_event()) timed_out = timed_out || ev->kind == sip::TxnEvent::Kind::timeout;
    if (b_ack_wait && b_ack_wait->done()) b_ack_wait.reset();
    if (timed_out) {
      any = true;
      hang_up(now, "browser never acknowledged", true, true);
    }
  }

  // Session timers.
  for (Leg leg : {Leg::browser, Leg::trunk}) {
    sip::SessionTimer& timer = leg == Leg::browser ? b_timer : t_timer;
    while (auto ev = timer.poll_event()) {
      any = true;
      if (state == CallState::ended) continue;
      if (ev->kind == sip::SessionTimerEvent::Kind::expired) {
        kCallsSessionExpired.inc();
        core::log(core::LogLevel::info, "call.session_expired", "call={} leg={}", b_call_id,
                  leg == Leg::browser ? "browser" : "trunk");
        hang_up(now, leg == Leg::browser ? "session expired (browser)" : "session expired (trunk)", true, true,
                "SIP;cause=408;text=\"Session expired\"");
        continue;
      }
      if (reinvite_pending) continue;  // an offer is in flight: it refreshes the session anyway
      const sip::SessionTimerHeaders st = timer.request_headers();
      const Pairs h(st.pairs().begin(), st.pairs().end());
      const bool invite = ev->method == sip::Method::invite || (leg == Leg::trunk && t_refresh_by_invite);
      reinvite_pending = invite;
      if (leg == Leg::trunk) {
        send_trunk_request(now, invite ? sip::Method::invite : sip::Method::update, Purpose::refresh, h,
                           invite ? "application/sdp" : "", invite ? std::string_view(t_local_sdp) : std::string_view{});
      } else {
        send_browser_request(now, invite ? sip::Method::invite : sip::Method::update, Purpose::refresh, h,
                             invite ? "application/sdp" : "", invite ? std::string_view(b_local_sdp) : std::string_view{});
      }
    }
  }
  return any;
}

void Call::handle_timeout(core::Instant now) {
  for (auto& t : clients) {
    if (auto d = t->txn->poll_timeout(); d && *d <= now) t->txn->handle_timeout(now);
  }
  for (auto& s : servers) {
    if (auto d = s->txn->poll_timeout(); d && *d <= now) s->txn->handle_timeout(now);
  }
  if (t_ack_wait) {
    if (auto d = t_ack_wait->poll_timeout(); d && *d <= now) t_ack_wait->handle_timeout(now);
  }
  if (b_ack_wait) {
    if (auto d = b_ack_wait->poll_timeout(); d && *d <= now) b_ack_wait->handle_timeout(now);
  }
  if (auto d = b_timer.poll_timeout(); d && *d <= now) b_timer.handle_timeout(now);
  if (auto d = t_timer.poll_timeout(); d && *d <= now) t_timer.handle_timeout(now);
  if (state != CallState::ended && now >= hard_stop) {
    // The token's dur= claim: the call may last this long and no longer.
    hard_stop = core::Instant::max();
    hang_up(now, "maximum call length reached", true, true);
  }
  if (state == CallState::established && now >= probe_at && !probe_in_flight) {
    probe_at = core::Instant::max();
    probe_in_flight = true;
    kCallPingsSent.inc();
    send_trunk_request(now, sip::Method::options, Purpose::probe, {}, {}, {});
  }
  if (state == CallState::calling && now >= ring_deadline && !b_answered) {
    // RFC 3261 §16.6 Timer C: ringing for ever is not an answer.
    ring_deadline = core::Instant::max();
    t_failure = RouteFailure::timeout;
    fail_browser(now, 408, "Trunk did not answer", "ring timeout");
    t_cancelled = true;
    if (invite_txn != nullptr) invite_txn->txn->cancel(now);
  }
}

std::optional<core::Instant> Call::next_deadline() const {
  std::optional<core::Instant> best;
  auto take = [&](std::optional<core::Instant> t) {
    if (t && (!best || *t < *best)) best = t;
  };
  for (const auto& t : clients) take(t->txn->poll_timeout());
  for (const auto& s : servers) take(s->txn->poll_timeout());
  if (t_ack_wait) take(t_ack_wait->poll_timeout());
  if (b_ack_wait) take(b_ack_wait->poll_timeout());
  if (state != CallState::ended) {
    take(b_timer.poll_timeout());
    take(t_timer.poll_timeout());
  }
  if (state == CallState::established && !probe_in_flight && probe_at != core::Instant::max()) take(probe_at);
  if (state == CallState::calling && !b_answered) take(ring_deadline);
  if (state != CallState::ended && hard_stop != core::Instant::max()) take(hard_stop);
  return best;
}

bool Call::reapable() const noexcept {
  return state == CallState::ended && clients.empty() && servers.empty() && !t_ack_wait;
}

void Call::on_browser_response(core::Instant now, const sip::MessageView& resp) {
  const auto key = sip::TransactionKey::of_response(resp);
  if (!key) return;
  for (auto& t : clients) {
    if (t->leg == Leg::browser && t->txn->branch() == key->branch) {
      t->txn->handle_response(now, resp);
      return;
    }
  }
  kSipStrayResponses.inc();
}

void Call::on_trunk_response(core::Instant now, const sip::MessageView& resp) {
  const auto key = sip::TransactionKey::of_response(resp);
  if (!key) return;
  for (auto& t : clients) {
    if (t->leg == Leg::trunk && t->txn->branch() == key->branch &&
        (t->method == key->method || (key->method == sip::Method::unknown && t->method == sip::Method::unknown))) {
      t->txn->handle_response(now, resp);
      return;
    }
  }
  // A 2xx to an INVITE whose transaction is gone: the trunk did not get our ACK (RFC 3261
  // §13.2.2.4): send it again.
  const auto cs = sip::cseq(resp);
  if (cs && cs->method == sip::Method::invite && resp.status_code() >= 200 && resp.status_code() < 300 && !t_ack.empty()) {
    sip::MessageView ack;
    if (sip::parse_message(std::string_view(t_ack), ack).status == sip::ParseStatus::ok) {
      const auto ack_cs = sip::cseq(ack);
      if (ack_cs && ack_cs->number == cs->number) {
        core.send_trunk(trunk_dest, trunk_transport(), t_ack);
        return;
      }
    }
  }
  kSipStrayResponses.inc();
}

void Call::on_flow_closed(core::Instant now) {
  flow_gone = true;
  b_ack_wait.reset();
  if (state == CallState::ended) return;
  if (state == CallState::calling) {
    b_answered = true;  // nobody to answer
    t_failure = RouteFailure::cancelled;
    core.finish_call(now, *this, 487, "browser disconnected");
    t_cancelled = true;
    if (invite_txn != nullptr) invite_txn->txn->cancel(now);
    return;
  }
  // RFC 4028 is not needed here: the flow is gone, hang up the trunk now.
  hang_up(now, "browser disconnected", false, true);
}

void Call::on_trunk_connection_lost(core::Instant now) {
  if (state == CallState::ended) return;
  if (state == CallState::calling) return on_trunk_unreachable(now, "connection lost", RouteFailure::unreachable_reset);
  hang_up(now, "trunk connection lost", true, false, "SIP;cause=503;text=\"Trunk connection lost\"");
}

void Call::on_trunk_unreachable(core::Instant now, std::string_view detail, RouteFailure why) {
  t_unreachable_detail = std::string(detail);
  t_failure = why;
  for (auto& t : clients) {
    if (t->leg == Leg::trunk) t->txn->handle_transport_error(now);
  }
}

}  // namespace webtrunk::edge

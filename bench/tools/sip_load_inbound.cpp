// bench_sip_load --inbound: the browsers' registrations, the trunk's calls to them and the browsers'
// answers (see sip_load.cpp).
#include <fmt/format.h>
#include <sys/epoll.h>

#include <array>

#include "sip/auth_params.hpp"
#include "sip_load_generator.hpp"

namespace webtrunk::bench::sip_load {

bool Generator::register_browsers(std::string& err) {
  edge_host_ = fmt::format("127.0.0.1:{}", edge_sip_port_);
  for (std::uint32_t i = 0; i < o_.browsers; ++i) {
    Browser& br = browsers_[i];
    br.reg_call_id = rnd(22);
    br.reg_tag = rnd(10);
    br.reg_cseq = 1;
    ws_.send_text(i, jssip_register(br.id, br.reg_call_id, br.reg_tag, "z9hG4bK" + rnd(7, "0123456789"),
                                        br.reg_cseq, ""));
  }
  const std::int64_t until = mono_ns() + 10'000'000'000;
  std::array<epoll_event, 256> evs{};
  while (registered_ < o_.browsers && register_error_.empty() && mono_ns() < until) {
    ws_.flush_dirty();
    const int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 100);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == kTrunkTag) {
        caller_.on_readable();  // the edge's OPTIONS pings, if any
      } else {
        ws_.on_event(static_cast<std::uint32_t>(evs[i].data.u64), evs[i].events);
      }
    }
  }
  if (registered_ == o_.browsers) return true;
  err = fmt::format("{} of {} browsers registered: {}", registered_, o_.browsers,
                    register_error_.empty() ? "no answer within 10 s" : register_error_);
  return false;
}

void Generator::on_register_response(std::uint32_t b, const sip::MessageView& m) {
  Browser& br = browsers_[b];
  const int code = m.status_code();
  if (code < 200 || br.registered) return;
  if (code == 401 && br.reg_cseq == 1) {
    sip::AuthParams ap;
    const sip::HeaderField* h = m.find(sip::HeaderId::www_authenticate);
    std::optional<std::string_view> nonce;
    if (h == nullptr || !sip::parse_auth(h->value, ap) || !(nonce = ap.get("nonce"))) {
      register_error_ = "401 without a usable WWW-Authenticate";
      return;
    }
    ++stats_.challenges;
    ++br.reg_cseq;
    const std::string ruri = fmt::format("sip:{}", kRealm);
    ws_.send_text(b, jssip_register(br.id, br.reg_call_id, br.reg_tag, "z9hG4bK" + rnd(7, "0123456789"),
                                        br.reg_cseq, jssip_digest(br.id, ruri, *nonce, 1, rnd(12), "REGISTER")));
    return;
  }
  if (code == 200) {
    br.registered = true;
    ++registered_;
    return;
  }
  register_error_ = fmt::format("browser {}: REGISTER {} {}", b, code, m.reason_phrase());
}

void Generator::start_inbound(std::uint32_t idx, std::int64_t now) {
  Call& c = calls_[idx];
  c.browser = idx % o_.browsers;
  c.number = fmt::format("{}{:08}", kNumberPrefix, idx);  // the caller: the edge passes it to the browser
  const auto shard_port = static_cast<std::uint16_t>(edge_sip_port_ + idx % o_.shards);
  c.ruri = fmt::format("sip:{}@127.0.0.1:{}", browsers_[c.browser].id.user, shard_port);
  c.call_id = fmt::format("{:08x}{}@127.0.0.1", idx, rnd(12));
  c.from_tag = rnd(10);
  c.cseq = 1;
  c.branch = "z9hG4bK" + rnd(10);
  c.t_start = now;
  c.auth_sent = true;  // no challenge on this path
  ++stats_.attempted;
  ++in_flight_;
  in_flight_order_.push_back(idx);
  if (ws_.lost(c.browser)) return fail(idx, "browser connection lost");
  const std::string sdp = fmt::format(fmt::runtime(kTrunkOfferTemplate), 30000 + 2 * (idx % 10000));
  c.t_auth = mono_ns();
  send_trunk(idx, "INVITE", c.ruri, 1, c.branch, sdp);
}

void Generator::send_trunk(std::uint32_t idx, std::string_view method, std::string_view ruri, std::uint32_t cseq,
                           std::string_view branch, std::string_view sdp) {
  const Call& c = calls_[idx];
  caller_.send(static_cast<std::uint16_t>(edge_sip_port_ + idx % o_.shards),
               trunk_request(trunk_ids(c), method, ruri, branch, cseq, sdp));
}

// The edge's requests to a browser: INVITE -> 180 + 200 with Chromium's answer, ACK, BYE -> 200.
void Generator::on_browser_request(std::uint32_t b, const sip::MessageView& m) {
  const std::int64_t idx = call_index_of_number(name_addr_user(m.value(sip::HeaderId::from)));
  const bool known = idx >= 0 && static_cast<std::uint64_t>(idx) < calls_.size() &&
                     calls_[static_cast<std::size_t>(idx)].browser == b;
  const std::string tag = fmt::format("b{}", idx);
  const std::string contact = fmt::format("<sip:{}@{};transport=ws>", browsers_[b].id.user, browsers_[b].id.via_host);
  const sip::Method method = m.method();
  if (method == sip::Method::ack) {
    if (!known) return;
    calls_[static_cast<std::size_t>(idx)].trunk_ack = true;
    return maybe_complete(static_cast<std::uint32_t>(idx));
  }
  if (method == sip::Method::invite && known && !calls_[static_cast<std::size_t>(idx)].trunk_invite) {
    Call& c = calls_[static_cast<std::size_t>(idx)];
    c.trunk_invite = true;
    c.t_trunk = mono_ns();
    ws_.send_text(b, trunk_response(m, 180, "Ringing", tag, contact));
    ws_.send_text(b, trunk_response(m, 200, "OK", tag, contact, chromium_answer(m.body(), rng_() >> 1)));
    return;
  }
  if (method == sip::Method::invite) {  // a re-INVITE or a stranger: nothing this flow expects
    ++stats_.edge_requests;
    ws_.send_text(b, trunk_response(m, 488, "Not Acceptable Here", tag, contact));
    return;
  }
  ws_.send_text(b, trunk_response(m, 200, "OK", tag, contact));
  if (method == sip::Method::bye && known) {
    calls_[static_cast<std::size_t>(idx)].trunk_bye = true;
    return maybe_complete(static_cast<std::uint32_t>(idx));
  }
  if (method == sip::Method::cancel && known) return fail(static_cast<std::uint32_t>(idx), "CANCEL from the edge");
  ++stats_.edge_requests;
}

// Responses to the trunk's INVITE (ACK the 200, hold the call, BYE) and BYE.
void Generator::on_trunk_response(const sip::MessageView& m) {
  const auto found = call_of(sip::call_id(m));
  if (!found) {
    ++stats_.anomalies["response for an unknown Call-ID at the trunk"];
    return;
  }
  const std::uint32_t idx = *found;
  Call& c = calls_[idx];
  const auto cs = sip::cseq(m);
  const int code = m.status_code();
  if (c.done || !cs || code < 200) return;
  if (cs->method == sip::Method::bye) {
    if (code >= 300) return fail(idx, fmt::format("BYE {}", code));
    c.bye_ok = true;
    return maybe_complete(idx);
  }
  if (cs->method != sip::Method::invite) return;
  if (code >= 300) {
    // RFC 3261 §17.1.1.3: ACK a non-2xx with the INVITE's branch and Request-URI.
    c.to_tag = std::string(sip::to_tag(m));
    send_trunk(idx, "ACK", c.ruri, 1, c.branch);
    return fail(idx, fmt::format("INVITE {} {}", code, m.reason_phrase()));
  }
  if (!c.got_200) {
    c.got_200 = true;
    c.t_answer = mono_ns();
    c.to_tag = std::string(sip::to_tag(m));
    sip::NameAddr contact;
    if (!sip::parse_name_addr(m.value(sip::HeaderId::contact), contact))
      return fail(idx, "200 without a Contact");
    c.target = std::string(contact.uri);
    holds_.emplace_back(c.t_answer + static_cast<std::int64_t>(o_.hold_s * 1e9), idx);
  }
  // RFC 3261 §13.2.2.4: every 2xx (the edge retransmits it until the ACK) gets an ACK.
  send_trunk(idx, "ACK", c.target, 1, "z9hG4bK" + rnd(10));
}


}  // namespace webtrunk::bench::sip_load

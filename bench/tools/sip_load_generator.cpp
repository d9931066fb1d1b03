// bench_sip_load: the generator's calls from the browsers to the trunk, and its loop (see sip_load.cpp).
#include "sip_load_generator.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "auth/nonce.hpp"
#include "sip/auth_params.hpp"

namespace webtrunk::bench::sip_load {

bool Generator::connect_browsers(const auth::Secret& secret, std::string& err) {
  browsers_.resize(o_.browsers);
  const std::int64_t expiry = core::unix_now() + 3600;
  const std::string hex = "0123456789abcdef";
  for (std::uint32_t i = 0; i < o_.browsers; ++i) {
    BrowserIdentity& id = browsers_[i].id;
    id.via_host = rnd(12) + ".invalid";
    id.user = fmt::format("alice{}", i);
    id.instance =
        fmt::format("urn:uuid:{}-{}-4{}-8{}-{}", rnd(8, hex), rnd(4, hex), rnd(3, hex), rnd(3, hex), rnd(12, hex));
    auth::MintClaims claims;
    claims.account = "bench";
    auto tok = auth::mint_edge_token(secret, expiry, id.user, claims);
    if (!tok) {
      err = "mint_edge_token: " + tok.error().message;
      return false;
    }
    id.token_user = tok->username;
    id.token_password = tok->password;
  }
  if (o_.tls && !ws_.enable_tls(err)) return false;
  if (!ws_.connect(o_.browsers, ws_port_, err)) return false;
  return !o_.inbound || register_browsers(err);
}

// REGISTER each browser (401, then Authorization as JsSIP sends it); at most 10 s for all of them.

std::string Generator::sample_invite() {
  Call c;
  if (o_.inbound) {  // the trunk's INVITE to browser 0
    c.number = fmt::format("{}{:08}", kNumberPrefix, 0);
    c.ruri = fmt::format("sip:{}@{}", browsers_.at(0).id.user, edge_host_);
    c.call_id = fmt::format("{:08x}{}@127.0.0.1", 0, rnd(12));
    c.from_tag = rnd(10);
    return trunk_request(trunk_ids(c), "INVITE", c.ruri, "z9hG4bK" + rnd(10), 1,
                             fmt::format(fmt::runtime(kTrunkOfferTemplate), 30000));
  }
  c.number = fmt::format("{}{:08}", kNumberPrefix, 0);
  c.ruri = fmt::format("sip:{}@{}", c.number, kRealm);
  c.call_id = rnd(20);
  c.from_tag = rnd(10);
  const BrowserIdentity& b = browsers_.at(0).id;
  const std::string auth = jssip_digest(b, c.ruri, std::string(auth::kNonceTextSize, 'n'), 1, rnd(12));
  return jssip_invite(b, ids(c), "z9hG4bK1234567", 1864, auth, make_offer(1, 40000));
}

void Generator::start_call(std::uint32_t idx, std::int64_t now) {
  if (o_.inbound) return start_inbound(idx, now);
  Call& c = calls_[idx];
  c.browser = idx % o_.browsers;
  c.number = fmt::format("{}{:08}", kNumberPrefix, idx);
  c.ruri = fmt::format("sip:{}@{}", c.number, kRealm);
  c.call_id = fmt::format("{:08x}{}", idx, rnd(12));  // 20 characters, like JsSIP's
  c.from_tag = rnd(10);
  c.cseq = 1000 + static_cast<std::uint32_t>(rng_() % 9000);
  c.t_start = now;
  ++stats_.attempted;
  ++in_flight_;
  in_flight_order_.push_back(idx);
  if (ws_.lost(c.browser)) return fail(idx, "browser connection lost");
  send_invite(idx, !o_.auth_every_call && !browsers_[c.browser].nonce.empty());
}

void Generator::send_invite(std::uint32_t idx, bool with_credentials) {
  Call& c = calls_[idx];
  Browser& b = browsers_[c.browser];
  c.branch = "z9hG4bK" + rnd(7, "0123456789");
  std::string auth;
  if (with_credentials) {
    auth = jssip_digest(b.id, c.ruri, b.nonce, ++b.nc, rnd(12));
    c.auth_sent = true;
    ++stats_.auth_invites;
  }
  const std::string sdp = make_offer(rng_() >> 1, 40000 + idx % 20000);
  ws_.send_text(c.browser, jssip_invite(b.id, ids(c), c.branch, c.cseq, auth, sdp),
                with_credentials ? idx : UINT32_MAX);
}

void Generator::on_edge_message(std::uint32_t b, std::string_view text) {
  sip::MessageView m;
  if (sip::parse_message(text, m).status != sip::ParseStatus::ok) {
    ++stats_.anomalies["unparsable message from the edge"];
    return;
  }
  if (m.is_request() && o_.inbound) return on_browser_request(b, m);
  if (m.is_request()) {
    // Nothing in this flow makes the edge send a request (session refreshes come after 45 s);
    // answer like JsSIP would rather than leave a transaction open.
    ++stats_.edge_requests;
    if (m.method() != sip::Method::ack) {
      ws_.send_text(b, trunk_response(m, 200, "OK", "", "<sip:x@invalid;transport=ws>"));
    }
    return;
  }
  if (const auto cs = sip::cseq(m); cs && cs->method == sip::Method::register_) {
    return on_register_response(b, m);
  }
  const auto found = call_of(sip::call_id(m));
  if (!found) {
    ++stats_.anomalies["response for an unknown Call-ID"];
    return;
  }
  const std::uint32_t idx = *found;
  Call& c = calls_[idx];
  if (c.done) return;
  const auto cs = sip::cseq(m);
  if (!cs) return fail(idx, "response without CSeq");
  if (cs->method == sip::Method::invite) return on_invite_response(b, idx, m);
  if (cs->method == sip::Method::bye && m.status_code() >= 200) {
    if (m.status_code() >= 300) return fail(idx, fmt::format("BYE {}", m.status_code()));
    c.bye_ok = true;
    maybe_complete(idx);
  }
}

void Generator::on_invite_response(std::uint32_t b, std::uint32_t idx, const sip::MessageView& m) {
  Call& c = calls_[idx];
  Browser& br = browsers_[b];
  const int code = m.status_code();
  if (code < 200) return;                          // 100 from the edge, 180 relayed from the trunk
  if (sip::cseq(m)->number != c.cseq) return;  // a late answer to the challenged INVITE
  if (code >= 300) {
    // RFC 3261 §17.1.1.3: ACK a non-2xx with the INVITE's branch, Request-URI and the response's To tag.
    c.to_tag = std::string(sip::to_tag(m));
    ws_.send_text(b, jssip_in_dialog(br.id, ids(c), "ACK", c.ruri, c.branch, c.cseq));
    c.to_tag.clear();
    // A 407 to credentials (a stale cached nonce) is retried once with the new nonce, as JsSIP does.
    if (code == 407 && c.challenges < 2) {
      ++c.challenges;
      ++stats_.challenges;
      sip::AuthParams ap;
      const sip::HeaderField* h = m.find(sip::HeaderId::proxy_authenticate);
      std::optional<std::string_view> nonce;
      if (h == nullptr || !sip::parse_auth(h->value, ap) || !(nonce = ap.get("nonce"))) {
        return fail(idx, "407 without a usable Proxy-Authenticate");
      }
      br.nonce = std::string(*nonce);
      br.nc = 0;
      ++c.cseq;  // JsSIP retries with the next CSeq, same Call-ID and From tag
      return send_invite(idx, true);
    }
    return fail(idx, fmt::format("INVITE {}{}", code, code == 407 ? " (again, after credentials)" : ""));
  }
  if (c.got_200) return;
  c.got_200 = true;
  c.t_answer = mono_ns();
  c.to_tag = std::string(sip::to_tag(m));
  sip::NameAddr contact;
  if (!sip::parse_name_addr(m.value(sip::HeaderId::contact), contact))
    return fail(idx, "200 without a Contact");
  c.target = std::string(contact.uri);
  // ACK and BYE at once: signalling only, no hold time. Both go in one send(2) this turn.
  ws_.send_text(b, jssip_in_dialog(br.id, ids(c), "ACK", c.target, "z9hG4bK" + rnd(7, "0123456789"), c.cseq));
  ws_.send_text(b, jssip_in_dialog(br.id, ids(c), "BYE", c.target, "z9hG4bK" + rnd(7, "0123456789"), c.cseq + 1));
}


void Generator::on_browser_lost(std::uint32_t b, std::string_view why) {
  std::fprintf(stderr, "sip_load: browser %u: %.*s\n", b, static_cast<int>(why.size()), why.data());
  for (std::uint32_t idx : std::vector<std::uint32_t>(in_flight_order_.begin(), in_flight_order_.end())) {
    if (!calls_[idx].done && calls_[idx].browser == b) fail(idx, "browser connection lost");
  }
}

void Generator::maybe_complete(std::uint32_t idx) {
  const Call& c = calls_[idx];
  if (!c.done && c.got_200 && c.bye_ok && c.trunk_invite && c.trunk_ack && c.trunk_bye) finish(idx, true);
}

void Generator::fail(std::uint32_t idx, std::string why) {
  if (calls_[idx].done) return;
  ++stats_.failures[std::move(why)];
  finish(idx, false);
}

void Generator::finish(std::uint32_t idx, bool ok) {
  Call& c = calls_[idx];
  c.done = true;
  c.ok = ok;
  --in_flight_;
  ++(ok ? stats_.completed : stats_.failed);
  t_last_ = mono_ns();
  if (!ok || c.t_auth < stats_.measure.t) return;
  if (c.t_trunk >= c.t_auth) stats_.invite_in_out.push_back(c.t_trunk - c.t_auth);
  if (c.krx_trunk > 0) stats_.invite_in_out_krx.push_back(std::max<std::int64_t>(c.krx_trunk - c.rt_auth, 0));
  stats_.setup.push_back(c.t_answer - c.t_start);
  stats_.answer_back.push_back(c.t_answer - c.t_trunk);
}

std::string Generator::stuck_at(const Call& c) const {
  if (o_.inbound) {
    if (!c.trunk_invite) return "the INVITE never reached the browser";
    if (!c.got_200) return "no 200 at the trunk";
    if (!c.trunk_ack) return "no ACK at the browser";
    if (!c.bye_ok) return "no 200 to the trunk's BYE";
    return "the BYE never reached the browser";
  }
  if (!c.auth_sent) return "no 407 from the edge";
  if (!c.trunk_invite) return "the INVITE never reached the trunk";
  if (!c.got_200) return "no 200 at the browser";
  if (!c.trunk_ack) return "no ACK at the trunk";
  if (!c.bye_ok) return "no 200 to the BYE";
  return "the BYE never reached the trunk";
}

void Generator::run() {
  const std::int64_t t0 = mono_ns();
  stats_.begin = snapshot(t0);
  stats_.measure = stats_.begin;
  const std::int64_t warm_end = t0 + static_cast<std::int64_t>(o_.warmup_s * 1e9);
  bool warm = o_.warmup_s <= 0;
  const auto progress_every = static_cast<std::int64_t>(o_.progress_s * 1e9);
  Snapshot last_progress = stats_.begin;
  const std::int64_t deadline = t0 + static_cast<std::int64_t>(o_.duration_s * 1e9);
  constexpr std::int64_t kDrain = 2'000'000'000;
  bool draining = false;
  const auto call_timeout = static_cast<std::int64_t>(o_.call_timeout_s * 1e9);
  std::uint64_t started = 0;
  std::array<epoll_event, 256> evs{};
  for (;;) {
    const std::int64_t now = mono_ns();
    if (!warm && now >= warm_end) {
      warm = true;
      stats_.measure = snapshot(now);
    }
    if (progress_every > 0 && now - last_progress.t >= progress_every) {
      const Snapshot p = snapshot(now);
      print_progress(stats_.begin, last_progress, p, in_flight_);
      last_progress = p;
    }
    // At --duration no call starts any more; those in flight get kDrain to finish.
    if (now >= deadline && !draining) {
      draining = true;
      stats_.stop_reason =
          fmt::format("--duration {} s reached with {} of {} calls started", o_.duration_s, started, o_.calls);
    }
    if (draining && (in_flight_ == 0 || now >= deadline + kDrain)) break;
    std::int64_t next_start = -1;
    while (!draining && started < o_.calls && in_flight_ < o_.concurrency) {
      if (o_.rate > 0) {
        const std::int64_t due = t0 + static_cast<std::int64_t>(static_cast<double>(started) * 1e9 / o_.rate);
        if (due > now) {
          next_start = due;
          break;
        }
      }
      start_call(static_cast<std::uint32_t>(started++), now);
    }
    while (!in_flight_order_.empty()) {
      const std::uint32_t idx = in_flight_order_.front();
      if (!calls_[idx].done && now - calls_[idx].t_start > call_timeout) fail(idx, "timeout: " + stuck_at(calls_[idx]));
      if (!calls_[idx].done) break;
      in_flight_order_.pop_front();
    }
    if (started == o_.calls && in_flight_ == 0) break;
    // --inbound: the trunk hangs up the calls held --hold seconds (one hold for all: due order).
    while (!holds_.empty() && holds_.front().first <= now) {
      const std::uint32_t idx = holds_.front().second;
      holds_.pop_front();
      if (!calls_[idx].done) send_trunk(idx, "BYE", calls_[idx].target, 2, "z9hG4bK" + rnd(10));
    }
    if (!holds_.empty() && (next_start < 0 || holds_.front().first < next_start)) next_start = holds_.front().first;
    ws_.flush_dirty();
    int timeout_ms = 100;
    if (next_start >= 0) {
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>((next_start - now + 999'999) / 1'000'000, 0, 100));
    }
    const int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == kTrunkTag) {
        if (o_.inbound) {
          caller_.on_readable();
        } else if (o_.trunk_transport == TrunkTransport::udp) {
          trunk_.on_readable();
        } else {
          stream_.on_readable();
        }
      } else {
        ws_.on_event(static_cast<std::uint32_t>(evs[i].data.u64), evs[i].events);
      }
    }
  }
  stats_.end = snapshot(t_last_ > 0 ? t_last_ : mono_ns());
  for (std::uint32_t idx : in_flight_order_) {
    if (!calls_[idx].done) fail(idx, "unfinished 2 s after --duration: " + stuck_at(calls_[idx]));
  }
  for (const auto& [why, count] : trunk_.anomalies) stats_.anomalies[why] += count;
  for (const auto& [why, count] : stream_.anomalies) stats_.anomalies[why] += count;
  for (const auto& [why, count] : caller_.anomalies) stats_.anomalies[why] += count;
  ws_.close_all();
}


}  // namespace webtrunk::bench::sip_load

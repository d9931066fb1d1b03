#include "edge/trunk_registrations.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/log.hpp"
#include "sip/header_parsers.hpp"
#include "sip/transaction.hpp"
#include "sip/writer.hpp"

namespace webtrunk::edge {
namespace {

bool same_registration(const TrunkRegistrations::Target& a, const TrunkRegistrations::Target& b) {
  return a.hostport == b.hostport && a.transport == b.transport && a.credentials.user == b.credentials.user;
}

std::int64_t seconds_of(core::Duration d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }

// When to refresh a registration granted for `granted` seconds: at half of it, or 30 s before it
// ends when that comes first, but not before a quarter of it (a 40 s grant refreshes after 10 s,
// 60 s after 30 s, 600 s after 300 s, 4 s after 2 s).
core::Duration refresh_after(std::uint32_t granted) {
  const auto ms = static_cast<std::int64_t>(granted) * 1000;
  std::int64_t at = ms / 2;
  if (ms > 30'000) at = std::min(at, ms - 30'000);
  at = std::max(at, ms / 4);
  return std::chrono::milliseconds(std::max<std::int64_t>(at, 1));
}

}  // namespace

TrunkRegistrations::TrunkRegistrations(const std::vector<Target>& targets, std::string contact, std::string user_agent,
                                       std::uint64_t id_seed, sip::TimerConfig timers)
    : contact_(std::move(contact)),
      user_agent_(std::move(user_agent)),
      timers_(timers),
      ids_(id_seed == 0 ? sip::IdGenerator() : sip::IdGenerator(id_seed)) {
  set_targets(targets);
}

TrunkRegistrations::~TrunkRegistrations() {
  for (auto& r : regs_) set_up(*r, false);
}

void TrunkRegistrations::set_up(Reg& r, bool up) {
  if (r.up == up) return;
  r.up = up;
  up ? kTrunkRegistrationsUp.inc() : kTrunkRegistrationsUp.dec();
}

std::string TrunkRegistrations::contact_uri(const Reg& r) const {
  // The trunk sends its INVITEs here; the edge does not listen on TCP, so over TCP or TLS they come
  // back on the connection the REGISTER used (RFC 5923's reuse).
  const std::string_view param = r.to.transport == sip::Transport::tcp   ? ";transport=tcp"
                                 : r.to.transport == sip::Transport::tls ? ";transport=tls"
                                                                         : "";
  return fmt::format("sip:{}@{}{}", r.target.credentials.user, contact_, param);
}

void TrunkRegistrations::set_targets(const std::vector<Target>& targets) {
  if (closed_) return;
  std::vector<std::unique_ptr<Reg>> next;
  for (const Target& t : targets) {
    const bool seen = std::any_of(next.begin(), next.end(), [&](const auto& r) { return same_registration(r->target, t); });
    if (seen) continue;
    auto kept = std::find_if(regs_.begin(), regs_.end(), [&](const auto& r) { return same_registration(r->target, t); });
    if (kept != regs_.end()) {
      Reg& r = **kept;
      r.target = t;  // new credentials or expires apply from the next REGISTER
      if (r.leaving) {
        // Dropped by a reload and named again by the next one: its un-REGISTER (same Contact)
        // must not reach the trunk after the REGISTER that follows, so it registers anew.
        r.leaving = false;
        r.unregister_due = false;
        r.txn.reset();
        r.state = State::idle;
        r.next_at = {};
      }
      if (r.state == State::stopped) {
        r.state = State::idle;
        r.next_at = {};
        r.backoff = {};
      }
      next.push_back(std::move(*kept));
      regs_.erase(kept);
      continue;
    }
    auto r = std::make_unique<Reg>();
    r->target = t;
    r->call_id = ids_.call_id();
    r->from_tag = ids_.tag();
    r->cseq = ids_.initial_cseq();
    r->asking = t.expires;
    next.push_back(std::move(r));
  }
  // What no route names any more: the trunk forgets us now rather than at expiry.
  for (auto& r : regs_) {
    if (!r->leaving) leave(*r);
    if (r->state == State::unregistering) next.push_back(std::move(r));
  }
  regs_ = std::move(next);
}

void TrunkRegistrations::leave(Reg& r) {
  r.leaving = true;
  const bool held = r.up || r.state == State::registering;  // a REGISTER in flight may have bound us
  set_up(r, false);
  r.txn.reset();
  r.state = held ? State::unregistering : State::unregistered;
  r.unregister_due = held;
}

void TrunkRegistrations::unregister_all(core::Instant now) {
  closed_ = true;
  for (auto& r : regs_) {
    if (!r->leaving) leave(*r);
  }
  handle_timeout(now);
}

void TrunkRegistrations::send_unregister(core::Instant now, Reg& r) {
  r.unregister_due = false;
  r.with_credentials = false;
  kTrunkUnregisters.inc();
  send(now, r, 0, nullptr);
}

void TrunkRegistrations::erase_done() {
  std::erase_if(regs_, [](const auto& r) { return r->state == State::unregistered; });
}

void TrunkRegistrations::send(core::Instant now, Reg& r, std::uint32_t expires, const TrunkAuthAnswer* auth) {
  const std::string branch = ids_.branch();
  const std::string ruri = "sip:" + r.target.hostport;
  const std::string aor = fmt::format("<sip:{}@{}>", r.target.credentials.user, r.target.domain);
  std::string out;
  sip::MessageWriter w(out);
  w.request_line("REGISTER", ruri);
  w.header("Via", fmt::format("SIP/2.0/{} {};branch={};rport", sip::via_transport_name(r.to.transport), contact_, branch));
  w.header("Max-Forwards", "70");
  w.header("From", fmt::format("{};tag={}", aor, r.from_tag));
  w.header("To", aor);
  w.header("Call-ID", r.call_id);
  w.header("CSeq", fmt::format("{} REGISTER", r.cseq++));
  w.header("Contact", fmt::format("<{}>", contact_uri(r)));
  w.header("Expires", std::to_string(expires));
  if (auth != nullptr) w.header(auth->header_name, auth->header_value);
  w.header("Allow", "INVITE, ACK, CANCEL, BYE, UPDATE, INFO, OPTIONS");
  w.header("User-Agent", user_agent_);
  w.finish({});
  r.with_credentials = auth != nullptr;
  r.txn = std::make_unique<sip::ClientTransaction>(now, sip::Method::register_, std::move(out), branch,
                                                   r.to.transport, timers_);
  kTrunkRegistersSent.inc();
  drain(now, r);
}

void TrunkRegistrations::drain(core::Instant now, Reg& r) {
  if (!r.txn) return;
  while (auto bytes = r.txn->poll_transmit()) out_.push_back(Transmit{r.to.addr, std::move(*bytes)});
  while (r.txn) {
    auto ev = r.txn->poll_event();
    if (!ev) break;
    switch (ev->kind) {
      case sip::TxnEvent::Kind::response:
        if (ev->status >= 200) {
          auto msg = std::move(ev->message);
          r.txn.reset();  // a new REGISTER may start in on_final
          on_final(now, r, msg->view);
        }
        break;
      case sip::TxnEvent::Kind::timeout:
        r.txn.reset();
        if (!fail_over(now, r, kTrunkRegisterFailedTimeout, "no answer")) fail(now, r, kTrunkRegisterFailedTimeout, "no answer");
        break;
      case sip::TxnEvent::Kind::transport_error:
        r.txn.reset();
        if (!fail_over(now, r, kTrunkRegisterFailedUnreachable, "unreachable")) {
          fail(now, r, kTrunkRegisterFailedUnreachable, "unreachable");
        }
        break;
      case sip::TxnEvent::Kind::terminated:
        r.txn.reset();
        break;
      default:
        break;
    }
  }
}

void TrunkRegistrations::on_final(core::Instant now, Reg& r, const sip::MessageView& resp) {
  const int code = resp.status_code();
  const std::uint32_t asked = r.state == State::unregistering ? 0 : r.asking;
  if (code == 401 || code == 407) {
    const std::string cnonce = ids_.tag();
    const TrunkAuthAnswer a = r.auth.answer(resp, "REGISTER", "sip:" + r.target.hostport, r.with_credentials,
                                            r.target.credentials, cnonce);
    if (a.outcome == TrunkAuthOutcome::answered) return send(now, r, asked, &a);
    const std::string_view why = a.outcome == TrunkAuthOutcome::no_credentials ? "no credentials configured"
                                 : a.outcome == TrunkAuthOutcome::refused     ? "credentials refused"
                                                                              : "challenge not answerable";
    return fail(now, r, kTrunkRegisterFailedAuth, std::string(why));
  }
  if (r.state == State::unregistering) {
    // Whatever the answer, we are done: the trunk forgets us by expiry at the latest.
    r.state = State::unregistered;
    core::log(core::LogLevel::info, "trunk.unregistered", "trunk={} user={} code={}", r.target.spec,
              r.target.credentials.user, code);
    return;
  }
  if (code >= 200 && code < 300) return on_registered(now, r, resp);
  if (code == 423) {
    // RFC 3261 §10.2.8: ask again with at least Min-Expires.
    const auto min = sip::parse_delta_seconds(resp.value(sip::HeaderId::min_expires));
    if (min && *min > r.asking && *min <= kMaxExpires) {
      core::log(core::LogLevel::info, "trunk.register_interval_raised", "trunk={} user={} expires={} min_expires={}",
                r.target.spec, r.target.credentials.user, r.asking, *min);
      r.asking = *min;
      return send(now, r, r.asking, nullptr);
    }
    return fail(now, r, kTrunkRegisterFailedRejected, fmt::format("423 with Min-Expires '{}'", resp.value(sip::HeaderId::min_expires)));
  }
  std::string why = fmt::format("{} {}", code, resp.reason_phrase());
  if (code == 503 && fail_over(now, r, kTrunkRegisterFailedRejected, why)) return;
  fail(now, r, kTrunkRegisterFailedRejected, std::move(why));
}

bool TrunkRegistrations::start_attempt(core::Instant now, Reg& r) {
  auto targets = r.target.targets ? r.target.targets->load()
                                   : std::make_shared<const TrunkTargets>(
                                         TrunkTargets{{ResolvedTarget{r.target.transport, r.target.addr}}, {}});
  if (targets->list.empty()) {
    // A name with no target (yet): looked at again shortly; one in force stays up until it expires.
    std::string why = fmt::format("trunk unresolved ({})", targets->error.empty() ? "no targets" : targets->error);
    if (r.state != State::resolving && r.state != State::registered) {
      core::log(core::LogLevel::warn, "trunk.register_waiting", "trunk={} user={} why={}", r.target.spec,
                r.target.credentials.user, why);
      r.state = State::resolving;
    }
    r.last_error = std::move(why);
    r.next_at = now + kResolveRecheck;
    if (r.up) r.next_at = std::min(r.next_at, r.expires_at);
    return false;
  }
  r.tried = std::move(targets);
  r.at = 0;
  r.to = r.tried->list.front();
  return true;
}

bool TrunkRegistrations::fail_over(core::Instant now, Reg& r, const core::Counter& metric, std::string_view why) {
  // RFC 3263 §4.3: the next target of the list, at once. An un-REGISTER stays where we registered.
  if (r.state == State::unregistering || !r.tried || r.at + 1 >= r.tried->list.size()) return false;
  metric.inc();
  kTrunkRegisterFailovers.inc();
  const ResolvedTarget failed = r.to;
  r.to = r.tried->list[++r.at];
  core::log(core::LogLevel::warn, "trunk.register_failover", "trunk={} user={} why={} target={} next={}", r.target.spec,
            r.target.credentials.user, why, failed.addr.to_string(), r.to.addr.to_string());
  send(now, r, r.asking, nullptr);
  return true;
}

std::uint32_t TrunkRegistrations::granted(const Reg& r, const sip::MessageView& resp) const {
  // RFC 3261 §10.2.4: the 200 lists the bindings with their expires; ours is the one with our URI.
  const std::string mine = contact_uri(r);
  sip::ListCursor cur(resp, sip::HeaderId::contact);
  std::string_view element;
  while (cur.next(element)) {
    sip::NameAddr na;
    if (!sip::parse_name_addr(element, na) || na.uri != mine) continue;
    if (auto e = sip::contact_expires(na)) return *e;
  }
  if (auto e = sip::parse_delta_seconds(resp.value(sip::HeaderId::expires))) return *e;
  return r.asking;
}

void TrunkRegistrations::on_registered(core::Instant now, Reg& r, const sip::MessageView& resp) {
  const std::uint32_t g = granted(r, resp);
  if (g == 0) return fail(now, r, kTrunkRegisterFailedRejected, "granted 0 s");
  if (r.refresh) kTrunkRegisterRefreshes.inc();
  const bool was = r.up;
  set_up(r, true);
  r.state = State::registered;
  r.backoff = {};
  r.last_error.clear();
  r.expires_at = now + std::chrono::seconds(g);
  r.next_at = now + refresh_after(g);
  core::log(was ? core::LogLevel::debug : core::LogLevel::info, was ? "trunk.register_refreshed" : "trunk.registered",
            "trunk={} user={} expires={}", r.target.spec, r.target.credentials.user, g);
}

void TrunkRegistrations::fail(core::Instant now, Reg& r, const core::Counter& metric, std::string why) {
  metric.inc();
  r.last_error = why;
  if (r.state == State::unregistering) {
    r.state = State::unregistered;
    core::log(core::LogLevel::warn, "trunk.unregister_failed", "trunk={} user={} why={}", r.target.spec,
              r.target.credentials.user, why);
    return;
  }
  if (&metric == &kTrunkRegisterFailedAuth) {
    r.state = State::stopped;
    set_up(r, false);
    core::log(core::LogLevel::error, "trunk.register_stopped",
              "trunk={} user={} why={}; fix the credentials and reload the routes (SIGHUP)", r.target.spec,
              r.target.credentials.user, why);
    return;
  }
  r.backoff = std::clamp(r.backoff * 2, kBackoffMin, kBackoffMax);
  r.next_at = now + r.backoff;
  // A registration in force stays up until it expires: the trunk still holds it.
  if (!r.up || now >= r.expires_at) {
    set_up(r, false);
    r.state = State::failed;
  } else {
    r.state = State::registered;
    r.next_at = std::min(r.next_at, r.expires_at);
  }
  core::log(core::LogLevel::warn, "trunk.register_failed", "trunk={} user={} why={} retry_in_s={}", r.target.spec,
            r.target.credentials.user, why, seconds_of(r.next_at - now));
}

bool TrunkRegistrations::handle_response(core::Instant now, const sip::MessageView& resp) {
  const std::string_view call_id = sip::call_id(resp);
  for (auto& r : regs_) {
    if (r->call_id != call_id) continue;
    const auto key = sip::TransactionKey::of_response(resp);
    if (r->txn && key && key->branch == r->txn->branch()) {
      r->txn->handle_response(now, resp);
      drain(now, *r);
    }
    erase_done();
    return true;
  }
  return false;
}

void TrunkRegistrations::handle_unreachable(core::Instant now, const core::SockAddr& addr) {
  for (auto& r : regs_) {
    if (r->to.addr != addr || !r->txn) continue;
    r->txn->handle_transport_error(now);
    drain(now, *r);
  }
  erase_done();
}

void TrunkRegistrations::handle_connection_lost(core::Instant now, const core::SockAddr& addr) {
  for (auto& r : regs_) {
    if (r->to.addr != addr || r->to.transport == sip::Transport::udp) continue;
    if (r->state == State::registered && !r->txn) r->next_at = now;
  }
}

void TrunkRegistrations::handle_timeout(core::Instant now) {
  for (auto& r : regs_) {
    if (r->txn) {
      if (auto d = r->txn->poll_timeout(); d && *d <= now) r->txn->handle_timeout(now);
      drain(now, *r);
    }
    if (r->unregister_due) send_unregister(now, *r);
    if (r->txn || r->leaving) continue;
    if (r->state == State::registered && now >= r->expires_at) {
      set_up(*r, false);
      r->state = State::failed;
      core::log(core::LogLevel::warn, "trunk.registration_expired", "trunk={} user={}", r->target.spec,
                r->target.credentials.user);
    }
    const bool waiting = r->state == State::idle || r->state == State::resolving || r->state == State::failed ||
                         r->state == State::registered;
    if (waiting && now >= r->next_at) {
      if (!start_attempt(now, *r)) continue;
      r->refresh = r->up;
      if (r->state != State::registered) r->state = State::registering;
      r->asking = std::max(r->asking, r->target.expires);
      send(now, *r, r->asking, nullptr);
    }
  }
  erase_done();
}

std::optional<TrunkRegistrations::Transmit> TrunkRegistrations::poll_transmit() {
  if (out_.empty()) return std::nullopt;
  Transmit t = std::move(out_.front());
  out_.pop_front();
  return t;
}

std::optional<core::Instant> TrunkRegistrations::poll_timeout() const {
  std::optional<core::Instant> best;
  auto take = [&](core::Instant t) {
    if (!best || t < *best) best = t;
  };
  for (const auto& r : regs_) {
    if (r->txn) {
      if (auto d = r->txn->poll_timeout()) take(*d);
    } else if (r->unregister_due) {
      take(core::Instant{});
    } else if (!r->leaving && r->state != State::stopped) {
      take(r->next_at);
      if (r->up) take(r->expires_at);
    }
  }
  return best;
}

std::size_t TrunkRegistrations::unanswered() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(regs_.begin(), regs_.end(), [](const auto& r) { return r->state == State::unregistering; }));
}

std::size_t TrunkRegistrations::up() const noexcept {
  return static_cast<std::size_t>(std::count_if(regs_.begin(), regs_.end(), [](const auto& r) { return r->up; }));
}

std::string_view TrunkRegistrations::state_name(State s) noexcept {
  switch (s) {
    case State::idle: return "idle";
    case State::resolving: return "resolving";
    case State::registering: return "registering";
    case State::registered: return "registered";
    case State::failed: return "failed";
    case State::stopped: return "stopped";
    case State::unregistering: return "unregistering";
    case State::unregistered: return "unregistered";
  }
  return "idle";
}

std::vector<TrunkRegistrations::Status> TrunkRegistrations::status(core::Instant now) const {
  std::vector<Status> out;
  for (const auto& r : regs_) {
    Status s;
    s.spec = r->target.spec;
    s.user = r->target.credentials.user;
    s.state = r->state;
    if (r->up && r->expires_at > now) s.expires_in_s = seconds_of(r->expires_at - now);
    s.last_error = r->last_error;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace webtrunk::edge

#include "edge/trunk_pinger.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sip/header_parsers.hpp"
#include "sip/transaction.hpp"
#include "sip/writer.hpp"

namespace webtrunk::edge {

TrunkPinger::TrunkPinger(TrunkPingConfig config, const std::vector<Target>& targets, std::string via,
                         std::string user_agent, std::uint64_t id_seed)
    : cfg_(config),
      via_(std::move(via)),
      user_agent_(std::move(user_agent)),
      ids_(id_seed == 0 ? sip::IdGenerator() : sip::IdGenerator(id_seed)) {
  set_targets(targets);
}

void TrunkPinger::set_targets(const std::vector<Target>& targets) {
  std::vector<State> next;
  for (const Target& t : targets) {
    bool seen = false;
    for (const State& s : next) seen = seen || s.target.addr == t.addr;
    if (seen) continue;
    // A trunk both tables name keeps its state (down stays down, the ping in flight goes on).
    auto kept = std::find_if(state_.begin(), state_.end(), [&](const State& s) { return s.target.addr == t.addr; });
    if (kept != state_.end()) {
      kept->target = t;
      next.push_back(std::move(*kept));
      state_.erase(kept);
      continue;
    }
    State s;
    s.target = t;
    // One dialog-less "session" per trunk: the same Call-ID and From tag, CSeq counting up, as
    // Kamailio's dispatcher pings do; the trunk can tell our keep-alives apart from calls.
    s.call_id = ids_.call_id();
    s.from_tag = ids_.tag();
    next.push_back(std::move(s));
  }
  // A trunk no route names any more is no longer down for anyone.
  for (State& s : state_) {
    if (s.up) continue;
    kTrunksDown.dec();
    changes_.push_back(Change{s.target.addr, s.target.spec, true, "no longer routed"});
  }
  state_ = std::move(next);
}

void TrunkPinger::send_ping(core::Instant now, State& s) {
  const std::string branch = ids_.branch();
  const std::string ruri = "sip:" + s.target.hostport;
  std::string out;
  sip::MessageWriter w(out);
  w.request_line("OPTIONS", ruri);
  w.header("Via", fmt::format("SIP/2.0/{} {};branch={};rport", sip::via_transport_name(s.target.transport), via_, branch));
  w.header("Max-Forwards", "70");
  w.header("From", fmt::format("<sip:ping@{}>;tag={}", via_, s.from_tag));
  w.header("To", fmt::format("<{}>", ruri));
  w.header("Call-ID", s.call_id);
  w.header("CSeq", fmt::format("{} OPTIONS", s.cseq++));
  w.header("User-Agent", user_agent_);
  w.header("Accept", "application/sdp");
  w.finish({});
  s.txn = std::make_unique<sip::ClientTransaction>(now, sip::Method::options, std::move(out), branch,
                                                   s.target.transport);
  s.deadline = now + cfg_.timeout;
  s.next_at = now + cfg_.interval;
  kTrunkPingsSent.inc();
  drain(now, s);
}

void TrunkPinger::drain(core::Instant now, State& s) {
  if (!s.txn) return;
  while (auto bytes = s.txn->poll_transmit()) out_.push_back(Transmit{s.target.addr, std::move(*bytes)});
  while (s.txn) {  // a result ends the transaction
    auto ev = s.txn->poll_event();
    if (!ev) break;
    switch (ev->kind) {
      case sip::TxnEvent::Kind::response:
        if (ev->status == 503) {
          result(now, s, false, "503 Service Unavailable");
        } else {
          result(now, s, true, fmt::format("answered {}", ev->status));
        }
        break;
      case sip::TxnEvent::Kind::timeout:
        result(now, s, false, "no answer");
        break;
      case sip::TxnEvent::Kind::transport_error:
        result(now, s, false, "unreachable");
        break;
      default:
        break;
    }
  }
}

void TrunkPinger::result(core::Instant now, State& s, bool alive, std::string why) {
  (void)now;
  s.txn.reset();
  s.deadline = core::Instant::max();
  const bool was_up = s.up;
  if (alive) {
    s.failures = 0;
    s.up = true;
  } else {
    kTrunkPingsFailed.inc();
    ++s.failures;
    if (s.failures >= cfg_.failures_to_down) s.up = false;
  }
  if (s.up != was_up) (s.up ? kTrunksDown.dec() : kTrunksDown.inc());
  if (s.up != was_up || s.undelivered) {
    s.undelivered = false;
    changes_.push_back(Change{s.target.addr, s.target.spec, s.up, std::move(why)});
  }
}

bool TrunkPinger::handle_response(core::Instant now, const sip::MessageView& resp) {
  const std::string_view call_id = sip::call_id(resp);
  for (State& s : state_) {
    if (s.call_id != call_id) continue;
    const auto key = sip::TransactionKey::of_response(resp);
    if (s.txn && key && key->branch == s.txn->branch()) {
      s.txn->handle_response(now, resp);
      drain(now, s);
    }
    return true;  // a late answer or a retransmission of one: ours, nothing more to learn
  }
  return false;
}

void TrunkPinger::handle_unreachable(core::Instant now, const core::SockAddr& addr) {
  for (State& s : state_) {
    if (s.target.addr != addr || !s.txn) continue;
    s.txn->handle_transport_error(now);
    drain(now, s);
  }
}

void TrunkPinger::handle_timeout(core::Instant now) {
  if (cfg_.interval <= core::Duration::zero()) return;
  for (State& s : state_) {
    if (s.txn && now >= s.deadline) {
      result(now, s, false, fmt::format("no answer in {} ms",
                                        std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.timeout).count()));
    }
    if (s.txn) {
      if (auto d = s.txn->poll_timeout(); d && *d <= now) s.txn->handle_timeout(now);
      drain(now, s);
    }
    if (!s.txn && now >= s.next_at) send_ping(now, s);
  }
}

std::optional<TrunkPinger::Transmit> TrunkPinger::poll_transmit() {
  if (out_.empty()) return std::nullopt;
  Transmit t = std::move(out_.front());
  out_.pop_front();
  return t;
}

std::optional<TrunkPinger::Change> TrunkPinger::poll_change() {
  if (changes_.empty()) return std::nullopt;
  Change c = std::move(changes_.front());
  changes_.pop_front();
  return c;
}

std::optional<core::Instant> TrunkPinger::poll_timeout() const {
  if (cfg_.interval <= core::Duration::zero()) return std::nullopt;
  std::optional<core::Instant> best;
  auto take = [&](core::Instant t) {
    if (!best || t < *best) best = t;
  };
  for (const State& s : state_) {
    if (s.txn) {
      take(s.deadline);
      if (auto d = s.txn->poll_timeout()) take(*d);
    } else {
      take(s.next_at);
    }
  }
  return best;
}

void TrunkPinger::change_not_delivered(const core::SockAddr& addr) noexcept {
  for (State& s : state_) {
    if (s.target.addr == addr) s.undelivered = true;
  }
}

bool TrunkPinger::is_up(const core::SockAddr& addr) const noexcept {
  for (const State& s : state_) {
    if (s.target.addr == addr) return s.up;
  }
  return true;
}

}  // namespace webtrunk::edge

// CallController: calls from a trunk to registered browsers (edge/inbound_call.hpp): admission
// (configured trunks only), the lookup of the called user's bindings, and the per-call bookkeeping.
#include <fmt/format.h>

#include "core/log.hpp"
#include "edge/call_controller.hpp"
#include "edge/inbound_call.hpp"
#include "edge/sip_messages.hpp"
#include "sip/header_parsers.hpp"

namespace webtrunk::edge {

bool CallController::is_configured_trunk(const core::SockAddr& from) const noexcept {
  for (const RouteTable::Route& r : cfg_.routes->routes()) {
    if (r.trunk.addr == from) return true;
    if (!r.trunk.by_name()) continue;
    const auto now = r.trunk.resolved();
    for (const ResolvedTarget& t : now->list) {
      if (t.addr == from) return true;
    }
  }
  return false;
}

InboundCall* CallController::find_inbound_trunk(std::string_view call_id) {
  auto it = inbound_.find(std::string(call_id));
  return it == inbound_.end() ? nullptr : it->second.call.get();
}

InboundCall* CallController::find_inbound_browser(std::string_view call_id) {
  auto it = inbound_by_browser_.find(std::string(call_id));
  return it == inbound_by_browser_.end() ? nullptr : find_inbound_trunk(it->second);
}

void CallController::start_inbound(core::Instant now, const core::SockAddr& from, const sip::MessageView& invite) {
  if (!is_configured_trunk(from)) {
    // Anyone can send a datagram to the trunk port: only the trunks of --trunk/--routes may ring
    // browsers.
    kInboundNotTrunk.inc();
    core::log_sampled(log_sampler_, now, core::address_key(from), core::LogLevel::info, "call.inbound_refused",
                      "from={} why=not a configured trunk", from.to_string());
    return reply_udp(from, invite, 403, "Forbidden: not a configured trunk");
  }
  if (auto mf = sip::parse_max_forwards(invite.value(sip::HeaderId::max_forwards)); mf && *mf == 0) {
    return reply_udp(from, invite, 483, "Too Many Hops");
  }
  // The called user's bindings, by the AOR the browsers registered (sip:USER@<the realm they
  // used>): every AOR whose user part is the Request-URI's user.
  // Browsers registered on other shards are asked for (edge/shard_note.hpp): this shard keeps
  // the call, the others carry its SIP to their WebSockets.
  const std::string user(uri_user(invite.request_uri()));
  std::vector<BindingTarget> bindings;
  for (const Binding* b : registrar_.lookup_user(user)) {
    bindings.push_back(BindingTarget{BrowserFlow{cfg_.shard, b->flow}, b->aor, b->contact_uri});
  }
  std::vector<unsigned> others;
  for (unsigned k = 0; k < cfg_.shards; ++k) {
    if (k != cfg_.shard) others.push_back(k);
  }
  InboundContext ctx{out_,         ids_,          cfg_.media, cfg_.timers, cfg_.sip_host, cfg_.sip_port,
                     cfg_.user_agent, cfg_.max_ringing, cfg_.shard, &notes_out_};
  auto call = std::make_unique<InboundCall>(std::move(ctx), now, from, invite, bindings, others, cfg_.codecs);
  InboundCall& c = *call;
  if (c.state() == InboundCall::State::ringing) {
    for (unsigned k : others) {
      ShardNote n;
      n.kind = ShardNote::Kind::lookup;
      n.from = cfg_.shard;
      n.to = k;
      n.call = c.trunk_call_id();
      n.user = user;
      post_note(std::move(n));
    }
  }
  inbound_by_browser_[c.browser_call_id()] = c.trunk_call_id();
  inbound_[c.trunk_call_id()] = InboundEntry{std::move(call), cfg_.routes, {}};
  pump_inbound(now, c);
}

void CallController::pump_inbound(core::Instant now, InboundCall& call) {
  for (int i = 0; i < 64 && call.step(now); ++i) {
  }
  auto it = inbound_.find(call.trunk_call_id());
  if (it == inbound_.end()) return;
  InboundEntry& e = it->second;
  if (e.scheduled) inbound_deadlines_.erase({*e.scheduled, it->first});
  e.scheduled.reset();
  if (call.done()) {
    for (unsigned k : call.remote_shards()) {
      ShardNote n;
      n.kind = ShardNote::Kind::forget;
      n.from = cfg_.shard;
      n.to = k;
      n.call = call.browser_call_id();
      post_note(std::move(n));
    }
    inbound_by_browser_.erase(call.browser_call_id());
    inbound_.erase(it);  // destroys `call`
    return;
  }
  if (auto t = call.next_deadline()) {
    e.scheduled = *t;
    inbound_deadlines_.emplace(*t, it->first);
  }
}

void CallController::inbound_flow_closed(core::Instant now, BrowserFlow flow) {
  std::vector<std::string> ids;
  ids.reserve(inbound_.size());
  for (const auto& [id, e] : inbound_) ids.push_back(id);
  for (const std::string& id : ids) {
    if (InboundCall* c = find_inbound_trunk(id)) {
      c->on_flow_closed(now, flow);
      pump_inbound(now, *c);
    }
  }
}

void CallController::inbound_timeout(core::Instant now) {
  std::vector<std::string> due;
  while (!inbound_deadlines_.empty() && inbound_deadlines_.begin()->first <= now) {
    due.push_back(inbound_deadlines_.begin()->second);
    inbound_deadlines_.erase(inbound_deadlines_.begin());
  }
  for (const std::string& id : due) {
    auto it = inbound_.find(id);
    if (it == inbound_.end()) continue;
    it->second.scheduled.reset();
    it->second.call->handle_timeout(now);
    pump_inbound(now, *it->second.call);
  }
}

}  // namespace webtrunk::edge

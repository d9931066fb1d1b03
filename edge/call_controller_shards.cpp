// CallController: the cross-shard half of calls from a trunk (edge/shard_note.hpp). The shard a
// trunk's INVITE reached coordinates the call; this file answers its lookups, carries its SIP to
// and from the WebSockets of this shard, and feeds it what other shards report.
#include <algorithm>

#include "core/log.hpp"
#include "edge/call_controller.hpp"
#include "edge/inbound_call.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/validate.hpp"

namespace webtrunk::edge {

std::optional<ShardNote> CallController::poll_shard_note() {
  if (notes_out_.empty()) return std::nullopt;
  ShardNote n = std::move(notes_out_.front());
  notes_out_.pop_front();
  return n;
}

void CallController::post_note(ShardNote note) { notes_out_.push_back(std::move(note)); }

bool CallController::forward_to_coordinator(core::ConnId flow, const sip::MessageView& msg, std::string_view bytes) {
  if (remote_calls_.empty()) return false;
  auto it = remote_calls_.find(std::string(sip::call_id(msg)));
  if (it == remote_calls_.end() || !(it->second.flow == flow)) return false;
  ShardNote n;
  n.kind = ShardNote::Kind::from_flow;
  n.from = cfg_.shard;
  n.to = it->second.coordinator;
  n.flow = flow;
  n.bytes = std::string(bytes);
  post_note(std::move(n));
  return true;
}

void CallController::remote_flow_closed(core::ConnId flow) {
  std::vector<unsigned> told;
  for (auto it = remote_calls_.begin(); it != remote_calls_.end();) {
    if (!(it->second.flow == flow)) {
      ++it;
      continue;
    }
    if (std::find(told.begin(), told.end(), it->second.coordinator) == told.end()) {
      told.push_back(it->second.coordinator);
      ShardNote n;
      n.kind = ShardNote::Kind::flow_closed;
      n.from = cfg_.shard;
      n.to = it->second.coordinator;
      n.flow = flow;
      post_note(std::move(n));
    }
    it = remote_calls_.erase(it);
  }
}

void CallController::handle_shard_note(core::Instant now, ShardNote note) {
  switch (note.kind) {
    case ShardNote::Kind::lookup: {
      ShardNote r;
      r.kind = ShardNote::Kind::bindings;
      r.from = cfg_.shard;
      r.to = note.from;
      r.call = std::move(note.call);
      for (const Binding* b : registrar_.lookup_user(note.user)) {
        r.bindings.push_back(BindingTarget{BrowserFlow{cfg_.shard, b->flow}, b->aor, b->contact_uri});
      }
      return post_note(std::move(r));
    }
    case ShardNote::Kind::bindings: {
      if (InboundCall* ic = find_inbound_trunk(note.call)) {
        ic->add_bindings(now, note.from, note.bindings);
        pump_inbound(now, *ic);
      }
      return;
    }
    case ShardNote::Kind::to_flow: {
      auto it = remote_calls_.find(note.call);
      if (it == remote_calls_.end()) {
        if (remote_calls_.size() >= kMaxRemoteCalls) {
          // The coordinator's branch times out (408) like a browser that never answered.
          kRemoteCallsRefused.inc();
          core::log_sampled(log_sampler_, now, note.from, core::LogLevel::warn, "call.inbound_remote_refused",
                            "coordinator={} why=table of remote calls full ({})", note.from, kMaxRemoteCalls);
          return;
        }
        remote_calls_.emplace(note.call, RemoteCall{note.from, note.flow});
      }
      return send_ws(note.flow, std::move(note.bytes));
    }
    case ShardNote::Kind::from_flow: {
      sip::MessageView msg;
      if (sip::parse_message(std::string_view(note.bytes), msg).status != sip::ParseStatus::ok) return;
      InboundCall* ic = find_inbound_browser(sip::call_id(msg));
      if (ic == nullptr) {
        kSipStrayResponses.inc();
        return;
      }
      const BrowserFlow flow{note.from, note.flow};
      if (msg.is_request()) {
        if (!sip::validate_request(msg).ok()) return;
        ic->on_browser_request(now, flow, msg);
      } else {
        if (!sip::validate_response(msg).ok()) return;
        ic->on_browser_response(now, flow, msg);
      }
      return pump_inbound(now, *ic);
    }
    case ShardNote::Kind::flow_closed:
      return inbound_flow_closed(now, BrowserFlow{note.from, note.flow});
    case ShardNote::Kind::forget:
      remote_calls_.erase(note.call);
      return;
  }
}

}  // namespace webtrunk::edge

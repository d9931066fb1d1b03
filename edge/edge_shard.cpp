#include "edge/edge_shard.hpp"

#include "core/log.hpp"
#include "core/log_sampler.hpp"

namespace webtrunk::edge {

core::Result<core::SockAddr> EdgeShard::open(core::Shard& shard, const core::SockAddr& local) {
  core::UdpOptions opts;
  opts.recv_buffer = 4 << 20;  // bursts of INVITEs and retransmissions
  opts.recv_errors = true;     // a trunk that is not listening answers ICMP port unreachable
  auto id = shard.open_udp(local, *this, opts);
  if (!id) return id.error();
  udp_ = *id;
  return shard.udp_address(udp_);
}

void EdgeShard::on_ws_message(core::Shard& shard, core::ConnId flow, const core::WsMessage& msg) {
  // Until the flow has registered, each message counts against its source's request rate.
  if (door_ != nullptr && !door_->trusted(flow) && !door_->admit_request(shard, flow)) return;
  core_->handle_ws_message(shard.now(), flow, msg.text());
  if (door_ != nullptr && core_->registrar().has_flow(flow)) door_->mark_trusted(flow);
  flush(shard);
}

void EdgeShard::on_flow_closed(core::Shard& shard, core::ConnId flow) {
  core_->handle_flow_closed(shard.now(), flow);
  flush(shard);
}

void EdgeShard::on_media_ended(core::Shard& shard, media::SessionId id, media::MediaEnd why) {
  if (!core_) return;
  core_->handle_media_ended(shard.now(), id, why);
  flush(shard);
}

void EdgeShard::on_datagram(core::Shard& shard, core::UdpId, const core::SockAddr& peer, std::span<std::byte> payload) {
  if (!core_) return;
  core_->handle_trunk_datagram(shard.now(),
                               peer, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
  flush(shard);
}

std::size_t EdgeShard::hang_up_all(core::Shard& shard) {
  const std::size_t n = core_->hang_up_all(shard.now());
  flush(shard);
  return n;
}

void EdgeShard::on_unreachable(core::Shard& shard, core::UdpId, const core::SockAddr& dest, int error) {
  if (!core_) return;
  core_->handle_trunk_unreachable(shard.now(), dest, error);
  flush(shard);
}

void EdgeShard::set_routes(core::Shard& shard, std::shared_ptr<const RouteTable> routes) {
  if (!core_) return;
  core_->set_routes(std::move(routes));
  flush(shard);
}

void EdgeShard::on_shard_note(core::Shard& shard, ShardNote note) {
  if (!core_) return;
  core_->handle_shard_note(shard.now(), std::move(note));
  flush(shard);
}

void EdgeShard::flush(core::Shard& shard) {
  while (auto n = core_->poll_shard_note()) {
    EdgeShard* to = peers_ != nullptr && n->to < peers_->size() ? (*peers_)[n->to].get() : nullptr;
    // The task must be copyable (std::function): the note is shared, moved out once it runs.
    auto note = std::make_shared<ShardNote>(std::move(*n));
    if (to == nullptr || !shard.post(note->to, [to, note](core::Shard& sh) { to->on_shard_note(sh, std::move(*note)); })) {
      kShardNotesDropped.inc();
      core::log_sampled(log_sampler_, shard.now(), note->to, core::LogLevel::warn, "sip.shard_note_dropped",
                        "to_shard={} kind={}", note->to, static_cast<int>(note->kind));
    }
  }
  while (auto t = core_->poll_transmit()) {
    bool ok = false;
    if (t->to == SipTransmit::To::flow) {
      ok = door_ != nullptr && door_->send_text(shard, t->flow, t->bytes);
    } else {
      ok = shard.send_to(udp_, t->addr, std::as_bytes(std::span<const char>(t->bytes.data(), t->bytes.size())));
    }
    if (!ok) {
      kSipSendFailures.inc();
      core::log_sampled(log_sampler_, shard.now(), t->to == SipTransmit::To::flow ? 0 : core::address_key(t->addr),
                        core::LogLevel::warn, "sip.send_failed", "to={} bytes={}",
                        t->to == SipTransmit::To::flow ? "ws" : t->addr.to_string(), t->bytes.size());
    }
  }
  const std::optional<core::Instant> next = core_->poll_timeout();
  if (next == armed_) return;
  shard.cancel_timer(timer_);
  timer_ = {};
  armed_ = next;
  if (!next) return;
  const core::Duration after = *next > shard.now() ? *next - shard.now() : core::Duration::zero();
  timer_ = shard.add_timer(after, [this, &shard] {
    timer_ = {};
    armed_.reset();
    core_->handle_timeout(shard.now());
    flush(shard);
  });
}

}  // namespace webtrunk::edge

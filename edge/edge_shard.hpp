// EdgeShard: the glue between one shard's reactor and its CallController (edge/call_controller.hpp). It opens the
// shard's trunk-side UDP socket (--sip-listen, port --sip-port + k), feeds CallController with WebSocket
// messages (from WsFrontDoor's Sink), flow ends, datagrams and the ends of media sessions (the
// shard's MediaBridge on_ended), sends CallController's output through WsFrontDoor::send_text and
// Shard::send_to, and keeps one timer on the shard's wheel armed at CallController::poll_timeout().
//
// Lifetimes: lives as long as the shard (owned by run_edge next to the front door); the front door
// must outlive it too. Everything runs on the shard's thread.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "core/log_sampler.hpp"
#include "core/reactor.hpp"
#include "edge/call_controller.hpp"
#include "edge/ws_front_door.hpp"

namespace webtrunk::edge {

inline const core::Counter kSipSendFailures{"webtrunk_sip_send_failures_total",
                                            "SIP messages that could not be sent (flow gone, no UDP send slot)"};

class EdgeShard final : public core::UdpHandler {
 public:
  EdgeShard() = default;

  // Binds the trunk-side UDP socket (port 0: the kernel picks one) and returns the bound address,
  // which the CallController must put in its Via and Contact. Call from the shard's init, then set_core().
  core::Result<core::SockAddr> open(core::Shard& shard, const core::SockAddr& local);
  void set_core(std::unique_ptr<CallController> core) noexcept { core_ = std::move(core); }
  void set_front_door(WsFrontDoor* door) noexcept { door_ = door; }
  // Arms the timer for what the CallController does by itself (trunk keep-alives). After set_core().
  void start(core::Shard& shard) { flush(shard); }
  // Every shard's EdgeShard, indexed by shard (this one included), for the cross-shard notes of
  // calls from a trunk (edge/shard_note.hpp). The vector must outlive the shards' loops and be
  // filled before any loop runs.
  void set_peers(const std::vector<std::unique_ptr<EdgeShard>>* peers) noexcept { peers_ = peers; }
  // A note from another shard, run on this shard's thread (posted by that shard's flush).
  void on_shard_note(core::Shard& shard, ShardNote note);

  // The front door's Sink calls these.
  void on_ws_message(core::Shard& shard, core::ConnId flow, const core::WsMessage& msg);
  void on_flow_closed(core::Shard& shard, core::ConnId flow);
  // The shard's MediaBridge::on_ended calls this (from its timer, outside any MediaSessions call).
  void on_media_ended(core::Shard& shard, media::SessionId id, media::MediaEnd why);

  void on_datagram(core::Shard& shard, core::UdpId id, const core::SockAddr& peer,
                   std::span<std::byte> payload) override;
  // ICMP port/host unreachable for a datagram to `dest` (IP_RECVERR on the trunk-side socket).
  void on_unreachable(core::Shard& shard, core::UdpId id, const core::SockAddr& dest, int error) override;

  // Graceful drain: ends every live call (CallController::hang_up_all) and sends what that wrote.
  std::size_t hang_up_all(core::Shard& shard);

  CallController& sip() noexcept { return *core_; }
  // A reloaded routing table (SIGHUP, file watch): new calls use it; keep-alives follow it at once.
  void set_routes(core::Shard& shard, std::shared_ptr<const RouteTable> routes);

 private:
  void flush(core::Shard& shard);

  std::unique_ptr<CallController> core_;
  WsFrontDoor* door_ = nullptr;
  const std::vector<std::unique_ptr<EdgeShard>>* peers_ = nullptr;
  core::UdpId udp_;
  core::TimerHandle timer_;
  std::optional<core::Instant> armed_;
  core::LogSampler log_sampler_;  // send failures: one line per destination per interval
};

}  // namespace webtrunk::edge

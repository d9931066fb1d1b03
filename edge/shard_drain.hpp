// ShardDrain: one shard's graceful shutdown (README "Shutdown and restarts"), driven on the shard's
// thread by tasks the signal thread posts through the mailbox:
//
//   begin(timeout)   /healthz and WebSocket upgrades answer 503, INVITE and REGISTER 503 with
//                    Retry-After; calls in progress go on; the edge's registrations with trunks
//                    are removed (Expires: 0)
//   when the shard's last call ends, `timeout` passes, or hang_up_now() (a second signal):
//                    every live call ends (CallController::hang_up_all: BYE both legs with a
//                    Reason, or 503 + CANCEL while ringing; CDR "edge shutdown")
//   then             up to kSettle for those BYEs and CANCELs (and the un-REGISTERs) to be answered,
//                    then the listeners close and every WebSocket gets a 1001 close, then up to
//                    kClosing for the close handshakes; then on_done: the shard may stop.
//
// The shard is polled every kTick rather than hooked into each event: a drain lasts seconds and
// costs nothing on the data path.
//
// Lifetimes: the EdgeShard and the WsFrontDoor must outlive it; it must outlive the shard's loop
// (its timer captures `this`). Everything runs on the shard's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "core/clock.hpp"
#include "core/reactor.hpp"
#include "edge/edge_shard.hpp"
#include "edge/ws_front_door.hpp"

namespace webtrunk::edge {

class ShardDrain {
 public:
  static constexpr core::Duration kTick = std::chrono::milliseconds(50);
  static constexpr core::Duration kSettle = std::chrono::seconds(2);
  static constexpr core::Duration kClosing = std::chrono::seconds(1);

  struct Hooks {
    std::function<void(std::size_t live_calls)> on_started;  // once, from begin()
    std::function<void(std::size_t ended)> on_hung_up;        // once, the calls the edge ended
    std::function<void()> on_done;                            // once, the shard may stop now
  };

  ShardDrain(EdgeShard& sip, WsFrontDoor& door) : sip_(sip), door_(door) {}
  ShardDrain(const ShardDrain&) = delete;
  ShardDrain& operator=(const ShardDrain&) = delete;

  // The first signal. A second begin() is ignored.
  void begin(core::Shard& shard, core::Duration timeout, std::uint32_t retry_after_s, Hooks hooks);
  // The second signal: the wait for calls ends now (begins the drain first if it had not begun).
  void hang_up_now(core::Shard& shard);

  bool started() const noexcept { return phase_ != Phase::running; }

 private:
  enum class Phase : std::uint8_t { running, waiting, settling, closing, done };
  void tick(core::Shard& shard);
  void arm(core::Shard& shard);

  EdgeShard& sip_;
  WsFrontDoor& door_;
  Hooks hooks_;
  Phase phase_ = Phase::running;
  core::Instant deadline_{};  // of the current phase
  core::TimerHandle timer_;
};

}  // namespace webtrunk::edge

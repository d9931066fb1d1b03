// DeadlineTimer: keeps one shard timer armed at a sans-IO object's next deadline (its
// poll_timeout()), moving it only when that deadline changes. The glue of every sans-IO object on a
// shard does this after each input: `timer.arm(shard, core.poll_timeout(), [&] { core.handle_timeout(...); ... })`.
//
// Lifetimes: the callback runs on the shard's thread; whatever it captures must outlive the timer
// (cancel() it, or destroy the shard first). Not copyable: it owns a timer on the shard's wheel.
#pragma once

#include <functional>
#include <optional>

#include "core/clock.hpp"
#include "core/reactor.hpp"

namespace webtrunk::app {

class DeadlineTimer {
 public:
  DeadlineTimer() = default;
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  // Arms for `next` (nullopt: disarms) unless already armed for exactly that instant. A deadline
  // in the past fires on the next turn. `fire` is called once; it usually ends by calling arm() again.
  void arm(core::Shard& shard, std::optional<core::Instant> next, std::function<void()> fire);
  void cancel(core::Shard& shard);

 private:
  core::TimerHandle timer_;
  std::optional<core::Instant> armed_;
};

}  // namespace webtrunk::app

#include "app/deadline_timer.hpp"

namespace webtrunk::app {

void DeadlineTimer::arm(core::Shard& shard, std::optional<core::Instant> next, std::function<void()> fire) {
  if (next == armed_) return;
  cancel(shard);
  if (!next) return;
  armed_ = next;
  const core::Duration after = *next > shard.now() ? *next - shard.now() : core::Duration::zero();
  timer_ = shard.add_timer(after, [this, fire = std::move(fire)] {
    timer_ = {};
    armed_.reset();
    fire();
  });
}

void DeadlineTimer::cancel(core::Shard& shard) {
  shard.cancel_timer(timer_);
  timer_ = {};
  armed_.reset();
}

}  // namespace webtrunk::app

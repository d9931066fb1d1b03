#include "edge/shard_drain.hpp"

namespace webtrunk::edge {

void ShardDrain::begin(core::Shard& shard, core::Duration timeout, std::uint32_t retry_after_s, Hooks hooks) {
  if (phase_ != Phase::running) return;
  hooks_ = std::move(hooks);
  sip_.begin_drain(shard, retry_after_s);
  door_.set_draining();
  phase_ = Phase::waiting;
  deadline_ = shard.now() + timeout;
  if (hooks_.on_started) hooks_.on_started(sip_.sip().live_calls());
  tick(shard);
}

void ShardDrain::hang_up_now(core::Shard& shard) {
  if (phase_ == Phase::running) begin(shard, core::Duration::zero(), 0, {});
  if (phase_ != Phase::waiting) return;
  deadline_ = shard.now();
  shard.cancel_timer(timer_);
  timer_ = {};
  tick(shard);
}

void ShardDrain::arm(core::Shard& shard) {
  shard.cancel_timer(timer_);
  timer_ = shard.add_timer(kTick, [this, &shard] {
    timer_ = {};
    tick(shard);
  });
}

void ShardDrain::tick(core::Shard& shard) {
  const core::Instant now = shard.now();
  if (phase_ == Phase::waiting && (sip_.sip().live_calls() == 0 || now >= deadline_)) {
    const std::size_t ended = sip_.hang_up_all(shard);
    if (hooks_.on_hung_up) hooks_.on_hung_up(ended);
    phase_ = Phase::settling;
    deadline_ = now + kSettle;
  }
  if (phase_ == Phase::settling && (sip_.sip().unanswered_requests() == 0 || now >= deadline_)) {
    door_.shut_down(shard);
    phase_ = Phase::closing;
    deadline_ = now + kClosing;
  }
  if (phase_ == Phase::closing && (door_.open_connections() == 0 || now >= deadline_)) {
    phase_ = Phase::done;
    if (hooks_.on_done) hooks_.on_done();
    return;
  }
  if (phase_ != Phase::done) arm(shard);
}

}  // namespace webtrunk::edge

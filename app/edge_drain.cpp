#include "app/edge_drain.hpp"

#include "core/log.hpp"

namespace webtrunk::app {
namespace {
// Seconds a refused client is told to wait (503 Retry-After): enough for the load balancer to
// take this node out, after which a retry lands elsewhere.
constexpr std::uint32_t kRetryAfterS = 5;
}  // namespace

void EdgeDrain::on_terminate(int count) {
  if (count == 1) {
    core::log(core::LogLevel::info, "edge.drain", "phase=begin timeout_s={} shards={}",
              std::chrono::duration_cast<std::chrono::seconds>(timeout_).count(), shards_.size());
    return post_all(false);
  }
  if (count == 2) {
    core::log(core::LogLevel::info, "edge.drain", "phase=hang_up_now why=second signal");
    return post_all(true);
  }
  core::log(core::LogLevel::warn, "edge.drain", "phase=abort why=third signal: stopping without waiting");
  shards_.request_stop();
}

void EdgeDrain::post_all(bool hang_up_now) {
  const unsigned n = shards_.size();
  for (unsigned k = 0; k < n; ++k) {
    edge::ShardDrain* d = drains_[k].get();
    if (d == nullptr) continue;
    auto task = [this, d, hang_up_now, n](core::Shard& shard) {
      edge::ShardDrain::Hooks hooks;
      hooks.on_started = [this, n](std::size_t live) {
        const std::size_t total = live_calls_.fetch_add(live) + live;
        if (started_.fetch_add(1) + 1 == n) {
          core::log(core::LogLevel::info, "edge.drain", "phase=started calls={} (new calls, registrations and "
                    "WebSocket connections refused 503; /healthz 503)", total);
        }
      };
      hooks.on_hung_up = [this, n](std::size_t ended) {
        const std::size_t total = ended_.fetch_add(ended) + ended;
        if (hung_up_.fetch_add(1) + 1 == n) {
          core::log(core::LogLevel::info, "edge.drain", "phase=hung_up calls_ended={}", total);
        }
      };
      hooks.on_done = [this, n] {
        if (done_.fetch_add(1) + 1 == n) {
          core::log(core::LogLevel::info, "edge.drain", "phase=done calls_ended={}", ended_.load());
          shards_.request_stop();
        }
      };
      d->begin(shard, hang_up_now ? core::Duration::zero() : timeout_, kRetryAfterS, std::move(hooks));
      if (hang_up_now) d->hang_up_now(shard);
    };
    if (!shards_.post(k, std::move(task))) {
      // Only a full control lane refuses a post: stopping without the drain beats hanging.
      core::log(core::LogLevel::error, "edge.drain", "phase=abort why=mailbox of shard {} full", k);
      shards_.request_stop();
      return;
    }
  }
}

}  // namespace webtrunk::app

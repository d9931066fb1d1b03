// EdgeDrain: the signal thread's side of the edge's graceful drain (README "Shutdown and
// restarts"). core::Shards calls on_terminate() for each SIGTERM/SIGINT; this posts the step to
// every shard's edge::ShardDrain through the mailbox (shared nothing: the signal thread never
// touches a shard), adds up what the shards report, logs one line per phase and stops the shards
// once every one has finished.
//
//   1st signal  drain: 503 to new connections, calls and registrations; calls go on up to the timeout
//   2nd signal  hang up now (BYE, CDRs, 1001 closes still happen)
//   3rd signal  stop at once
//
// Lifetimes: must outlive the shards' loops; `drains` (one slot per shard, filled by each shard's
// init) too.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "core/clock.hpp"
#include "core/shards.hpp"
#include "edge/shard_drain.hpp"

namespace webtrunk::app {

class EdgeDrain {
 public:
  EdgeDrain(core::Shards& shards, std::vector<std::unique_ptr<edge::ShardDrain>>& drains, core::Duration timeout)
      : shards_(shards), drains_(drains), timeout_(timeout) {}

  // On the signal thread: count is 1 for the first signal, 2 for the second, ...
  void on_terminate(int count);

 private:
  void post_all(bool hang_up_now);

  core::Shards& shards_;
  std::vector<std::unique_ptr<edge::ShardDrain>>& drains_;
  core::Duration timeout_;
  // Sums over the shards; the shard that reports last writes the phase's line.
  std::atomic<unsigned> started_{0};
  std::atomic<unsigned> hung_up_{0};
  std::atomic<unsigned> done_{0};
  std::atomic<std::size_t> live_calls_{0};
  std::atomic<std::size_t> ended_{0};
};

}  // namespace webtrunk::app

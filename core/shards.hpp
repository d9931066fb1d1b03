// Shards: N shard threads, each pinned to one CPU, each creating and running its own Shard; a
// mailbox between them; SIGINT/SIGTERM handled in the calling thread (signalfd), never in a shard.
// With an on_terminate hook the signals do not stop the shards: the hook decides (graceful drain)
// and calls request_stop() when it is done.
//
// Start-up is all or nothing: every shard runs `init` (the edge installs its listeners there) and
// waits; only if every init succeeded do the loops start. Otherwise all stop and start() returns
// the first error.
//
// Lifetimes: a Shard& handed to `init` or to a task lives until its thread ends (after stop). The
// Shards object must outlive its threads: the destructor stops and joins them.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "core/mailbox.hpp"
#include "core/reactor.hpp"
#include "core/result.hpp"

namespace webtrunk::core {

// "0,1", "0-3", "0-3,8,10-11" -> the CPUs in the order given (duplicates rejected).
Result<std::vector<unsigned>> parse_cpu_list(std::string_view text);
// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<unsigned> allowed_cpus();

struct ShardsConfig {
  unsigned shards = 0;          // 0: one per allowed CPU (the online CPUs unless a cpuset limits us)
  std::vector<unsigned> cpus;   // empty: allowed_cpus(). Shard k runs on cpus[k % cpus.size()].
  bool pin = true;              // pthread_setaffinity_np each shard thread
  ShardConfig shard;            // template; index is set per shard
  std::size_t mailbox_capacity = 256;  // per (from, to) lane
};

class Shards {
 public:
  using Init = std::function<Result<void>(Shard&)>;
  using Task = Shard::Task;

  explicit Shards(ShardsConfig cfg);
  ~Shards();
  Shards(const Shards&) = delete;
  Shards& operator=(const Shards&) = delete;

  // Starts the threads and returns once every loop is running (or the first error, all stopped).
  Result<void> start(Init init);
  // Any thread (not from a signal handler): asks every shard to stop and wakes run_until_signal().
  void request_stop() noexcept;
  // Waits for every shard thread; returns the first error a loop returned.
  Result<void> join();
  // start(), then wait for SIGINT/SIGTERM (blocked in every thread, read through a signalfd) or
  // request_stop(); stop every shard, join, return. Restores the caller's signal mask at the end.
  Result<void> run_until_signal(Init init);
  // Before run_until_signal(): each SIGTERM/SIGINT calls `hook(count)` on the signal thread (count
  // is 1 for the first, 2 for the second, ...) instead of stopping; the loop runs on until
  // request_stop(). The hook may only post() to shards, never touch them.
  void set_on_terminate(std::function<void(int count)> hook) { on_terminate_ = std::move(hook); }

  // SIGHUP (blocked and read with SIGINT/SIGTERM, so it never kills the process): `fn` runs in
  // the thread of run_until_signal, which posts what is to change to the shards. Set before run.
  void set_on_reload(std::function<void()> fn) { on_reload_ = std::move(fn); }
  // Runs in that thread every 5 s while the shards run (a file watch). Set before run.
  void set_on_watch(std::function<void()> fn) { on_watch_ = std::move(fn); }

  // From a thread that is not a shard (one such thread at a time per call; serialized inside).
  // False if `to` is out of range or its lane is full.
  bool post(unsigned to, Task task);

  unsigned size() const noexcept { return n_; }
  const std::vector<unsigned>& cpus() const noexcept { return cpus_; }

 private:
  void thread_main(unsigned k, const Init& init);

  ShardsConfig cfg_;
  unsigned n_ = 0;
  std::vector<unsigned> cpus_;
  std::vector<std::unique_ptr<Waker>> wakers_;
  std::unique_ptr<Shard::ShardMailbox> mailbox_;
  std::unique_ptr<Waker> stop_waker_;  // wakes run_until_signal()
  std::vector<std::thread> threads_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Shard*> shards_;  // live shards, under mu_
  unsigned inits_done_ = 0;
  bool go_ = false;
  bool abort_start_ = false;
  bool stop_ = false;
  Result<void> first_error_;
  std::mutex post_mu_;
  std::function<void(int)> on_terminate_;
  std::function<void()> on_reload_;
  std::function<void()> on_watch_;
};

}  // namespace webtrunk::core

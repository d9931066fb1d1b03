// A hashed timer wheel (Varghese & Lauck, scheme 6), sans-IO: it reads no clock; the caller passes
// `now` to advance(). The shard asks next_deadline() to know how long it may sleep.
//
// Time is cut into ticks of `resolution` counted from `origin`. A timer fires in the first
// advance(now) whose tick reaches the deadline's tick (rounded up): never early, at most one
// resolution late (plus however late advance() is called). Each slot holds the timers whose tick is
// equal to it modulo the slot count, so deadlines beyond one revolution simply stay in their slot
// until their tick comes round; no cascading.
//
// Lifetimes: a TimerHandle stays valid until its timer fires or is cancelled; after that cancel()
// on it is a harmless no-op returning false (handles carry a generation). Callbacks are moved out
// of the wheel before they run, so a callback may insert (even with a deadline already past: it
// fires later in the same advance() when time allows, else in the next), cancel anything, or
// re-arm itself. A callback must not call advance().
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/clock.hpp"

namespace webtrunk::core {

struct TimerHandle {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;  // 0: never a live timer
  explicit operator bool() const noexcept { return generation != 0; }
  friend bool operator==(TimerHandle, TimerHandle) = default;
};

class TimerWheel {
 public:
  using Callback = std::function<void()>;

  // `slots` is rounded up to a power of two. 4096 slots of 1 ms cover ~4 s per revolution, which
  // holds SIP T1/T2/F timers and RTP inactivity checks in their first revolution.
  explicit TimerWheel(Instant origin, Duration resolution = std::chrono::milliseconds(1),
                      std::uint32_t slots = 4096);

  TimerHandle insert(Instant deadline, Callback cb);
  // True if the timer was pending and will now never fire.
  bool cancel(TimerHandle h) noexcept;
  // Fires every timer whose tick is <= now's tick, in tick order. Returns how many fired.
  std::size_t advance(Instant now);
  // When the earliest pending timer becomes due (its tick's start time, >= its deadline);
  // nullopt when no timer is pending. Amortized O(1): cached between changes.
  std::optional<Instant> next_deadline() const;

  std::size_t size() const noexcept { return live_; }
  Duration resolution() const noexcept { return resolution_; }

 private:
  static constexpr std::uint32_t kNil = UINT32_MAX;
  static constexpr std::uint32_t kFreeList = UINT32_MAX;      // Node::list for free nodes
  static constexpr std::uint32_t kDueList = UINT32_MAX - 1;   // Node::list while waiting to fire

  struct Node {
    std::uint64_t tick = 0;
    Callback cb;
    std::uint32_t prev = kNil;
    std::uint32_t next = kNil;
    std::uint32_t generation = 1;
    std::uint32_t list = kFreeList;  // slot index, kDueList or kFreeList
  };

  std::uint64_t tick_ceil(Instant t) const noexcept;
  std::uint64_t tick_floor(Instant t) const noexcept;
  Instant tick_time(std::uint64_t tick) const noexcept { return origin_ + resolution_ * static_cast<std::int64_t>(tick); }
  std::uint32_t& head_of(std::uint32_t list) noexcept { return list == kDueList ? due_head_ : heads_[list]; }
  void link_back(std::uint32_t list, std::uint32_t n) noexcept;
  void unlink(std::uint32_t n) noexcept;
  void collect_due(std::uint32_t slot, std::uint64_t threshold);
  std::size_t fire_due();
  std::uint64_t compute_next_tick() const;

  Instant origin_;
  Duration resolution_;
  std::uint32_t mask_;
  std::uint64_t current_ = 0;  // every tick <= current_ has been processed
  std::vector<std::uint32_t> heads_;
  std::vector<std::uint32_t> tails_;
  std::vector<std::uint64_t> occupied_;  // one bit per slot: lets next_deadline() skip empty slots
  std::vector<Node> nodes_;
  std::uint32_t free_head_ = kNil;
  std::uint32_t due_head_ = kNil;
  std::uint32_t due_tail_ = kNil;
  std::size_t live_ = 0;
  bool advancing_ = false;
  mutable bool next_valid_ = false;
  mutable std::uint64_t next_tick_ = 0;
};

}  // namespace webtrunk::core

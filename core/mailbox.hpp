// Cross-shard control messages: a bounded single-producer/single-consumer queue per (from, to)
// pair, and an eventfd Waker per shard that the shard keeps a read armed on in its ring. This is for
// control (start a drain, move a registration, collect stats), never for packets: the hot path is
// shared nothing.
//
// Lifetimes: a message is moved into the queue by post() and moved out by drain(); the queue holds
// nothing after drain(). A Mailbox and its Wakers must outlive every thread that posts or drains.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace webtrunk::core {

// Bounded lock-free SPSC ring. Exactly one thread may push and one (possibly other) thread may pop.
template <class T>
class SpscQueue {
 public:
  explicit SpscQueue(std::size_t capacity) : mask_(round_up(capacity) - 1), slots_(new Slot[mask_ + 1]) {}
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;
  ~SpscQueue() {
    while (pop()) {
    }
  }

  // False when full; `v` is left untouched then.
  [[nodiscard]] bool push(T&& v) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ > mask_) return false;
    }
    ::new (slots_[tail & mask_].ptr()) T(std::move(v));
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  std::optional<T> pop() {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return std::nullopt;
    }
    T* p = slots_[head & mask_].ptr();
    std::optional<T> out(std::move(*p));
    p->~T();
    head_.store(head + 1, std::memory_order_release);
    return out;
  }

  std::size_t capacity() const noexcept { return mask_ + 1; }

 private:
  struct Slot {
    alignas(T) unsigned char bytes[sizeof(T)];
    T* ptr() noexcept { return std::launder(reinterpret_cast<T*>(bytes)); }
  };
  static std::size_t round_up(std::size_t n) {
    std::size_t p = 2;
    while (p < n) p <<= 1;
    return p;
  }

  const std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
  // Producer and consumer indices on their own cache lines, each with a cached copy of the other's.
  alignas(64) std::atomic<std::size_t> head_{0};
  std::size_t tail_cache_ = 0;  // consumer's view of tail_
  alignas(64) std::atomic<std::size_t> tail_{0};
  std::size_t head_cache_ = 0;  // producer's view of head_
};

// An eventfd that wakes a shard. wake() is coalesced: only the first wake after the owner consumed
// the last one writes to the eventfd, so a burst of posts costs one syscall.
class Waker {
 public:
  static Result<std::unique_ptr<Waker>> create();
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  // The fd to keep a read armed on. It is blocking: io_uring polls it, a plain read() waits.
  int fd() const noexcept { return fd_; }
  // Any thread. Thread-safe; not async-signal-safe only in that it may be coalesced away.
  void wake() noexcept;
  // The owner, once its read of fd() completed and before it drains its queues: re-enables the
  // next wake(). Returns whether a wake was pending.
  bool consume() noexcept { return pending_.exchange(false, std::memory_order_acq_rel); }

 private:
  explicit Waker(int fd) : fd_(fd) {}
  int fd_;
  std::atomic<bool> pending_{false};
};

// A queue per (from, to): `producers` lanes into each of `consumers` shards. Lanes 0..consumers-1
// belong to the shards themselves; extra lanes belong to other threads (the main thread), each
// used by one thread at a time.
template <class Msg>
class Mailbox {
 public:
  Mailbox(unsigned consumers, unsigned producers, std::size_t capacity, std::vector<Waker*> wakers)
      : consumers_(consumers), producers_(producers), wakers_(std::move(wakers)) {
    queues_.reserve(std::size_t{consumers} * producers);
    for (std::size_t i = 0; i < std::size_t{consumers} * producers; ++i) {
      queues_.push_back(std::make_unique<SpscQueue<Msg>>(capacity));
    }
  }

  // Called on the thread that owns lane `from`. False when that lane to `to` is full (the message
  // is dropped, the caller decides) or the indices are out of range.
  [[nodiscard]] bool post(unsigned from, unsigned to, Msg msg) {
    if (from >= producers_ || to >= consumers_) return false;
    if (!queues_[std::size_t{to} * producers_ + from]->push(std::move(msg))) return false;
    if (to < wakers_.size() && wakers_[to] != nullptr) wakers_[to]->wake();
    return true;
  }

  // Called on shard `to`'s thread: hands every queued message to `fn(Msg&)`. Returns the count.
  template <class Fn>
  std::size_t drain(unsigned to, Fn&& fn) {
    std::size_t n = 0;
    if (to >= consumers_) return 0;
    for (unsigned from = 0; from < producers_; ++from) {
      auto& q = *queues_[std::size_t{to} * producers_ + from];
      while (auto m = q.pop()) {
        fn(*m);
        ++n;
      }
    }
    return n;
  }

  unsigned consumers() const noexcept { return consumers_; }
  unsigned producers() const noexcept { return producers_; }

 private:
  unsigned consumers_;
  unsigned producers_;
  std::vector<Waker*> wakers_;
  std::vector<std::unique_ptr<SpscQueue<Msg>>> queues_;
};

}  // namespace webtrunk::core

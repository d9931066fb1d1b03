#include "core/timer_wheel.hpp"

#include <algorithm>
#include <bit>
#include <cassert>

namespace webtrunk::core {

TimerWheel::TimerWheel(Instant origin, Duration resolution, std::uint32_t slots)
    : origin_(origin), resolution_(resolution > Duration::zero() ? resolution : Duration(1)) {
  const std::uint32_t n = std::bit_ceil(std::max<std::uint32_t>(slots, 64));
  mask_ = n - 1;
  heads_.assign(n, kNil);
  tails_.assign(n, kNil);
  occupied_.assign(n / 64, 0);
}

std::uint64_t TimerWheel::tick_floor(Instant t) const noexcept {
  if (t <= origin_) return 0;
  return static_cast<std::uint64_t>((t - origin_) / resolution_);
}

std::uint64_t TimerWheel::tick_ceil(Instant t) const noexcept {
  if (t <= origin_) return 0;
  const auto d = t - origin_;
  auto q = static_cast<std::uint64_t>(d / resolution_);
  if (d % resolution_ != Duration::zero()) ++q;  // rounding up is what keeps timers from firing early
  return q;
}

void TimerWheel::link_back(std::uint32_t list, std::uint32_t n) noexcept {
  Node& node = nodes_[n];
  node.list = list;
  node.next = kNil;
  std::uint32_t& tail = list == kDueList ? due_tail_ : tails_[list];
  node.prev = tail;
  if (tail != kNil) {
    nodes_[tail].next = n;
  } else {
    head_of(list) = n;
  }
  tail = n;
  if (list != kDueList) occupied_[list / 64] |= std::uint64_t{1} << (list % 64);
}

void TimerWheel::unlink(std::uint32_t n) noexcept {
  Node& node = nodes_[n];
  const std::uint32_t list = node.list;
  std::uint32_t& tail = list == kDueList ? due_tail_ : tails_[list];
  if (node.prev != kNil) {
    nodes_[node.prev].next = node.next;
  } else {
    head_of(list) = node.next;
  }
  if (node.next != kNil) {
    nodes_[node.next].prev = node.prev;
  } else {
    tail = node.prev;
  }
  node.prev = node.next = kNil;
  if (list != kDueList && heads_[list] == kNil) occupied_[list / 64] &= ~(std::uint64_t{1} << (list % 64));
}

TimerHandle TimerWheel::insert(Instant deadline, Callback cb) {
  // A deadline at or before the processed tick goes to the next tick: it fires on the next advance.
  const std::uint64_t tick = std::max(tick_ceil(deadline), current_ + 1);
  std::uint32_t n;
  if (free_head_ != kNil) {
    n = free_head_;
    free_head_ = nodes_[n].next;
  } else {
    n = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& node = nodes_[n];
  node.tick = tick;
  node.cb = std::move(cb);
  link_back(static_cast<std::uint32_t>(tick & mask_), n);
  ++live_;
  if (next_valid_ && tick < next_tick_) next_tick_ = tick;
  return TimerHandle{n, node.generation};
}

bool TimerWheel::cancel(TimerHandle h) noexcept {
  if (h.index >= nodes_.size()) return false;
  Node& node = nodes_[h.index];
  if (node.generation != h.generation || node.list == kFreeList) return false;
  if (next_valid_ && node.tick == next_tick_) next_valid_ = false;  // recomputed on demand
  unlink(h.index);
  node.cb = nullptr;
  ++node.generation;
  if (node.generation == 0) node.generation = 1;
  node.list = kFreeList;
  node.next = free_head_;
  free_head_ = h.index;
  --live_;
  return true;
}

void TimerWheel::collect_due(std::uint32_t slot, std::uint64_t threshold) {
  std::uint32_t n = heads_[slot];
  while (n != kNil) {
    const std::uint32_t next = nodes_[n].next;
    if (nodes_[n].tick <= threshold) {
      unlink(n);
      link_back(kDueList, n);
    }
    n = next;
  }
}

std::size_t TimerWheel::fire_due() {
  std::size_t fired = 0;
  while (due_head_ != kNil) {
    const std::uint32_t n = due_head_;
    unlink(n);
    Node& node = nodes_[n];
    Callback cb = std::move(node.cb);  // out of the node first: the callback may grow nodes_
    node.cb = nullptr;
    ++node.generation;
    if (node.generation == 0) node.generation = 1;
    node.list = kFreeList;
    node.next = free_head_;
    free_head_ = n;
    --live_;
    ++fired;
    if (cb) cb();
  }
  return fired;
}

std::size_t TimerWheel::advance(Instant now) {
  assert(!advancing_ && "TimerWheel::advance called from a timer callback");
  const std::uint64_t target = tick_floor(now);
  if (target <= current_) return 0;
  advancing_ = true;
  next_valid_ = false;
  std::size_t fired = 0;
  const std::uint64_t slots = std::uint64_t{mask_} + 1;
  if (target - current_ > slots) {
    // A jump of more than one revolution (the loop stalled): one pass over every slot finds all
    // due timers; fire them sorted by tick so the order still follows the deadlines.
    for (std::uint32_t s = 0; s <= mask_; ++s) collect_due(s, target);
    std::vector<std::uint32_t> order;
    for (std::uint32_t n = due_head_; n != kNil; n = nodes_[n].next) order.push_back(n);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return nodes_[a].tick < nodes_[b].tick; });
    for (std::uint32_t n : order) unlink(n);
    for (std::uint32_t n : order) link_back(kDueList, n);
    current_ = target;
    fired += fire_due();
  } else {
    for (std::uint64_t t = current_ + 1; t <= target; ++t) {
      current_ = t;  // before firing: a callback's insert lands at t + 1 or later
      const auto slot = static_cast<std::uint32_t>(t & mask_);
      if ((occupied_[slot / 64] >> (slot % 64) & 1) == 0) continue;
      collect_due(slot, t);
      fired += fire_due();
    }
  }
  advancing_ = false;
  return fired;
}

std::uint64_t TimerWheel::compute_next_tick() const {
  // Walk one revolution from current_ + 1 over occupied slots only; a node in the slot of tick t
  // with tick == t is due then. Nodes left over are all more than a revolution away.
  const std::uint64_t slots = std::uint64_t{mask_} + 1;
  for (std::uint64_t k = 1; k <= slots;) {
    const std::uint64_t t = current_ + k;
    const auto slot = static_cast<std::uint32_t>(t & mask_);
    const std::uint64_t word = occupied_[slot / 64] >> (slot % 64);
    if (word == 0) {
      k += 64 - slot % 64;  // the rest of this bitmap word is empty
      continue;
    }
    const auto skip = static_cast<std::uint64_t>(std::countr_zero(word));
    if (skip > 0) {
      k += skip;
      continue;
    }
    for (std::uint32_t n = heads_[slot]; n != kNil; n = nodes_[n].next) {
      if (nodes_[n].tick == t) return t;
    }
    ++k;
  }
  std::uint64_t best = UINT64_MAX;
  for (std::uint32_t s = 0; s <= mask_; ++s) {
    for (std::uint32_t n = heads_[s]; n != kNil; n = nodes_[n].next) best = std::min(best, nodes_[n].tick);
  }
  return best;
}

std::optional<Instant> TimerWheel::next_deadline() const {
  if (live_ == 0) return std::nullopt;
  if (!next_valid_) {
    next_tick_ = compute_next_tick();
    next_valid_ = true;
  }
  return tick_time(next_tick_);
}

}  // namespace webtrunk::core

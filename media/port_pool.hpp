// Trunk-side RTP port pairs of one shard (DESIGN.md "Shared nothing": each shard owns a slice of
// --rtp-ports, so a call's RTP lands on the shard that owns the call).
//
// A pair is an even RTP port and the odd RTCP port above it (RFC 3550 §11). The pool hands out
// pairs first-in first-out: a pair given back at hangup is reused last, which leaves the kernel
// time to close the old sockets (the shard closes them after their pending receives are
// cancelled, a loop turn later) and keeps a late packet of the old call from reaching a new one.
//
// A shard whose own pairs are all taken borrows from the rest of --rtp-ports (next_borrow), so one
// busy shard (one account's calls all on one WebSocket, say) cannot be refused while other shards
// have ports. There is no shared table and no lock: bind(2) decides who holds a port (our UDP
// sockets take no SO_REUSEADDR/SO_REUSEPORT), and a shard that meets a pair borrowed from its slice
// skips it like a port another program holds. A borrowed pair is still a socket of the borrowing
// shard, so its RTP lands on the shard that owns the call (README "RTP ports").
#pragma once

#include <cstdint>
#include <deque>
#include <string_view>
#include <utility>

#include "core/result.hpp"

namespace webtrunk::media {

// Splits "A-B" (--rtp-ports) between `shards` shards. Each shard gets the same number of whole
// pairs (even RTP port, odd RTCP port); the pairs left over when the count does not divide go to
// no one. Returns shard `shard`'s [min, max] (min even, max odd). Errors say what is wrong with the
// range: not "A-B", out of 1-65535, A > B, or fewer pairs than shards.
core::Result<std::pair<std::uint16_t, std::uint16_t>> rtp_port_slice(std::string_view range, unsigned shards,
                                                                       unsigned shard);

class PortPool {
 public:
  PortPool() = default;
  // Every even port p with p >= min and p + 1 <= max. min = max = 0: an empty pool.
  PortPool(std::uint16_t min, std::uint16_t max);

  // Sets `rtp_port` to a free pair's RTP port; false when all are taken.
  [[nodiscard]] bool take(std::uint16_t& rtp_port);
  // Gives back a pair from take(). Pairs not from this pool (borrowed ones) are ignored.
  void give_back(std::uint16_t rtp_port);

  // The whole range pairs may be borrowed from (this pool's own slice inside it is skipped).
  void set_borrow_range(std::uint16_t min, std::uint16_t max);
  // The next pair of the borrow range to try, round robin; false when there is none. Free or not
  // is bind's answer.
  [[nodiscard]] bool next_borrow(std::uint16_t& rtp_port);
  // Pairs of the borrow range outside this slice.
  std::size_t borrow_pairs() const noexcept { return borrow_pairs_; }

  std::size_t free_pairs() const noexcept { return free_.size(); }
  std::size_t total_pairs() const noexcept { return total_; }
  std::uint16_t min() const noexcept { return min_; }
  std::uint16_t max() const noexcept { return max_; }

 private:
  std::deque<std::uint16_t> free_;
  std::size_t total_ = 0;
  std::uint16_t min_ = 0;
  std::uint16_t max_ = 0;
  std::uint16_t borrow_min_ = 0;
  std::uint16_t borrow_max_ = 0;
  std::size_t borrow_pairs_ = 0;
  std::uint32_t borrow_next_ = 0;  // the next even port to offer
};

}  // namespace webtrunk::media

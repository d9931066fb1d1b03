#include "media/port_pool.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cerrno>

namespace webtrunk::media {
namespace {

bool parse_port(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 5) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

core::Error bad_range(std::string_view range, std::string_view why) {
  return core::Error{-EINVAL, fmt::format("--rtp-ports {}: {}", range, why)};
}

}  // namespace

core::Result<std::pair<std::uint16_t, std::uint16_t>> rtp_port_slice(std::string_view range, unsigned shards,
                                                                       unsigned shard) {
  const auto dash = range.find('-');
  std::uint32_t a = 0;
  std::uint32_t b = 0;
  if (dash == std::string_view::npos || !parse_port(range.substr(0, dash), a) ||
      !parse_port(range.substr(dash + 1), b)) {
    return bad_range(range, "expected A-B, two port numbers");
  }
  if (a == 0 || b > 65535) return bad_range(range, "ports must be within 1-65535");
  if (a > b) return bad_range(range, "the first port is above the last");
  if (shards == 0 || shard >= shards) return bad_range(range, "no such shard");
  const std::uint32_t first = (a + 1) & ~1u;  // the first even port in the range
  const std::uint32_t pairs = first + 1 <= b ? (b - first + 1) / 2 : 0;
  const std::uint32_t per_shard = pairs / shards;
  if (per_shard == 0) {
    return bad_range(range, fmt::format("{} RTP/RTCP port pair(s) cannot be split between {} shards", pairs, shards));
  }
  const std::uint32_t lo = first + 2 * per_shard * shard;
  const std::uint32_t hi = lo + 2 * per_shard - 1;
  return std::pair{static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi)};
}

PortPool::PortPool(std::uint16_t min, std::uint16_t max) : min_(min), max_(max) {
  if (min == 0 && max == 0) return;
  for (std::uint32_t p = (min + 1u) & ~1u; p + 1 <= max; p += 2) free_.push_back(static_cast<std::uint16_t>(p));
  total_ = free_.size();
}

bool PortPool::take(std::uint16_t& rtp_port) {
  if (free_.empty()) return false;
  rtp_port = free_.front();
  free_.pop_front();
  return true;
}

void PortPool::give_back(std::uint16_t rtp_port) {
  if (rtp_port < min_ || rtp_port + 1 > max_ || (rtp_port & 1) != 0 || free_.size() >= total_) return;
  free_.push_back(rtp_port);
}

void PortPool::set_borrow_range(std::uint16_t min, std::uint16_t max) {
  borrow_min_ = static_cast<std::uint16_t>((min + 1u) & ~1u);
  borrow_max_ = max;
  borrow_pairs_ = 0;
  for (std::uint32_t p = borrow_min_; p + 1 <= borrow_max_; p += 2) {
    if (p < min_ || p + 1 > max_) ++borrow_pairs_;
  }
  borrow_next_ = borrow_min_;
}

bool PortPool::next_borrow(std::uint16_t& rtp_port) {
  if (borrow_pairs_ == 0) return false;
  for (;;) {
    if (borrow_next_ + 1 > borrow_max_) borrow_next_ = borrow_min_;
    const std::uint32_t p = borrow_next_;
    borrow_next_ += 2;
    if (p >= min_ && p + 1 <= max_) continue;  // our own slice: take() covers it
    rtp_port = static_cast<std::uint16_t>(p);
    return true;
  }
}

}  // namespace webtrunk::media

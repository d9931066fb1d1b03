// LogSampler: at most one log line per key per interval, with the count of the lines it held back.
// A remote peer that repeats a refused request must not turn each one into a line (an unauthenticated
// flood would otherwise fill the disk faster than it fills the network). Key by source address
// (address_key()) or by event; an interval's first occurrence is written at once, so a single error
// is never delayed or lost.
//
//   if (auto n = sampler.admit(now, key)) log(warn, "ws.refused", "peer={} suppressed={}", peer, *n);
//
// Memory is bounded: at most `max_keys` keys. When the map is full, keys whose interval has passed
// are dropped; if none has, every new key shares one overflow key (its lines still come out, at most
// one per interval for all of them together).
//
// Sans-IO (time comes in as `now`); not thread-safe: one owner (a shard, a service).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/socket.hpp"

namespace webtrunk::core {

// A key for the source of a connection or request: the IPv4 address, or the /64 prefix of an IPv6
// address (one subscriber's LAN: RFC 6177 §2 assigns at least a /64 per site), with an IPv4-mapped
// IPv6 address keyed as its IPv4 address. Distinct families never collide; 0 for an unset address.
[[nodiscard]] std::uint64_t address_key(const SockAddr& addr) noexcept;

class LogSampler {
 public:
  explicit LogSampler(Duration interval = std::chrono::seconds(10), std::size_t max_keys = 4096) noexcept
      : interval_(interval), max_keys_(max_keys == 0 ? 1 : max_keys) {}

  // A value: write the line now, noting that many lines were suppressed since the previous one
  // for this key. nullopt: suppress it (it is counted).
  [[nodiscard]] std::optional<std::uint64_t> admit(Instant now, std::uint64_t key) noexcept;

  std::size_t size() const noexcept { return keys_.size(); }
  Duration interval() const noexcept { return interval_; }

 private:
  struct Slot {
    Instant last_line{};
    std::uint64_t suppressed = 0;
  };
  static constexpr std::uint64_t kOverflowKey = ~std::uint64_t{0};
  void sweep(Instant now) noexcept;

  Duration interval_;
  std::size_t max_keys_;
  std::unordered_map<std::uint64_t, Slot> keys_;
};

// log() through a sampler: the line is written only if `key` is due, with " suppressed=N" added
// when lines were held back since the previous one.
template <class... Args>
void log_sampled(LogSampler& sampler, Instant now, std::uint64_t key, LogLevel level, std::string_view event,
                 fmt::format_string<Args...> f, Args&&... args) {
  if (!log_enabled(level)) return;
  const auto suppressed = sampler.admit(now, key);
  if (!suppressed) return;
  std::string msg = fmt::format(f, std::forward<Args>(args)...);
  if (*suppressed != 0) msg += fmt::format(" suppressed={}", *suppressed);
  log_line(level, event, msg);
}

}  // namespace webtrunk::core

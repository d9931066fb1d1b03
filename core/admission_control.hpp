// AdmissionControl: who may connect to a shard's browser-facing port, and who has sent too many
// requests that did not authenticate (the job of Kamailio's tcp_max_connections, pike and
// ratelimit). One per shard, sans-IO (time comes in as `now`), not thread-safe.
//
// Sources are keyed by address_key(): an IPv4 address or an IPv6 /64. Per source it counts open
// connections, new connections in the current one-second window and unauthenticated requests in
// the current window. A source over either rate is banned for `ban`: its new connections are
// refused until then. Limits are per shard; the kernel spreads one address's connections over the
// shards (SO_REUSEPORT hashes the 4-tuple), so a whole process admits up to shards times as many.
//
// Memory: one small entry per source seen in the last window, banned, or with an open connection;
// entries with nothing left to remember are swept whenever the map has doubled since the last
// sweep (amortized O(1) per connection). Sources with open connections are bounded by
// max_connections, sources seen in one window by the accept rate, so the map stays bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"

namespace webtrunk::core {

struct AdmissionLimits {
  std::size_t max_connections = 20000;          // per shard, any source
  std::size_t max_per_address = 256;            // open connections per source (a corporate NAT has many)
  std::uint32_t new_per_address_per_s = 100;    // new connections per source per second; over: ban
  std::uint32_t unauth_per_address_per_s = 50;  // unauthenticated requests per source per second; over: ban
  Duration ban = std::chrono::seconds(30);
};

enum class Admit : std::uint8_t {
  ok,
  shard_full,    // max_connections open on this shard
  address_full,  // max_per_address open from this source
  rate,          // new_per_address_per_s exceeded now: the source is banned from here on
  banned,        // the source is serving a ban
};

std::string_view to_string(Admit a) noexcept;

class AdmissionControl {
 public:
  explicit AdmissionControl(const AdmissionLimits& limits) noexcept : limits_(limits) {}

  // A connection from `source` (an address_key) was accepted by the kernel. ok: it is counted
  // open, and release() must follow when it ends; anything else: close it at once.
  [[nodiscard]] Admit admit(Instant now, std::uint64_t source) noexcept;
  void release(std::uint64_t source) noexcept;
  // A request that did not (yet) authenticate arrived from `source`. False: over the rate, the
  // source is now banned and the caller closes the connection.
  [[nodiscard]] bool unauthenticated_request(Instant now, std::uint64_t source) noexcept;

  bool banned(Instant now, std::uint64_t source) const noexcept;
  std::size_t open() const noexcept { return open_; }
  std::size_t sources() const noexcept { return sources_.size(); }
  const AdmissionLimits& limits() const noexcept { return limits_; }

 private:
  struct Source {
    std::uint32_t open = 0;
    std::uint32_t new_in_window = 0;
    std::uint32_t unauth_in_window = 0;
    Instant window{};        // start of the current one-second window
    Instant banned_until{};  // in the past: not banned
  };
  Source& source(Instant now, std::uint64_t key);
  void maybe_sweep(Instant now) noexcept;

  AdmissionLimits limits_;
  std::unordered_map<std::uint64_t, Source> sources_;
  std::size_t open_ = 0;
  std::size_t swept_at_size_ = 1024;
};

}  // namespace webtrunk::core

// Token-bucket rate limits for the auth service (auth.md §5.18: "Rate-limit exchanges per login";
// §7 better 5: per login and per source IP). One limiter holds one bucket per key: RateLimiter by
// account id, AddressRateLimiter by source (core::address_key: an IPv4 address or an IPv6 /64, the
// key the edge's admission control uses too). A bucket holds up to `burst` tokens and refills at
// `per_second`.
//
// Memory is bounded: at most `max_keys` buckets. A bucket that has refilled completely is the same
// as no bucket, so when the map is full those are dropped first; if every bucket is still in use
// the new key is refused (`RateDecision::full`) rather than evicting a key that is being limited
// (evicting would hand an abuser a fresh bucket). Size it to the number of clients expected within
// one refill period.
//
// Sans-IO: time comes in as `now` (monotonic). Not thread-safe: one owner.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"

namespace webtrunk::auth {

struct RateSpec {
  double per_second = 10.0;  // refill rate
  double burst = 20.0;       // bucket size: requests allowed at once after a quiet period
  // tokens_per_minute as the admin API states it: a burst of a tenth of a minute's worth (at least 1).
  static RateSpec per_minute(std::uint32_t n) noexcept;
};

struct RateDecision {
  enum class Kind : std::uint8_t { allowed, limited, full };
  Kind kind = Kind::allowed;
  std::int64_t retry_after_s = 0;  // limited / full: whole seconds until a token is there (>= 1)
  bool allowed() const noexcept { return kind == Kind::allowed; }
};

template <class Key>
class BasicRateLimiter {
 public:
  explicit BasicRateLimiter(std::size_t max_keys = 100'000) : max_keys_(max_keys == 0 ? 1 : max_keys) {}

  // Takes one token from `key`'s bucket (created full on first use), or says how long to wait.
  [[nodiscard]] RateDecision take(const Key& key, const RateSpec& spec, core::Instant now);

  std::size_t size() const noexcept { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    core::Instant last{};
    double burst = 0;
    double per_second = 0;
  };
  static void refill(Bucket& b, core::Instant now) noexcept;
  void sweep(core::Instant now);

  std::size_t max_keys_;
  std::unordered_map<Key, Bucket> buckets_;
};

using RateLimiter = BasicRateLimiter<std::string>;             // by account id
using AddressRateLimiter = BasicRateLimiter<std::uint64_t>;    // by core::address_key()
extern template class BasicRateLimiter<std::string>;
extern template class BasicRateLimiter<std::uint64_t>;

}  // namespace webtrunk::auth

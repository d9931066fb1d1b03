#include "auth/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace webtrunk::auth {

RateSpec RateSpec::per_minute(std::uint32_t n) noexcept {
  const double rate = static_cast<double>(n) / 60.0;
  return {rate, std::max(1.0, std::floor(static_cast<double>(n) / 10.0))};
}

template <class Key>
void BasicRateLimiter<Key>::refill(Bucket& b, core::Instant now) noexcept {
  if (now <= b.last) return;
  const double dt = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(b.burst, b.tokens + dt * b.per_second);
  b.last = now;
}

template <class Key>
void BasicRateLimiter<Key>::sweep(core::Instant now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now);
    if (it->second.tokens >= it->second.burst) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

template <class Key>
RateDecision BasicRateLimiter<Key>::take(const Key& key, const RateSpec& spec, core::Instant now) {
  const double burst = std::max(1.0, spec.burst);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) sweep(now);
    if (buckets_.size() >= max_keys_) return {RateDecision::Kind::full, 1};
    it = buckets_.emplace(key, Bucket{burst, now, burst, spec.per_second}).first;
  }
  Bucket& b = it->second;
  // The spec may have changed since the bucket was made (an admin PUT of new limits).
  b.burst = burst;
  b.per_second = spec.per_second;
  refill(b, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return {};
  }
  if (spec.per_second <= 0) return {RateDecision::Kind::limited, 60};
  const double wait = (1.0 - b.tokens) / spec.per_second;
  return {RateDecision::Kind::limited, std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)))};
}

template class BasicRateLimiter<std::string>;
template class BasicRateLimiter<std::uint64_t>;

}  // namespace webtrunk::auth

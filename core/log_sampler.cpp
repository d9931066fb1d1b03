#include "core/log_sampler.hpp"

#include <netinet/in.h>

#include <cstring>

#include "core/bytes.hpp"

namespace webtrunk::core {

std::uint64_t address_key(const SockAddr& addr) noexcept {
  // The top two bits say the family, so a v4 key never equals a v6 prefix key.
  constexpr std::uint64_t kV4 = std::uint64_t{1} << 62;
  constexpr std::uint64_t kV6 = std::uint64_t{2} << 62;
  if (addr.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr.data());
    return kV4 | load_be32(reinterpret_cast<const std::byte*>(&in->sin_addr));
  }
  if (addr.family() == AF_INET6) {
    const auto* b =
        reinterpret_cast<const std::byte*>(reinterpret_cast<const sockaddr_in6*>(addr.data())->sin6_addr.s6_addr);
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMapped, sizeof kMapped) == 0) return kV4 | load_be32(b + 12);
    // The /64 prefix, its top two bits folded into the low ones so the family bits stay free.
    const std::uint64_t prefix = load_be64(b);
    return kV6 | (prefix & ~(std::uint64_t{3} << 62)) | (prefix >> 62);
  }
  return 0;
}

std::optional<std::uint64_t> LogSampler::admit(Instant now, std::uint64_t key) noexcept {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    if (keys_.size() >= max_keys_) sweep(now);
    if (keys_.size() >= max_keys_) {
      key = kOverflowKey;
      it = keys_.find(key);
    }
  }
  if (it == keys_.end()) {
    keys_.emplace(key, Slot{now, 0});
    return std::uint64_t{0};
  }
  Slot& s = it->second;
  if (now - s.last_line < interval_) {
    ++s.suppressed;
    return std::nullopt;
  }
  const std::uint64_t n = s.suppressed;
  s = Slot{now, 0};
  return n;
}

void LogSampler::sweep(Instant now) noexcept {
  // A key whose interval has passed would be written at once anyway; dropping it loses only its
  // suppressed count, which is why the overflow key is never dropped here while it holds one.
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (now - it->second.last_line >= interval_ && (it->first != kOverflowKey || it->second.suppressed == 0)) {
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace webtrunk::core

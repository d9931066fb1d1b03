// Where a trunk's requests go: the ordered list of (transport, address) its host resolved to
// (RFC 3263 §4: NAPTR -> SRV -> A/AAAA, or A/AAAA alone, or an IP literal), published whole by the
// resolver (edge/trunk_resolver.hpp) and read by every shard on the call path.
//
// Lifetimes: a TrunkTargets is immutable once published; a call keeps the shared_ptr it took when
// it started (its failover walks that list even if a refresh publishes another). A TargetSlot is
// shared by the RouteTable entries that name the same trunk (a reload keeps the slot, so a reloaded
// table has the addresses at once) and by the resolver that fills it.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/socket.hpp"
#include "sip/transport.hpp"

namespace webtrunk::edge {

struct ResolvedTarget {
  sip::Transport transport = sip::Transport::udp;
  core::SockAddr addr;
  bool operator==(const ResolvedTarget&) const = default;
};

struct TrunkTargets {
  std::vector<ResolvedTarget> list;  // first to try first; empty: the name does not resolve (now)
  std::string error;                 // why the list is empty: "NXDOMAIN", "timeout", "not resolved yet"
};

// One trunk's current targets. Readers (the shards) never lock: an atomic shared_ptr snapshot.
class TargetSlot {
 public:
  TargetSlot() : current_(std::make_shared<const TrunkTargets>(TrunkTargets{{}, "not resolved yet"})) {}
  explicit TargetSlot(std::vector<ResolvedTarget> fixed)
      : current_(std::make_shared<const TrunkTargets>(TrunkTargets{std::move(fixed), {}})) {}

  [[nodiscard]] std::shared_ptr<const TrunkTargets> load() const noexcept {
    return current_.load(std::memory_order_acquire);
  }
  void store(std::shared_ptr<const TrunkTargets> t) noexcept { current_.store(std::move(t), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const TrunkTargets>> current_;
};

}  // namespace webtrunk::edge

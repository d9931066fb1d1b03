// Single use of customer tokens (auth.md §2 "K1 can be replayed ... exchanged at A any number of
// times", §7 better 5): the auth service remembers each accepted token until it could no longer
// verify anyway (its expiry plus the skew window), and refuses it a second time.
//
// Memory is bounded: at most `capacity` entries of a 16-byte id each. Entries leave when their
// time passes (purged lazily on insert, oldest first). When the cache is full of live entries a
// new token is refused (`full`) rather than evicting one: evicting would let that token be
// replayed. Size capacity as peak exchange rate x (max customer lifetime + skew), e.g. 100/s x 630 s.
//
// Sans-IO: time comes in as `now` (unix seconds). Not thread-safe: one owner (a shard, or a mutex
// around it in the auth service).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace webtrunk::auth {

enum class ReplayResult : std::uint8_t {
  fresh,     // first use: remembered now
  replayed,  // seen before and still remembered: refuse ("Token already used")
  full,      // cache full of live entries: refuse for now ("Try again later")
};
std::string_view reason_phrase(ReplayResult r) noexcept;

class ReplayCache {
 public:
  using Id = std::array<std::uint8_t, 16>;

  explicit ReplayCache(std::size_t capacity = 100'000);

  // The 16 bytes a token id is remembered by (what the account store persists).
  [[nodiscard]] static Id id_of(std::string_view token_id) noexcept;
  // Remembers an id used before a restart (AccountStore::used_tokens); false when it is already
  // past, already known, or the cache is full.
  bool restore(std::int64_t now, const Id& id, std::int64_t remember_until);

  // `token_id`: any bytes naming the token (customer_token_id(); longer ids are hashed down to 16
  // bytes). `remember_until`: unix seconds after which the token can no longer verify.
  [[nodiscard]] ReplayResult check_and_insert(std::int64_t now, std::string_view token_id, std::int64_t remember_until);

  // Drops entries whose remember_until < now.
  void purge(std::int64_t now);
  std::size_t size() const noexcept { return live_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  struct IdHash {
    std::size_t operator()(const Id& id) const noexcept;
  };
  struct Due {
    std::int64_t until;
    Id id;
    bool operator>(const Due& o) const noexcept { return until > o.until; }
  };

  std::size_t capacity_;
  std::unordered_map<Id, std::int64_t, IdHash> live_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;  // soonest first
};

}  // namespace webtrunk::auth

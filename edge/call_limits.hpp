// Concurrent calls per account and per token id on one edge, so that one account (or one leaked
// token) cannot take the whole edge (README "Limits").
//
// Limits: an account's is the token's calls= claim (the auth service sets it from the account's
// max_calls); a token id's (u=, else the account; the id of a legacy token; the From user with
// --no-auth) is --max-calls-per-token. A token without calls= (legacy, or minted by an older auth
// service) is held only by the per-token limit.
//
// Shared nothing: a token's calls may land on any shard (SO_REUSEPORT spreads connections), and
// counting them across shards would put a cross-shard exchange on every call setup. Instead each
// shard admits its share, ceil(limit / shards), of every limit. So the edge as a whole never holds
// more than shards * ceil(limit / shards) calls of a limit (the limit itself when it is a multiple
// of the shard count; at most shards - 1 more otherwise), and a client whose calls all share one
// WebSocket (one shard) can be refused at its share. Operators who need an exact small limit run
// the edge with one shard or pick limits that are multiples of --shards.
//
// Sans-IO, one per shard (owned by the CallController). Memory: one entry per account and per token
// id with a call in progress on this shard, erased when its count drops to zero, so bounded by the
// calls in progress (themselves bounded by --rtp-ports).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/metrics.hpp"

namespace webtrunk::edge {

inline const core::Counter kCallsOverAccountLimit{
    "webtrunk_calls_refused_account_limit_total",
    "calls refused 403: the account already holds its calls= claim (this shard's share) in calls"};
inline const core::Counter kCallsOverTokenLimit{
    "webtrunk_calls_refused_token_limit_total",
    "calls refused 403: the token id already holds --max-calls-per-token (this shard's share) in calls"};

struct CallLimitConfig {
  std::uint32_t max_calls_per_token = 100;  // --max-calls-per-token; 0: no per-token limit
  unsigned shards = 1;                      // limits are split between this many shards
};

// What a call holds; given back by release() when the call ends.
struct CallSlot {
  std::string account;  // "" : the call counts for no account
  std::string token;    // account '\n' token id
  bool held = false;
};

class CallLimiter {
 public:
  enum class Verdict : std::uint8_t { ok, account_full, token_full };

  explicit CallLimiter(CallLimitConfig config) noexcept;

  // The part of `limit` one shard of `shards` admits: ceil(limit / shards), at least 1.
  [[nodiscard]] static std::uint32_t shard_share(std::uint32_t limit, unsigned shards) noexcept;

  // Takes a slot for a new call if both limits allow it; `account_limit` is the calls= claim.
  // On ok, `slot` holds what release() gives back.
  [[nodiscard]] Verdict try_acquire(std::string_view account, std::string_view token_id,
                                    std::optional<std::uint32_t> account_limit, CallSlot& slot);
  void release(CallSlot& slot) noexcept;

  // Calls in progress counted for this account / token id on this shard.
  [[nodiscard]] std::uint32_t account_calls(std::string_view account) const;
  [[nodiscard]] std::uint32_t token_calls(std::string_view account, std::string_view token_id) const;
  [[nodiscard]] std::size_t tracked() const noexcept { return accounts_.size() + tokens_.size(); }

 private:
  static std::string token_key(std::string_view account, std::string_view token_id);
  static void drop(std::unordered_map<std::string, std::uint32_t>& m, const std::string& key) noexcept;

  CallLimitConfig cfg_;
  std::unordered_map<std::string, std::uint32_t> accounts_;
  std::unordered_map<std::string, std::uint32_t> tokens_;
};

}  // namespace webtrunk::edge

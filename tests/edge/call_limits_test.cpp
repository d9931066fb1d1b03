// Concurrent calls per account and per token id (edge/call_limits.hpp).
#include "edge/call_limits.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace webtrunk::edge {
namespace {

using V = CallLimiter::Verdict;

TEST(CallLimiter, ShardShareRoundsUp) {
  EXPECT_EQ(CallLimiter::shard_share(10, 1), 10u);
  EXPECT_EQ(CallLimiter::shard_share(10, 2), 5u);
  EXPECT_EQ(CallLimiter::shard_share(10, 3), 4u);  // 3 shards x 4 = 12 at most edge-wide
  EXPECT_EQ(CallLimiter::shard_share(1, 4), 1u);   // never 0: a limit of 1 still allows a call
  EXPECT_EQ(CallLimiter::shard_share(7, 0), 7u);
}

TEST(CallLimiter, AccountLimitFromTheClaim) {
  CallLimiter l(CallLimitConfig{.max_calls_per_token = 0, .shards = 1});
  std::vector<CallSlot> held(3);
  // Different token ids of one account share the account's calls= limit.
  EXPECT_EQ(l.try_acquire("shop", "alice", 3u, held[0]), V::ok);
  EXPECT_EQ(l.try_acquire("shop", "bob", 3u, held[1]), V::ok);
  EXPECT_EQ(l.try_acquire("shop", "carol", 3u, held[2]), V::ok);
  CallSlot more;
  EXPECT_EQ(l.try_acquire("shop", "dave", 3u, more), V::account_full);
  EXPECT_FALSE(more.held);
  // Another account is not affected.
  CallSlot other;
  EXPECT_EQ(l.try_acquire("bakery", "alice", 3u, other), V::ok);
  // A call ends: one more fits, and releasing twice changes nothing.
  l.release(held[1]);
  l.release(held[1]);
  EXPECT_EQ(l.account_calls("shop"), 2u);
  EXPECT_EQ(l.try_acquire("shop", "dave", 3u, more), V::ok);
  EXPECT_EQ(l.try_acquire("shop", "erin", 3u, held[1]), V::account_full);
}

TEST(CallLimiter, PerTokenLimitAlsoForLegacyTokens) {
  CallLimiter l(CallLimitConfig{.max_calls_per_token = 2, .shards = 1});
  CallSlot a, b, c;
  // A legacy token: no account, no calls= claim; only --max-calls-per-token holds it.
  EXPECT_EQ(l.try_acquire("", "legacy-id", std::nullopt, a), V::ok);
  EXPECT_EQ(l.try_acquire("", "legacy-id", std::nullopt, b), V::ok);
  EXPECT_EQ(l.try_acquire("", "legacy-id", std::nullopt, c), V::token_full);
  // The same token id under an account is another token.
  EXPECT_EQ(l.try_acquire("shop", "legacy-id", 100u, c), V::ok);
  // A generous account limit does not lift the per-token one.
  CallSlot d;
  EXPECT_EQ(l.try_acquire("shop", "legacy-id", 100u, d), V::ok);
  EXPECT_EQ(l.try_acquire("shop", "legacy-id", 100u, d), V::token_full);
}

TEST(CallLimiter, EachShardAdmitsItsShare) {
  // calls=4 over 2 shards: each shard admits 2, so the edge holds at most 4.
  CallLimiter s0(CallLimitConfig{.max_calls_per_token = 0, .shards = 2});
  CallLimiter s1(CallLimitConfig{.max_calls_per_token = 0, .shards = 2});
  std::vector<CallSlot> slots(6);
  int admitted = 0;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    CallLimiter& shard = i % 2 == 0 ? s0 : s1;
    if (shard.try_acquire("shop", "alice", 4u, slots[i]) == V::ok) ++admitted;
  }
  EXPECT_EQ(admitted, 4);
}

TEST(CallLimiter, ForgetsIdleAccountsAndTokens) {
  CallLimiter l(CallLimitConfig{.max_calls_per_token = 5, .shards = 1});
  std::vector<CallSlot> slots(100);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    ASSERT_EQ(l.try_acquire("acct" + std::to_string(i), "u", 1u, slots[i]), V::ok);
  }
  EXPECT_EQ(l.tracked(), 200u);
  for (auto& s : slots) l.release(s);
  EXPECT_EQ(l.tracked(), 0u);  // memory follows the calls in progress, not every account ever seen
}

}  // namespace
}  // namespace webtrunk::edge

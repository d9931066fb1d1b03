// Stateless nonces: ok, stale (MAC right, too old) and invalid, on a fake clock.
#include "auth/nonce.hpp"

#include <gtest/gtest.h>

#include <set>

namespace webtrunk::auth {
namespace {

constexpr std::int64_t kT = 1767220000;
const std::array<std::uint8_t, 32> kKey = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                           17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

TEST(Nonce, FreshIsOkUntilMaxAgeThenStale) {
  const NonceKey k(kKey, 300);
  const std::string n = k.issue(kT, "flow-7");
  EXPECT_EQ(n.size(), kNonceTextSize);
  EXPECT_EQ(n.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
  EXPECT_EQ(k.check(kT, n, "flow-7"), NonceStatus::ok);
  EXPECT_EQ(k.check(kT + 300, n, "flow-7"), NonceStatus::ok);
  EXPECT_EQ(k.check(kT + 301, n, "flow-7"), NonceStatus::stale);
  EXPECT_EQ(k.check(kT + 86400, n, "flow-7"), NonceStatus::stale);
}

TEST(Nonce, BoundToTheFlow) {
  const NonceKey k(kKey);
  const std::string n = k.issue(kT, "flow-7");
  EXPECT_EQ(k.check(kT, n, "flow-8"), NonceStatus::invalid);
  EXPECT_EQ(k.check(kT, n), NonceStatus::invalid);
  const std::string unbound = k.issue(kT);
  EXPECT_EQ(k.check(kT, unbound), NonceStatus::ok);
}

TEST(Nonce, TamperedOrForeignIsInvalid) {
  const NonceKey k(kKey);
  const std::array<std::uint8_t, kNonceRandomSize> r{};
  const std::string n = k.issue(kT, "", r);
  for (std::size_t i = 0; i < n.size(); ++i) {
    std::string bad = n;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_EQ(k.check(kT, bad), NonceStatus::invalid) << i;
  }
  EXPECT_EQ(k.check(kT, ""), NonceStatus::invalid);
  EXPECT_EQ(k.check(kT, n.substr(1)), NonceStatus::invalid);
  EXPECT_EQ(k.check(kT, n + "A"), NonceStatus::invalid);
  EXPECT_EQ(k.check(kT, "5f2b0c7e00000000abcdef"), NonceStatus::invalid);  // someone else's nonce
  // Another process (another key) issued it, e.g. before a restart.
  auto other_key = kKey;
  other_key[0] ^= 1;
  EXPECT_EQ(NonceKey(other_key).check(kT, n), NonceStatus::invalid);
  EXPECT_EQ(NonceKey::generate().check(kT, n), NonceStatus::invalid);
}

TEST(Nonce, FromTheFutureIsInvalid) {
  const NonceKey k(kKey);
  const std::string n = k.issue(kT + 60);
  EXPECT_EQ(k.check(kT, n), NonceStatus::invalid);
  EXPECT_EQ(k.check(kT + 60 - kNonceFutureSlack, n), NonceStatus::ok);  // a small step back is fine
}

TEST(Nonce, Deterministic) {
  const NonceKey k(kKey);
  const std::array<std::uint8_t, kNonceRandomSize> r{9, 9, 9};
  EXPECT_EQ(k.issue(kT, "b", r), k.issue(kT, "b", r));
  EXPECT_NE(k.issue(kT, "b", r), k.issue(kT + 1, "b", r));
}

TEST(Nonce, RandomPartMakesThemUnique) {
  const NonceKey k = NonceKey::generate();
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(k.issue(kT));
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace webtrunk::auth

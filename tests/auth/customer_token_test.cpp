// The customer token (chain of trust step 1) against auth.md §6 "Two-step chain example", and the
// replay cache that makes it single-use.
#include "auth/customer_token.hpp"

#include <gtest/gtest.h>

#include "auth/replay_cache.hpp"

namespace webtrunk::auth {
namespace {

constexpr std::int64_t kIssued = 1700000000;

CustomerToken acme(std::string key) { return CustomerToken{"acme", "acme", 1700000300, std::move(key)}; }

TEST(CustomerToken, VoxboneServletVector) {
  const auto t = mint_customer_token("", "acme", "cust-s3cr3t", kIssued, 300, HmacAlgo::sha1);
  EXPECT_EQ(t.account, "acme");
  EXPECT_EQ(t.expires, 1700000300);
  EXPECT_EQ(t.key, "/se+dfqxK+HsCpgEGNtlnOerokw=");
  EXPECT_EQ(voxbone_config_json(t), R"({"key":"/se+dfqxK+HsCpgEGNtlnOerokw=","expires":1700000300,"username":"acme"})");
  EXPECT_EQ(voxbone_config_script(t),
            R"(var voxrtc_config = {"key":"/se+dfqxK+HsCpgEGNtlnOerokw=","expires":1700000300,"username":"acme"};)");
  EXPECT_EQ(voxbone_config_script(t, "x;alert(1)//").rfind("var voxrtc_config = ", 0), 0u);  // no injection
  EXPECT_EQ(customer_token_json(t),
            R"({"account":"acme","username":"acme","expires":1700000300,"key":"/se+dfqxK+HsCpgEGNtlnOerokw="})");
}

TEST(CustomerToken, VerifiesSha1AndSha256ByLength) {
  EXPECT_EQ(verify_customer_token(acme("/se+dfqxK+HsCpgEGNtlnOerokw="), "cust-s3cr3t", kIssued),
            CustomerTokenError::none);
  const auto t256 = mint_customer_token("acct-9", "acme", "cust-s3cr3t", kIssued);
  EXPECT_EQ(t256.key.size(), 44u);
  EXPECT_EQ(verify_customer_token(t256, "cust-s3cr3t", kIssued), CustomerTokenError::none);
  EXPECT_EQ(verify_customer_token(t256, "other-secret", kIssued), CustomerTokenError::bad_key);
}

// auth.md §5.3: url-encoded then decoded, form-mangled ('+' -> ' '), url-safe, unpadded.
TEST(CustomerToken, LenientKeySpellings) {
  for (const char* k : {"/se+dfqxK+HsCpgEGNtlnOerokw=", "/se dfqxK HsCpgEGNtlnOerokw=", "_se-dfqxK-HsCpgEGNtlnOerokw",
                        "/se+dfqxK+HsCpgEGNtlnOerokw"}) {
    EXPECT_EQ(verify_customer_token(acme(k), "cust-s3cr3t", kIssued), CustomerTokenError::none) << k;
  }
  // Still percent-encoded: not base64.
  EXPECT_EQ(verify_customer_token(acme("%2Fse%2BdfqxK%2BHsCpgEGNtlnOerokw%3D"), "cust-s3cr3t", kIssued),
            CustomerTokenError::malformed);
  EXPECT_EQ(verify_customer_token(acme("/se+dfqxK+HsCpgEGNtlnOerokw=="), "cust-s3cr3t", kIssued),
            CustomerTokenError::malformed);
  EXPECT_EQ(verify_customer_token(acme("/se+dfqxK+HsCpgEGNtlnOerok"), "cust-s3cr3t", kIssued),
            CustomerTokenError::bad_key);  // 19 bytes: neither SHA-1 nor SHA-256
}

TEST(CustomerToken, TamperedFieldsFail) {
  auto t = acme("/se+dfqxK+HsCpgEGNtlnOerokw=");
  t.username = "acmf";
  EXPECT_EQ(verify_customer_token(t, "cust-s3cr3t", kIssued), CustomerTokenError::bad_key);
  t = acme("/se+dfqxK+HsCpgEGNtlnOerokw=");
  t.expires += 1;
  EXPECT_EQ(verify_customer_token(t, "cust-s3cr3t", kIssued), CustomerTokenError::bad_key);
  t = acme("/se+dfqxK+HsCpgEGNtlnOerokw=");
  t.username = "";
  EXPECT_EQ(verify_customer_token(t, "cust-s3cr3t", kIssued), CustomerTokenError::malformed);
  t.username = "a\nb";
  EXPECT_EQ(verify_customer_token(t, "cust-s3cr3t", kIssued), CustomerTokenError::malformed);
}

TEST(CustomerToken, ExpiryAndLifetime) {
  const auto t = acme("/se+dfqxK+HsCpgEGNtlnOerokw=");
  CustomerTokenPolicy p;
  p.skew_s = 30;
  p.max_lifetime_s = 600;
  EXPECT_EQ(verify_customer_token(t, "cust-s3cr3t", 1700000330, p), CustomerTokenError::none);
  EXPECT_EQ(verify_customer_token(t, "cust-s3cr3t", 1700000331, p), CustomerTokenError::expired);
  EXPECT_EQ(reason_phrase(CustomerTokenError::expired), "Token expired");
  // A customer clock running 20 minutes fast mints a token that looks 25 minutes long.
  const auto fast = mint_customer_token("", "acme", "cust-s3cr3t", kIssued + 1200, 300);
  EXPECT_EQ(verify_customer_token(fast, "cust-s3cr3t", kIssued, p), CustomerTokenError::lifetime_too_long);
  EXPECT_EQ(verify_customer_token(mint_customer_token("", "acme", "cust-s3cr3t", kIssued + 300 - 30, 300),
                                  "cust-s3cr3t", kIssued, p),
            CustomerTokenError::none);
}

TEST(CustomerToken, IdIgnoresKeySpelling) {
  const auto a = customer_token_id(acme("/se+dfqxK+HsCpgEGNtlnOerokw="));
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a, customer_token_id(acme("_se-dfqxK-HsCpgEGNtlnOerokw")));
  EXPECT_EQ(a, customer_token_id(acme("/se dfqxK HsCpgEGNtlnOerokw=")));
  auto other = acme("/se+dfqxK+HsCpgEGNtlnOerokw=");
  other.account = "acme2";
  EXPECT_NE(a, customer_token_id(other));
  EXPECT_EQ(customer_token_id(acme("!!")), "");
}

TEST(ReplayCache, SecondUseIsRefusedUntilExpiry) {
  ReplayCache rc(10);
  const auto id = customer_token_id(acme("/se+dfqxK+HsCpgEGNtlnOerokw="));
  EXPECT_EQ(rc.check_and_insert(kIssued, id, 1700000330), ReplayResult::fresh);
  EXPECT_EQ(rc.check_and_insert(kIssued + 10, id, 1700000330), ReplayResult::replayed);
  EXPECT_EQ(reason_phrase(ReplayResult::replayed), "Token already used");
  EXPECT_EQ(rc.check_and_insert(1700000330, id, 1700000330), ReplayResult::replayed);  // last second
  // After remember_until the token cannot verify anyway; the entry is gone.
  EXPECT_EQ(rc.check_and_insert(1700000331, "something else", 1700000900), ReplayResult::fresh);
  EXPECT_EQ(rc.size(), 1u);
}

TEST(ReplayCache, BoundedFailsClosedAndRecovers) {
  ReplayCache rc(3);
  EXPECT_EQ(rc.check_and_insert(100, "a", 200), ReplayResult::fresh);
  EXPECT_EQ(rc.check_and_insert(100, "b", 150), ReplayResult::fresh);
  EXPECT_EQ(rc.check_and_insert(100, "c", 300), ReplayResult::fresh);
  EXPECT_EQ(rc.check_and_insert(100, "d", 300), ReplayResult::full);  // no eviction of live entries
  EXPECT_EQ(rc.size(), 3u);
  EXPECT_EQ(rc.check_and_insert(100, "a", 200), ReplayResult::replayed);  // still refused when full
  EXPECT_EQ(rc.check_and_insert(151, "d", 300), ReplayResult::fresh);     // "b" aged out
  EXPECT_EQ(rc.check_and_insert(151, "b", 150), ReplayResult::fresh);     // past its time: not kept
  EXPECT_EQ(rc.size(), 3u);
  rc.purge(1000);
  EXPECT_EQ(rc.size(), 0u);
}

TEST(ReplayCache, ManyEntriesStayBounded) {
  ReplayCache rc(1000);
  int full = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::int64_t now = 1000 + i / 10;  // 10 tokens a second, each remembered 60 s
    if (rc.check_and_insert(now, std::to_string(i), now + 60) == ReplayResult::full) ++full;
    EXPECT_LE(rc.size(), 1000u);
  }
  EXPECT_EQ(full, 0);  // 10/s x 61 s fits in 1000
}

}  // namespace
}  // namespace webtrunk::auth

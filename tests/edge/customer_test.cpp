// The customer side: `webtrunk mint` / `webtrunk servlet` options and the tokens they mint, checked
// with the auth library's verifier (what the auth service runs).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "auth/customer_token.hpp"
#include "edge/customer_servlet.hpp"
#include "edge/commands.hpp"

namespace webtrunk::edge {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef";

class CustomerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("webtrunk-customer-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    const auto p = dir_ / name;
    std::ofstream(p) << content;
    return p.string();
  }
  static core::Result<MinterOptions> parse(std::vector<std::string> args) {
    auto v = mint_flags().parse(args);
    if (!v) return v.error();
    return minter_options_from(*v);
  }

  std::filesystem::path dir_;
};

TEST_F(CustomerTest, MintedTokenVerifiesWithTheSecretAndNotAnother) {
  const auto file = write("secret", "# the customer secret\n" + kSecret + "\n");
  auto o = parse({"--account", "shop", "--secret-file", file, "--username", "alice", "--ttl", "120"});
  ASSERT_TRUE(o) << o.error().message;
  const auth::CustomerToken t = mint(*o, kNow);
  EXPECT_EQ(t.account, "shop");
  EXPECT_EQ(t.username, "alice");
  EXPECT_EQ(t.expires, kNow + 120);
  EXPECT_EQ(t.key.size(), 44u);  // base64 of HMAC-SHA256
  EXPECT_EQ(auth::verify_customer_token(t, kSecret, kNow), auth::CustomerTokenError::none);
  EXPECT_EQ(auth::verify_customer_token(t, "another-secret-another-secret!!", kNow),
            auth::CustomerTokenError::bad_key);
  EXPECT_EQ(auth::verify_customer_token(t, kSecret, kNow + 120 + 31), auth::CustomerTokenError::expired);
  EXPECT_EQ(auth::customer_token_json(t),
            "{\"account\":\"shop\",\"username\":\"alice\",\"expires\":1800000120,\"key\":\"" + t.key + "\"}");
}

TEST_F(CustomerTest, Sha1IsVoxboneShapedAndKidIsIgnored) {
  const auto file = write("secret", "k1:" + kSecret + "\n");
  auto o = parse({"--account", "shop", "--secret-file", file, "--algorithm", "sha1"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->secret, kSecret);
  EXPECT_EQ(o->username, "web");
  EXPECT_EQ(o->ttl, 300);
  const auth::CustomerToken t = mint(*o, kNow);
  EXPECT_EQ(t.key.size(), 28u);  // base64 of HMAC-SHA1
  EXPECT_EQ(auth::verify_customer_token(t, kSecret, kNow), auth::CustomerTokenError::none);
}

TEST_F(CustomerTest, BadFlagsAreUsageErrorsThatNameTheFlag) {
  const auto file = write("secret", kSecret + "\n");
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {{"--secret-file", file}, "--account"},
      {{"--account", "shop"}, "--secret-file"},
      {{"--account", "sh op", "--secret-file", file}, "--account"},
      {{"--account", "shop", "--secret-file", file, "--username", "a;b"}, "--username"},
      {{"--account", "shop", "--secret-file", file, "--ttl", "0"}, "--ttl"},
      {{"--account", "shop", "--secret-file", file, "--ttl", "601"}, "--ttl"},
      {{"--account", "shop", "--secret-file", file, "--ttl", "ten"}, "--ttl"},
      {{"--account", "shop", "--secret-file", file, "--algorithm", "md5"}, "--algorithm"},
  };
  for (const auto& c : cases) {
    auto o = parse(c.args);
    ASSERT_FALSE(o) << c.flag;
    EXPECT_EQ(o.error().code, kUsageError) << o.error().message;
    EXPECT_NE(o.error().message.find(c.flag), std::string::npos) << o.error().message;
  }
}

TEST_F(CustomerTest, SecretFileProblemsAreRuntimeErrorsThatNeverQuoteTheSecret) {
  auto missing = parse({"--account", "shop", "--secret-file", (dir_ / "none").string()});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().code, kUsageError);
  EXPECT_NE(missing.error().message.find("--secret-file"), std::string::npos);

  const auto short_file = write("short", "tooshort\n");
  auto too_short = parse({"--account", "shop", "--secret-file", short_file});
  ASSERT_FALSE(too_short);
  EXPECT_EQ(too_short.error().message.find("tooshort"), std::string::npos) << too_short.error().message;

  const auto empty = write("empty", "# nothing here\n\n");
  EXPECT_FALSE(parse({"--account", "shop", "--secret-file", empty}));
}

}  // namespace
}  // namespace webtrunk::edge

// The SQLite account store: validation of the admin JSON, persistence across reopen, another
// process's writes seen by refresh(), file mode, and secrets never in the public JSON.
#include "auth/account_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace webtrunk::auth {
namespace {

constexpr const char* kDoc =
    R"({"secrets":[{"kid":"k1","secret":"cust-secret-0123456789"},{"kid":"k0","secret":"old-secret-abcdefghij"}],)"
    R"("origins":["https://shop.example","http://localhost:8000"],"numbers":["+15551230000","1555124*"],)"
    R"("limits":{"max_call_seconds":3600,"tokens_per_minute":60,"max_calls":25}})";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/webtrunk-store-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

TEST(Account, ParsesTheAdminDocument) {
  auto a = account_from_json("shop", kDoc);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->id, "shop");
  ASSERT_EQ(a->secrets.size(), 2u);
  EXPECT_EQ(a->secrets[0].kid, "k1");
  EXPECT_TRUE(a->allows_origin("https://shop.example"));
  EXPECT_FALSE(a->allows_origin("https://shop.example.evil"));
  EXPECT_FALSE(a->allows_origin("https://SHOP.example"));
  EXPECT_EQ(a->limits.max_call_seconds, 3600u);
  EXPECT_EQ(a->limits.tokens_per_minute, 60u);
  const MintClaims c = a->claims();
  EXPECT_EQ(c.account, "shop");
  EXPECT_EQ(c.numbers, (std::vector<std::string>{"+15551230000", "1555124*"}));
  EXPECT_EQ(c.max_duration_s, 3600u);
  EXPECT_EQ(a->limits.max_calls, 25u);
  EXPECT_EQ(c.max_calls, 25u);
  // Defaults: no call length limit, kDefaultMaxCalls concurrent calls, 600 tokens a minute, and
  // "*" as an origin allows any page.
  auto b = account_from_json("b", R"({"secrets":[{"kid":"k","secret":"0123456789abcdef"}],"numbers":["*"],"origins":["*"]})");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_FALSE(b->limits.max_call_seconds);
  EXPECT_EQ(b->limits.tokens_per_minute, kDefaultTokensPerMinute);
  EXPECT_EQ(b->limits.max_calls, kDefaultMaxCalls);
  EXPECT_EQ(b->claims().max_calls, kDefaultMaxCalls);  // every customer token carries calls=
  EXPECT_TRUE(b->allows_origin("https://anything.example"));
}

TEST(Account, RefusesWhatCouldNotBeMintedAndNamesTheField) {
  const std::string ok_secret = R"("secrets":[{"kid":"k1","secret":"0123456789abcdef"}])";
  const struct {
    std::string id, doc, says;
  } cases[] = {
      {"shop", "not json", "not valid JSON"},
      {"shop", "[]", "JSON object"},
      {"bad id!", "{" + ok_secret + R"(,"numbers":["*"]})", "account id"},
      {"shop", R"({"numbers":["*"]})", "secrets: required"},
      {"shop", "{" + ok_secret + "}", "numbers: required"},
      {"shop", "{" + ok_secret + R"(,"numbers":[]})", "numbers: required"},
      {"shop", R"({"secrets":[{"kid":"k1","secret":"short"}],"numbers":["*"]})", "secrets[0].secret: 16 to 256 bytes"},
      {"shop", R"({"secrets":[{"kid":"bad kid","secret":"0123456789abcdef"}],"numbers":["*"]})", "secrets[0].kid"},
      {"shop", R"({"secrets":[{"kid":"a","secret":"0123456789abcdef"},{"kid":"a","secret":"0123456789abcdefg"}],"numbers":["*"]})",
       "appears twice"},
      {"shop", R"({"secrets":[{"kid":"a","secret":"0123456789abcdef","x":1}],"numbers":["*"]})", "unknown field \"x\""},
      {"shop", "{" + ok_secret + R"(,"numbers":["+1555abc"]})", "numbers[0]"},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"origins":["https://shop.example/"]})", "origins[0]"},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"origins":["shop.example"]})", "origins[0]"},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"limits":{"max_call_seconds":0}})", "max_call_seconds"},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"limits":{"tokens_per_minute":"9"}})", "tokens_per_minute"},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"limits":{"max_calls":0}})", "limits.max_calls"},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"limits":{"max_calls":2147483648}})", "limits.max_calls"},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"limits":{"max_calls":null}})", "limits.max_calls"},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"limits":{"max_call":1}})", "unknown field \"max_call\""},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"secret":"x"})", "unknown field \"secret\""},
      {"shop", "{" + ok_secret + R"(,"numbers":["*"],"id":"other"})", "id: must match"},
  };
  for (const auto& c : cases) {
    auto a = account_from_json(c.id, c.doc);
    ASSERT_FALSE(a) << c.doc;
    EXPECT_NE(a.error().message.find(c.says), std::string::npos) << c.doc << " -> " << a.error().message;
    EXPECT_EQ(a.error().message.find("0123456789abcdef"), std::string::npos) << "a secret was quoted back";
  }
}

TEST(Account, PublicJsonHasKidsAndFingerprintsNeverSecrets) {
  auto a = account_from_json("shop", kDoc);
  ASSERT_TRUE(a);
  const std::string pub = public_json(*a);
  EXPECT_EQ(pub.find("cust-secret-0123456789"), std::string::npos) << pub;
  EXPECT_EQ(pub.find("old-secret-abcdefghij"), std::string::npos) << pub;
  EXPECT_NE(pub.find(R"("kid":"k1")"), std::string::npos) << pub;
  EXPECT_NE(pub.find(secret_fingerprint("cust-secret-0123456789")), std::string::npos) << pub;
  // The stored form round-trips.
  auto back = account_from_json("shop", stored_json(*a));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->secrets[1].key, "old-secret-abcdefghij");
  EXPECT_EQ(back->origins, a->origins);
  EXPECT_EQ(back->limits.max_call_seconds, a->limits.max_call_seconds);
  EXPECT_EQ(back->limits.max_calls, 25u);
  EXPECT_NE(pub.find(R"("max_calls":25)"), std::string::npos) << pub;
}

TEST(AccountStore, PersistsAcrossReopenAndIsPrivate) {
  TempDir dir;
  const std::string path = dir.file("accounts.db");
  {
    auto st = AccountStore::open(path);
    ASSERT_TRUE(st) << st.error().message;
    auto a = account_from_json("shop", kDoc);
    auto created = (*st)->put(*a);
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_TRUE(*created);
    auto again = (*st)->put(*a);
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again);
    ASSERT_TRUE((*st)->put(account_from_json("gone", kDoc).value()));
    auto removed = (*st)->remove("gone");
    ASSERT_TRUE(removed);
    EXPECT_TRUE(*removed);
    EXPECT_FALSE((*st)->remove("gone").value());
  }
  struct stat sb {};
  ASSERT_EQ(::stat(path.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u) << "the file holds customer secrets";
  auto st = AccountStore::open(path);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ((*st)->ids(), std::vector<std::string>{"shop"});
  const Account* a = (*st)->find("shop");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->secrets[0].key, "cust-secret-0123456789");
  EXPECT_EQ(a->numbers[1], "1555124*");
  EXPECT_EQ((*st)->find("gone"), nullptr);
}

TEST(AccountStore, SeesAnotherConnectionsWritesOnRefresh) {
  TempDir dir;
  const std::string path = dir.file("shared.db");
  auto service = AccountStore::open(path);
  auto cli = AccountStore::open(path);
  ASSERT_TRUE(service && cli);
  ASSERT_TRUE((*cli)->put(account_from_json("new", kDoc).value()));
  EXPECT_EQ((*service)->find("new"), nullptr) << "not reloaded yet";
  ASSERT_TRUE((*service)->refresh());
  EXPECT_NE((*service)->find("new"), nullptr);
  EXPECT_TRUE((*service)->any_allows_origin("http://localhost:8000"));
  ASSERT_TRUE((*cli)->remove("new"));
  ASSERT_TRUE((*service)->refresh());
  EXPECT_EQ((*service)->find("new"), nullptr);
  EXPECT_FALSE((*service)->any_allows_origin("http://localhost:8000"));
}

TEST(AccountStore, UnopenablePathSaysWhy) {
  auto st = AccountStore::open("/nonexistent-dir/x/accounts.db");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("/nonexistent-dir/x/accounts.db"), std::string::npos) << st.error().message;
}

}  // namespace
}  // namespace webtrunk::auth

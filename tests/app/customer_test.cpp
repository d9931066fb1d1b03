// The customer side: `webtrunk mint` / `webtrunk servlet` options and the tokens they mint, checked
// with the auth library's verifier (what the auth service runs).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "app/commands.hpp"
#include "app/customer_servlet.hpp"
#include "auth/customer_token.hpp"

namespace webtrunk::app {
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

// ---- the servlet, sans-IO ----

struct Req {
  std::string method = "GET";
  std::string path = "/token";
  std::string query;
  std::vector<core::HttpHeader> headers;

  core::HttpRequest view() const {
    core::HttpRequest r;
    r.method = method;
    r.path = path;
    r.query = query;
    r.target = path;
    r.headers = headers;
    return r;
  }
};

class ServletTest : public CustomerTest {
 protected:
  CustomerServlet make(std::vector<std::string> origins, std::string static_dir = {}) {
    const auto file = write("secret", kSecret + "\n");
    auto v = servlet_flags().parse({"--account", "shop", "--secret-file", file});
    auto o = minter_options_from(*v, true);
    EXPECT_TRUE(o);
    ServletConfig cfg{*o, std::move(origins), std::move(static_dir)};
    CustomerServlet s(std::move(cfg));
    s.set_own_origin("http://127.0.0.1:8081");
    return s;
  }
  static const std::string* header(const core::HttpResponse& r, std::string_view name) { return r.find(name); }
  static nlohmann::json body(const core::HttpResponse& r) { return nlohmann::json::parse(r.body); }
};

TEST_F(ServletTest, TokenForAnAllowedOriginCarriesCorsAndVerifies) {
  const CustomerServlet s = make({"https://shop.example"});
  Req req{"POST", "/token", "", {{"Origin", "https://shop.example"}}};
  const core::HttpResponse r = s.handle(req.view(), kNow);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_NE(header(r, "Access-Control-Allow-Origin"), nullptr);
  EXPECT_EQ(*header(r, "Access-Control-Allow-Origin"), "https://shop.example");
  EXPECT_EQ(*header(r, "Vary"), "Origin");
  EXPECT_EQ(*header(r, "Cache-Control"), "no-store");
  const auto j = body(r);
  auth::CustomerToken t{j.at("account"), j.at("username"), j.at("expires"), j.at("key")};
  EXPECT_EQ(t.account, "shop");
  EXPECT_TRUE(t.username.starts_with("web.")) << t.username;
  EXPECT_EQ(t.username.size(), 12u);
  EXPECT_EQ(t.expires, kNow + 300);
  EXPECT_EQ(auth::verify_customer_token(t, kSecret, kNow), auth::CustomerTokenError::none);
}

TEST_F(ServletTest, TwoTokensInOneSecondDiffer) {
  // The auth service takes each token once: two page loads in one second must not get one token.
  const CustomerServlet s = make({});
  const auto a = body(s.handle(Req{}.view(), kNow));
  const auto b = body(s.handle(Req{}.view(), kNow));
  EXPECT_NE(a.at("username"), b.at("username"));
  EXPECT_NE(a.at("key"), b.at("key"));
}

TEST_F(ServletTest, OtherOriginsAreRefusedWithAReasonAndNoCors) {
  const CustomerServlet s = make({"https://shop.example"});
  for (const std::string method : {"GET", "POST"}) {
    Req req{method, "/token", "", {{"Origin", "https://evil.example"}}};
    const core::HttpResponse r = s.handle(req.view(), kNow);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(header(r, "Access-Control-Allow-Origin"), nullptr);
    EXPECT_EQ(body(r).at("error"), "origin_not_allowed");
    EXPECT_FALSE(std::string(body(r).at("reason")).empty());
  }
  Req pre{"OPTIONS", "/token", "", {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}}};
  EXPECT_EQ(s.handle(pre.view(), kNow).status, 403);
  Req pre_ok{"OPTIONS", "/token", "", {{"Origin", "https://shop.example"}, {"Access-Control-Request-Method", "POST"}}};
  const core::HttpResponse ok = s.handle(pre_ok.view(), kNow);
  EXPECT_EQ(ok.status, 204);
  EXPECT_EQ(*header(ok, "Access-Control-Allow-Origin"), "https://shop.example");
}

TEST_F(ServletTest, SameOriginPagesAndNonBrowserClientsAreServed) {
  const CustomerServlet s = make({});
  Req fetch_site{"POST", "/token", "", {{"Origin", "http://localhost:8081"}, {"Sec-Fetch-Site", "same-origin"}}};
  EXPECT_EQ(s.handle(fetch_site.view(), kNow).status, 200);
  Req own{"POST", "/token", "", {{"Origin", "http://127.0.0.1:8081"}}};
  EXPECT_EQ(s.handle(own.view(), kNow).status, 200);
  Req cross_site{"POST", "/token", "", {{"Origin", "http://localhost:9999"}, {"Sec-Fetch-Site", "cross-site"}}};
  EXPECT_EQ(s.handle(cross_site.view(), kNow).status, 403);
  EXPECT_EQ(s.handle(Req{}.view(), kNow).status, 200);  // curl: no Origin
}

TEST_F(ServletTest, VoxboneShapeOnRequest) {
  const CustomerServlet s = make({});
  Req req{"GET", "/token", "format=voxbone", {}};
  const auto j = body(s.handle(req.view(), kNow));
  EXPECT_FALSE(j.contains("account"));
  EXPECT_TRUE(j.contains("key") && j.contains("expires") && j.contains("username"));
}

TEST_F(ServletTest, StaticFilesStayInsideTheDirectory) {
  const auto site = dir_ / "site";
  std::filesystem::create_directories(site / "dist");
  std::ofstream(site / "index.html") << "<h1>shop</h1>";
  std::ofstream(site / "dist" / "app.js") << "let x = 1;";
  std::ofstream(site / ".hidden") << "no";
  const CustomerServlet s = make({}, site.string());
  Req index{"GET", "/", "", {}};
  const core::HttpResponse r = s.handle(index.view(), kNow);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>shop</h1>");
  EXPECT_EQ(*header(r, "Content-Type"), "text/html; charset=utf-8");
  Req js{"GET", "/dist/app.js", "", {}};
  const core::HttpResponse j = s.handle(js.view(), kNow);
  EXPECT_EQ(j.status, 200);
  EXPECT_EQ(*header(j, "Content-Type"), "text/javascript; charset=utf-8");
  for (const std::string bad : {"/../secret", "/.hidden", "/dist/../../secret", "//etc/passwd", "/%2e%2e/secret",
                                "/nope.html", "/dist"}) {
    Req req{"GET", bad, "", {}};
    EXPECT_EQ(s.handle(req.view(), kNow).status, 404) << bad;
  }
  Req put{"PUT", "/index.html", "", {}};
  EXPECT_EQ(s.handle(put.view(), kNow).status, 404);
  Req token_put{"PUT", "/token", "", {}};
  EXPECT_EQ(s.handle(token_put.view(), kNow).status, 405);
  Req health{"GET", "/healthz", "", {}};
  EXPECT_EQ(s.handle(health.view(), kNow).status, 200);
  EXPECT_FALSE(check_static_dir((dir_ / "none").string()));
  EXPECT_TRUE(check_static_dir(site.string()));
}

TEST_F(ServletTest, SymlinksOutOfTheDirectoryAre404) {
  const auto site = dir_ / "site";
  const auto outside = dir_ / "private";
  std::filesystem::create_directories(site / "dist");
  std::filesystem::create_directories(outside);
  std::ofstream(site / "index.html") << "<h1>shop</h1>";
  std::ofstream(site / "dist" / "app.js") << "let x = 1;";
  std::ofstream(outside / "secret.txt") << "customer-secret-do-not-serve";
  // Links out of the root, absolute and relative, to a file and to a directory.
  std::filesystem::create_symlink(outside / "secret.txt", site / "abs.txt");
  std::filesystem::create_symlink("../private/secret.txt", site / "rel.txt");
  std::filesystem::create_directory_symlink(outside, site / "private");
  std::filesystem::create_symlink("/etc/passwd", site / "passwd.txt");
  // A link that stays inside is served.
  std::filesystem::create_symlink("dist/app.js", site / "app.js");
  const CustomerServlet s = make({}, site.string());
  const auto before = kServletOutsideRootTotal.total();
  for (const std::string bad : {"/abs.txt", "/rel.txt", "/private/secret.txt", "/passwd.txt"}) {
    Req req{"GET", bad, "", {}};
    const core::HttpResponse r = s.handle(req.view(), kNow);
    EXPECT_EQ(r.status, 404) << bad;
    EXPECT_EQ(r.body.find("customer-secret"), std::string::npos) << bad;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << bad;
  }
  EXPECT_EQ(kServletOutsideRootTotal.total() - before, 4);
  Req inside{"GET", "/app.js", "", {}};
  const core::HttpResponse ok = s.handle(inside.view(), kNow);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "let x = 1;");
}

TEST(Origin, Syntax) {
  EXPECT_TRUE(valid_origin("https://shop.example"));
  EXPECT_TRUE(valid_origin("http://127.0.0.1:8081"));
  EXPECT_TRUE(valid_origin("http://[::1]:80"));
  EXPECT_FALSE(valid_origin("https://shop.example/"));
  EXPECT_FALSE(valid_origin("shop.example"));
  EXPECT_FALSE(valid_origin("ftp://shop.example"));
  EXPECT_FALSE(valid_origin("https://"));
  EXPECT_FALSE(valid_origin("*"));
}

}  // namespace
}  // namespace webtrunk::app

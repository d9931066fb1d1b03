// The TLS flags of edge/auth/servlet: what they load, and the errors a user can act on.
#include "app/tls_flags.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/core/tls_test_support.hpp"

namespace webtrunk::app {
namespace {

using core::test::TempDir;

FlagValues parse(const std::vector<std::string>& args) {
  FlagSet f("test", "test");
  add_tls_flags(f);
  auto v = f.parse(args);
  EXPECT_TRUE(v) << (v ? "" : v.error().message);
  return v ? *v : FlagValues{};
}

TEST(TlsFlags, NoCertificateMeansNoTls) {
  auto c = tls_server_config_from(parse({}), nullptr);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->has_value());
  EXPECT_FALSE(tls_server_config_from(parse({"--tls-key", "k.pem"}), nullptr));
}

TEST(TlsFlags, DirectoryOfPairsLoadsEveryNameInOrder) {
  TempDir dir;
  for (const char* n : {"b", "a"}) {
    const auto pem = core::test::make_cert({std::string(n) + ".edge.test"});
    dir.file(std::string(n) + ".crt", pem.cert);
    dir.file(std::string(n) + ".key", pem.key);
  }
  auto c = tls_server_config_from(parse({"--tls-cert", dir.path()}), core::TlsTicketKeys::create());
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->has_value());
  TlsReloader r(**c);
  auto ctx = r.load();
  ASSERT_TRUE(ctx) << ctx.error().message;
  ASSERT_EQ((*ctx)->certificates().size(), 2u);
  EXPECT_EQ((*ctx)->certificates()[0].names, std::vector<std::string>{"a.edge.test"});
  EXPECT_EQ(r.reload(false), nullptr);  // nothing changed
}

TEST(TlsFlags, ErrorsNameTheFlagAndFile) {
  TempDir dir;
  const auto a = core::test::make_cert({"a.edge.test"});
  const auto b = core::test::make_cert({"b.edge.test"});
  const std::string crt = dir.file("a.crt", a.cert);
  const std::string wrong_key = dir.file("b.key", b.key);
  dir.file("lonely.crt", a.cert);
  auto missing = tls_server_config_from(parse({"--tls-cert", dir.path()}), nullptr);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(".crt has no "), std::string::npos) << missing.error().message;
  EXPECT_EQ(missing.error().message.rfind("--tls-cert ", 0), 0u) << missing.error().message;
  auto c = tls_server_config_from(parse({"--tls-cert", crt, "--tls-key", wrong_key}), nullptr);
  ASSERT_TRUE(c);
  auto ctx = TlsReloader(**c).load();
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find("--tls-cert/--tls-key"), std::string::npos) << ctx.error().message;
  EXPECT_NE(ctx.error().message.find("does not match"), std::string::npos) << ctx.error().message;
}

TEST(TlsFlags, ABadReplacementKeepsTheOldContext) {
  TempDir dir;
  const auto a = core::test::make_cert({"a.edge.test"});
  const std::string crt = dir.file("a.crt", a.cert);
  const std::string key = dir.file("a.key", a.key);
  auto c = tls_server_config_from(parse({"--tls-cert", crt, "--tls-key", key}), nullptr);
  ASSERT_TRUE(c);
  TlsReloader r(**c);
  ASSERT_TRUE(r.load());
  const auto before = core::kTlsLoadErrorsTotal.total();
  dir.file("a.key", "not a key");
  EXPECT_EQ(r.reload(true), nullptr);
  EXPECT_EQ(core::kTlsLoadErrorsTotal.total(), before + 1);
  const auto fresh = core::test::make_cert({"a.edge.test"});
  dir.file("a.crt", fresh.cert);
  dir.file("a.key", fresh.key);
  EXPECT_NE(r.reload(true), nullptr);
}

}  // namespace
}  // namespace webtrunk::app

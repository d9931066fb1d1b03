// TlsContext loading: every error a user can act on has its own code, reason and message.
#include "core/tls_context.hpp"

#include <gtest/gtest.h>

#include <set>

#include "tests/core/tls_test_support.hpp"

namespace webtrunk::core {
namespace {

using test::TempDir;

class TlsContextTest : public ::testing::Test {
 protected:
  TempDir dir;
  TlsPem good = test::make_cert({"edge.example"});

  // Loads one certificate; returns the error (or fails the test if it loaded).
  Error load_error(const TlsCertFiles& files) {
    TlsServerConfig config;
    config.certs = {files};
    auto r = TlsContext::server(config);
    EXPECT_FALSE(r.ok());
    return r.ok() ? Error{} : r.error();
  }
  void expect(const Error& e, TlsLoadError code, std::string_view reason, std::string_view in_message) {
    EXPECT_EQ(e.code, static_cast<int>(code)) << e.message;
    EXPECT_EQ(tls_load_error_reason(e.code), reason);
    EXPECT_NE(e.message.find(in_message), std::string::npos) << e.message;
  }
};

TEST_F(TlsContextTest, LoadsACertificateAndItsKeyFromFiles) {
  TlsServerConfig config;
  config.certs = {TlsCertFiles{dir.file("c.pem", good.cert), dir.file("k.pem", good.key), "", ""}};
  auto ctx = TlsContext::server(config);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  ASSERT_EQ((*ctx)->certificates().size(), 1u);
  EXPECT_EQ((*ctx)->certificates()[0].subject, "CN=edge.example");
  EXPECT_EQ((*ctx)->certificates()[0].names, std::vector<std::string>{"edge.example"});
  EXPECT_EQ((*ctx)->role(), TlsContext::Role::server);
}

TEST_F(TlsContextTest, ChainAndKeyInOneFile) {
  TlsServerConfig config;
  config.certs = {TlsCertFiles{dir.file("both.pem", good.cert + good.key), "", "", ""}};
  EXPECT_TRUE(TlsContext::server(config).ok());
}

TEST_F(TlsContextTest, MissingFile) {
  expect(load_error({dir.path() + "/nope.pem", "", "", ""}), TlsLoadError::unreadable, "unreadable",
         "nope.pem: No such file or directory");
}

TEST_F(TlsContextTest, NotPem) {
  expect(load_error({dir.file("der.crt", std::string("\x30\x82\x01\x0a", 4) + " garbage"), "", "", ""}),
         TlsLoadError::not_pem, "not_pem", "is not PEM");
}

TEST_F(TlsContextTest, NoCertificateInTheFile) {
  expect(load_error({dir.file("key-only.pem", good.key), "", "", ""}), TlsLoadError::no_certificate,
         "no_certificate", "no certificate");
}

TEST_F(TlsContextTest, NoKey) {
  expect(load_error({dir.file("cert-only.pem", good.cert), "", "", ""}), TlsLoadError::no_private_key,
         "no_private_key", "cert-only.pem");
}

TEST_F(TlsContextTest, KeyOfAnotherCertificate) {
  TlsPem other = test::make_cert({"other.example"});
  expect(load_error({dir.file("c.pem", good.cert), dir.file("wrong.key", other.key), "", ""}),
         TlsLoadError::key_mismatch, "key_mismatch", "does not match");
}

TEST_F(TlsContextTest, ExpiredSaysTheDates) {
  TlsCertSpec spec;
  spec.dns_names = {"old.example"};
  spec.not_before_s = -10 * 86400;
  spec.not_after_s = -86400;
  auto old = make_tls_certificate(spec);
  ASSERT_TRUE(old.ok());
  const Error e = load_error({dir.file("old.pem", old->cert + old->key), "", "", ""});
  expect(e, TlsLoadError::expired, "expired", "expired on 20");
  EXPECT_NE(e.message.find(" UTC (valid from 20"), std::string::npos) << e.message;
}

TEST_F(TlsContextTest, NotYetValid) {
  TlsCertSpec spec;
  spec.not_before_s = 86400;
  auto early = make_tls_certificate(spec);
  ASSERT_TRUE(early.ok());
  expect(load_error({dir.file("early.pem", early->cert + early->key), "", "", ""}), TlsLoadError::not_yet_valid,
         "not_yet_valid", "not valid before 20");
}

TEST_F(TlsContextTest, ReasonsAreDistinct) {
  std::set<std::string> reasons;
  for (int code = 7001; code <= 7008; ++code) reasons.insert(tls_load_error_reason(code));
  EXPECT_EQ(reasons.size(), 8u);
  EXPECT_STREQ(tls_load_error_reason(-2), "other");
}

TEST_F(TlsContextTest, EachErrorIsCounted) {
  const auto before = kTlsLoadErrorsTotal.total();
  static_cast<void>(load_error({dir.path() + "/nope.pem", "", "", ""}));
  EXPECT_EQ(kTlsLoadErrorsTotal.total(), before + 1);
}

TEST_F(TlsContextTest, NothingToLoad) {
  auto r = TlsContext::server(TlsServerConfig{});
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(tls_load_error_reason(r.error().code), "bad_config");
}

TEST_F(TlsContextTest, DirectoryOfCertificatesInNameOrder) {
  TempDir certs;
  TlsPem b = test::make_cert({"b.example"});
  TlsPem a = test::make_cert({"a.example", "*.a.example"});
  certs.file("20-b.pem", b.cert + b.key);
  certs.file("10-a.pem", a.cert + a.key);
  certs.file("README", "not a certificate");
  TlsServerConfig config;
  config.cert_dir = certs.path();
  auto ctx = TlsContext::server(config);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  ASSERT_EQ((*ctx)->certificates().size(), 2u);
  EXPECT_EQ((*ctx)->certificates()[0].subject, "CN=a.example");  // the default
  EXPECT_EQ((*ctx)->certificates()[1].subject, "CN=b.example");

  TempDir empty;
  config.cert_dir = empty.path();
  auto none = TlsContext::server(config);
  ASSERT_FALSE(none.ok());
  EXPECT_STREQ(tls_load_error_reason(none.error().code), "unreadable");
  EXPECT_NE(none.error().message.find("no *.pem"), std::string::npos);
}

TEST_F(TlsContextTest, ClientCaFileErrors) {
  TlsClientConfig config;
  config.system_cas = false;
  config.extra_ca_file = dir.path() + "/missing-ca.pem";
  auto r = TlsContext::client(config);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(tls_load_error_reason(r.error().code), "unreadable");

  config.extra_ca_file = dir.file("key.pem", good.key);
  r = TlsContext::client(config);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(tls_load_error_reason(r.error().code), "no_certificate");

  config.extra_ca_file.clear();
  r = TlsContext::client(config);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(tls_load_error_reason(r.error().code), "bad_config");

  config.extra_ca_file = dir.file("ca.pem", good.cert);
  EXPECT_TRUE(TlsContext::client(config).ok());
}

TEST_F(TlsContextTest, SystemCasLoad) {
  auto r = TlsContext::client(TlsClientConfig{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->role(), TlsContext::Role::client);
}

TEST_F(TlsContextTest, MutualTlsClientCertificateIsChecked) {
  TlsClientConfig config;
  TlsPem other = test::make_cert({"x"});
  config.client_cert = TlsCertFiles{dir.file("client.pem", good.cert), dir.file("client.key", other.key), "", ""};
  auto r = TlsContext::client(config);
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(tls_load_error_reason(r.error().code), "key_mismatch");
  config.client_cert.key_file = dir.file("client-good.key", good.key);
  EXPECT_TRUE(TlsContext::client(config).ok());
}

TEST_F(TlsContextTest, TicketKeysRotate) {
  auto keys = TlsTicketKeys::create();
  const auto first = keys->current();
  EXPECT_TRUE(keys->find(first.name.data(), first.name.size()));
  keys->rotate();
  const auto second = keys->current();
  EXPECT_NE(first.name, second.name);
  EXPECT_TRUE(keys->find(first.name.data(), first.name.size()));  // previous still opens
  keys->rotate();
  EXPECT_FALSE(keys->find(first.name.data(), first.name.size()));
  EXPECT_TRUE(keys->find(second.name.data(), second.name.size()));
  keys->set(first, std::nullopt);
  EXPECT_EQ(keys->current().name, first.name);
  EXPECT_FALSE(keys->find(second.name.data(), second.name.size()));
}

}  // namespace
}  // namespace webtrunk::core

// `webtrunk edge` flags as a user gives them: the media flags of issue 4 (defaults, and bad values
// refused with a message that names the flag), and --help describing each.
#include "app/edge_flags.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace webtrunk::app {
namespace {

core::Result<edge::EdgeConfig> config(std::vector<std::string> args) {
  args.insert(args.begin(), "--no-auth");
  auto values = edge_flags().parse(args);
  if (!values) return values.error();
  return edge_config_from(*values);
}

TEST(EdgeFlags, MediaDefaultsFollowTheSipListenAddress) {
  auto c = config({"--sip-listen", "192.0.2.10"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->media_listen, "192.0.2.10");
  EXPECT_EQ(c->public_ip, "192.0.2.10");
  EXPECT_EQ(c->media_port, 0);
  EXPECT_EQ(c->rtp_ports, "20000-29999");
  EXPECT_TRUE(c->dtls_cert.empty());
  EXPECT_EQ(c->srtp_engine, media::SrtpEngine::own);
  EXPECT_TRUE(c->srtp_profiles.empty());
  EXPECT_EQ(c->consent_timeout_s, 30u);

  auto d = config({"--sip-listen", "192.0.2.10", "--media-listen", "198.51.100.7"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->public_ip, "198.51.100.7");
}

TEST(EdgeFlags, MediaFlagsAreRead) {
  auto c = config({"--media-listen", "127.0.0.1", "--public-ip", "203.0.113.5", "--media-port", "40000", "--rtp-ports",
                   "30000-30999", "--srtp-engine", "libsrtp", "--srtp-profiles",
                   "AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM", "--consent-timeout", "10", "--dtls-cert", "c.pem",
                   "--dtls-key", "k.pem"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->public_ip, "203.0.113.5");
  EXPECT_EQ(c->media_port, 40000);
  EXPECT_EQ(c->rtp_ports, "30000-30999");
  EXPECT_EQ(c->srtp_engine, media::SrtpEngine::libsrtp);
  EXPECT_EQ(c->srtp_profiles, (std::vector<media::SrtpProfile>{media::SrtpProfile::aes_cm_128_hmac_sha1_80,
                                                                 media::SrtpProfile::aead_aes_128_gcm}));
  EXPECT_EQ(c->consent_timeout_s, 10u);
  EXPECT_EQ(c->dtls_cert, "c.pem");
  EXPECT_EQ(c->dtls_key, "k.pem");
}

TEST(EdgeFlags, BadMediaValuesNameTheirFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--public-ip", "edge.example.com"}, "--public-ip"},
      {{"--media-listen", "not-an-ip"}, "--media-listen"},
      {{"--media-port", "70000"}, "--media-port"},
      {{"--rtp-ports", "30000"}, "--rtp-ports"},
      {{"--rtp-ports", "40000-30000"}, "--rtp-ports"},
      {{"--srtp-engine", "nss"}, "--srtp-engine"},
      {{"--srtp-profiles", "AES_CM_128_HMAC_SHA1_32"}, "--srtp-profiles"},
      {{"--srtp-profiles", "AEAD_AES_128_GCM,AEAD_AES_128_GCM"}, "--srtp-profiles"},
      {{"--consent-timeout", "0"}, "--consent-timeout"},
      {{"--dtls-cert", "c.pem"}, "--dtls-key"},
      {{"--dtls-key", "k.pem"}, "--dtls-cert"},
  };
  for (const auto& [args, flag] : cases) {
    auto c = config(args);
    ASSERT_FALSE(c.ok()) << args[0] << " " << args[1];
    EXPECT_NE(c.error().message.find(flag), std::string::npos) << c.error().message;
  }
}

TEST(EdgeFlags, TrunkRegister) {
  const std::string pw = ::testing::TempDir() + "edge_flags_register_pw";
  std::ofstream(pw) << "s3cret\n";
  auto c = config({"--trunk", "udp:127.0.0.1:5080", "--trunk-user", "acme", "--trunk-password-file", pw,
                   "--trunk-register", "--trunk-register-expires", "120"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  const edge::TrunkTarget* t = c->routes->lookup("1555");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->register_with);
  EXPECT_EQ(t->register_expires, 120u);
  auto plain = config({"--trunk", "udp:127.0.0.1:5080"});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->routes->lookup("1555")->register_with);

  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--trunk-register"}, "--trunk-register goes with --trunk"},
      {{"--trunk", "udp:127.0.0.1:5080", "--trunk-register"}, "--trunk-register needs --trunk-user"},
      {{"--trunk", "udp:127.0.0.1:5080", "--trunk-user", "acme", "--trunk-password-file", pw, "--trunk-register",
        "--trunk-register-expires", "10"},
       "--trunk-register-expires"},
  };
  for (const auto& [args, want] : bad) {
    auto r = config(args);
    ASSERT_FALSE(r.ok()) << args.back();
    EXPECT_NE(r.error().message.find(want), std::string::npos) << r.error().message;
  }
  std::remove(pw.c_str());
}

TEST(EdgeFlags, MaxCallsPerToken) {
  auto d = config({});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->limits.max_calls_per_token, 100u);
  auto c = config({"--max-calls-per-token", "0"});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->limits.max_calls_per_token, 0u);  // no per-token limit
  auto bad = config({"--max-calls-per-token", "-1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("--max-calls-per-token"), std::string::npos) << bad.error().message;
}

TEST(EdgeFlags, TrunkCrlfPing) {
  auto d = config({});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->trunk_crlf_ping_s, 30u);
  auto off = config({"--trunk-crlf-ping", "0"});
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(off->trunk_crlf_ping_s, 0u);
  auto bad = config({"--trunk-crlf-ping", "soon"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("--trunk-crlf-ping"), std::string::npos) << bad.error().message;
}

TEST(EdgeFlags, Trunk100rel) {
  auto d = config({});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_TRUE(d->trunk_100rel);
  auto off = config({"--trunk-100rel", "off"});
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->trunk_100rel);
  auto bad = config({"--trunk-100rel", "maybe"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("--trunk-100rel"), std::string::npos) << bad.error().message;
}

TEST(EdgeFlags, HelpDescribesTheMediaFlags) {
  const std::string help = edge_flags().help();
  for (const char* flag : {"--public-ip", "--media-listen", "--media-port", "--rtp-ports", "--dtls-cert", "--dtls-key",
                           "--srtp-engine", "--srtp-profiles", "--consent-timeout"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace webtrunk::app

// Digest responses against RFC 2617 §3.5, RFC 7616 §3.9.1 and the auth.md §6 edge-token vector,
// and the challenge header values JsSIP and SIP.js accept.
#include "auth/digest.hpp"

#include <gtest/gtest.h>

#include <map>

namespace webtrunk::auth {
namespace {

// RFC 2617 §3.5 (MD5, qop=auth).
DigestCredentials mufasa_2617() {
  DigestCredentials c;
  c.username = "Mufasa";
  c.realm = "testrealm@host.com";
  c.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
  c.uri = "/dir/index.html";
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "0a4f113b";
  c.response = "6629fae49393a05397450978507c4ef1";
  c.opaque = "5ccc069c403ebaf9f0171e9517f40e41";
  return c;
}

// RFC 7616 §3.9.1 (the same request with SHA-256 and with MD5).
DigestCredentials mufasa_7616(std::string_view algo, std::string_view response) {
  DigestCredentials c;
  c.username = "Mufasa";
  c.realm = "http-auth@example.org";
  c.nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  c.uri = "/dir/index.html";
  c.algorithm = algo;
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  c.response = response;
  c.opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
  return c;
}

TEST(Digest, Rfc2617Md5) {
  const auto c = mufasa_2617();
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::ok);
  EXPECT_EQ(check_digest(c, "GET", "Circle of Life"), DigestStatus::mismatch);
  EXPECT_EQ(check_digest(c, "POST", "Circle Of Life"), DigestStatus::mismatch);
  DigestHex out;
  ASSERT_EQ(compute_digest_response(c, "GET", "Circle Of Life", out), DigestStatus::ok);
  EXPECT_EQ(out.view(), "6629fae49393a05397450978507c4ef1");
}

TEST(Digest, Rfc7616Sha256AndMd5) {
  EXPECT_EQ(check_digest(mufasa_7616("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
                         "GET", "Circle of Life"),
            DigestStatus::ok);
  EXPECT_EQ(check_digest(mufasa_7616("MD5", "8ca523f5e9506fed4657c9700eebdbec"), "GET", "Circle of Life"),
            DigestStatus::ok);
  // A SHA-256 response length under MD5 (or the reverse) is malformed, not a mismatch.
  EXPECT_EQ(check_digest(mufasa_7616("MD5", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"), "GET",
                         "Circle of Life"),
            DigestStatus::malformed);
}

TEST(Digest, NoQopRfc2069Form) {
  auto c = mufasa_2617();
  c.qop = {};
  c.nc = {};
  c.cnonce = {};
  c.response = "670fd8c2df070c60b045671b8b24ff02";  // MD5(HA1:nonce:HA2)
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::ok);
}

// auth.md §6 "Digest vector": an INVITE from JsSIP with the step-2 edge token (SHA-1 P2).
TEST(Digest, EdgeTokenVector) {
  EXPECT_EQ(
      digest_ha1(DigestAlgorithm::md5, "1700003600:acme", "edge.example.net", "AtnIUi8itxW5CjTdF0NXHbaVuhQ=").view(),
      "8434ffa59277b5028b6c8f05c20e7336");
  EXPECT_EQ(digest_ha1(DigestAlgorithm::md5, "1700000000:alice", "example.com", "81mjszbESz91Gv1n2xG/SVLX+uY=").view(),
            "1b816142de918cf74e15a6af5d5611ca");
  DigestCredentials c;
  c.username = "1700003600:acme";
  c.realm = "edge.example.net";
  c.nonce = "5f2b0c7e00000000abcdef";
  c.uri = "sip:+3225551234@edge.example.net";
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "0a4f113b";
  c.algorithm = "MD5";
  c.response = "24659d423b8f664f00ef1e85c354c3ea";
  EXPECT_EQ(check_digest(c, "INVITE", "AtnIUi8itxW5CjTdF0NXHbaVuhQ="), DigestStatus::ok);
  c.response = "24659D423B8F664F00EF1E85C354C3EA";  // upper-case hex from a sloppy client
  EXPECT_EQ(check_digest(c, "INVITE", "AtnIUi8itxW5CjTdF0NXHbaVuhQ="), DigestStatus::ok);
  c.response = "24659d423b8f664f00ef1e85c354c3eb";
  EXPECT_EQ(check_digest(c, "INVITE", "AtnIUi8itxW5CjTdF0NXHbaVuhQ="), DigestStatus::mismatch);
  EXPECT_EQ(reason_phrase(DigestStatus::mismatch), "Wrong password");
}

TEST(Digest, SessVariantsRoundTrip) {
  for (std::string_view algo : {"MD5-sess", "SHA-256-sess", "sha-256", "md5"}) {
    auto c = mufasa_2617();
    c.algorithm = algo;
    DigestHex want;
    ASSERT_EQ(compute_digest_response(c, "REGISTER", "pw", want), DigestStatus::ok) << algo;
    c.response = want.view();
    EXPECT_EQ(check_digest(c, "REGISTER", "pw"), DigestStatus::ok) << algo;
    EXPECT_EQ(check_digest(c, "REGISTER", "pW"), DigestStatus::mismatch) << algo;
  }
}

TEST(Digest, RefusesWhatItCannotCheck) {
  auto c = mufasa_2617();
  c.algorithm = "SHA-512-256";
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::unsupported_algorithm);
  c = mufasa_2617();
  c.qop = "auth-int";
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::unsupported_qop);
  c = mufasa_2617();
  c.nc = "1";
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::malformed);
  c = mufasa_2617();
  c.nc = "0000000g";
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::malformed);
  c = mufasa_2617();
  c.cnonce = {};
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::malformed);
  c = mufasa_2617();
  c.username = {};
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::malformed);
  c = mufasa_2617();
  c.username = "Mu\\fasa";  // unprocessed quoted-pair
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::malformed);
  c = mufasa_2617();
  c.response = "6629fae49393a05397450978507c4ef";  // 31 digits
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::malformed);
}

TEST(Digest, CredentialsFromAParameterLookup) {
  const std::map<std::string_view, std::string_view> params = {{"username", "Mufasa"},
                                                               {"realm", "testrealm@host.com"},
                                                               {"nonce", "dcd98b7102dd2f0e8b11d0f600bfb0c093"},
                                                               {"uri", "/dir/index.html"},
                                                               {"qop", "auth"},
                                                               {"nc", "00000001"},
                                                               {"cnonce", "0a4f113b"},
                                                               {"response", "6629fae49393a05397450978507c4ef1"}};
  const auto c = digest_credentials_from([&](std::string_view n) -> std::optional<std::string_view> {
    auto it = params.find(n);
    if (it == params.end()) return std::nullopt;
    return it->second;
  });
  EXPECT_EQ(c.algorithm, "");
  EXPECT_EQ(check_digest(c, "GET", "Circle Of Life"), DigestStatus::ok);
}

TEST(DigestChallenge, Md5ByDefaultAsJsSipNeeds) {
  DigestChallenge ch;
  ch.realm = "edge.example.net";
  ch.nonce = "abc";
  EXPECT_EQ(build_challenge(ch), R"(Digest realm="edge.example.net", nonce="abc", algorithm=MD5, qop="auth")");
  ch.stale = true;
  ch.opaque = "o1";
  EXPECT_EQ(build_challenge(ch),
            R"(Digest realm="edge.example.net", nonce="abc", algorithm=MD5, qop="auth", stale=true, opaque="o1")");
  const auto v = build_challenges(ch);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].find("algorithm=MD5"), std::string::npos);
}

TEST(DigestChallenge, Sha256FirstWhenOffered) {
  DigestChallenge ch;
  ch.realm = "r\"x";  // escaped as a quoted-pair
  ch.nonce = "n";
  const auto v = build_challenges(ch, true);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], R"(Digest realm="r\"x", nonce="n", algorithm=SHA-256, qop="auth")");
  EXPECT_EQ(v[1], R"(Digest realm="r\"x", nonce="n", algorithm=MD5, qop="auth")");
}

}  // namespace
}  // namespace webtrunk::auth

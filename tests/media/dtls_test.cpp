// DtlsEndpoint (our server) against a plain OpenSSL DTLS client playing the browser, in memory on
// a fake clock: the handshake for every SRTP profile with both sides exporting the same keys, the
// fingerprint check, a lost flight retransmitted on the timer, and the final flight answered from
// the cache after the SSL object is gone.
#include "media/dtls.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

namespace webtrunk::media {
namespace {

using namespace std::chrono_literals;
using Datagram = std::vector<std::byte>;

const core::Instant t0 = core::Instant{} + 1000s;

// The browser's certificate, made independently of DtlsIdentity.
struct TestCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  std::string fp;  // lower case, as some browsers write it
  explicit TestCert(bool rsa = false) {
    key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("browser"), -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    X509_sign(cert, key, EVP_sha256());
    fp = fingerprint(cert);
  }
  ~TestCert() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  static std::string fingerprint(const X509* c) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    X509_digest(c, EVP_sha256(), md, &n);
    std::string out;
    char hex[4];
    for (unsigned i = 0; i < n; ++i) {
      std::snprintf(hex, sizeof hex, i ? ":%02x" : "%02x", md[i]);
      out += hex;
    }
    return out;
  }
};

int accept_any(int, X509_STORE_CTX*) { return 1; }

// A temporary PEM file, removed when it goes out of scope.
struct PemFile {
  char path[64] = "/tmp/webtrunk-dtls-pemXXXXXX";
  template <class Fn>
  explicit PemFile(Fn&& write) {
    const int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    BIO* b = BIO_new_file(path, "w");
    write(b);
    BIO_free(b);
  }
  ~PemFile() { unlink(path); }
};
PemFile cert_file(const TestCert& c) {
  return PemFile([&](BIO* b) { PEM_write_bio_X509(b, c.cert); });
}
PemFile key_file(const TestCert& c) {
  return PemFile([&](BIO* b) { PEM_write_bio_PrivateKey(b, c.key, nullptr, nullptr, 0, nullptr, nullptr); });
}

// The browser: an OpenSSL DTLS client on memory BIOs.
class Client {
 public:
  explicit Client(const TestCert* cert, const char* profiles = "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM:"
                                                                 "SRTP_AEAD_AES_256_GCM") {
    ctx_ = SSL_CTX_new(DTLS_client_method());
    if (cert) {
      SSL_CTX_use_certificate(ctx_, cert->cert);
      SSL_CTX_use_PrivateKey(ctx_, cert->key);
    }
    SSL_CTX_set_tlsext_use_srtp(ctx_, profiles);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, accept_any);
    ssl_ = SSL_new(ctx_);
    rbio_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(rbio_, -1);
    wbio_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, rbio_, wbio_);
    SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
    DTLS_set_link_mtu(ssl_, 1200);
    SSL_set_connect_state(ssl_);
  }
  ~Client() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  // Runs the handshake on what was fed; returns what the client sent (as one datagram).
  Datagram step() {
    SSL_do_handshake(ssl_);
    return output();
  }
  void feed(const Datagram& d) { BIO_write(rbio_, d.data(), static_cast<int>(d.size())); }
  Datagram output() {
    Datagram out(static_cast<std::size_t>(BIO_ctrl_pending(wbio_)));
    if (!out.empty()) BIO_read(wbio_, out.data(), static_cast<int>(out.size()));
    return out;
  }
  bool done() const { return SSL_is_init_finished(ssl_) == 1; }
  std::string server_fingerprint() const { return TestCert::fingerprint(SSL_get0_peer_certificate(ssl_)); }
  std::optional<SrtpKeyPair> keys() {
    const SRTP_PROTECTION_PROFILE* p = SSL_get_selected_srtp_profile(ssl_);
    if (!p) return std::nullopt;
    SrtpProfile profile = p->id == SRTP_AEAD_AES_256_GCM   ? SrtpProfile::aead_aes_256_gcm
                          : p->id == SRTP_AEAD_AES_128_GCM ? SrtpProfile::aead_aes_128_gcm
                                                           : SrtpProfile::aes_cm_128_hmac_sha1_80;
    std::array<std::uint8_t, 92> m{};
    const std::size_t len = 2 * (srtp_key_len(profile) + srtp_salt_len(profile));
    EXPECT_EQ(SSL_export_keying_material(ssl_, m.data(), len, "EXTRACTOR-dtls_srtp", 19, nullptr, 0, 0), 1);
    return split_dtls_srtp_keys(profile, m.data(), len, false).value();
  }
  SSL* ssl() { return ssl_; }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_;
  BIO* rbio_;
  BIO* wbio_;
};

std::vector<Datagram> drain(DtlsEndpoint& s) {
  std::vector<Datagram> out;
  while (auto d = s.poll_transmit()) {
    EXPECT_LE(d->size(), DtlsEndpoint::kDtlsMtu);
    out.push_back(std::move(*d));
  }
  return out;
}

// Runs the handshake to its end (bounded), delivering everything.
void pump(Client& c, DtlsEndpoint& s, core::Instant now) {
  for (int i = 0; i < 10 && !(c.done() && s.state() != DtlsEndpoint::State::waiting &&
                              s.state() != DtlsEndpoint::State::handshaking);
       ++i) {
    const Datagram out = c.step();
    if (!out.empty()) s.handle_datagram(now, out);
    for (const auto& d : drain(s)) c.feed(d);
  }
  c.step();
}

bool same_keys(const SrtpKeys& a, const SrtpKeys& b) {
  return a.profile == b.profile && std::memcmp(a.key.data(), b.key.data(), srtp_key_len(a.profile)) == 0 &&
         std::memcmp(a.salt.data(), b.salt.data(), srtp_salt_len(a.profile)) == 0;
}

std::shared_ptr<DtlsIdentity> identity() {
  static std::shared_ptr<DtlsIdentity> id = DtlsIdentity::generate().value();
  return id;
}

TEST(DtlsIdentity, GeneratesASha256FingerprintInSdpForm) {
  auto a = DtlsIdentity::generate();
  auto b = DtlsIdentity::generate();
  ASSERT_TRUE(a.ok() && b.ok());
  const std::regex form("^([0-9A-F]{2}:){31}[0-9A-F]{2}$");
  EXPECT_TRUE(std::regex_match(a.value()->fingerprint_sha256(), form)) << a.value()->fingerprint_sha256();
  EXPECT_NE(a.value()->fingerprint_sha256(), b.value()->fingerprint_sha256());
}

TEST(DtlsIdentity, LoadsPemFilesAndRejectsAMismatchedKey) {
  TestCert c, other;
  const PemFile cert = cert_file(c), key = key_file(c), other_key = key_file(other);
  const char* cert_path = cert.path;
  const char* key_path = key.path;
  const char* other_key_path = other_key.path;
  auto id = DtlsIdentity::load(cert_path, key_path);
  ASSERT_TRUE(id.ok()) << id.error().message;
  std::string upper_fp = c.fp;
  for (char& ch : upper_fp) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_EQ(id.value()->fingerprint_sha256(), upper_fp);
  auto bad = DtlsIdentity::load(cert_path, other_key_path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("does not match"), std::string::npos) << bad.error().message;
  auto missing = DtlsIdentity::load("/nonexistent/cert.pem", key_path);
  EXPECT_FALSE(missing.ok());
  EXPECT_FALSE(id.value()->set_srtp_profiles({}).ok());
}

TEST(DtlsEndpoint, AFlightLargerThanTheMtuGoesOutIn1200ByteDatagrams) {
  // A loaded RSA-2048 certificate makes the first server flight (ServerHello .. ServerHelloDone)
  // longer than one 1200-byte datagram.
  TestCert server_cert(true), browser_cert;
  const PemFile cert = cert_file(server_cert), key = key_file(server_cert);
  auto id = DtlsIdentity::load(cert.path, key.path);
  ASSERT_TRUE(id.ok()) << id.error().message;
  Client c(&browser_cert);
  DtlsEndpoint s(id.value(), browser_cert.fp);
  s.handle_datagram(t0, c.step());
  const auto flight = drain(s);  // drain() checks each is <= kDtlsMtu
  std::size_t total = 0;
  for (const auto& d : flight) total += d.size();
  EXPECT_GT(total, DtlsEndpoint::kDtlsMtu);
  EXPECT_GE(flight.size(), 2u);
  for (const auto& d : flight) c.feed(d);
  pump(c, s, t0);
  EXPECT_EQ(s.state(), DtlsEndpoint::State::connected) << s.failure();
}

TEST(DtlsEndpoint, SendsNothingBeforeTheClientHello) {
  DtlsEndpoint s(identity(), "00");
  EXPECT_EQ(s.state(), DtlsEndpoint::State::waiting);
  EXPECT_FALSE(s.poll_transmit());
  EXPECT_FALSE(s.poll_timeout());
  s.handle_timeout(t0 + 1h);
  EXPECT_FALSE(s.poll_transmit());
  // Not DTLS (RFC 7983: STUN and RTP first bytes), and too short: dropped, still waiting.
  s.handle_datagram(t0, Datagram(40, std::byte{0x00}));
  s.handle_datagram(t0, Datagram(40, std::byte{0x80}));
  s.handle_datagram(t0, Datagram(5, std::byte{22}));
  EXPECT_EQ(s.state(), DtlsEndpoint::State::waiting);
  EXPECT_FALSE(s.poll_transmit());
  EXPECT_FALSE(s.profile());
  EXPECT_FALSE(s.take_srtp_keys());
}

TEST(DtlsEndpoint, HandshakeForEachProfileExportsTheSameKeysOnBothSides) {
  for (SrtpProfile p : {SrtpProfile::aes_cm_128_hmac_sha1_80, SrtpProfile::aead_aes_128_gcm,
                        SrtpProfile::aead_aes_256_gcm}) {
    SCOPED_TRACE(std::string(to_string(p)));
    TestCert cert;
    const char* offer = p == SrtpProfile::aes_cm_128_hmac_sha1_80 ? "SRTP_AES128_CM_SHA1_80"
                        : p == SrtpProfile::aead_aes_128_gcm      ? "SRTP_AEAD_AES_128_GCM"
                                                                  : "SRTP_AEAD_AES_256_GCM";
    Client c(&cert, offer);
    DtlsEndpoint s(identity(), cert.fp);
    pump(c, s, t0);
    ASSERT_EQ(s.state(), DtlsEndpoint::State::connected) << s.failure();
    ASSERT_TRUE(c.done());
    EXPECT_EQ(c.server_fingerprint(), TestCert::fingerprint(SSL_get0_peer_certificate(c.ssl())));
    std::string ours = identity()->fingerprint_sha256();
    std::string seen = c.server_fingerprint();
    for (char& ch : seen) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_EQ(seen, ours);  // the a=fingerprint we put in the SDP is the certificate we present
    EXPECT_EQ(s.profile(), p);
    EXPECT_FALSE(s.poll_timeout());
    ASSERT_TRUE(s.has_ssl());
    const auto server = s.take_srtp_keys();
    ASSERT_TRUE(server);
    EXPECT_FALSE(s.has_ssl());
    EXPECT_FALSE(s.take_srtp_keys());  // once
    const auto client = c.keys();
    ASSERT_TRUE(client);
    EXPECT_TRUE(same_keys(server->tx, client->rx));  // what the edge protects, the browser unprotects
    EXPECT_TRUE(same_keys(server->rx, client->tx));
    EXPECT_FALSE(same_keys(server->tx, server->rx));
    EXPECT_EQ(s.profile(), p);
  }
}

TEST(DtlsEndpoint, AsTheServerItPicksGcmFirstWhateverTheBrowserOrder) {
  TestCert cert;
  Client c(&cert);  // lists AES_CM first and AEAD_AES_256_GCM last, as Chromium does
  DtlsEndpoint s(identity(), cert.fp);
  pump(c, s, t0);
  ASSERT_EQ(s.state(), DtlsEndpoint::State::connected) << s.failure();
  EXPECT_EQ(s.profile(), SrtpProfile::aead_aes_256_gcm);

  auto id = DtlsIdentity::generate().value();
  const std::array<SrtpProfile, 1> only_cm = {SrtpProfile::aes_cm_128_hmac_sha1_80};
  ASSERT_TRUE(id->set_srtp_profiles(only_cm).ok());
  Client c2(&cert);
  DtlsEndpoint s2(id, cert.fp);
  pump(c2, s2, t0);
  ASSERT_EQ(s2.state(), DtlsEndpoint::State::connected) << s2.failure();
  EXPECT_EQ(s2.profile(), SrtpProfile::aes_cm_128_hmac_sha1_80);
}

TEST(DtlsEndpoint, FingerprintMismatchFailsWithAReasonAndAlertsTheBrowser) {
  TestCert cert, other;
  Client c(&cert);
  DtlsEndpoint s(identity(), other.fp);
  const auto before = kDtlsFingerprintMismatchTotal.total();
  pump(c, s, t0);
  EXPECT_EQ(s.state(), DtlsEndpoint::State::failed);
  EXPECT_EQ(s.failure(), "certificate fingerprint does not match");
  EXPECT_EQ(kDtlsFingerprintMismatchTotal.total(), before + 1);
  EXPECT_FALSE(c.done());  // the browser got a fatal alert, not a Finished
  EXPECT_FALSE(s.take_srtp_keys());
  EXPECT_FALSE(s.has_ssl());
  EXPECT_FALSE(s.poll_timeout());
}

TEST(DtlsEndpoint, ARemoteFingerprintSetLaterIsTheOneChecked) {
  TestCert cert, other;
  Client c(&cert);
  DtlsEndpoint s(identity(), other.fp);
  s.set_remote_fingerprint(cert.fp);  // the re-offer's value
  pump(c, s, t0);
  EXPECT_EQ(s.state(), DtlsEndpoint::State::connected) << s.failure();
}

TEST(DtlsEndpoint, ABrowserWithoutCertificateFails) {
  Client c(nullptr);
  DtlsEndpoint s(identity(), "AA:BB");
  pump(c, s, t0);
  EXPECT_EQ(s.state(), DtlsEndpoint::State::failed);
  EXPECT_NE(s.failure().find("certificate"), std::string::npos) << s.failure();
}

TEST(DtlsEndpoint, ALostFlightIsRetransmittedOnTheTimer) {
  TestCert cert;
  Client c(&cert);
  DtlsEndpoint s(identity(), cert.fp);
  s.handle_datagram(t0, c.step());  // ClientHello
  EXPECT_EQ(s.state(), DtlsEndpoint::State::handshaking);
  const auto lost = drain(s);  // ServerHello .. ServerHelloDone, lost on the way
  ASSERT_FALSE(lost.empty());
  ASSERT_EQ(s.poll_timeout(), t0 + 1s);  // RFC 6347: 1 s initial
  s.handle_timeout(t0 + 999ms);
  EXPECT_TRUE(drain(s).empty());
  s.handle_timeout(t0 + 1s);
  const auto again = drain(s);
  EXPECT_EQ(again, lost);
  EXPECT_EQ(s.poll_timeout(), t0 + 3s);  // doubled
  for (const auto& d : again) c.feed(d);
  pump(c, s, t0 + 1500ms);
  ASSERT_EQ(s.state(), DtlsEndpoint::State::connected) << s.failure();
  const auto server = s.take_srtp_keys();
  const auto client = c.keys();
  ASSERT_TRUE(server && client);
  EXPECT_TRUE(same_keys(server->tx, client->rx));
}

TEST(DtlsEndpoint, ARetransmittedClientHelloGetsTheLostFlightAtOnce) {
  TestCert cert;
  Client c(&cert);
  DtlsEndpoint s(identity(), cert.fp);
  const Datagram hello = c.step();
  s.handle_datagram(t0, hello);
  const auto lost = drain(s);
  ASSERT_FALSE(lost.empty());
  s.handle_datagram(t0 + 50ms, hello);  // the browser's retransmission, before our 1 s timer
  const auto again = drain(s);
  EXPECT_EQ(again, lost);
  for (const auto& d : again) c.feed(d);
  pump(c, s, t0 + 60ms);
  EXPECT_EQ(s.state(), DtlsEndpoint::State::connected) << s.failure();
}

TEST(DtlsEndpoint, ABrowserThatNeverAnswersTimesOut) {
  TestCert cert;
  Client c(&cert);
  DtlsEndpoint s(identity(), cert.fp);
  s.handle_datagram(t0, c.step());
  drain(s);
  int sent = 0;
  for (int i = 0; i < 20 && s.state() == DtlsEndpoint::State::handshaking; ++i) {
    ASSERT_TRUE(s.poll_timeout());
    s.handle_timeout(*s.poll_timeout());
    if (!drain(s).empty()) ++sent;
  }
  EXPECT_EQ(s.state(), DtlsEndpoint::State::failed);
  EXPECT_EQ(s.failure(), "handshake timed out");
  EXPECT_EQ(sent, 6);
  EXPECT_FALSE(s.poll_timeout());
}

TEST(DtlsEndpoint, AfterTheKeysOnlyARetransmittedFinalFlightIsAnsweredFromTheCache) {
  TestCert cert;
  Client c(&cert);
  DtlsEndpoint s(identity(), cert.fp);
  s.handle_datagram(t0, c.step());
  for (const auto& d : drain(s)) c.feed(d);
  const Datagram client_final = c.step();  // Certificate .. Finished
  s.handle_datagram(t0, client_final);
  ASSERT_EQ(s.state(), DtlsEndpoint::State::connected) << s.failure();
  const auto server_final = drain(s);  // ChangeCipherSpec + Finished: lost
  ASSERT_FALSE(server_final.empty());
  const auto keys = s.take_srtp_keys();
  ASSERT_TRUE(keys);
  ASSERT_FALSE(s.has_ssl());

  // Other DTLS after the keys is not answered.
  Datagram junk = client_final;
  junk.resize(13);
  s.handle_datagram(t0 + 1s, junk);
  EXPECT_TRUE(drain(s).empty());
  // The browser's retransmitted final flight gets the same flight back, and completes.
  s.handle_datagram(t0 + 1s, client_final);
  const auto answer = drain(s);
  EXPECT_EQ(answer, server_final);
  for (const auto& d : answer) c.feed(d);
  c.step();
  ASSERT_TRUE(c.done());
  const auto client = c.keys();
  ASSERT_TRUE(client);
  EXPECT_TRUE(same_keys(keys->tx, client->rx));
  EXPECT_TRUE(same_keys(keys->rx, client->tx));
  EXPECT_EQ(s.state(), DtlsEndpoint::State::connected);
}

TEST(DtlsEndpoint, CloseNotifyFromTheBrowserEndsIt) {
  for (bool keys_taken : {false, true}) {
    SCOPED_TRACE(keys_taken);
    TestCert cert;
    Client c(&cert);
    DtlsEndpoint s(identity(), cert.fp);
    pump(c, s, t0);
    ASSERT_EQ(s.state(), DtlsEndpoint::State::connected) << s.failure();
    if (keys_taken) {
      ASSERT_TRUE(s.take_srtp_keys());
    }
    SSL_shutdown(c.ssl());  // RTCPeerConnection.close(): an encrypted close_notify
    s.handle_datagram(t0 + 10s, c.output());
    EXPECT_EQ(s.state(), DtlsEndpoint::State::failed);
    EXPECT_EQ(s.failure(), "peer closed the DTLS session");
  }
}

// After the SSL object is gone the alert is opened with the browser's write key kept from it, for
// each cipher suite the endpoint allows; a forged or altered one changes nothing.
TEST(DtlsEndpoint, AfterTheKeysOnlyAnAuthenticAlertEndsIt) {
  for (const char* suite : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                            "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
    SCOPED_TRACE(suite);
    TestCert cert;
    Client c(&cert);
    ASSERT_EQ(SSL_set_cipher_list(c.ssl(), suite), 1);
    DtlsEndpoint s(identity(), cert.fp);
    pump(c, s, t0);
    ASSERT_EQ(s.state(), DtlsEndpoint::State::connected) << s.failure();
    EXPECT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl())), suite);
    ASSERT_TRUE(s.take_srtp_keys());
    SSL_shutdown(c.ssl());
    const Datagram close_notify = c.output();
    ASSERT_GE(close_notify.size(), 13u + 18u);
    ASSERT_EQ(close_notify[0], std::byte{21});
    // Forged: a well-formed epoch-1 alert header with a body nobody sealed.
    Datagram forged = close_notify;
    for (std::size_t i = 13; i < forged.size(); ++i) forged[i] = static_cast<std::byte>(i);
    s.handle_datagram(t0 + 1s, forged);
    // Altered: the browser's own alert with one bit of its tag flipped.
    Datagram altered = close_notify;
    altered.back() ^= std::byte{1};
    s.handle_datagram(t0 + 1s, altered);
    EXPECT_EQ(s.state(), DtlsEndpoint::State::connected);
    EXPECT_TRUE(drain(s).empty());
    s.handle_datagram(t0 + 2s, close_notify);
    EXPECT_EQ(s.state(), DtlsEndpoint::State::failed);
    EXPECT_EQ(s.failure(), "peer closed the DTLS session");
  }
}

TEST(DtlsEndpoint, GarbageAfterAClientHelloDoesNotCrashOrConnect) {
  TestCert cert;
  Client c(&cert);
  DtlsEndpoint s(identity(), cert.fp);
  s.handle_datagram(t0, c.step());
  drain(s);
  Datagram garbage(300);
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<std::byte>(i * 37 + 22);
  garbage[0] = std::byte{22};
  s.handle_datagram(t0, garbage);
  EXPECT_NE(s.state(), DtlsEndpoint::State::connected);
  EXPECT_FALSE(s.take_srtp_keys());
}

}  // namespace
}  // namespace webtrunk::media

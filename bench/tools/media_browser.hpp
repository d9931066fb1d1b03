// An emulated WebRTC browser's media side, sans-IO: what bench_media_relay and the bridge tests put
// in front of the edge's browser-side port. It does what Chromium does on the wire for one audio
// stream: ICE connectivity checks as the controlling full agent (built and checked with libnice's
// STUN usage, independent of the edge's own agent), a DTLS 1.2 client handshake (OpenSSL, a self-signed
// ECDSA P-256 certificate, use_srtp) with the edge's certificate checked against the SDP
// fingerprint, then SRTP with the exported keys (our SrtpTransform as the client: tx = client keys).
//
// Lifetimes: BrowserTls must outlive every EmulatedBrowser made with it. Datagrams returned by
// poll_dtls() are owned by the caller. The SSL object lives as long as the browser (a client must
// answer the edge's retransmitted final flight).
#pragma once

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "media/srtp.hpp"
#include "media/types.hpp"

namespace webtrunk::bench {

// "AB:CD:..." of a certificate's DER, the form of a=fingerprint:sha-256.
inline std::string sha256_fingerprint(X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md.data(), &n) != 1) return {};
  std::string out;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned i = 0; i < n; ++i) {
    if (i > 0) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

inline bool same_fingerprint(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// The browser's certificate and DTLS client context, shared by many emulated browsers.
class BrowserTls {
 public:
  // `srtp_profiles` is OpenSSL's use_srtp list, in the browser's order of preference.
  static std::unique_ptr<BrowserTls> make(
      const char* srtp_profiles = "SRTP_AEAD_AES_256_GCM:SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80") {
    auto t = std::unique_ptr<BrowserTls>(new BrowserTls());
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    if (key == nullptr || cert == nullptr) return nullptr;
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("WebRTC"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    t->fingerprint_ = sha256_fingerprint(cert);
    t->ctx_ = SSL_CTX_new(DTLS_client_method());
    bool ok = t->ctx_ != nullptr && SSL_CTX_use_certificate(t->ctx_, cert) == 1 &&
              SSL_CTX_use_PrivateKey(t->ctx_, key) == 1 && SSL_CTX_set_tlsext_use_srtp(t->ctx_, srtp_profiles) == 0;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) return nullptr;
    // Browsers accept the self-signed certificate and check it against the SDP fingerprint.
    SSL_CTX_set_verify(t->ctx_, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    SSL_CTX_set_options(t->ctx_, SSL_OP_NO_QUERY_MTU);
    return t;
  }
  ~BrowserTls() { SSL_CTX_free(ctx_); }
  BrowserTls(const BrowserTls&) = delete;
  BrowserTls& operator=(const BrowserTls&) = delete;

  SSL_CTX* ctx() const noexcept { return ctx_; }
  const std::string& fingerprint() const noexcept { return fingerprint_; }

 private:
  BrowserTls() = default;
  SSL_CTX* ctx_ = nullptr;
  std::string fingerprint_;
};

class EmulatedBrowser {
 public:
  // `own`: the browser's ICE credentials (its SDP); `edge`: the edge's (its answer).
  EmulatedBrowser(BrowserTls& tls, media::IceCredentials own, media::IceCredentials edge, std::string edge_fingerprint)
      : tls_(tls), own_(std::move(own)), edge_(std::move(edge)), edge_fingerprint_(std::move(edge_fingerprint)) {
    static const std::uint16_t kKnown[] = {STUN_ATTRIBUTE_USERNAME,        STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
                                           STUN_ATTRIBUTE_FINGERPRINT,     STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                           STUN_ATTRIBUTE_PRIORITY,        STUN_ATTRIBUTE_USE_CANDIDATE,
                                           STUN_ATTRIBUTE_ICE_CONTROLLING, STUN_ATTRIBUTE_ICE_CONTROLLED,
                                           STUN_ATTRIBUTE_ERROR_CODE,      0};
    stun_ = std::make_unique<StunAgent>();
    stun_agent_init(stun_.get(), kKnown, STUN_COMPATIBILITY_RFC5389,
                    static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                     STUN_AGENT_USAGE_USE_FINGERPRINT));
    RAND_bytes(reinterpret_cast<unsigned char*>(&tie_), sizeof(tie_));
  }
  ~EmulatedBrowser() { SSL_free(ssl_); }
  EmulatedBrowser(const EmulatedBrowser&) = delete;
  EmulatedBrowser& operator=(const EmulatedBrowser&) = delete;

  // ---- ICE (RFC 8445 §7.2.2: USERNAME "theirs:ours", keyed with the edge's password) ----
  std::size_t make_check(std::span<std::byte> out, bool use_candidate) {
    const std::string user = edge_.ufrag + ":" + own_.ufrag;
    StunMessage msg;
    return stun_usage_ice_conncheck_create(
        stun_.get(), &msg, reinterpret_cast<std::uint8_t*>(out.data()), out.size(),
        reinterpret_cast<const std::uint8_t*>(user.data()), user.size(),
        reinterpret_cast<const std::uint8_t*>(edge_.pwd.data()), edge_.pwd.size(), use_candidate, true,
        0x6e7f00ffu, tie_, nullptr, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
  }
  // True for a success response to one of our checks, integrity and fingerprint valid; `mapped`
  // gets its XOR-MAPPED-ADDRESS.
  bool check_answered(std::span<const std::byte> in, sockaddr_storage* mapped = nullptr) {
    StunMessage msg;
    const auto st = stun_agent_validate(stun_.get(), &msg, reinterpret_cast<const std::uint8_t*>(in.data()), in.size(),
                                        nullptr, nullptr);
    if (st != STUN_VALIDATION_SUCCESS || stun_message_get_class(&msg) != STUN_RESPONSE) return false;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (stun_usage_ice_conncheck_process(&msg, &addr, &len, STUN_USAGE_ICE_COMPATIBILITY_RFC5245) !=
        STUN_USAGE_ICE_RETURN_SUCCESS) {
      return false;
    }
    if (mapped != nullptr) *mapped = addr;
    return true;
  }

  // ---- DTLS client ----
  // Makes the SSL object and the ClientHello (take it with poll_dtls()).
  bool start_dtls() {
    ssl_ = SSL_new(tls_.ctx());
    if (ssl_ == nullptr) return false;
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1);
    BIO_set_mem_eof_return(out, -1);
    SSL_set_bio(ssl_, in, out);
    SSL_set_mtu(ssl_, 1200);
    SSL_set_connect_state(ssl_);
    drive();
    return error_.empty();
  }
  void on_dtls(std::span<const std::byte> in) {
    if (ssl_ == nullptr) return;
    BIO_write(SSL_get_rbio(ssl_), in.data(), static_cast<int>(in.size()));
    drive();
  }
  // Retransmits the last flight if its timer ran out (call every few hundred ms while handshaking).
  void dtls_timeout() {
    if (ssl_ == nullptr) return;
    DTLSv1_handle_timeout(ssl_);
    collect_output();
  }
  // The next datagram to send: whole records, at most 1200 bytes each (several records may share one).
  std::optional<std::vector<std::byte>> poll_dtls() {
    if (out_.empty()) return std::nullopt;
    std::vector<std::byte> d = std::move(out_.front());
    out_.erase(out_.begin());
    return d;
  }
  bool connected() const noexcept { return srtp_tx_ != nullptr; }
  const std::string& error() const noexcept { return error_; }
  std::optional<media::SrtpProfile> profile() const noexcept { return profile_; }

  // ---- SRTP (browser side: protects with the client write keys) ----
  media::SrtpTransform& tx() { return *srtp_tx_; }
  media::SrtpTransform& rx() { return *srtp_rx_; }

 private:
  void drive() {
    if (SSL_is_init_finished(ssl_) == 0) {
      const int r = SSL_do_handshake(ssl_);
      if (r <= 0) {
        const int e = SSL_get_error(ssl_, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) error_ = "DTLS handshake failed";
      }
    }
    collect_output();
    if (SSL_is_init_finished(ssl_) == 1 && srtp_tx_ == nullptr && error_.empty()) export_keys();
  }

  void collect_output() {
    BIO* out = SSL_get_wbio(ssl_);
    std::vector<std::byte> pending(static_cast<std::size_t>(BIO_ctrl_pending(out)));
    if (pending.empty()) return;
    BIO_read(out, pending.data(), static_cast<int>(pending.size()));
    // Split at record boundaries (13-byte DTLS header, length at offset 11) and pack records into
    // datagrams of at most 1200 bytes, as Chromium does.
    std::vector<std::byte> dgram;
    for (std::size_t off = 0; off + 13 <= pending.size();) {
      const std::size_t rec = 13 + core::load_be16(pending.data() + off + 11);
      if (off + rec > pending.size()) break;
      if (!dgram.empty() && dgram.size() + rec > 1200) out_.push_back(std::move(dgram)), dgram.clear();
      dgram.insert(dgram.end(), pending.begin() + static_cast<std::ptrdiff_t>(off),
                   pending.begin() + static_cast<std::ptrdiff_t>(off + rec));
      off += rec;
    }
    if (!dgram.empty()) out_.push_back(std::move(dgram));
  }

  void export_keys() {
    X509* peer = SSL_get1_peer_certificate(ssl_);
    const std::string fp = peer != nullptr ? sha256_fingerprint(peer) : std::string{};
    X509_free(peer);
    if (!same_fingerprint(fp, edge_fingerprint_)) {
      error_ = "the edge's certificate does not match its SDP fingerprint";
      return;
    }
    const SRTP_PROTECTION_PROFILE* p = SSL_get_selected_srtp_profile(ssl_);
    if (p == nullptr) {
      error_ = "no SRTP profile negotiated";
      return;
    }
    media::SrtpProfile prof;
    switch (p->id) {
      case SRTP_AES128_CM_SHA1_80: prof = media::SrtpProfile::aes_cm_128_hmac_sha1_80; break;
      case SRTP_AEAD_AES_128_GCM: prof = media::SrtpProfile::aead_aes_128_gcm; break;
      case SRTP_AEAD_AES_256_GCM: prof = media::SrtpProfile::aead_aes_256_gcm; break;
      default: error_ = "unexpected SRTP profile"; return;
    }
    std::array<std::uint8_t, 2 * (32 + 14)> material{};
    const std::size_t len = 2 * (media::srtp_key_len(prof) + media::srtp_salt_len(prof));
    static constexpr char kLabel[] = "EXTRACTOR-dtls_srtp";
    if (SSL_export_keying_material(ssl_, material.data(), len, kLabel, sizeof(kLabel) - 1, nullptr, 0, 0) != 1) {
      error_ = "keying material export failed";
      return;
    }
    auto keys = media::split_dtls_srtp_keys(prof, material.data(), len, /*we_are_server=*/false);
    if (!keys) {
      error_ = keys.error().message;
      return;
    }
    auto tx = media::make_srtp(media::SrtpEngine::own, keys->tx);
    auto rx = media::make_srtp(media::SrtpEngine::own, keys->rx);
    if (!tx || !rx) {
      error_ = "SRTP set-up failed";
      return;
    }
    srtp_tx_ = std::move(tx.value());
    srtp_rx_ = std::move(rx.value());
    profile_ = prof;
    // Keep the SSL object: the edge may lose our final flight and retransmit its own, which only
    // a live client answers. Freed with the browser.
  }

  BrowserTls& tls_;
  media::IceCredentials own_;
  media::IceCredentials edge_;
  std::string edge_fingerprint_;
  std::unique_ptr<StunAgent> stun_;
  std::uint64_t tie_ = 0;
  SSL* ssl_ = nullptr;
  std::vector<std::vector<std::byte>> out_;
  std::string error_;
  std::optional<media::SrtpProfile> profile_;
  std::unique_ptr<media::SrtpTransform> srtp_tx_;
  std::unique_ptr<media::SrtpTransform> srtp_rx_;
};

}  // namespace webtrunk::bench

#include "media/dtls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "core/bytes.hpp"
#include "core/log.hpp"
#include "core/tls_context.hpp"

namespace webtrunk::media {

namespace {

constexpr std::size_t kRecordHeader = 13;  // RFC 6347 §4.1: type, version, epoch, sequence, length
constexpr std::uint8_t kContentAlert = 21;
constexpr std::uint8_t kContentHandshake = 22;
constexpr core::Duration kInitialRto = std::chrono::seconds(1);  // RFC 6347 §4.2.4.1
constexpr core::Duration kMaxRto = std::chrono::seconds(60);
// 1+2+4+8+16+32 s: a browser that has not answered in a minute is gone.
constexpr unsigned kMaxRetransmits = 6;
// After the keys, a client that keeps losing our final flight gets it this many times at most.
constexpr unsigned kMaxAnswersAfterKeys = 8;
// A browser retransmitting its ClientHello gets our first flight again at once, this many times.
constexpr unsigned kMaxAnswersToHellos = 8;
constexpr std::uint8_t kHandshakeClientHello = 1;

// AEAD suites only (the browsers all offer them): ECDSA for our generated certificate, RSA for a
// loaded one.
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";

constexpr std::array<SrtpProfile, 3> kDefaultProfiles = {
    SrtpProfile::aead_aes_256_gcm, SrtpProfile::aead_aes_128_gcm, SrtpProfile::aes_cm_128_hmac_sha1_80};

const char* openssl_profile_name(SrtpProfile p) noexcept {
  switch (p) {
    case SrtpProfile::aes_cm_128_hmac_sha1_80: return "SRTP_AES128_CM_SHA1_80";
    case SrtpProfile::aead_aes_128_gcm: return "SRTP_AEAD_AES_128_GCM";
    case SrtpProfile::aead_aes_256_gcm: return "SRTP_AEAD_AES_256_GCM";
  }
  return "";
}

std::optional<SrtpProfile> profile_from_openssl_id(unsigned long id) noexcept {
  switch (id) {
    case SRTP_AES128_CM_SHA1_80: return SrtpProfile::aes_cm_128_hmac_sha1_80;
    case SRTP_AEAD_AES_128_GCM: return SrtpProfile::aead_aes_128_gcm;
    case SRTP_AEAD_AES_256_GCM: return SrtpProfile::aead_aes_256_gcm;
    default: return std::nullopt;
  }
}

std::string sha256_fingerprint(const X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md.data(), &n) != 1) return {};
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(n * 3);
  for (unsigned i = 0; i < n; ++i) {
    if (i) out.push_back(':');
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

int ssl_ex_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL's own DTLS timer reads the wall clock, which sans-IO code must not depend on. It is
// pushed out of reach (an hour) and the endpoint retransmits its flights on its own timer, driven
// by `now`, by sending the same bytes again (a flight the browser lost is not in its replay
// window, so the copy is accepted as the original would have been).
unsigned int no_openssl_timer(SSL*, unsigned int) { return 3600u * 1000u * 1000u; }

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};

}  // namespace

// The AEAD parameters of the suites kCiphers allows: key length and implicit IV (RFC 5288 §3,
// RFC 7905 §2).
struct AeadSuite {
  const EVP_CIPHER* cipher;
  std::size_t key_len;
  std::size_t iv_len;
};
std::optional<AeadSuite> aead_suite(int nid) noexcept {
  switch (nid) {
    case NID_aes_128_gcm: return AeadSuite{EVP_aes_128_gcm(), 16, 4};
    case NID_aes_256_gcm: return AeadSuite{EVP_aes_256_gcm(), 32, 4};
    case NID_chacha20_poly1305: return AeadSuite{EVP_chacha20_poly1305(), 32, 12};
    default: return std::nullopt;
  }
}

// RFC 5246 §6.3: key_block = PRF(master_secret, "key expansion", server_random + client_random),
// laid out client_write_key | server_write_key | client_write_IV | server_write_IV for AEAD
// suites (no MAC keys). Fills the client's (the browser's) write key and IV.
bool derive_client_write_key(SSL* ssl, int& nid, std::array<std::uint8_t, 32>& key,
                             std::array<std::uint8_t, 12>& iv) {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (!cipher) return false;
  nid = SSL_CIPHER_get_cipher_nid(cipher);
  const auto suite = aead_suite(nid);
  const EVP_MD* md = SSL_CIPHER_get_handshake_digest(cipher);
  if (!suite || !md) return false;
  std::array<unsigned char, SSL_MAX_MASTER_KEY_LENGTH> master{};
  const std::size_t master_len = SSL_SESSION_get_master_key(SSL_get_session(ssl), master.data(), master.size());
  std::array<unsigned char, 13 + 2 * SSL3_RANDOM_SIZE> seed{};
  std::memcpy(seed.data(), "key expansion", 13);
  if (master_len == 0 || SSL_get_server_random(ssl, seed.data() + 13, SSL3_RANDOM_SIZE) != SSL3_RANDOM_SIZE ||
      SSL_get_client_random(ssl, seed.data() + 13 + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE) != SSL3_RANDOM_SIZE) {
    return false;
  }
  std::array<unsigned char, 2 * (32 + 12)> block{};
  const std::size_t block_len = 2 * (suite->key_len + suite->iv_len);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "TLS1-PRF", nullptr);
  EVP_KDF_CTX* kctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(EVP_MD_get0_name(md)), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master.data(), master_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed.data(), seed.size()),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = kctx && EVP_KDF_derive(kctx, block.data(), block_len, params) == 1;
  EVP_KDF_CTX_free(kctx);
  if (ok) {
    std::memcpy(key.data(), block.data(), suite->key_len);
    std::memcpy(iv.data(), block.data() + 2 * suite->key_len, suite->iv_len);
  }
  OPENSSL_cleanse(master.data(), master.size());
  OPENSSL_cleanse(block.data(), block.size());
  return ok;
}

// ---- DtlsIdentity ----

DtlsIdentity::~DtlsIdentity() { SSL_CTX_free(ctx_); }

core::Result<std::shared_ptr<DtlsIdentity>> DtlsIdentity::generate() {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
  if (!key) return core::Error{-1, core::openssl_error_text("cannot generate the DTLS key (ECDSA P-256)")};
  std::unique_ptr<X509, X509Free> cert(X509_new());
  std::uint64_t serial = 0;
  if (!cert || RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial) != 1) {
    return core::Error{-1, core::openssl_error_text("cannot make the DTLS certificate")};
  }
  // Browsers check only the fingerprint, never the dates or the name (RFC 8827 §6.5); the dates
  // are generous so a long-running edge never presents an expired certificate to a stricter peer.
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -24L * 3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("webtrunk"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_set_pubkey(cert.get(), key.get()) != 1 || X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return core::Error{-1, core::openssl_error_text("cannot sign the DTLS certificate")};
  }
  return from_cert_and_key(cert.get(), key.get());
}

core::Result<std::shared_ptr<DtlsIdentity>> DtlsIdentity::load(const std::string& cert_pem,
                                                               const std::string& key_pem) {
  std::unique_ptr<BIO, BioFree> cb(BIO_new_file(cert_pem.c_str(), "r"));
  if (!cb) return core::Error{-2, "cannot open the DTLS certificate file " + cert_pem};
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!cert) return core::Error{-22, core::openssl_error_text(("no PEM certificate in " + cert_pem).c_str())};
  std::unique_ptr<BIO, BioFree> kb(BIO_new_file(key_pem.c_str(), "r"));
  if (!kb) return core::Error{-2, "cannot open the DTLS key file " + key_pem};
  std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key) return core::Error{-22, core::openssl_error_text(("no PEM private key in " + key_pem).c_str())};
  return from_cert_and_key(cert.get(), key.get());
}

core::Result<std::shared_ptr<DtlsIdentity>> DtlsIdentity::from_cert_and_key(X509* cert, EVP_PKEY* key) {
  SSL_CTX* ctx = SSL_CTX_new(DTLS_server_method());
  if (!ctx) return core::Error{-1, core::openssl_error_text("cannot create the DTLS context")};
  auto fail = [ctx](const char* what) {
    SSL_CTX_free(ctx);
    return core::Error{-22, core::openssl_error_text(what)};
  };
  if (X509_check_private_key(cert, key) != 1) return fail("the DTLS private key does not match the certificate");
  if (SSL_CTX_use_certificate(ctx, cert) != 1) return fail("DTLS certificate rejected");
  if (SSL_CTX_use_PrivateKey(ctx, key) != 1) return fail("DTLS private key rejected");
  // DTLS 1.0 is obsolete (RFC 8996) and no current browser needs it.
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, kCiphers) != 1) return fail("no usable DTLS cipher");
  // No tickets and no session cache: every call is a full handshake with fresh keys, and a ticket
  // would be one more message in our final flight.
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_read_ahead(ctx, 1);
  std::string fp = sha256_fingerprint(cert);
  if (fp.empty()) return fail("cannot hash the DTLS certificate");
  std::shared_ptr<DtlsIdentity> id(new DtlsIdentity(ctx, std::move(fp)));
  if (auto r = id->set_srtp_profiles(kDefaultProfiles); !r) return r.error();
  return id;
}

core::Result<void> DtlsIdentity::set_srtp_profiles(std::span<const SrtpProfile> profiles) {
  if (profiles.empty()) return core::Error{-22, "at least one SRTP profile is needed"};
  std::string list;
  for (SrtpProfile p : profiles) {
    if (!list.empty()) list.push_back(':');
    list += openssl_profile_name(p);
  }
  // OpenSSL quirk: this one returns 0 on success.
  if (SSL_CTX_set_tlsext_use_srtp(ctx_, list.c_str()) != 0) {
    return core::Error{-22, core::openssl_error_text("SRTP profiles rejected")};
  }
  return {};
}

// ---- DtlsEndpoint ----

namespace {

// The write side: a BIO that keeps each write as one datagram. OpenSSL packs a flight's records
// into datagrams of at most the MTU itself and writes each packed datagram with one BIO_write
// (the same boundaries a datagram socket would see); a BIO_s_mem would glue them together, and
// BIO_s_dgram_mem (which keeps them) only exists from OpenSSL 3.2.
long bio_ctrl(BIO*, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    default: return 0;  // no pending bytes, no MTU overhead, no peer address, no timeouts
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// BIO data: the endpoint's vector of datagrams written during the current SSL call.
int bio_write(BIO* bio, const char* data, int len) {
  auto* written = static_cast<std::vector<std::vector<std::byte>>*>(BIO_get_data(bio));
  if (len <= 0 || !written) return 0;
  const auto* p = reinterpret_cast<const std::byte*>(data);
  written->emplace_back(p, p + len);
  return len;
}

BIO_METHOD* datagram_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "webtrunk DTLS datagrams");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

}  // namespace

DtlsEndpoint::DtlsEndpoint(std::shared_ptr<DtlsIdentity> identity, std::string remote_fingerprint_sha256)
    : identity_(std::move(identity)), remote_fp_(upper(std::move(remote_fingerprint_sha256))) {
  ssl_ = SSL_new(identity_->ssl_ctx());
  if (!ssl_) {
    fail(core::openssl_error_text("cannot create the DTLS connection"));
    return;
  }
  SSL_set_ex_data(ssl_, ssl_ex_index(), this);
  rbio_ = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(datagram_bio_method());
  if (!rbio_ || !wbio) {
    BIO_free(rbio_);
    BIO_free(wbio);
    rbio_ = nullptr;
    fail("cannot create the DTLS BIOs");
    return;
  }
  BIO_set_mem_eof_return(rbio_, -1);  // empty means "wait for more", not end of stream
  BIO_set_data(wbio, &written_);
  SSL_set_bio(ssl_, rbio_, wbio);
  SSL_set_accept_state(ssl_);
  SSL_set_verify(ssl_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &DtlsEndpoint::verify_peer);
  SSL_set_info_callback(ssl_, &DtlsEndpoint::info_callback);
  DTLS_set_link_mtu(ssl_, static_cast<long>(kDtlsMtu));
  DTLS_set_timer_cb(ssl_, no_openssl_timer);
}

DtlsEndpoint::~DtlsEndpoint() { free_ssl(); }

void DtlsEndpoint::free_ssl() noexcept {
  if (ssl_) SSL_free(ssl_);  // frees both BIOs
  ssl_ = nullptr;
  rbio_ = nullptr;
}

void DtlsEndpoint::set_remote_fingerprint(std::string fp) { remote_fp_ = upper(std::move(fp)); }

// Any chain is fine (browsers send one self-signed certificate); the leaf must hash to the SDP's
// a=fingerprint (RFC 8122 §5), checked here so a mismatch aborts the handshake with an alert.
int DtlsEndpoint::verify_peer(int, X509_STORE_CTX* store) {
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* ep = ssl ? static_cast<DtlsEndpoint*>(SSL_get_ex_data(ssl, ssl_ex_index())) : nullptr;
  const X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (!ep || !cert) return 0;
  if (ep->remote_fp_.empty() || sha256_fingerprint(cert) != ep->remote_fp_) {
    ep->fingerprint_mismatch_ = true;
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  return 1;
}

void DtlsEndpoint::info_callback(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT) return;  // an alert we received, not one we sent
  auto* ep = static_cast<DtlsEndpoint*>(SSL_get_ex_data(ssl, ssl_ex_index()));
  if (ep) ep->peer_alert_ = ret;
}

void DtlsEndpoint::fail(std::string why) {
  if (state_ == State::failed) return;
  kDtlsFailuresTotal.inc();
  core::log(core::LogLevel::info, "dtls.failed", "why={}", why);
  state_ = State::failed;
  failure_ = std::move(why);
  retransmit_at_.reset();
  flight_.clear();
  keys_.reset();
  free_ssl();
}

// The reason an SSL call failed, in the words failure() promises.
void DtlsEndpoint::fail_from_openssl(int ssl_error) {
  if (fingerprint_mismatch_) {
    kDtlsFingerprintMismatchTotal.inc();
    fail("certificate fingerprint does not match");
  } else if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    fail("peer closed the DTLS session");
  } else if (peer_alert_ >= 0) {
    fail(std::string("peer sent alert: ") + SSL_alert_desc_string_long(peer_alert_));
  } else {
    fail(core::openssl_error_text("DTLS protocol error"));
  }
}

void DtlsEndpoint::handle_datagram(core::Instant now, std::span<const std::byte> record) {
  // RFC 7983: DTLS datagrams start with a content type in 20..63 and hold at least one header.
  if (record.size() < kRecordHeader || std::to_integer<unsigned>(record[0]) < 20 ||
      std::to_integer<unsigned>(record[0]) > 63 || state_ == State::failed) {
    kDtlsDroppedTotal.inc();
    return;
  }
  if (!ssl_) {  // keys taken: only the browser's retransmitted final flight or an alert matter
    handle_after_keys(record);
    return;
  }
  if (BIO_write(rbio_, record.data(), static_cast<int>(record.size())) != static_cast<int>(record.size())) {
    fail("cannot buffer a DTLS datagram");
    return;
  }
  // The first record an epoch-0 handshake record holding a ClientHello (RFC 6347 §4.2.2 header)?
  const bool client_hello = std::to_integer<std::uint8_t>(record[0]) == kContentHandshake &&
                            core::load_be16(record.data() + 3) == 0 && record.size() > kRecordHeader &&
                            std::to_integer<std::uint8_t>(record[kRecordHeader]) == kHandshakeClientHello;
  drive(now, client_hello);
}

void DtlsEndpoint::drive(core::Instant now, bool client_hello) {
  ERR_clear_error();
  if (state_ == State::waiting || state_ == State::handshaking) {
    const int r = SSL_do_handshake(ssl_);
    const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
    const bool progressed = !written_.empty();
    collect_output();
    if (r == 1) {
      retransmit_at_.reset();  // flight_ now holds CCS + Finished: it answers a retransmitted final flight
      const SRTP_PROTECTION_PROFILE* sp = SSL_get_selected_srtp_profile(ssl_);
      const std::optional<SrtpProfile> profile = sp ? profile_from_openssl_id(sp->id) : std::nullopt;
      const X509* peer = SSL_get0_peer_certificate(ssl_);
      if (!peer || sha256_fingerprint(peer) != remote_fp_) {  // the verify callback already did; belt and braces
        kDtlsFingerprintMismatchTotal.inc();
        fail("certificate fingerprint does not match");
        return;
      }
      if (!profile) {
        fail("no SRTP profile in common (use_srtp)");
        return;
      }
      // RFC 5764 §4.2: 2 * (key + salt) bytes from the exporter, split client | server.
      std::array<std::uint8_t, 2 * (32 + 14)> material{};
      const std::size_t len = 2 * (srtp_key_len(*profile) + srtp_salt_len(*profile));
      static constexpr char kLabel[] = "EXTRACTOR-dtls_srtp";
      if (SSL_export_keying_material(ssl_, material.data(), len, kLabel, sizeof kLabel - 1, nullptr, 0, 0) != 1) {
        fail(core::openssl_error_text("cannot export the SRTP keys"));
        return;
      }
      auto keys = split_dtls_srtp_keys(*profile, material.data(), len, true);
      OPENSSL_cleanse(material.data(), material.size());
      if (!keys) {
        fail(keys.error().message);
        return;
      }
      keys_ = keys.value();
      state_ = State::connected;
      kDtlsHandshakesTotal.inc();
      return;
    }
    if (err == SSL_ERROR_WANT_READ) {
      if (progressed) {  // a new flight: the browser answered the previous one
        state_ = State::handshaking;
        rto_ = kInitialRto;
        retransmits_ = 0;
        retransmit_at_ = now + rto_;
      } else if (client_hello && state_ == State::handshaking && answered_hellos_ < kMaxAnswersToHellos) {
        // RFC 6347 §4.2.4: the browser's ClientHello again means our flight was lost. WebRTC
        // retransmits from 50 ms on, long before our own 1 s timer, so answer it now (OpenSSL
        // ignores a repeated ClientHello).
        ++answered_hellos_;
        kDtlsRetransmitsTotal.inc();
        for (const auto& d : flight_) outbox_.push_back(d);
      }
      return;
    }
    fail_from_openssl(err);
    return;
  }
  // Connected, keys not yet taken: a close_notify, an alert, or the browser's retransmitted final
  // flight (OpenSSL answers that one itself).
  std::array<std::byte, 256> sink{};
  for (int i = 0; i < 16; ++i) {  // bounded: one datagram holds few records
    const int r = SSL_read(ssl_, sink.data(), static_cast<int>(sink.size()));
    if (r > 0) {
      kDtlsDroppedTotal.inc();  // application data: nothing rides on DTLS here (no data channels)
      continue;
    }
    const int err = SSL_get_error(ssl_, r);
    collect_output();
    if (err != SSL_ERROR_WANT_READ) fail_from_openssl(err);
    return;
  }
}

void DtlsEndpoint::collect_output() {
  for (auto& d : written_) outbox_.push_back(std::move(d));
  if (!written_.empty() && state_ != State::connected) {
    // What this call wrote is our newest flight (a flight never spans two calls: OpenSSL writes
    // it whole once the browser's flight is complete).
    flight_.clear();
    for (std::size_t i = outbox_.size() - written_.size(); i < outbox_.size(); ++i) flight_.push_back(outbox_[i]);
  }
  written_.clear();
}

std::optional<std::vector<std::byte>> DtlsEndpoint::poll_transmit() {
  if (outbox_head_ == outbox_.size()) return std::nullopt;
  std::vector<std::byte> d = std::move(outbox_[outbox_head_++]);
  if (outbox_head_ == outbox_.size()) {
    outbox_.clear();
    outbox_.shrink_to_fit();
    outbox_head_ = 0;
  }
  return d;
}

std::optional<core::Instant> DtlsEndpoint::poll_timeout() const {
  if (state_ != State::handshaking) return std::nullopt;
  return retransmit_at_;
}

void DtlsEndpoint::handle_timeout(core::Instant now) {
  if (state_ != State::handshaking || !retransmit_at_ || now < *retransmit_at_) return;
  if (retransmits_ >= kMaxRetransmits) {
    fail("handshake timed out");
    return;
  }
  ++retransmits_;
  kDtlsRetransmitsTotal.inc();
  for (const auto& d : flight_) outbox_.push_back(d);
  rto_ = std::min(rto_ * 2, kMaxRto);
  retransmit_at_ = now + rto_;
}

std::optional<SrtpProfile> DtlsEndpoint::profile() const noexcept {
  if (!keys_) return std::nullopt;
  return keys_->tx.profile;
}

std::optional<SrtpKeyPair> DtlsEndpoint::take_srtp_keys() {
  if (state_ != State::connected || keys_taken_ || !keys_) return std::nullopt;
  keys_taken_ = true;
  AlertKey k;
  if (derive_client_write_key(ssl_, k.cipher_nid, k.key, k.iv)) alert_key_ = k;
  free_ssl();  // DESIGN.md: a call keeps a few hundred bytes of DTLS, not OpenSSL's tens of KB
  written_ = {};
  flight_.shrink_to_fit();
  return keys_;
}

void DtlsEndpoint::handle_after_keys(std::span<const std::byte> record) {
  bool answer = false;
  std::size_t off = 0;
  while (off + kRecordHeader <= record.size()) {
    const std::byte* h = record.data() + off;
    const auto type = std::to_integer<std::uint8_t>(h[0]);
    const std::uint16_t epoch = core::load_be16(h + 3);
    const std::size_t len = core::load_be16(h + 11);
    if (len > record.size() - off - kRecordHeader) break;
    const std::byte* body = h + kRecordHeader;
    if (type == kContentHandshake && epoch >= 1) {
      // The browser's Finished (the end of its final flight) again: it did not get ours. Its
      // Certificate .. ChangeCipherSpec before it are not answered, so one flight gets one answer.
      answer = true;
    } else if (type == kContentAlert && epoch == 0 && len == 2) {
      const int alert = (std::to_integer<int>(body[0]) << 8) | std::to_integer<int>(body[1]);
      fail(std::to_integer<int>(body[1]) == 0 ? std::string("peer closed the DTLS session")
                                              : std::string("peer sent alert: ") + SSL_alert_desc_string_long(alert));
      return;
    } else if (type == kContentAlert) {
      // Sealed in epoch 1 (RTCPeerConnection.close() sends close_notify this way). Only an alert
      // that opens with the browser's key may end the call: anyone can forge a cleartext header.
      std::uint8_t alert[2];
      if (!open_alert(h, {body, len}, alert)) {
        kDtlsDroppedTotal.inc();
        return;
      }
      fail(alert[1] == 0 ? std::string("peer closed the DTLS session")
                         : std::string("peer sent alert: ") + SSL_alert_desc_string_long(alert[1]));
      return;
    }
    off += kRecordHeader + len;
  }
  if (!answer) {
    kDtlsDroppedTotal.inc();
    return;
  }
  if (answered_after_keys_ >= kMaxAnswersAfterKeys) {
    kDtlsDroppedTotal.inc();
    return;
  }
  ++answered_after_keys_;
  kDtlsRetransmitsTotal.inc();
  for (const auto& d : flight_) outbox_.push_back(d);
}

// RFC 5246 §6.2.3.3 with RFC 6347 §4.1.2.1 (the AAD's sequence number is epoch | sequence):
// opens a 2-byte alert record the browser sealed with its write key.
bool DtlsEndpoint::open_alert(const std::byte* header, std::span<const std::byte> body,
                              std::uint8_t alert[2]) const {
  if (!alert_key_) return false;
  const auto suite = aead_suite(alert_key_->cipher_nid);
  if (!suite) return false;
  const bool gcm = suite->iv_len == 4;
  const std::size_t explicit_nonce = gcm ? 8 : 0;
  if (body.size() != explicit_nonce + 2 + 16) return false;
  std::array<std::uint8_t, 12> nonce{};
  const auto* seq = reinterpret_cast<const std::uint8_t*>(header + 3);  // epoch (2) + sequence (6)
  if (gcm) {
    std::memcpy(nonce.data(), alert_key_->iv.data(), 4);
    std::memcpy(nonce.data() + 4, body.data(), 8);
  } else {  // RFC 7905 §2: the IV XOR the left-padded 64-bit sequence number
    nonce = alert_key_->iv;
    for (std::size_t i = 0; i < 8; ++i) nonce[4 + i] ^= seq[i];
  }
  std::array<std::uint8_t, 13> aad{};
  std::memcpy(aad.data(), seq, 8);
  std::memcpy(aad.data() + 8, header, 3);  // type, version
  aad[11] = 0;
  aad[12] = 2;  // the plaintext length
  const auto* ct = reinterpret_cast<const unsigned char*>(body.data() + explicit_nonce);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  const bool ok =
      ctx && EVP_DecryptInit_ex(ctx, suite->cipher, nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx, nullptr, nullptr, alert_key_->key.data(), nonce.data()) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx, alert, &n, ct, 2) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, const_cast<unsigned char*>(ct + 2)) == 1 &&
      EVP_DecryptFinal_ex(ctx, alert + n, &n) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

}  // namespace webtrunk::media

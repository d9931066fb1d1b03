#include "core/tls_context.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "core/log.hpp"

namespace webtrunk::core {

namespace {

// RFC 9325 §4.2: AEAD suites with forward secrecy; ECDSA first (smaller and faster handshakes).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256";
constexpr unsigned char kSessionIdContext[] = "webtrunk";

struct BioFree {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct ChainFree {
  void operator()(STACK_OF(X509) * p) const noexcept { sk_X509_pop_free(p, X509_free); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using ChainPtr = std::unique_ptr<STACK_OF(X509), ChainFree>;

Error load_error(TlsLoadError code, std::string message) {
  kTlsLoadErrorsTotal.inc();
  ERR_clear_error();
  return Error{static_cast<int>(code), std::move(message)};
}

int version_number(TlsVersion v) noexcept { return v == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION; }

Result<std::string> read_pem_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    return load_error(TlsLoadError::unreadable,
                      std::string("cannot read the ") + what + " file " + path + ": " + std::strerror(e));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return load_error(TlsLoadError::unreadable, std::string("cannot read the ") + what + " file " + path);
  if (text.find("-----BEGIN ") == std::string::npos) {
    return load_error(TlsLoadError::not_pem, std::string("the ") + what + " file " + path +
                                                 " is not PEM (no -----BEGIN line; convert DER with openssl x509 -inform der)");
  }
  return text;
}

std::unique_ptr<BIO, BioFree> mem_bio(const std::string& text) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// "2027-01-02 03:04:05 UTC", or "?" if OpenSSL cannot read the time.
std::string format_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[32];
  return std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) ? std::string(buf) : std::string("?");
}

TlsCertInfo describe(X509* leaf) {
  TlsCertInfo info;
  if (std::unique_ptr<BIO, BioFree> b(BIO_new(BIO_s_mem())); b) {
    X509_NAME_print_ex(b.get(), X509_get_subject_name(leaf), 0, XN_FLAG_RFC2253);
    char* p = nullptr;
    const long n = BIO_get_mem_data(b.get(), &p);
    if (n > 0) info.subject.assign(p, static_cast<std::size_t>(n));
  }
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type != GEN_DNS) continue;
    const ASN1_IA5STRING* s = gn->d.dNSName;
    info.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                            static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(sans);
  info.not_after = format_time(X509_get0_notAfter(leaf));
  return info;
}

// A certificate chain (leaf first) and its private key, checked: readable PEM, a certificate, a key
// that is the certificate's, dates that include `now`.
struct LoadedCert {
  X509Ptr leaf;
  ChainPtr chain;  // the rest of the chain (may be empty)
  PkeyPtr key;
};

Result<std::string> pem_text(const std::string& text, const std::string& path, const char* what) {
  if (text.empty()) return read_pem_file(path, what);
  if (text.find("-----BEGIN ") == std::string::npos) {
    return load_error(TlsLoadError::not_pem, std::string("the ") + what + " given as text is not PEM");
  }
  return text;
}

Result<LoadedCert> load_cert(const TlsCertFiles& files, std::int64_t now) {
  auto cert_text = pem_text(files.cert_pem, files.cert_file, "certificate");
  if (!cert_text) return cert_text.error();
  auto b = mem_bio(*cert_text);
  LoadedCert out;
  out.leaf.reset(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!out.leaf) {
    return load_error(TlsLoadError::no_certificate,
                      "no certificate (-----BEGIN CERTIFICATE-----) in " + files.cert_file);
  }
  out.chain.reset(sk_X509_new_null());
  while (X509* extra = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) sk_X509_push(out.chain.get(), extra);
  ERR_clear_error();  // the loop ends on "no start line"

  const std::string& key_path = files.key_file.empty() ? files.cert_file : files.key_file;
  Result<std::string> key_text = !files.key_pem.empty() ? pem_text(files.key_pem, key_path, "private key")
                                 : files.key_file.empty() ? Result<std::string>(*cert_text)
                                                          : read_pem_file(files.key_file, "private key");
  if (!key_text) return key_text.error();
  auto kb = mem_bio(*key_text);
  // No passphrase callback: an encrypted key cannot be used unattended and is reported as missing.
  static pem_password_cb* const no_passphrase = [](char*, int, int, void*) { return 0; };
  out.key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, no_passphrase, nullptr));
  if (!out.key) {
    return load_error(TlsLoadError::no_private_key,
                      "no unencrypted private key (-----BEGIN PRIVATE KEY-----) in " + key_path);
  }
  if (X509_check_private_key(out.leaf.get(), out.key.get()) != 1) {
    return load_error(TlsLoadError::key_mismatch,
                      "the private key in " + key_path + " does not match the certificate in " + files.cert_file);
  }
  const auto t = static_cast<time_t>(now);
  const ASN1_TIME* not_before = X509_get0_notBefore(out.leaf.get());
  const ASN1_TIME* not_after = X509_get0_notAfter(out.leaf.get());
  if (ASN1_TIME_cmp_time_t(not_after, t) < 0) {
    return load_error(TlsLoadError::expired, "the certificate in " + files.cert_file + " expired on " +
                                                 format_time(not_after) + " (valid from " +
                                                 format_time(not_before) + ")");
  }
  if (ASN1_TIME_cmp_time_t(not_before, t) > 0) {
    return load_error(TlsLoadError::not_yet_valid, "the certificate in " + files.cert_file +
                                                       " is not valid before " + format_time(not_before) +
                                                       " (until " + format_time(not_after) + ")");
  }
  return out;
}

// Adds every certificate of `pem` to the context's trust store; false if there is none.
bool add_cas(SSL_CTX* ctx, const std::string& pem) {
  auto b = mem_bio(pem);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509Ptr ca{PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)}) {
    if (X509_STORE_add_cert(store, ca.get()) != 1) return false;
    ++added;
  }
  ERR_clear_error();
  return added > 0;
}

// Settings every context shares (the header's list).
bool configure_common(SSL_CTX* ctx, TlsVersion min, TlsVersion max) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return SSL_CTX_set_min_proto_version(ctx, version_number(min)) == 1 &&
         SSL_CTX_set_max_proto_version(ctx, version_number(max)) == 1 &&
         SSL_CTX_set1_groups_list(ctx, kGroups) == 1 && SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) == 1 &&
         SSL_CTX_set_ciphersuites(ctx, kTls13Suites) == 1;
}

bool use_cert(SSL_CTX* ctx, const LoadedCert& c) {
  if (SSL_CTX_use_certificate(ctx, c.leaf.get()) != 1 || SSL_CTX_use_PrivateKey(ctx, c.key.get()) != 1) return false;
  return SSL_CTX_set1_chain(ctx, c.chain.get()) == 1;
}

int ctx_ex_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// RFC 5077 §4 ticket protection with our keys: AES-256-CBC + HMAC-SHA256 (what OpenSSL's own keys
// use). enc=1: seal under the current key. enc=0: open; 2 = fine, and send a fresh ticket, 0 =
// unknown key (full handshake). Every resumption gets a fresh ticket (under the current key): a
// client uses each ticket once (RFC 8446 §C.4) and would otherwise fall back to a full handshake
// every other connection.
int ticket_key_callback(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cctx,
                        EVP_MAC_CTX* hctx, int enc) {
  auto* keys = static_cast<TlsTicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_ex_index()));
  if (!keys) return -1;
  std::optional<TlsTicketKeys::Key> key;
  if (enc == 1) {
    key = keys->current();
    std::memcpy(key_name, key->name.data(), key->name.size());
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
  } else {
    key = keys->find(key_name, 16);
    if (!key) {
      kTlsTicketKeyUnknownTotal.inc();
      return 0;
    }
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key->hmac_key.data(), key->hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(hctx, params) != 1) return -1;
  const int r = enc == 1 ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv)
                         : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv);
  OPENSSL_cleanse(key->aes_key.data(), key->aes_key.size());
  OPENSSL_cleanse(key->hmac_key.data(), key->hmac_key.size());
  return r != 1 ? -1 : enc == 1 ? 1 : 2;
}

// RFC 7301 §3.2: the server picks by its own preference. A client whose list has none of ours goes
// on without ALPN (NOACK) rather than being refused: curl and old clients send "h2" alone.
int alpn_select_callback(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                         unsigned int inlen, void* arg) {
  const auto* ours = static_cast<const std::vector<unsigned char>*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, ours->data(), static_cast<unsigned>(ours->size()), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

Result<std::vector<unsigned char>> alpn_wire(const std::vector<std::string>& protos) {
  std::vector<unsigned char> wire;
  for (const auto& p : protos) {
    if (p.empty() || p.size() > 255) return load_error(TlsLoadError::bad_config, "ALPN protocol ids are 1..255 bytes");
    wire.push_back(static_cast<unsigned char>(p.size()));
    wire.insert(wire.end(), p.begin(), p.end());
  }
  return wire;
}

Result<std::vector<TlsCertFiles>> cert_list(const TlsServerConfig& config) {
  std::vector<TlsCertFiles> files = config.certs;
  if (!config.cert_dir.empty()) {
    std::error_code ec;
    std::vector<std::string> pems;
    for (std::filesystem::directory_iterator it(config.cert_dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() == ".pem") pems.push_back(it->path().string());
    }
    if (ec) {
      return load_error(TlsLoadError::unreadable,
                        "cannot read the certificate directory " + config.cert_dir + ": " + ec.message());
    }
    if (pems.empty()) {
      return load_error(TlsLoadError::unreadable, "no *.pem file in the certificate directory " + config.cert_dir);
    }
    std::sort(pems.begin(), pems.end());
    for (auto& p : pems) files.push_back(TlsCertFiles{std::move(p), {}, {}, {}});
  }
  if (files.empty()) return load_error(TlsLoadError::bad_config, "a TLS server needs at least one certificate");
  return files;
}

}  // namespace

const char* tls_load_error_reason(int code) noexcept {
  switch (static_cast<TlsLoadError>(code)) {
    case TlsLoadError::unreadable: return "unreadable";
    case TlsLoadError::not_pem: return "not_pem";
    case TlsLoadError::no_certificate: return "no_certificate";
    case TlsLoadError::no_private_key: return "no_private_key";
    case TlsLoadError::key_mismatch: return "key_mismatch";
    case TlsLoadError::expired: return "expired";
    case TlsLoadError::not_yet_valid: return "not_yet_valid";
    case TlsLoadError::bad_config: return "bad_config";
  }
  return "other";
}

std::string openssl_error_text(const char* what) {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  const char* reason = e ? ERR_reason_error_string(e) : nullptr;
  return reason ? std::string(what) + ": " + reason : std::string(what);
}

// ---- TlsTicketKeys ----

TlsTicketKeys::Key TlsTicketKeys::random_key() {
  Key k;
  // RAND_bytes fails only when the DRBG cannot be seeded, which OpenSSL reports as fatal at start.
  if (RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) != 1 ||
      RAND_bytes(k.aes_key.data(), static_cast<int>(k.aes_key.size())) != 1 ||
      RAND_bytes(k.hmac_key.data(), static_cast<int>(k.hmac_key.size())) != 1) {
    std::abort();
  }
  return k;
}

std::shared_ptr<TlsTicketKeys> TlsTicketKeys::create() {
  auto keys = std::make_shared<TlsTicketKeys>();
  keys->current_ = random_key();
  return keys;
}

void TlsTicketKeys::rotate() {
  const Key fresh = random_key();
  std::lock_guard lock(mu_);
  previous_ = current_;
  current_ = fresh;
}

void TlsTicketKeys::set(const Key& current, const std::optional<Key>& previous) {
  std::lock_guard lock(mu_);
  current_ = current;
  previous_ = previous;
}

TlsTicketKeys::Key TlsTicketKeys::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::optional<TlsTicketKeys::Key> TlsTicketKeys::find(const std::uint8_t* name, std::size_t len) const {
  std::lock_guard lock(mu_);
  if (len == current_.name.size() && std::memcmp(name, current_.name.data(), len) == 0) return current_;
  if (previous_ && len == previous_->name.size() && std::memcmp(name, previous_->name.data(), len) == 0) {
    return previous_;
  }
  return std::nullopt;
}

// ---- TlsContext ----

// Builds a context step by step; the TlsContext it fills is freed on any error.
struct TlsContextBuilder {
  static Result<SSL_CTX*> new_ctx(TlsContext& c, const SSL_METHOD* method, TlsVersion min, TlsVersion max) {
    SSL_CTX* ctx = SSL_CTX_new(method);
    if (!ctx) return load_error(TlsLoadError::bad_config, openssl_error_text("cannot create a TLS context"));
    c.ctxs_.push_back(ctx);
    if (version_number(min) > version_number(max) || !configure_common(ctx, min, max)) {
      return load_error(TlsLoadError::bad_config, openssl_error_text("TLS versions, groups or ciphers refused"));
    }
    return ctx;
  }

  static Result<std::shared_ptr<const TlsContext>> server(const TlsServerConfig& config) {
    auto files = cert_list(config);
    if (!files) return files.error();
    std::shared_ptr<TlsContext> c(new TlsContext());
    c->role_ = TlsContext::Role::server;
    c->handshake_timeout_ = config.handshake_timeout;
    c->ticket_keys_ = config.ticket_keys;
    auto wire = alpn_wire(config.alpn);
    if (!wire) return wire.error();
    c->alpn_wire_ = std::move(*wire);
    const std::int64_t now = config.unix_now.value_or(unix_now());
    for (const TlsCertFiles& f : *files) {
      auto cert = load_cert(f, now);
      if (!cert) return cert.error();
      auto ctx = new_ctx(*c, TLS_server_method(), config.min_version, config.max_version);
      if (!ctx) return ctx.error();
      if (!use_cert(*ctx, *cert)) {
        return load_error(TlsLoadError::bad_config, openssl_error_text(("certificate refused: " + f.cert_file).c_str()));
      }
      c->leaves_.push_back(SSL_CTX_get0_certificate(*ctx));
      c->infos_.push_back(describe(cert->leaf.get()));
      // Stateless tickets only: a session cache would be per shard and per process.
      SSL_CTX_set_session_cache_mode(*ctx, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_session_id_context(*ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
      SSL_CTX_set_timeout(*ctx, static_cast<long>(config.ticket_lifetime_s));
      if (c->ticket_keys_) {
        SSL_CTX_set_ex_data(*ctx, ctx_ex_index(), c->ticket_keys_.get());
        SSL_CTX_set_tlsext_ticket_key_evp_cb(*ctx, ticket_key_callback);
        SSL_CTX_set_num_tickets(*ctx, 1);  // one is enough for a browser's next connection
      } else {
        SSL_CTX_set_options(*ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(*ctx, 0);
      }
      SSL_CTX_set_tlsext_servername_callback(*ctx, &TlsContext::servername_callback);
      SSL_CTX_set_tlsext_servername_arg(*ctx, c.get());
      if (!c->alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(*ctx, alpn_select_callback, &c->alpn_wire_);
    }
    return std::shared_ptr<const TlsContext>(std::move(c));
  }

  static Result<std::shared_ptr<const TlsContext>> client(const TlsClientConfig& config) {
    std::shared_ptr<TlsContext> c(new TlsContext());
    c->role_ = TlsContext::Role::client;
    c->handshake_timeout_ = config.handshake_timeout;
    auto ctx = new_ctx(*c, TLS_client_method(), config.min_version, config.max_version);
    if (!ctx) return ctx.error();
    SSL_CTX_set_verify(*ctx, SSL_VERIFY_PEER, nullptr);
    if (config.system_cas && SSL_CTX_set_default_verify_paths(*ctx) != 1) {
      return load_error(TlsLoadError::bad_config, openssl_error_text("cannot use the system CA store"));
    }
    if (!config.extra_ca_file.empty() || !config.extra_ca_pem.empty()) {
      auto text = pem_text(config.extra_ca_pem, config.extra_ca_file, "CA");
      if (!text) return text.error();
      if (!add_cas(*ctx, *text)) {
        return load_error(TlsLoadError::no_certificate, "no CA certificate in " + config.extra_ca_file);
      }
    }
    if (!config.system_cas && config.extra_ca_file.empty() && config.extra_ca_pem.empty()) {
      return load_error(TlsLoadError::bad_config, "a TLS client needs the system CAs or a CA file to verify peers");
    }
    if (!config.client_cert.cert_file.empty() || !config.client_cert.cert_pem.empty()) {
      auto cert = load_cert(config.client_cert, config.unix_now.value_or(unix_now()));
      if (!cert) return cert.error();
      if (!use_cert(*ctx, *cert)) {
        return load_error(TlsLoadError::bad_config, openssl_error_text("client certificate refused"));
      }
      c->infos_.push_back(describe(cert->leaf.get()));
    }
    auto wire = alpn_wire(config.alpn);
    if (!wire) return wire.error();
    c->alpn_wire_ = std::move(*wire);
    // OpenSSL quirk: 0 is success here.
    if (!c->alpn_wire_.empty() &&
        SSL_CTX_set_alpn_protos(*ctx, c->alpn_wire_.data(), static_cast<unsigned>(c->alpn_wire_.size())) != 0) {
      return load_error(TlsLoadError::bad_config, "ALPN list refused");
    }
    return std::shared_ptr<const TlsContext>(std::move(c));
  }
};

Result<std::shared_ptr<const TlsContext>> TlsContext::server(const TlsServerConfig& config) {
  return TlsContextBuilder::server(config);
}

Result<std::shared_ptr<const TlsContext>> TlsContext::client(const TlsClientConfig& config) {
  return TlsContextBuilder::client(config);
}

TlsContext::~TlsContext() {
  for (SSL_CTX* ctx : ctxs_) SSL_CTX_free(ctx);
}

// RFC 6066 §3: the first certificate whose SAN DNS names cover the name (one wildcard label, RFC
// 6125 §6.4.3; the subject CN is not looked at, RFC 6125 §6.4.4), else the default.
int TlsContext::servername_callback(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name || self->ctxs_.size() < 2) return SSL_TLSEXT_ERR_OK;
  const std::size_t len = std::strlen(name);
  for (std::size_t i = 0; i < self->leaves_.size(); ++i) {
    if (X509_check_host(self->leaves_[i], name, len,
                        X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1) {
      if (SSL_get_SSL_CTX(ssl) != self->ctxs_[i]) SSL_set_SSL_CTX(ssl, self->ctxs_[i]);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

namespace {

Result<void> swap_in(std::shared_ptr<const TlsContext>& slot, Result<std::shared_ptr<const TlsContext>> next) {
  if (!next) {
    log(LogLevel::warn, "tls.reload_failed", "reason={} why={}", tls_load_error_reason(next.error().code),
        next.error().message);
    return next.error();
  }
  slot = std::move(*next);
  return {};
}

}  // namespace

Result<void> reload_tls_context(std::shared_ptr<const TlsContext>& slot, const TlsServerConfig& config) {
  return swap_in(slot, TlsContext::server(config));
}

Result<void> reload_tls_context(std::shared_ptr<const TlsContext>& slot, const TlsClientConfig& config) {
  return swap_in(slot, TlsContext::client(config));
}

}  // namespace webtrunk::core

#include "core/tls_certificate.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <memory>

#include "core/tls_context.hpp"

namespace webtrunk::core {

namespace {

struct Free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
  void operator()(X509* p) const noexcept { X509_free(p); }
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};

std::string bio_text(BIO* b) {
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  return n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
  const bool ok = ext && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

}  // namespace

Result<TlsPem> make_tls_certificate(const TlsCertSpec& spec, const TlsPem* issuer) {
  std::unique_ptr<EVP_PKEY, Free> key(spec.key_type == TlsCertSpec::KeyType::rsa2048 ? EVP_RSA_gen(2048)
                                                                                      : EVP_EC_gen("P-256"));
  std::unique_ptr<X509, Free> cert(X509_new());
  std::uint64_t serial = 0;
  if (!key || !cert || RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial) != 1) {
    return Error{-1, openssl_error_text("cannot make a key")};
  }
  std::unique_ptr<X509, Free> ca_cert;
  std::unique_ptr<EVP_PKEY, Free> ca_key;
  if (issuer) {
    std::unique_ptr<BIO, Free> cb(BIO_new_mem_buf(issuer->cert.data(), static_cast<int>(issuer->cert.size())));
    std::unique_ptr<BIO, Free> kb(BIO_new_mem_buf(issuer->key.data(), static_cast<int>(issuer->key.size())));
    ca_cert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    ca_key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    if (!ca_cert || !ca_key) return Error{-22, openssl_error_text("the issuer is not a PEM certificate and key")};
  }
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(spec.not_before_s));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(spec.not_after_s));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), ca_cert ? X509_get_subject_name(ca_cert.get()) : name);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return Error{-1, openssl_error_text("cannot set the public key")};
  X509* signer = ca_cert ? ca_cert.get() : cert.get();
  bool ok = add_ext(cert.get(), signer, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "CA:FALSE") &&
            add_ext(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (spec.ca) ok = ok && add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  if (!spec.dns_names.empty()) {
    std::string san;
    for (const auto& n : spec.dns_names) {
      unsigned char addr[16];
      const bool ip = inet_pton(AF_INET, n.c_str(), addr) == 1 || inet_pton(AF_INET6, n.c_str(), addr) == 1;
      san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + n;
    }
    ok = ok && add_ext(cert.get(), signer, NID_subject_alt_name, san);
  }
  if (!ok) return Error{-22, openssl_error_text("cannot add the certificate extensions")};
  if (X509_sign(cert.get(), ca_key ? ca_key.get() : key.get(), EVP_sha256()) == 0) {
    return Error{-1, openssl_error_text("cannot sign the certificate")};
  }
  std::unique_ptr<BIO, Free> cout(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, Free> kout(BIO_new(BIO_s_mem()));
  if (!cout || !kout || PEM_write_bio_X509(cout.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(kout.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Error{-1, openssl_error_text("cannot write PEM")};
  }
  return TlsPem{bio_text(cout.get()), bio_text(kout.get())};
}

}  // namespace webtrunk::core

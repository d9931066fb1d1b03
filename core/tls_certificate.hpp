// Makes a key and an X.509 certificate as PEM text: self-signed, or signed by a given CA. For the
// demo (a wss:// port with no certificate of its own), for tests and for benchmarks; production
// certificates come from files (TlsContext).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace webtrunk::core {

struct TlsPem {
  std::string cert;  // one CERTIFICATE block
  std::string key;   // one PRIVATE KEY block (PKCS#8, unencrypted)
};

struct TlsCertSpec {
  enum class KeyType : std::uint8_t { ec_p256, rsa2048 };
  KeyType key_type = KeyType::ec_p256;
  std::string common_name = "webtrunk";
  std::vector<std::string> dns_names;        // subjectAltName entries: DNS names ("*.example.com" allowed), IP literals as IP
  std::int64_t not_before_s = -3600;         // validity, in seconds from now
  std::int64_t not_after_s = 365 * 86400;
  bool ca = false;                           // basicConstraints CA:TRUE, keyCertSign
};

// `issuer`: sign with this CA's key and name instead of self-signing (its cert and key as made here).
[[nodiscard]] Result<TlsPem> make_tls_certificate(const TlsCertSpec& spec, const TlsPem* issuer = nullptr);

}  // namespace webtrunk::core

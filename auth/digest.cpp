// Low-level MD5/SHA256 (deprecated in OpenSSL 3, still shipped): plain-struct state, no provider
// lookup or allocation per hash, which matters at one digest check per REGISTER/INVITE.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "auth/digest.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "auth/hmac.hpp"
#include "core/metrics.hpp"

namespace webtrunk::auth {
namespace {

const core::Counter kDigestFailed{"webtrunk_auth_digest_failed_total", "Digest responses that did not verify"};
const core::Counter kDigestMalformed{"webtrunk_auth_digest_malformed_total",
                                     "Digest credentials refused: malformed, unsupported algorithm or qop"};

constexpr char kHex[] = "0123456789abcdef";

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_sha256(DigestAlgorithm a) noexcept { return a == DigestAlgorithm::sha256 || a == DigestAlgorithm::sha256_sess; }
bool is_sess(DigestAlgorithm a) noexcept { return a == DigestAlgorithm::md5_sess || a == DigestAlgorithm::sha256_sess; }

// H(p1 ":" p2 ":" ...) as lower-case hex.
class Hasher {
 public:
  explicit Hasher(DigestAlgorithm a) noexcept : sha256_(is_sha256(a)) {
    if (sha256_) {
      SHA256_Init(&s_);
    } else {
      MD5_Init(&m_);
    }
  }
  Hasher& add(std::string_view v) noexcept {
    if (sha256_) {
      SHA256_Update(&s_, v.data(), v.size());
    } else {
      MD5_Update(&m_, v.data(), v.size());
    }
    return *this;
  }
  Hasher& field(std::string_view v) noexcept { return add(":").add(v); }
  DigestHex hex() noexcept {
    unsigned char md[32];
    std::size_t n = 16;
    if (sha256_) {
      SHA256_Final(md, &s_);
      n = 32;
    } else {
      MD5_Final(md, &m_);
    }
    DigestHex out;
    for (std::size_t i = 0; i < n; ++i) {
      out.buf[2 * i] = kHex[md[i] >> 4];
      out.buf[2 * i + 1] = kHex[md[i] & 15];
    }
    out.len = static_cast<std::uint8_t>(2 * n);
    OPENSSL_cleanse(md, sizeof md);
    return out;
  }

 private:
  bool sha256_;
  MD5_CTX m_;
  SHA256_CTX s_;
};

bool has_escape(const DigestCredentials& c) noexcept {
  for (std::string_view v : {c.username, c.realm, c.nonce, c.uri, c.cnonce}) {
    if (v.find('\\') != std::string_view::npos) return true;
  }
  return false;
}

bool is_hex(std::string_view v) noexcept {
  for (char ch : v) {
    const bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    if (!ok) return false;
  }
  return true;
}

DigestStatus validate(const DigestCredentials& c, DigestAlgorithm& algo) noexcept {
  const auto a = parse_digest_algorithm(c.algorithm);
  if (!a) return DigestStatus::unsupported_algorithm;
  algo = *a;
  if (c.username.empty() || c.realm.empty() || c.nonce.empty() || c.uri.empty()) return DigestStatus::malformed;
  if (has_escape(c)) return DigestStatus::malformed;
  if (!c.qop.empty()) {
    // RFC 7616 §3.4: qop "auth-int" needs the body hash; no browser client sends it.
    if (!iequals(c.qop, "auth")) return DigestStatus::unsupported_qop;
    // RFC 2617 §3.2.2: nc is exactly 8 LHEX; cnonce is required with qop.
    if (c.nc.size() != 8 || !is_hex(c.nc) || c.cnonce.empty()) return DigestStatus::malformed;
  } else if (is_sess(algo)) {
    if (c.cnonce.empty()) return DigestStatus::malformed;  // -sess hashes the cnonce into HA1
  }
  return DigestStatus::ok;
}

DigestHex response_for(DigestAlgorithm algo, const DigestCredentials& c, std::string_view method,
                       std::string_view password) noexcept {
  DigestHex ha1 = digest_ha1(algo, c.username, c.realm, password);
  if (is_sess(algo)) ha1 = Hasher(algo).add(ha1.view()).field(c.nonce).field(c.cnonce).hex();  // RFC 7616 §3.4.2
  const DigestHex ha2 = Hasher(algo).add(method).field(c.uri).hex();                           // RFC 7616 §3.4.3
  Hasher h(algo);
  h.add(ha1.view()).field(c.nonce);
  if (!c.qop.empty()) h.field(c.nc).field(c.cnonce).field(c.qop);  // "auth" in some case (validated)
  DigestHex out = h.field(ha2.view()).hex();
  OPENSSL_cleanse(ha1.buf.data(), ha1.buf.size());
  return out;
}

void append_quoted(std::string& out, std::string_view v) {
  out += '"';
  for (char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\';  // RFC 3261 §25.1 quoted-pair
    out += ch;
  }
  out += '"';
}

}  // namespace

std::optional<DigestAlgorithm> parse_digest_algorithm(std::string_view s) noexcept {
  if (s.empty() || iequals(s, "MD5")) return DigestAlgorithm::md5;
  if (iequals(s, "MD5-sess")) return DigestAlgorithm::md5_sess;
  if (iequals(s, "SHA-256")) return DigestAlgorithm::sha256;
  if (iequals(s, "SHA-256-sess")) return DigestAlgorithm::sha256_sess;
  return std::nullopt;
}

std::string_view to_string(DigestAlgorithm a) noexcept {
  switch (a) {
    case DigestAlgorithm::md5:
      return "MD5";
    case DigestAlgorithm::md5_sess:
      return "MD5-sess";
    case DigestAlgorithm::sha256:
      return "SHA-256";
    case DigestAlgorithm::sha256_sess:
      return "SHA-256-sess";
  }
  return "MD5";
}

std::string_view reason_phrase(DigestStatus s) noexcept {
  switch (s) {
    case DigestStatus::ok:
      return "OK";
    case DigestStatus::mismatch:
      return "Wrong password";
    case DigestStatus::unsupported_algorithm:
      return "Unsupported digest algorithm";
    case DigestStatus::unsupported_qop:
      return "Unsupported qop";
    case DigestStatus::malformed:
      return "Malformed credentials";
  }
  return "Malformed credentials";
}

DigestHex digest_ha1(DigestAlgorithm a, std::string_view username, std::string_view realm,
                     std::string_view password) noexcept {
  return Hasher(a).add(username).field(realm).field(password).hex();
}

DigestStatus compute_digest_response(const DigestCredentials& c, std::string_view method, std::string_view password,
                                     DigestHex& out) noexcept {
  DigestAlgorithm algo{};
  const DigestStatus st = validate(c, algo);
  if (st != DigestStatus::ok) return st;
  out = response_for(algo, c, method, password);
  return DigestStatus::ok;
}

DigestStatus check_digest(const DigestCredentials& c, std::string_view method, std::string_view password) noexcept {
  DigestAlgorithm algo{};
  DigestStatus st = validate(c, algo);
  if (st == DigestStatus::ok && c.response.size() != (is_sha256(algo) ? 64u : 32u)) st = DigestStatus::malformed;
  if (st != DigestStatus::ok) {
    kDigestMalformed.inc();
    return st;
  }
  const DigestHex want = response_for(algo, c, method, password);
  // Fold the client's hex to lower case first (its own data, not secret), then compare in
  // constant time against ours (auth.md §5.7: full length, CRYPTO_memcmp).
  std::array<char, 64> given{};
  for (std::size_t i = 0; i < c.response.size(); ++i) {
    char ch = c.response[i];
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    given[i] = ch;
  }
  if (!ct_equal(std::string_view(given.data(), c.response.size()), want.view())) {
    kDigestFailed.inc();
    return DigestStatus::mismatch;
  }
  return DigestStatus::ok;
}

std::string build_challenge(const DigestChallenge& ch) {
  std::string out = "Digest realm=";
  append_quoted(out, ch.realm);
  out += ", nonce=";
  append_quoted(out, ch.nonce);
  out += ", algorithm=";
  out += to_string(ch.algorithm);  // exactly "MD5": JsSIP/SIP.js compare case-sensitively
  if (ch.qop_auth) out += ", qop=\"auth\"";
  if (ch.stale) out += ", stale=true";
  if (!ch.opaque.empty()) {
    out += ", opaque=";
    append_quoted(out, ch.opaque);
  }
  return out;
}

std::vector<std::string> build_challenges(DigestChallenge ch, bool offer_sha256) {
  std::vector<std::string> out;
  if (offer_sha256) {
    ch.algorithm = DigestAlgorithm::sha256;
    out.push_back(build_challenge(ch));
  }
  ch.algorithm = DigestAlgorithm::md5;
  out.push_back(build_challenge(ch));
  return out;
}

}  // namespace webtrunk::auth

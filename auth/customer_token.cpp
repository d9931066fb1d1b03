#include "auth/customer_token.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>

#include "auth/base64.hpp"
#include "core/http_server.hpp"
#include "core/metrics.hpp"

namespace webtrunk::auth {
namespace {

const core::Counter kCustomerRejected{"webtrunk_auth_customer_token_rejected_total",
                                      "Customer tokens refused (malformed, bad MAC, expired, too long)"};

bool valid_username(std::string_view u) noexcept {
  if (u.empty() || u.size() > kMaxCustomerUsernameSize) return false;
  for (char c : u) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string signed_string(std::int64_t expires, std::string_view username) {
  return fmt::format("{}:{}", expires, username);
}

void append_json_string(std::string& out, std::string_view v) { out += core::json_quote(v); }

CustomerTokenError reject(CustomerTokenError e) noexcept {
  kCustomerRejected.inc();
  return e;
}

}  // namespace

CustomerToken mint_customer_token(std::string_view account, std::string_view username, std::string_view secret,
                                  std::int64_t now, std::int64_t ttl, HmacAlgo algo) {
  CustomerToken t;
  t.account = std::string(account.empty() ? username : account);
  t.username = std::string(username);
  t.expires = now + ttl;
  std::array<std::uint8_t, kMaxMacSize> mac{};
  const std::size_t n = HmacKey(algo, secret).mac(signed_string(t.expires, username), mac);
  t.key = base64_encode(std::span<const std::uint8_t>(mac.data(), n));
  return t;
}

std::string_view reason_phrase(CustomerTokenError e) noexcept {
  switch (e) {
    case CustomerTokenError::none:
      return "OK";
    case CustomerTokenError::malformed:
      return "Malformed token";
    case CustomerTokenError::bad_key:
      return "Invalid token";
    case CustomerTokenError::expired:
      return "Token expired";
    case CustomerTokenError::lifetime_too_long:
      return "Token lifetime too long";
  }
  return "Invalid token";
}

namespace {

// Whether `given` (the decoded key, 20 or 32 bytes) is HMAC(secret, "<expires>:<username>").
bool key_matches(const CustomerToken& t, std::span<const std::uint8_t> given, std::string_view secret) noexcept {
  // Algorithm by MAC length: 20 bytes SHA-1 (Voxbone, every existing servlet), 32 SHA-256.
  const HmacAlgo algo = given.size() == 20 ? HmacAlgo::sha1 : HmacAlgo::sha256;
  // "<expires>:<username>" without allocating: the digits, then ':' + username as a second part.
  char digits[24];
  const auto len = fmt::format_to_n(digits, sizeof digits, "{}:", t.expires).size;
  std::array<std::uint8_t, kMaxMacSize> want{};
  HmacKey(algo, secret)
      .mac2({reinterpret_cast<const std::uint8_t*>(digits), len},
            {reinterpret_cast<const std::uint8_t*>(t.username.data()), t.username.size()}, want);
  const bool match = ct_equal(given, std::span<const std::uint8_t>(want.data(), given.size()));
  OPENSSL_cleanse(want.data(), want.size());
  return match;
}

// Syntax, then the MAC against each secret in turn, then the time (MAC first: see the header).
template <class SecretAt>
CustomerTokenError verify_any(const CustomerToken& t, std::size_t count, SecretAt secret_at, std::int64_t now,
                              const CustomerTokenPolicy& policy, std::size_t* matched) noexcept {
  if (!valid_username(t.username) || t.expires < 0) return reject(CustomerTokenError::malformed);
  std::array<std::uint8_t, 64> given{};
  const auto n = base64_decode_lenient(t.key, given);
  if (!n) return reject(CustomerTokenError::malformed);
  if (*n != 20 && *n != 32) return reject(CustomerTokenError::bad_key);
  const std::span<const std::uint8_t> mac(given.data(), *n);
  std::size_t hit = count;
  for (std::size_t i = 0; i < count && hit == count; ++i) {
    if (key_matches(t, mac, secret_at(i))) hit = i;
  }
  if (hit == count) return reject(CustomerTokenError::bad_key);
  if (matched != nullptr) *matched = hit;
  if (t.expires < now && now - t.expires > policy.skew_s) return reject(CustomerTokenError::expired);
  if (t.expires > now && t.expires - now > policy.max_lifetime_s + policy.skew_s) {
    return reject(CustomerTokenError::lifetime_too_long);
  }
  return CustomerTokenError::none;
}

}  // namespace

CustomerTokenError verify_customer_token(const CustomerToken& t, std::string_view secret, std::int64_t now,
                                         const CustomerTokenPolicy& policy) noexcept {
  return verify_any(t, 1, [secret](std::size_t) { return secret; }, now, policy, nullptr);
}

CustomerTokenError verify_customer_token(const CustomerToken& t, std::span<const Secret> secrets, std::int64_t now,
                                         const CustomerTokenPolicy& policy, std::string_view* matched_kid) noexcept {
  std::size_t hit = 0;
  const CustomerTokenError e = verify_any(
      t, secrets.size(), [secrets](std::size_t i) { return std::string_view(secrets[i].key); }, now, policy, &hit);
  if (matched_kid != nullptr && e != CustomerTokenError::malformed && e != CustomerTokenError::bad_key) {
    *matched_kid = secrets[hit].kid;
  }
  return e;
}

std::string customer_token_id(const CustomerToken& t) {
  std::array<std::uint8_t, 64> mac{};
  const auto n = base64_decode_lenient(t.key, mac);
  if (!n) return {};
  std::string input;
  input.reserve(t.account.size() + t.username.size() + 32 + *n);
  input += t.account;
  input += '\0';
  input += t.username;
  input += '\0';
  input += std::to_string(t.expires);
  input += '\0';
  input.append(reinterpret_cast<const char*>(mac.data()), *n);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), md);
  OPENSSL_cleanse(input.data(), input.size());
  return std::string(reinterpret_cast<const char*>(md), 16);
}

std::string customer_token_json(const CustomerToken& t) {
  std::string out = "{\"account\":";
  append_json_string(out, t.account);
  out += ",\"username\":";
  append_json_string(out, t.username);
  out += fmt::format(",\"expires\":{},\"key\":", t.expires);
  append_json_string(out, t.key);
  out += '}';
  return out;
}

std::string voxbone_config_json(const CustomerToken& t) {
  std::string out = "{\"key\":";
  append_json_string(out, t.key);
  out += fmt::format(",\"expires\":{},\"username\":", t.expires);
  append_json_string(out, t.username);
  out += '}';
  return out;
}

std::string voxbone_config_script(const CustomerToken& t, std::string_view varname) {
  bool ok = !varname.empty() && varname.size() <= 64 && !(varname.front() >= '0' && varname.front() <= '9');
  for (char c : varname) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$');
  }
  return fmt::format("var {} = {};", ok ? varname : "voxrtc_config", voxbone_config_json(t));
}

}  // namespace webtrunk::auth

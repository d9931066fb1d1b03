#include "auth/edge_token_verifier.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <cerrno>

#include "auth/base64.hpp"
#include "core/metrics.hpp"

namespace webtrunk::auth {
namespace {

// One counter per reason, so a dashboard tells clock skew (expired, too long) from forgery.
const core::Counter kMalformed{"webtrunk_auth_token_malformed_total", "Edge tokens refused: malformed username"};
const core::Counter kExpired{"webtrunk_auth_token_expired_total", "Edge tokens refused: expired"};
const core::Counter kTooLong{"webtrunk_auth_token_lifetime_too_long_total",
                             "Edge tokens refused: expiry beyond the maximum lifetime"};
const core::Counter kBadClaims{"webtrunk_auth_token_bad_claims_total", "Edge tokens refused: bad claims"};
const core::Counter kUnknownKid{"webtrunk_auth_token_unknown_kid_total", "Edge tokens refused: unknown key id"};
const core::Counter kLegacy{"webtrunk_auth_token_legacy_refused_total", "Edge tokens refused: no key id"};
const core::Counter kBadPassword{"webtrunk_auth_token_bad_password_total", "Bearer edge tokens refused: wrong MAC"};
const core::Counter kSecretsRejected{"webtrunk_auth_secret_sets_rejected_total", "Secret sets refused by set_secrets"};

void count(TokenError e) noexcept {
  switch (e) {
    case TokenError::malformed:
      kMalformed.inc();
      break;
    case TokenError::expired:
      kExpired.inc();
      break;
    case TokenError::lifetime_too_long:
      kTooLong.inc();
      break;
    case TokenError::bad_claims:
      kBadClaims.inc();
      break;
    case TokenError::unknown_kid:
      kUnknownKid.inc();
      break;
    case TokenError::legacy_refused:
      kLegacy.inc();
      break;
    case TokenError::bad_password:
      kBadPassword.inc();
      break;
    default:
      break;
  }
}

void derive(const HmacKey& key, std::string_view username, Password& out) noexcept {
  std::array<std::uint8_t, kMaxMacSize> mac;
  const std::size_t n = key.mac(username, mac);
  out.len = static_cast<std::uint8_t>(base64_encode(std::span<const std::uint8_t>(mac.data(), n), out.buf.data()));
  OPENSSL_cleanse(mac.data(), mac.size());
}

}  // namespace

const SecretEntry* SecretSet::find(std::string_view kid) const noexcept {
  for (const SecretEntry& e : entries) {
    if (!e.kid.empty() && e.kid == kid) return &e;
  }
  return nullptr;
}

core::Result<void> SecretStore::set_secrets(const std::vector<Secret>& secrets) {
  auto bad = [](std::string why) {
    kSecretsRejected.inc();
    return core::Error{-EINVAL, std::move(why)};
  };
  if (secrets.size() > kMaxSecrets) return bad(fmt::format("more than {} secrets", kMaxSecrets));
  auto set = std::make_shared<SecretSet>();
  set->entries.reserve(secrets.size());
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    const Secret& s = secrets[i];
    if (!s.kid.empty() && !valid_kid(s.kid)) return bad(fmt::format("secret {}: bad key id", i + 1));
    if (s.key.empty()) return bad(fmt::format("secret {}: empty", i + 1));
    if (!s.kid.empty() && set->find(s.kid)) return bad(fmt::format("secret {}: duplicate key id '{}'", i + 1, s.kid));
    set->entries.push_back(SecretEntry{s.kid, HmacKey(HmacAlgo::sha1, s.key), HmacKey(HmacAlgo::sha256, s.key),
                                       secret_fingerprint(s.key)});
  }
  std::lock_guard lock(mu_);
  set_ = std::move(set);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return {};
}

std::shared_ptr<const SecretSet> SecretStore::snapshot(std::uint64_t* generation) const {
  std::lock_guard lock(mu_);
  if (generation) *generation = generation_.load(std::memory_order_relaxed);
  return set_;
}

std::vector<std::string> SecretStore::describe() const {
  auto set = snapshot();
  std::vector<std::string> out;
  for (const SecretEntry& e : set->entries) {
    out.push_back(fmt::format("kid={} fingerprint={}", e.kid.empty() ? "-" : e.kid, e.fingerprint));
  }
  return out;
}

TokenCheck::~TokenCheck() {
  if (count > 0) OPENSSL_cleanse(passwords.data(), sizeof(Password) * count);
}

EdgeTokenVerifier::EdgeTokenVerifier(VerifierOptions opts) : EdgeTokenVerifier(std::make_shared<SecretStore>(), opts) {}

EdgeTokenVerifier::EdgeTokenVerifier(std::shared_ptr<SecretStore> store, VerifierOptions opts)
    : store_(std::move(store)), opts_(opts) {}

const SecretSet& EdgeTokenVerifier::secrets() noexcept {
  if (store_->generation() != cached_generation_) {
    // Rare: only after a rotation. Takes the store's mutex once per shard per rotation.
    cached_ = store_->snapshot(&cached_generation_);
  }
  return *cached_;
}

void EdgeTokenVerifier::check(std::int64_t now, std::string_view username, TokenCheck& out) noexcept {
  if (out.count > 0) OPENSSL_cleanse(out.passwords.data(), sizeof(Password) * out.count);
  out.count = 0;
  out.legacy = false;
  out.claims = EdgeClaims{};
  out.id = {};
  out.kid = {};
  auto fail = [&](TokenError e) {
    out.error = e;
    count(e);
  };

  ParsedUsername p;
  const TokenError syntax = parse_edge_username(username, p);
  if (syntax == TokenError::malformed) return fail(syntax);
  out.expires = p.expires;
  // Time first, as Kamailio does (auth.md §5.11): "expired" then only tells an honest client to
  // refresh; it proves nothing about the MAC. Compare without overflow: expires may be huge.
  if (p.expires < now && now - p.expires > opts_.skew_s) return fail(TokenError::expired);
  if (p.expires > now && p.expires - now > opts_.max_lifetime_s + opts_.skew_s) {
    return fail(TokenError::lifetime_too_long);
  }
  if (syntax != TokenError::none) return fail(syntax);

  const SecretSet& set = secrets();
  if (p.has_claims) {
    const SecretEntry* e = set.find(p.claims.kid);
    if (!e) return fail(TokenError::unknown_kid);
    out.claims = p.claims;
    out.kid = p.claims.kid;  // a view into the username, not into the (swappable) set
    derive(e->key(opts_.algo), username, out.passwords[0]);
    out.count = 1;
  } else {
    if (!opts_.accept_legacy) return fail(TokenError::legacy_refused);
    out.legacy = true;
    out.id = p.rest;
    // Kamailio tries every secret in list order (auth.md §5.9); the digest check does the same.
    for (const SecretEntry& e : set.entries) {
      if (out.count == out.passwords.size()) break;
      derive(e.key(opts_.legacy_algo), username, out.passwords[out.count++]);
    }
    if (out.count == 0) return fail(TokenError::unknown_kid);
  }
  out.error = TokenError::none;
}

void EdgeTokenVerifier::check_bearer(std::int64_t now, std::string_view username, std::string_view password,
                                     TokenCheck& out) noexcept {
  check(now, username, out);
  if (!out.ok()) return;
  std::array<std::uint8_t, 64> given{};
  const auto n = base64_decode_lenient(password, given);
  std::uint8_t match = 0xff;
  if (n) {
    for (std::uint8_t i = 0; i < out.count; ++i) {
      // The candidates are our own encodings; decode them back to compare bytes, not text.
      std::array<std::uint8_t, 64> want{};
      const auto m = base64_decode_lenient(out.passwords[i].view(), want);
      if (m &&
          ct_equal(std::span<const std::uint8_t>(given.data(), *n), std::span<const std::uint8_t>(want.data(), *m)) &&
          match == 0xff) {
        match = i;
      }
      OPENSSL_cleanse(want.data(), want.size());
    }
  }
  if (match == 0xff) {
    OPENSSL_cleanse(out.passwords.data(), sizeof(Password) * out.count);
    out.count = 0;
    out.error = TokenError::bad_password;
    count(out.error);
    return;
  }
  if (match != 0) out.passwords[0] = out.passwords[match];
  out.count = 1;
}

}  // namespace webtrunk::auth

// The edge's token check: from a username (and `now`), the password the client must know, or the
// precise reason it is refused. The edge holds only edge secrets, never customer state (DESIGN.md
// "The chain of trust" 4).
//
// In digest mode (401/407) the client never sends the password: check() derives it, and the
// digest response proves the client knows it (auth/digest.hpp). In bearer mode (password sent in
// clear: WebSocket query or cookie, JsSIP authorization_jwt) check_bearer() compares MACs.
//
// Threads and rotation: a SecretStore is shared by all shards; set_secrets() may be called from
// any thread at any time (reload on SIGHUP or an admin call) and swaps a new immutable SecretSet
// in. Each shard owns its own EdgeTokenVerifier (not thread-safe), which rereads the store only
// when the store's generation number changed: one relaxed-cost atomic load per check and no shared
// reference count on the hot path.
//
// Lifetimes: a TokenCheck holds views into the username passed to check(); keep it alive. Its
// passwords are owned copies, wiped when the TokenCheck is destroyed.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "auth/edge_token.hpp"
#include "auth/hmac.hpp"
#include "auth/secret.hpp"
#include "auth/secrets_file.hpp"
#include "core/result.hpp"

namespace webtrunk::auth {

// base64 of a MAC, fixed storage: 28 characters for SHA-1, 44 for SHA-256.
struct Password {
  std::array<char, 48> buf{};
  std::uint8_t len = 0;
  std::string_view view() const noexcept { return {buf.data(), len}; }
};

// One live secret with its HMAC key states precomputed for both algorithms.
struct SecretEntry {
  std::string kid;  // empty: legacy-only secret
  HmacKey sha1;
  HmacKey sha256;
  std::string fingerprint;  // for logs (secret_fingerprint)
  const HmacKey& key(HmacAlgo a) const noexcept { return a == HmacAlgo::sha1 ? sha1 : sha256; }
};

// An immutable set of live secrets, in the order given (newest first is the convention, as in
// Kamailio where "the last secret set is the first that will be tried").
struct SecretSet {
  std::vector<SecretEntry> entries;
  const SecretEntry* find(std::string_view kid) const noexcept;
};

class SecretStore {
 public:
  SecretStore() = default;
  SecretStore(const SecretStore&) = delete;
  SecretStore& operator=(const SecretStore&) = delete;

  // Validates (kid syntax or empty, unique kids, non-empty keys, at most kMaxSecrets) and publishes
  // a new set. On error the current set stays. An empty vector retires every secret.
  core::Result<void> set_secrets(const std::vector<Secret>& secrets);
  // The current set (never null) and its generation, consistent with each other.
  std::shared_ptr<const SecretSet> snapshot(std::uint64_t* generation = nullptr) const;
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  // kids and fingerprints of the live secrets, for an admin listing; never the secrets.
  std::vector<std::string> describe() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const SecretSet> set_ = std::make_shared<const SecretSet>();
  std::atomic<std::uint64_t> generation_{0};
};

struct VerifierOptions {
  // Symmetric clock-skew window in seconds (auth.md §5.5, §7 better 3): valid while
  // now <= expiry + skew. Kamailio and coturn have none (skew 0 gives their exact semantics).
  std::int64_t skew_s = 30;
  // Reject tokens whose expiry is further than this from now (+ skew) (auth.md §5.6).
  std::int64_t max_lifetime_s = 24 * 3600;
  // HMAC for tokens with a kid (what we mint).
  HmacAlgo algo = HmacAlgo::sha256;
  // Legacy "<expiry>:<id>" usernames with no kid, from other issuers (Kamailio, coturn REST,
  // Voxbone): off by default, because they carry no claims and a TURN credential minted with the
  // same secret would open SIP too (auth.md §5.17). When on, every secret is tried in order, with
  // legacy_algo (Kamailio sha_algorithm 0 = SHA-1 is the default there).
  bool accept_legacy = false;
  HmacAlgo legacy_algo = HmacAlgo::sha1;
};

struct TokenCheck {
  TokenCheck() = default;
  TokenCheck(const TokenCheck&) = delete;
  TokenCheck& operator=(const TokenCheck&) = delete;
  ~TokenCheck();

  TokenError error = TokenError::none;
  std::int64_t expires = 0;
  bool legacy = false;
  EdgeClaims claims;     // our tokens: views into the username
  std::string_view id;   // legacy tokens: the id after the first ':' (may be empty)
  std::string_view kid;  // the secret that matched (our tokens) or empty
  // Candidate passwords: one for our tokens; one per live secret for legacy tokens (the digest
  // check tries each, like Kamailio's autheph_check). After check_bearer(): the one that matched.
  std::array<Password, kMaxSecrets> passwords;
  std::uint8_t count = 0;

  bool ok() const noexcept { return error == TokenError::none; }
  std::string_view reason() const noexcept { return reason_phrase(error); }
  std::span<const Password> candidates() const noexcept { return {passwords.data(), count}; }
};

class EdgeTokenVerifier {
 public:
  // A verifier with its own store (tests, one-shard tools).
  explicit EdgeTokenVerifier(VerifierOptions opts = {});
  // A shard's verifier over a store shared by all shards.
  EdgeTokenVerifier(std::shared_ptr<SecretStore> store, VerifierOptions opts);

  // Forwards to the store (visible to every verifier sharing it at its next check).
  core::Result<void> set_secrets(const std::vector<Secret>& secrets) { return store_->set_secrets(secrets); }
  const std::shared_ptr<SecretStore>& store() const noexcept { return store_; }
  const VerifierOptions& options() const noexcept { return opts_; }

  // Digest mode. Order (auth.md §5.11): syntax, then time (expired / too long), then claims, then
  // the kid; on success fills the candidate passwords. `now` is unix seconds.
  void check(std::int64_t now, std::string_view username, TokenCheck& out) noexcept;
  // Bearer mode: `password` as sent; decoded leniently (std or url alphabet, padded or not, ' ' as
  // '+'; auth.md §5.3) and compared as bytes, in constant time.
  void check_bearer(std::int64_t now, std::string_view username, std::string_view password, TokenCheck& out) noexcept;

 private:
  const SecretSet& secrets() noexcept;

  std::shared_ptr<SecretStore> store_;
  VerifierOptions opts_;
  std::shared_ptr<const SecretSet> cached_;
  std::uint64_t cached_generation_ = ~std::uint64_t{0};
};

}  // namespace webtrunk::auth

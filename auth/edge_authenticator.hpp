// The whole edge-side decision for one REGISTER or INVITE (DESIGN.md "The chain of trust" 4):
// nonce, token, digest and called number in one call, answering accept, challenge (401 for
// REGISTER, 407 otherwise; the caller picks the code and header name) or forbidden (403 with a
// reason phrase). The SIP layer parses the Authorization / Proxy-Authorization header into
// DigestCredentials and writes the response; this owns no socket and reads no clock.
//
// Decision table (nonce from auth/nonce.hpp; "creds ok" = token valid and digest verifies):
//   no credentials, or another realm        -> challenge
//   nonce ok,      creds ok                 -> accept (or forbidden "Number not allowed")
//   nonce ok,      token or digest refused  -> forbidden with the reason ("Token expired", ...)
//   nonce stale,   creds ok                 -> challenge stale=true
//   nonce stale,   refused                  -> forbidden with the reason
//   nonce invalid, creds ok                 -> challenge stale=true (e.g. nonce from before a restart)
//   nonce invalid, refused                  -> challenge (nothing learned from a foreign nonce)
//
// Not for ACK and CANCEL: RFC 3261 §22.1 exempts them (Kamailio's autheph_check returns 1 at once).
//
// Lifetimes: one EdgeAuthenticator per shard (it owns a per-shard EdgeTokenVerifier); the
// NonceKey is shared read-only by all shards. AuthResult::token holds views into the
// credentials' username: keep the request buffer alive while using them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/digest.hpp"
#include "auth/edge_token_verifier.hpp"
#include "auth/nonce.hpp"

namespace webtrunk::auth {

enum class AuthAction : std::uint8_t {
  accept,     // proceed; AuthResult::token has the claims (account, max duration, ...)
  challenge,  // 401/407 with challenge(now, binding, stale) headers
  forbidden,  // 403 with AuthResult::reason
};

struct AuthResult {
  AuthAction action = AuthAction::challenge;
  bool stale = false;       // challenge with stale=true (the nonce aged out, the rest was right)
  std::string_view reason;  // 403 reason phrase ("Token expired", "Wrong password", ...)
  TokenCheck token;         // after accept: claims, expiry, kid; views into the username
};

struct EdgeAuthOptions {
  std::string realm;          // non-empty; the challenge realm, credentials for another are re-challenged
  bool offer_sha256 = false;  // also offer RFC 8760 SHA-256, first (JsSIP/SIP.js refuse it: digest.hpp)
  std::string opaque;         // optional, echoed by clients; not checked
};

class EdgeAuthenticator {
 public:
  EdgeAuthenticator(std::shared_ptr<const NonceKey> nonces, EdgeTokenVerifier verifier, EdgeAuthOptions opts);

  // `creds` is null when the request had no credentials for our realm. `binding` ties nonces to
  // the client's flow (e.g. the WebSocket connection id); use the same value for challenge().
  // `called` is the Request-URI user of an INVITE (checked against the num claim); empty skips it.
  void authenticate(std::int64_t now, const DigestCredentials* creds, std::string_view method, std::string_view binding,
                    std::string_view called, AuthResult& out) noexcept;

  // WWW-Authenticate / Proxy-Authenticate values with a fresh nonce, in sending order.
  std::vector<std::string> challenge(std::int64_t now, std::string_view binding, bool stale) const;

  EdgeTokenVerifier& verifier() noexcept { return verifier_; }
  const EdgeAuthOptions& options() const noexcept { return opts_; }

 private:
  std::shared_ptr<const NonceKey> nonces_;
  EdgeTokenVerifier verifier_;
  EdgeAuthOptions opts_;
};

}  // namespace webtrunk::auth

#include "auth/edge_authenticator.hpp"

#include "core/metrics.hpp"

namespace webtrunk::auth {
namespace {

const core::Counter kNumberRefused{"webtrunk_auth_number_refused_total",
                                   "INVITEs refused: called number outside the token's num claim"};

}  // namespace

EdgeAuthenticator::EdgeAuthenticator(std::shared_ptr<const NonceKey> nonces, EdgeTokenVerifier verifier,
                                     EdgeAuthOptions opts)
    : nonces_(std::move(nonces)), verifier_(std::move(verifier)), opts_(std::move(opts)) {}

void EdgeAuthenticator::authenticate(std::int64_t now, const DigestCredentials* creds, std::string_view method,
                                     std::string_view binding, std::string_view called, AuthResult& out) noexcept {
  out.stale = false;
  out.reason = {};
  out.action = AuthAction::challenge;
  // RFC 3261 §22.3: no credentials, or credentials for another realm: challenge.
  if (creds == nullptr || creds->realm != opts_.realm) return;
  const NonceStatus nonce = nonces_->check(now, creds->nonce, binding);
  // With a nonce we did not issue (another flow, a previous process, a forgery) nothing is
  // refused: the answer is a fresh challenge. Only its stale flag depends on the credentials.
  const bool foreign = nonce == NonceStatus::invalid;

  auto forbid = [&](std::string_view why) {
    out.action = foreign ? AuthAction::challenge : AuthAction::forbidden;
    out.reason = foreign ? std::string_view{} : why;
  };
  verifier_.check(now, creds->username, out.token);
  if (!out.token.ok()) return forbid(out.token.reason());

  DigestStatus st = DigestStatus::mismatch;
  for (const Password& pw : out.token.candidates()) {
    st = check_digest(*creds, method, pw.view());
    if (st != DigestStatus::mismatch) break;  // ok, or a syntax problem that no secret changes
  }
  if (st != DigestStatus::ok) return forbid(reason_phrase(st));

  // RFC 7616 §3.3: the response proves the password but the nonce is no longer good (aged out,
  // or issued before a restart of this edge): stale=true, and the client retries with the new
  // nonce without asking its user. JsSIP gives up after a second plain 401/407, so this is what
  // keeps registrations alive across an edge restart.
  if (nonce != NonceStatus::ok) {
    out.stale = true;
    return;
  }
  if (!called.empty() && !out.token.claims.allows_number(called)) {
    kNumberRefused.inc();
    return forbid(reason_phrase(TokenError::number_not_allowed));
  }
  out.action = AuthAction::accept;
}

std::vector<std::string> EdgeAuthenticator::challenge(std::int64_t now, std::string_view binding, bool stale) const {
  const std::string nonce = nonces_->issue(now, binding);
  DigestChallenge ch;
  ch.realm = opts_.realm;
  ch.nonce = nonce;
  ch.opaque = opts_.opaque;
  ch.stale = stale;
  return build_challenges(ch, opts_.offer_sha256);
}

}  // namespace webtrunk::auth

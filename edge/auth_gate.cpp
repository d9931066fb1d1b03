#include "edge/auth_gate.hpp"

#include "core/log.hpp"
#include "core/log_sampler.hpp"
#include "sip/auth_params.hpp"
#include "sip/header_parsers.hpp"
#include "sip/uri.hpp"

namespace webtrunk::edge {
namespace {

// Digest credentials for our realm from every Authorization / Proxy-Authorization line
// (RFC 3261 §22.3: a request may carry credentials for several realms). Views into the request.
bool find_credentials(const sip::MessageView& req, sip::HeaderId id, std::string_view realm,
                      auth::DigestCredentials& out, bool& malformed) {
  malformed = false;
  for (const sip::HeaderField* h = req.find(id); h != nullptr; h = req.find_next(h)) {
    sip::AuthParams p;
    if (!sip::parse_auth(h->value, p) || !p.is_digest()) {
      malformed = true;
      continue;
    }
    auto get = [&](std::string_view name) { return p.get(name).value_or(std::string_view{}); };
    if (get("realm") != realm) continue;
    out.username = get("username");
    out.realm = get("realm");
    out.nonce = get("nonce");
    out.uri = get("uri");
    out.response = get("response");
    out.algorithm = get("algorithm");
    out.qop = get("qop");
    out.nc = get("nc");
    out.cnonce = get("cnonce");
    out.opaque = get("opaque");
    return true;
  }
  return false;
}

}  // namespace

std::string_view from_user(const sip::MessageView& req) noexcept {
  sip::NameAddr na;
  sip::Uri uri;
  if (!sip::parse_name_addr(req.value(sip::HeaderId::from), na) || !sip::parse_uri(na.uri, uri)) return {};
  return uri.user;
}

AuthGate::AuthGate(AuthGateOptions options, std::unique_ptr<auth::EdgeAuthenticator> authenticator)
    : options_(std::move(options)), auth_(std::move(authenticator)) {}

AuthDecision AuthGate::check(std::int64_t now, const sip::MessageView& req, std::string_view binding,
                             std::string_view called) {
  AuthDecision d;
  const bool is_register = req.method() == sip::Method::register_;
  if (!options_.enabled || auth_ == nullptr) {
    d.kind = AuthDecision::Kind::accept;
    d.identity = std::string(from_user(req));
    return d;
  }
  const sip::HeaderId cred_id = is_register ? sip::HeaderId::authorization : sip::HeaderId::proxy_authorization;
  auth::DigestCredentials creds;
  bool malformed = false;
  const bool have = find_credentials(req, cred_id, options_.realm, creds, malformed);

  auth::AuthResult r;
  auth_->authenticate(now, have ? &creds : nullptr, req.method_text(), binding, called, r);

  auto forbid = [&](std::string_view why) {
    d.kind = AuthDecision::Kind::forbidden;
    d.code = 403;
    d.reason = std::string(why);
    kAuthForbidden.inc();
    // Bad credentials are a remote peer's input: sampled, one line per interval for all of them.
    core::log_sampled(log_sampler_, core::Instant{} + std::chrono::seconds(now), 0, core::LogLevel::info,
                      "sip.auth_forbidden", "method={} user={} why={}", req.method_text(),
                      have ? creds.username : std::string_view("-"), why);
    return d;
  };

  switch (r.action) {
    case auth::AuthAction::challenge: {
      d.kind = AuthDecision::Kind::challenge;
      d.code = is_register ? 401 : 407;
      d.reason = is_register ? "Unauthorized" : "Proxy Authentication Required";
      d.header_name = is_register ? "WWW-Authenticate" : "Proxy-Authenticate";
      d.challenges = auth_->challenge(now, binding, r.stale);
      (is_register ? kAuthChallenges401 : kAuthChallenges407).inc();
      if (r.stale) kAuthStale.inc();
      return d;
    }
    case auth::AuthAction::forbidden: {
      if (r.reason == auth::reason_phrase(auth::DigestStatus::mismatch)) {
        kAuthBadPassword.inc();
      } else if (!r.token.ok()) {
        kAuthTokenRefused.inc();
      } else {
        kAuthBadCredentials.inc();
      }
      return forbid(r.reason);
    }
    case auth::AuthAction::accept: break;
  }

  // The caller's identity: our tokens carry it as u= (else the account); legacy Kamailio-style
  // tokens as the id after the first ':'.
  if (r.token.legacy) {
    d.identity = std::string(r.token.id);
  } else {
    d.identity = std::string(!r.token.claims.user.empty() ? r.token.claims.user : r.token.claims.account);
    d.account = std::string(r.token.claims.account);
    d.max_duration_s = r.token.claims.max_duration_s;
    d.max_calls = r.token.claims.max_calls;
  }
  if (options_.bind_from_user && from_user(req) != d.identity) {
    kAuthFromMismatch.inc();
    return forbid("From user does not match token");
  }
  kAuthAccepted.inc();
  d.kind = AuthDecision::Kind::accept;
  return d;
}

}  // namespace webtrunk::edge

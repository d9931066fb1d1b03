// The edge's auth gate: the SIP side of the token check (DESIGN.md "The chain of trust" 4).
// It reads the Authorization (REGISTER) or Proxy-Authorization (INVITE) header of a request,
// runs auth::EdgeAuthenticator on it, and says what to answer: go on (with the caller's token id),
// 401/407 with a fresh stateless nonce (stale=true for an aged one), or 403 with a reason phrase
// that says why ("Token expired", "Wrong password", "From user does not match token", ...).
//
// Only out-of-dialog REGISTER and INVITE are gated; in-dialog requests ride on the dialog the
// INVITE authenticated, ACK and CANCEL are exempt (RFC 3261 §22.1).
//
// Nonces are bound to the WebSocket flow (`binding`), so a captured Authorization does not verify
// on another connection. Nothing here logs a password or a secret: only token ids and reasons.
//
// Lifetimes: one AuthGate per shard. AuthDecision owns its strings.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/edge_authenticator.hpp"
#include "core/log_sampler.hpp"
#include "core/metrics.hpp"
#include "sip/message_view.hpp"

namespace webtrunk::edge {

inline const core::Counter kAuthChallenges401{"webtrunk_sip_auth_challenges_401_total",
                                              "REGISTERs challenged with 401 WWW-Authenticate"};
inline const core::Counter kAuthChallenges407{"webtrunk_sip_auth_challenges_407_total",
                                              "INVITEs challenged with 407 Proxy-Authenticate"};
inline const core::Counter kAuthStale{"webtrunk_sip_auth_stale_total", "challenges with stale=true (nonce aged out)"};
inline const core::Counter kAuthForbidden{"webtrunk_sip_auth_forbidden_total", "requests refused 403 (any reason)"};
inline const core::Counter kAuthBadPassword{"webtrunk_sip_auth_wrong_password_total",
                                            "requests refused 403: the digest did not verify"};
inline const core::Counter kAuthBadCredentials{"webtrunk_sip_auth_malformed_credentials_total",
                                               "requests refused 403: malformed or unsupported digest credentials"};
inline const core::Counter kAuthFromMismatch{"webtrunk_sip_auth_from_mismatch_total",
                                             "requests refused 403: From user is not the token id (--bind-from-user)"};
inline const core::Counter kAuthTokenRefused{"webtrunk_sip_auth_token_refused_total",
                                             "requests refused 403: the token itself (expired, malformed, ...)"};
inline const core::Counter kAuthAccepted{"webtrunk_sip_auth_accepted_total", "requests whose digest verified"};

struct AuthGateOptions {
  bool enabled = true;          // false: --no-auth, every request goes through as its From user
  bool bind_from_user = false;  // the From user must equal the token id
  std::string realm;
};

struct AuthDecision {
  enum class Kind : std::uint8_t { accept, challenge, forbidden };
  Kind kind = Kind::challenge;
  int code = 0;                          // 401 / 407 / 403 (0 for accept)
  std::string reason;                    // reason phrase for 403 / 401 / 407
  std::string_view header_name;          // "WWW-Authenticate" or "Proxy-Authenticate"
  std::vector<std::string> challenges;   // header values, in sending order
  std::string identity;                  // accept: the token id (u= or legacy id), else the From user
  std::string account;                   // accept: acct= claim ("" for legacy tokens)
  std::optional<std::uint32_t> max_duration_s;  // accept: dur= claim
  std::optional<std::uint32_t> max_calls;       // accept: calls= claim (the account's concurrent calls)
};

class AuthGate {
 public:
  // `authenticator` may be null only when options.enabled is false.
  AuthGate(AuthGateOptions options, std::unique_ptr<auth::EdgeAuthenticator> authenticator);

  // `now` is unix seconds. `binding` ties nonces to the client's flow. `called` is the INVITE's
  // Request-URI user (checked against the token's num claim), empty for REGISTER.
  AuthDecision check(std::int64_t now, const sip::MessageView& req, std::string_view binding,
                     std::string_view called);

  const AuthGateOptions& options() const noexcept { return options_; }

 private:
  AuthGateOptions options_;
  std::unique_ptr<auth::EdgeAuthenticator> auth_;
  core::LogSampler log_sampler_;  // refusals of bad credentials
};

// The user part of the From URI ("" if none).
std::string_view from_user(const sip::MessageView& req) noexcept;

}  // namespace webtrunk::edge

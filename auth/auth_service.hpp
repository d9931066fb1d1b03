// The hosted auth service's request handling (DESIGN.md "The chain of trust" 2-3), sans-IO: an
// HTTP request and the time in, a response out. No socket, no clock; the AccountStore is the only
// I/O (SQLite), so every route and every error path is unit-testable in one process.
//
// Routes (auth/README.md "Auth service" documents the JSON):
//   POST    /v1/token           customer token in, edge token out; CORS for the account's origins
//   OPTIONS /v1/token           CORS preflight (?account=ID checks that account's origins; without
//                               it, any provisioned origin passes the preflight and the POST checks
//                               the account)
//   PUT/GET/DELETE /v1/accounts/{id}, GET /v1/accounts   admin API, "Authorization: Bearer <token>"
//   GET     /healthz, /metrics
//
// Token exchange, in order: per-address rate limit -> JSON -> account -> Origin -> customer key
// (each live secret, constant time) -> time (skew, max lifetime) -> per-account rate limit ->
// single use (replay cache) -> edge token minted with the edge secret. The order matters: the
// account's budget is charged only for tokens that verified (garbage cannot exhaust a customer's
// budget), and a token is marked used only when it is actually exchanged (a rate-limited token can
// be retried).
//
// Nothing here logs or returns a secret, a key or a password: logs carry the outcome, account,
// kid and expiry delta (auth.md §7 better 9), the responses carry reasons in words.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "auth/account_store.hpp"
#include "auth/customer_token.hpp"
#include "auth/rate_limit.hpp"
#include "auth/replay_cache.hpp"
#include "auth/secret.hpp"
#include "core/clock.hpp"
#include "core/log_sampler.hpp"
#include "core/http_server.hpp"

namespace webtrunk::auth {

struct AuthServiceOptions {
  std::string admin_token;               // empty: the admin API answers 403 (disabled)
  std::vector<std::string> edge_uris;    // "uris" in the answer: the edges' WebSocket URIs
  std::vector<std::string> ice_servers;  // STUN/TURN URLs for "ice_servers" (empty: none needed, edges are ICE-lite)
  std::int64_t edge_token_ttl_s = 3600;  // lifetime of the edge tokens minted
  CustomerTokenPolicy customer;          // skew window and maximum customer token lifetime
  RateSpec per_address{20.0, 40.0};      // token exchanges per source address (IPv4, or IPv6 /64)
  std::size_t rate_limit_keys = 100'000;
  std::size_t replay_capacity = 100'000;
  // Group commit of used tokens (see AuthService::end_group): the caller promises to call
  // end_group() before any answer of the group reaches a client. Off: each exchange commits its
  // token before handle() returns.
  bool group_commit = false;
};

class AuthService {
 public:
  // `edge_secret` needs a kid (it becomes the token's kid=); `store` must outlive the service.
  AuthService(AccountStore& store, Secret edge_secret, AuthServiceOptions opts);

  // `now` drives the rate limits; req.unix_time drives token expiry.
  core::HttpResponse handle(const core::HttpRequest& req, core::Instant now);

  // Loads the customer tokens used before a restart (still live at `now`, unix seconds) into the
  // replay cache, after dropping the dead ones from the store; returns how many. Call once at start.
  core::Result<std::size_t> restore_replay(std::int64_t now);

  // Group commit (AuthServiceOptions::group_commit): the used tokens of every exchange answered
  // since the last end_group() are written in one open transaction; group_size() says how many.
  // end_group() commits them and returns how many became durable. The caller holds back every
  // answer of the group until it returns (cmd_auth: Shard::defer, the end of the loop turn), and on
  // an error drops them all (aborts those connections): none of their tokens is on disk, so none of
  // their edge tokens may leave. The tokens stay refused in memory either way.
  std::size_t group_size() const noexcept { return group_size_; }
  core::Result<std::size_t> end_group();

 private:
  core::HttpResponse token(const core::HttpRequest& req, core::Instant now);
  core::HttpResponse token_preflight(const core::HttpRequest& req, core::Instant now);
  core::HttpResponse admin(const core::HttpRequest& req, std::string_view id, core::Instant now);
  void refresh_store(core::Instant now);

  static constexpr core::Duration kRefreshEvery = std::chrono::milliseconds(100);

  AccountStore& store_;
  Secret edge_secret_;
  AuthServiceOptions opts_;
  std::string uris_json_;
  std::string ice_json_;
  AddressRateLimiter per_address_;
  RateLimiter per_account_;
  ReplayCache replay_;
  // Refused and rate-limited requests: one line per source address per interval (a client looping
  // on a bad token or a wrong admin token must not turn each request into a line).
  core::LogSampler log_sampler_;
  core::Instant last_refresh_{};
  bool refreshed_once_ = false;
  std::int64_t last_token_prune_ = 0;  // unix seconds
  std::size_t group_size_ = 0;
  bool group_failed_ = false;  // an admin write committed the group early, and that commit failed
};

}  // namespace webtrunk::auth

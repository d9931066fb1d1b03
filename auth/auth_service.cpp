#include "auth/auth_service.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "auth/edge_token.hpp"
#include "auth/hmac.hpp"
#include "core/log.hpp"
#include "core/log_sampler.hpp"
#include "core/metrics.hpp"

namespace webtrunk::auth {
namespace {

using core::HttpRequest;
using core::HttpResponse;
using nlohmann::json;

// One counter per outcome of POST /v1/token, so /metrics tells a clock problem (expired) from an
// integration bug (wrong secret) from abuse (rate limited, replayed).
const core::Counter kIssued{"webtrunk_auth_tokens_issued_total", "edge tokens issued for a customer token"};
const core::Counter kBadRequest{"webtrunk_auth_exchange_bad_request_total",
                                "token exchanges refused 400: not JSON, missing or malformed fields"};
const core::Counter kUnknownAccount{"webtrunk_auth_exchange_unknown_account_total",
                                    "token exchanges refused 404: no such account"};
const core::Counter kOriginRefused{"webtrunk_auth_exchange_origin_refused_total",
                                   "token exchanges and preflights refused 403: page origin not allowed"};
const core::Counter kWrongSecret{"webtrunk_auth_exchange_wrong_secret_total",
                                 "token exchanges refused 401: key does not verify with any account secret"};
const core::Counter kExpired{"webtrunk_auth_exchange_expired_total",
                             "token exchanges refused 401: customer token expired or lifetime too long"};
const core::Counter kReplayedTok{"webtrunk_auth_exchange_replayed_total",
                                 "token exchanges refused 403: customer token already used"};
const core::Counter kRateAddress{"webtrunk_auth_exchange_rate_limited_address_total",
                                 "token exchanges refused 429: source address over its rate"};
const core::Counter kRateAccount{"webtrunk_auth_exchange_rate_limited_account_total",
                                 "token exchanges refused 429: account over tokens_per_minute"};
const core::Counter kBusy{"webtrunk_auth_exchange_busy_total", "token exchanges refused 503: replay cache full"};
const core::Counter kMintFailed{"webtrunk_auth_exchange_mint_failed_total",
                                "token exchanges failed 500: the edge token could not be minted"};
const core::Counter kAdminUnauthorized{"webtrunk_auth_admin_unauthorized_total",
                                       "admin requests refused 401/403: missing or wrong bearer token"};
const core::Counter kAdminBadRequest{"webtrunk_auth_admin_bad_request_total",
                                     "admin requests refused 400: invalid account JSON or id"};
const core::Counter kAdminWrites{"webtrunk_auth_admin_writes_total", "admin account writes acknowledged"};
const core::Counter kGroupCommits{"webtrunk_auth_token_group_commits_total",
                                  "transactions that made a group of used customer tokens durable"};
const core::Counter kGroupFailures{"webtrunk_auth_token_group_failures_total",
                                   "groups of used customer tokens not committed: their answers were dropped"};
const core::Counter kNotFound{"webtrunk_auth_http_not_found_total", "requests for unknown paths or methods"};

constexpr std::string_view kTokenPath = "/v1/token";
constexpr std::string_view kAccountsPath = "/v1/accounts";

HttpResponse error(int status, std::string_view code, std::string_view reason) {
  return HttpResponse::json_error(status, code, reason);
}

HttpResponse too_many(std::string_view code, std::string_view reason, std::int64_t retry_after_s) {
  HttpResponse r = error(429, code, reason);
  r.set("Retry-After", std::to_string(retry_after_s));
  return r;
}

std::string json_string_array(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    out += core::json_quote(v[i]);
  }
  out += ']';
  return out;
}

// "expires" as Voxbone's servlet writes it (a number) or as a form-minded client may (a string of digits).
bool read_expires(const json& v, std::int64_t& out) {
  if (v.is_number_unsigned() || v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return out >= 0;
  }
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > 18) return false;
  std::int64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  out = n;
  return true;
}

// The customer token from the body: ours {account, username, expires, key}, or Voxbone's servlet
// output {key, expires, username} with the account in ?account= or, failing that, equal to the
// username (a Voxbone login is the account). Returns the reason when malformed.
std::optional<std::string> read_token(const HttpRequest& req, CustomerToken& t) {
  const json doc = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return "the body must be a JSON object {account, username, expires, key}";
  auto str = [&](const char* name, std::string& out) {
    auto it = doc.find(name);
    if (it == doc.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  if (!str("username", t.username) || t.username.empty()) return "username: a non-empty string is required";
  if (!str("key", t.key) || t.key.empty()) return "key: a non-empty string is required";
  auto exp = doc.find("expires");
  if (exp == doc.end() || !read_expires(*exp, t.expires)) return "expires: a unix time in seconds is required";
  if (doc.contains("account")) {
    if (!str("account", t.account)) return "account: must be a string";
  } else if (auto q = req.query_param("account")) {
    t.account = *q;
  } else {
    t.account = t.username;
  }
  if (t.account.empty()) return "account: must not be empty";
  return std::nullopt;
}

bool bearer_matches(const HttpRequest& req, std::string_view token) {
  auto h = req.header("Authorization");
  if (!h || h->size() < 7 || !core::iequals(h->substr(0, 7), "Bearer ")) return false;
  std::string_view given = h->substr(7);
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  return ct_equal(given, token);  // constant time; lengths are not secret
}

}  // namespace

AuthService::AuthService(AccountStore& store, Secret edge_secret, AuthServiceOptions opts)
    : store_(store),
      edge_secret_(std::move(edge_secret)),
      opts_(std::move(opts)),
      uris_json_(json_string_array(opts_.edge_uris)),
      ice_json_(opts_.ice_servers.empty() ? "[]" : "[{\"urls\":" + json_string_array(opts_.ice_servers) + "}]"),
      per_address_(opts_.rate_limit_keys),
      per_account_(opts_.rate_limit_keys),
      replay_(opts_.replay_capacity) {}

core::Result<std::size_t> AuthService::restore_replay(std::int64_t now) {
  if (auto r = store_.prune_tokens(now); !r) return r.error();
  auto used = store_.used_tokens(now);
  if (!used) return used.error();
  std::size_t n = 0;
  for (const auto& [id, until] : *used) n += replay_.restore(now, id, until) ? 1 : 0;
  last_token_prune_ = now;
  return n;
}

core::Result<std::size_t> AuthService::end_group() {
  const std::size_t n = std::exchange(group_size_, 0);
  const bool failed_early = std::exchange(group_failed_, false);
  auto r = store_.commit_tokens();
  if (!r || failed_early) {
    kGroupFailures.inc();
    const std::string why = r ? "an early commit (admin write) failed" : r.error().message;
    core::log(core::LogLevel::error, "auth.store_failed", "what=commit_tokens tokens={} why={}", n, why);
    return core::Error{-EIO, "used tokens not committed: " + why};
  }
  if (n > 0) kGroupCommits.inc();
  return n;
}

HttpResponse AuthService::handle(const HttpRequest& req, core::Instant now) {
  const std::string_view path = req.path;
  if (path == kTokenPath) {
    if (req.method == "POST") return token(req, now);
    if (req.method == "OPTIONS") return token_preflight(req, now);
    kNotFound.inc();
    return error(405, "method_not_allowed", "use POST for /v1/token").set("Allow", "POST, OPTIONS");
  }
  if (path == kAccountsPath || path.starts_with("/v1/accounts/")) {
    const std::string_view id = path.size() > kAccountsPath.size() ? path.substr(kAccountsPath.size() + 1) : "";
    return admin(req, id, now);
  }
  if (req.method == "GET" || req.method == "HEAD") {
    if (path == "/healthz") return HttpResponse::text(200, "ok\n");
    if (path == "/metrics") {
      return HttpResponse::with_body(200, "text/plain; version=0.0.4", core::render_metrics());
    }
  }
  kNotFound.inc();
  return error(404, "not_found", "no such endpoint: POST /v1/token, /v1/accounts (admin), /healthz, /metrics");
}

void AuthService::refresh_store(core::Instant now) {
  // Each look is a read transaction, i.e. file-lock syscalls: on the token path, look at most every
  // kRefreshEvery, so a CLI write reaches the service within that and costs nothing per request.
  if (refreshed_once_ && now - last_refresh_ < kRefreshEvery && now >= last_refresh_) return;
  refreshed_once_ = true;
  last_refresh_ = now;
  if (auto r = store_.refresh(); !r) {
    // The accounts already loaded stay in use.
    core::log(core::LogLevel::error, "auth.store_refresh", "{}", r.error().message);
  }
}

HttpResponse AuthService::token_preflight(const HttpRequest& req, core::Instant now) {
  const auto origin = req.header("Origin");
  bool allowed = false;
  if (origin) {
    refresh_store(now);
    if (auto acct = req.query_param("account")) {
      const Account* a = store_.find(*acct);
      allowed = a != nullptr && a->allows_origin(*origin);
    } else {
      allowed = store_.any_allows_origin(*origin);
    }
  }
  if (!allowed) kOriginRefused.inc();
  return core::cors_preflight(origin, allowed, "POST, OPTIONS", "Content-Type");
}

HttpResponse AuthService::token(const HttpRequest& req, core::Instant now) {
  const auto origin = req.header("Origin");
  const std::int64_t unix_now = req.unix_time;
  refresh_store(now);
  // Before the account is known, a page may read the error if some account allows its origin
  // (the same rule as the preflight without ?account=).
  auto early = [&](HttpResponse resp) {
    core::add_cors_headers(resp, origin, origin && store_.any_allows_origin(*origin));
    return resp;
  };
  if (auto d = per_address_.take(core::address_key(req.peer), opts_.per_address, now); !d.allowed()) {
    kRateAddress.inc();
    core::log_sampled(log_sampler_, now, core::address_key(req.peer), core::LogLevel::info, "auth.rate_limited", "peer={} scope=address", req.peer.to_string());
    return early(too_many("rate_limited", "too many token requests from this address: try again later",
                          d.retry_after_s));
  }
  CustomerToken t;
  if (auto why = read_token(req, t)) {
    kBadRequest.inc();
    return early(error(400, "bad_request", *why));
  }
  const Account* acct = store_.find(t.account);
  if (acct == nullptr) {
    kUnknownAccount.inc();
    core::log_sampled(log_sampler_, now, core::address_key(req.peer), core::LogLevel::info, "auth.refused", "outcome=unknown_account peer={}", req.peer.to_string());
    return early(error(404, "unknown_account", "no such account: check the account name the servlet uses"));
  }
  if (origin && !acct->allows_origin(*origin)) {
    kOriginRefused.inc();
    core::log_sampled(log_sampler_, now, core::address_key(req.peer), core::LogLevel::info, "auth.refused", "outcome=origin_not_allowed account={} origin={}", acct->id,
              *origin);
    HttpResponse r = error(403, "origin_not_allowed",
                           "origin not allowed: this page's origin is not in the account's allowed origins");
    core::add_cors_headers(r, origin, false);
    return r;
  }
  // From here the page is allowed to read the answer.
  auto answer = [&](HttpResponse resp) {
    core::add_cors_headers(resp, origin, true);
    resp.set("Cache-Control", "no-store");
    return resp;
  };
  std::string_view kid;
  const CustomerTokenError e = verify_customer_token(t, acct->secrets, unix_now, opts_.customer, &kid);
  switch (e) {
    case CustomerTokenError::none:
      break;
    case CustomerTokenError::malformed:
      kBadRequest.inc();
      return answer(error(400, "malformed_token", "malformed customer token: the key is not base64 or the username is empty or too long"));
    case CustomerTokenError::bad_key:
      kWrongSecret.inc();
      core::log_sampled(log_sampler_, now, core::address_key(req.peer), core::LogLevel::info, "auth.refused", "outcome=wrong_secret account={} expires_in={}", acct->id,
                t.expires - unix_now);
      return answer(error(401, "wrong_secret",
                          "wrong customer secret: the token's key does not verify with any secret of this account"));
    case CustomerTokenError::expired:
    case CustomerTokenError::lifetime_too_long: {
      kExpired.inc();
      const bool expired = e == CustomerTokenError::expired;
      core::log_sampled(log_sampler_, now, core::address_key(req.peer), core::LogLevel::info, "auth.refused", "outcome={} account={} kid={} expires_in={}",
                expired ? "expired" : "lifetime_too_long", acct->id, kid, t.expires - unix_now);
      return answer(expired
                        ? error(401, "token_expired",
                                fmt::format("customer token expired {} s ago: fetch a new one (check the servlet's clock)",
                                            unix_now - t.expires))
                        : error(401, "token_lifetime_too_long",
                                fmt::format("customer token lives too long: expires in {} s, at most {} s are accepted",
                                            t.expires - unix_now, opts_.customer.max_lifetime_s)));
    }
  }
  if (auto d = per_account_.take(acct->id, RateSpec::per_minute(acct->limits.tokens_per_minute), now); !d.allowed()) {
    kRateAccount.inc();
    core::log_sampled(log_sampler_, now, core::address_key(req.peer), core::LogLevel::info, "auth.rate_limited", "account={} scope=account", acct->id);
    return answer(too_many("rate_limited", "this account asked for too many tokens: try again later", d.retry_after_s));
  }
  const std::string token_id = customer_token_id(t);
  const std::int64_t remember_until = t.expires + opts_.customer.skew_s;
  switch (replay_.check_and_insert(unix_now, token_id, remember_until)) {
    case ReplayResult::fresh: {
      // On disk before the edge token goes out, so that neither a restart nor a kill -9 lets the
      // customer token be exchanged again (with group_commit: in the group's transaction, which the
      // caller commits before this answer leaves). Not durable: refuse rather than hand out a
      // replayable one.
      auto r = opts_.group_commit ? store_.begin_tokens() : core::Result<void>{};
      if (r) r = store_.remember_token(ReplayCache::id_of(token_id), remember_until);
      if (!r) {
        core::log(core::LogLevel::error, "auth.store_failed", "what=remember_token why={}", r.error().message);
        HttpResponse busy = error(503, "busy", "the service is busy: try again in a moment");
        busy.set("Retry-After", "1");
        return answer(std::move(busy));
      }
      if (unix_now - last_token_prune_ >= 60) {
        last_token_prune_ = unix_now;
        (void)store_.prune_tokens(unix_now);  // counted in the store's error metric if it fails
      }
      if (opts_.group_commit) ++group_size_;
      break;
    }
    case ReplayResult::replayed:
      kReplayedTok.inc();
      core::log_sampled(log_sampler_, now, core::address_key(req.peer), core::LogLevel::info, "auth.refused", "outcome=replayed account={} kid={}", acct->id, kid);
      return answer(error(403, "token_replayed", "customer token already used: fetch a new one for each call"));
    case ReplayResult::full: {
      kBusy.inc();
      HttpResponse r = error(503, "busy", "the service is busy: try again in a moment");
      r.set("Retry-After", "1");
      return answer(std::move(r));
    }
  }
  // The edge token's u= is the customer's user name when it fits the claim alphabet; the account
  // alone identifies the customer otherwise.
  const std::string_view user = valid_claim_value(t.username) ? std::string_view(t.username) : std::string_view{};
  const std::int64_t expires_at = unix_now + opts_.edge_token_ttl_s;
  auto minted = mint_edge_token(edge_secret_, expires_at, user, acct->claims());
  if (!minted) {
    kMintFailed.inc();
    core::log(core::LogLevel::error, "auth.mint_failed", "account={} why={}", acct->id, minted.error().message);
    return answer(error(500, "internal", "could not mint an edge token for this account"));
  }
  kIssued.inc();
  core::log(core::LogLevel::debug, "auth.issued", "account={} kid={} edge_kid={} expires_at={}", acct->id, kid,
            edge_secret_.kid, expires_at);
  std::string body;
  body.reserve(256 + minted->username.size());
  body += "{\"username\":";
  body += core::json_quote(minted->username);
  body += ",\"password\":";
  body += core::json_quote(minted->password);
  body += fmt::format(",\"ttl\":{},\"expires_at\":{},\"uris\":", opts_.edge_token_ttl_s, expires_at);
  body += uris_json_;
  body += ",\"ice_servers\":";
  body += ice_json_;
  body += '}';
  return answer(HttpResponse::json(200, std::move(body)));
}

HttpResponse AuthService::admin(const HttpRequest& req, std::string_view id, core::Instant now) {
  if (opts_.admin_token.empty()) {
    kAdminUnauthorized.inc();
    return error(403, "admin_disabled", "the admin API is off: start the service with --admin-token");
  }
  if (!bearer_matches(req, opts_.admin_token)) {
    kAdminUnauthorized.inc();
    core::log_sampled(log_sampler_, now, core::address_key(req.peer), core::LogLevel::info, "auth.admin_refused", "peer={} method={}", req.peer.to_string(), req.method);
    HttpResponse r = error(401, "unauthorized", "admin API: send Authorization: Bearer <admin token>");
    r.set("WWW-Authenticate", "Bearer realm=\"webtrunk-admin\"");
    return r;
  }
  // An account write commits with FULL sync, outside the open group of used tokens: commit that
  // group first (end_group() reports a failure to the caller, who drops the group's answers).
  if (store_.tokens_open() && !store_.commit_tokens()) group_failed_ = true;
  if (auto r = store_.refresh(); !r) return error(500, "store_error", "the account store could not be read");
  if (id.empty()) {
    if (req.method != "GET" && req.method != "HEAD") {
      return error(405, "method_not_allowed", "GET /v1/accounts lists accounts").set("Allow", "GET");
    }
    return HttpResponse::json(200, "{\"accounts\":" + json_string_array(store_.ids()) + "}");
  }
  if (!valid_account_id(id)) {
    kAdminBadRequest.inc();
    return error(400, "bad_account_id", "account id: 1 to 64 of A-Z a-z 0-9 . _ @ -");
  }
  if (req.method == "GET" || req.method == "HEAD") {
    const Account* a = store_.find(id);
    if (a == nullptr) return error(404, "unknown_account", fmt::format("no account {}", id));
    return HttpResponse::json(200, public_json(*a));
  }
  if (req.method == "PUT") {
    auto a = account_from_json(id, req.body);
    if (!a) {
      kAdminBadRequest.inc();
      return error(400, "bad_account", a.error().message);
    }
    auto created = store_.put(*a);
    if (!created) {
      core::log(core::LogLevel::error, "auth.store_write", "account={} {}", id, created.error().message);
      return error(500, "store_error", "the account could not be stored");
    }
    kAdminWrites.inc();
    core::log(core::LogLevel::info, "auth.account_put", "account={} created={} secrets={} origins={} numbers={}", id,
              *created, a->secrets.size(), a->origins.size(), a->numbers.size());
    std::string body = public_json(*a);
    body.insert(body.size() - 1, fmt::format(",\"created\":{}", *created));
    return HttpResponse::json(200, std::move(body));
  }
  if (req.method == "DELETE") {
    auto existed = store_.remove(id);
    if (!existed) {
      core::log(core::LogLevel::error, "auth.store_write", "account={} {}", id, existed.error().message);
      return error(500, "store_error", "the account could not be deleted");
    }
    if (!*existed) return error(404, "unknown_account", fmt::format("no account {}", id));
    kAdminWrites.inc();
    core::log(core::LogLevel::info, "auth.account_deleted", "account={}", id);
    return HttpResponse::json(200, fmt::format("{{\"deleted\":{}}}", core::json_quote(id)));
  }
  return error(405, "method_not_allowed", "use PUT, GET or DELETE on /v1/accounts/{id}").set("Allow", "PUT, GET, DELETE");
}

}  // namespace webtrunk::auth

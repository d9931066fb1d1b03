// `webtrunk auth`: the hosted auth service (issue 5; DESIGN.md "The chain of trust" 2-3), and
// `webtrunk auth account put|get|delete|list`, the admin API's operations on the account file
// without a running service.
//
// One shard: the service's work per request is a few microseconds of HMAC and JSON, one core
// serves tens of thousands of exchanges per second (bench/RESULTS.md "Auth service"), and a single
// owner keeps the replay cache and rate limits exact and SQLite writes serialized with no locks.
// For more, run several services on one account file (each with its own replay cache: a token
// could then be exchanged once per service) or put them behind a sticky load balancer.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "app/commands.hpp"
#include "app/http_limit_flags.hpp"
#include "app/http_drain.hpp"
#include "app/tls_flags.hpp"
#include "auth/account_store.hpp"
#include "auth/auth_service.hpp"
#include "auth/secrets_file.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/nofile_limit.hpp"
#include "core/shards.hpp"

namespace webtrunk::app {
namespace {

constexpr const char* kAccountUsage =
    "       webtrunk auth account put ID --json '{\"secrets\":[...],\"origins\":[...],\"numbers\":[...]}' [--db FILE]\n"
    "       webtrunk auth account get ID [--db FILE]\n"
    "       webtrunk auth account delete ID [--db FILE]\n"
    "       webtrunk auth account list [--db FILE]";

int fail(int code, const std::string& msg) {
  std::fprintf(stderr, "webtrunk auth: %s\n", msg.c_str());
  return code;
}

core::Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error{-ENOENT, "cannot read " + path};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The admin token from --admin-token or --admin-token-file (first line; a file keeps it out of `ps`).
core::Result<std::string> admin_token(const FlagValues& flags) {
  if (!flags.has("admin-token-file")) return flags.get("admin-token");
  auto text = read_file(flags.get("admin-token-file"));
  if (!text) return core::Error{text.error().code, "--admin-token-file: " + text.error().message};
  std::string t = text->substr(0, text->find_first_of("\r\n"));
  if (t.empty()) return core::Error{-EINVAL, "--admin-token-file: the first line is empty"};
  return t;
}

int run_account_cli(const FlagValues& flags) {
  const auto& pos = flags.positional();  // pos[0] == "account"
  if (pos.size() < 2) return fail(2, std::string("account: what to do?\n") + kAccountUsage);
  const std::string& op = pos[1];
  const bool needs_id = op == "put" || op == "get" || op == "delete";
  if ((needs_id && pos.size() != 3) || (op == "list" && pos.size() != 2) || (!needs_id && op != "list")) {
    return fail(2, "account: expected one of\n" + std::string(kAccountUsage));
  }
  auto store = auth::AccountStore::open(flags.get("db"));
  if (!store) return fail(1, store.error().message);
  if (op == "list") {
    std::string out = "{\"accounts\":[";
    const auto ids = (*store)->ids();
    for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + core::json_quote(ids[i]);
    std::puts((out + "]}").c_str());
    return 0;
  }
  const std::string& id = pos[2];
  if (!auth::valid_account_id(id)) return fail(2, "account id: 1 to 64 of A-Z a-z 0-9 . _ @ -");
  if (op == "get") {
    const auth::Account* a = (*store)->find(id);
    if (a == nullptr) return fail(1, "no account " + id);
    std::puts(auth::public_json(*a).c_str());
    return 0;
  }
  if (op == "delete") {
    auto existed = (*store)->remove(id);
    if (!existed) return fail(1, existed.error().message);
    if (!*existed) return fail(1, "no account " + id);
    std::printf("{\"deleted\":%s}\n", core::json_quote(id).c_str());
    return 0;
  }
  // put
  std::string json = flags.get("json");
  if (flags.has("json-file")) {
    auto text = read_file(flags.get("json-file"));
    if (!text) return fail(2, "--json-file: " + text.error().message);
    json = std::move(*text);
  }
  if (json.empty()) return fail(2, "account put: give the account as --json '{...}' or --json-file FILE");
  auto a = auth::account_from_json(id, json);
  if (!a) return fail(2, a.error().message);
  auto created = (*store)->put(*a);
  if (!created) return fail(1, created.error().message);
  std::string out = auth::public_json(*a);
  out.insert(out.size() - 1, fmt::format(",\"created\":{}", *created));
  std::puts(out.c_str());
  return 0;
}

}  // namespace

FlagSet auth_flags() {
  FlagSet f("auth", "The hosted auth service: trades a customer token for an edge token.");
  f.positionals("       webtrunk auth account ...   manage accounts in --db without a running service:\n" +
                std::string(kAccountUsage));
  f.add({"listen", "ADDR:PORT", "HTTP listen address (HTTPS with --tls-cert)", "127.0.0.1:8443", false});
  add_tls_flags(f);
  f.add({"db", "FILE", "SQLite account store (WAL)", "webtrunk-accounts.db", false});
  f.add({"edge-secret-file", "FILE", "secrets shared with the edges, one `kid:secret` per line; the first with a kid mints", "", false});
  f.add({"admin-token", "TOKEN", "bearer token for the admin API (empty: admin API off)", "", false});
  f.add({"admin-token-file", "FILE", "read the admin token from the first line of FILE instead", "", false});
  f.add({"edge-uri", "URL", "WebSocket URI of the edge handed to browsers (default: wss://127.0.0.1:8080 with --tls-cert)",
         "ws://127.0.0.1:8080", true});
  f.add({"ice-server", "URL", "STUN/TURN URL handed to browsers as ice_servers", "", true});
  f.add({"clock-skew", "SECONDS", "tolerated clock difference for token expiry", "30", false});
  f.add({"token-ttl", "SECONDS", "lifetime of the edge tokens issued", "3600", false});
  f.add({"customer-max-lifetime", "SECONDS", "longest customer token lifetime accepted", "600", false});
  f.add({"address-rate", "PER_MINUTE", "token requests per minute per source address (IPv6: per /64)", "1200", false});
  f.add({"replay-capacity", "N", "customer tokens remembered as used (size it to peak exchanges/s x (max lifetime + skew))", "1000000", false});
  add_http_limit_flags(f);
  f.add({"cpu", "N", "pin the service's thread to this CPU", "", false});
  f.add({"json", "JSON", "account put: the account document", "", false});
  f.add({"json-file", "FILE", "account put: read the account document from FILE", "", false});
  f.add({"log-level", "LEVEL", "debug, info, warn or error", "info", false});
  return f;
}

int run_auth(const FlagValues& flags) {
  core::LogLevel level{};
  if (!core::parse_log_level(flags.get("log-level"), level)) {
    return fail(2, fmt::format("--log-level: '{}' is not one of debug, info, warn, error", flags.get("log-level")));
  }
  core::set_log_level(level);
  const auto& pos = flags.positional();
  if (!pos.empty()) {
    if (pos[0] == "account") return run_account_cli(flags);
    return fail(2, fmt::format("unexpected argument '{}'\nUsage: webtrunk auth [flags]\n{}", pos[0], kAccountUsage));
  }

  auth::AuthServiceOptions opts;
  core::raise_nofile_limit();
  auto token = admin_token(flags);
  if (!token) return fail(2, token.error().message);
  opts.admin_token = *token;
  opts.edge_uris = flags.all("edge-uri");
  if (opts.edge_uris.empty()) {
    // A page on https can open only wss://: with TLS configured the default edge is a wss one.
    opts.edge_uris.push_back(tls_configured(flags) ? "wss://127.0.0.1:8080" : flags.get("edge-uri"));
  }
  opts.ice_servers = flags.all("ice-server");
  auto skew = flags.get_int("clock-skew", 0, 3600);
  auto ttl = flags.get_int("token-ttl", 60, 24 * 3600);
  auto life = flags.get_int("customer-max-lifetime", 1, 24 * 3600);
  auto rate = flags.get_int("address-rate", 1, 1'000'000'000);
  auto replay = flags.get_int("replay-capacity", 1000, 100'000'000);
  for (const auto* r : {&skew, &ttl, &life, &rate, &replay}) {
    if (!*r) return fail(2, r->error().message);
  }
  opts.customer.skew_s = *skew;
  opts.customer.max_lifetime_s = *life;
  opts.edge_token_ttl_s = *ttl;
  opts.per_address = auth::RateSpec::per_minute(static_cast<std::uint32_t>(*rate));
  opts.replay_capacity = static_cast<std::size_t>(*replay);
  opts.group_commit = true;
  core::HttpServerOptions ho;
  ho.limits.max_body_bytes = 16 * 1024;  // an account document or a token is well under this
  if (auto r = http_limits_from(flags, ho); !r) return fail(2, r.error().message);

  if (flags.get("edge-secret-file").empty()) return fail(2, "--edge-secret-file FILE is required (the edges' secrets)");
  auto secrets = auth::load_secrets_file(flags.get("edge-secret-file"));
  if (!secrets) return fail(2, "--edge-secret-file " + secrets.error().message);
  const auth::Secret* mint = nullptr;
  for (const auto& s : *secrets) {
    if (!s.kid.empty()) {
      mint = &s;
      break;
    }
  }
  if (mint == nullptr) return fail(2, "--edge-secret-file: no secret with a key id (`kid:secret`) to mint with");
  auto addr = core::SockAddr::parse(flags.get("listen"));
  if (!addr) return fail(2, "--listen: " + addr.error().message);

  auto store = auth::AccountStore::open(flags.get("db"));
  if (!store) return fail(1, store.error().message);
  if (opts.admin_token.empty()) {
    core::log(core::LogLevel::warn, "auth.admin_off", "no --admin-token: the admin API answers 403");
  }

  core::ShardsConfig sc;
  sc.shards = 1;
  if (flags.has("cpu")) {
    auto cpu = flags.get_int("cpu", 0, 4095);
    if (!cpu) return fail(2, cpu.error().message);
    sc.cpus = {static_cast<unsigned>(*cpu)};
  }
  sc.shard.udp_buffers = 16;  // no UDP here; keep the ring small
  core::Shards shards(sc);
  auth::AuthService service(**store, *mint, std::move(opts));
  auto restored = service.restore_replay(core::unix_now());
  if (!restored) return fail(1, restored.error().message);
  core::log(core::LogLevel::info, "auth.replay_restored", "used_tokens={}", *restored);
  // Group commit: the used tokens of one loop turn's exchanges are written in one transaction at
  // the end of the turn, before the turn's answers are submitted (Shard::defer); if it fails, those
  // connections are aborted and their answers never leave (auth/README.md "Storage").
  core::Shard* the_shard = nullptr;  // set in init, on the shard's thread; one shard
  std::vector<core::ConnId> group_conns;
  auto end_group = [&] {
    if (auto r = service.end_group(); !r) {
      for (const core::ConnId c : group_conns) the_shard->abort(c);
    }
    group_conns.clear();
  };
  core::HttpServer server(ho, [&](const core::HttpRequest& req) {
    const std::size_t before = service.group_size();
    core::HttpResponse resp = service.handle(req, core::monotonic_now());
    if (service.group_size() != before) {
      if (group_conns.empty()) the_shard->defer(end_group);
      group_conns.push_back(req.conn);
    }
    return resp;
  });
  HttpDrain drain(shards, server, "auth");
  std::vector<core::ListenerId> listeners(shards.size());
  auto tls = serve_tls_from_flags(flags, shards, [&](core::Shard& sh, std::shared_ptr<const core::TlsContext> ctx) {
    sh.set_listener_tls(listeners[sh.index()], std::move(ctx));
  });
  if (!tls) return fail(2, tls.error().message);
  auto init = [&](core::Shard& shard) -> core::Result<void> {
    the_shard = &shard;
    auto l = server.listen(shard, *addr, {}, *tls);
    if (l) listeners[shard.index()] = *l;
    if (!l) return core::Error{l.error().code, "--listen " + addr->to_string() + ": " + l.error().message};
    drain.set_listener(*l);
    core::log(core::LogLevel::info, "auth.start", "listen={} db={} accounts={} edge_kid={} uris={}",
              shard.listener_address(*l).to_string(), flags.get("db"), (*store)->size(), mint->kid,
              flags.all("edge-uri").empty() ? flags.get("edge-uri") : flags.all("edge-uri").front());
    return {};
  };
  auto r = shards.run_until_signal(init);
  if (!r) return fail(1, r.error().message);
  core::log(core::LogLevel::info, "auth.stop", "stopped cleanly");
  return 0;
}

}  // namespace webtrunk::app

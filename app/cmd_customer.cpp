// The customer side of the chain of trust (issue 5): `webtrunk mint` prints one customer token,
// `webtrunk servlet` hands them out over HTTP beside the customer's web site (app/customer_servlet.hpp
// holds its request logic). Both mint with auth::mint_customer_token: one implementation.
#include <cstdio>
#include <string>

#include "app/commands.hpp"
#include "app/http_limit_flags.hpp"
#include "app/http_drain.hpp"
#include "app/tls_flags.hpp"
#include "app/customer_servlet.hpp"
#include "auth/customer_token.hpp"
#include "core/clock.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/nofile_limit.hpp"
#include "core/shards.hpp"

namespace webtrunk::app {

FlagSet mint_flags() {
  FlagSet f("mint", "Mint a customer token (what a customer's servlet hands to its web page) as JSON.");
  f.add({"account", "ID", "account id at the auth service", "", false});
  f.add({"secret-file", "FILE",
         "file holding the customer secret (a line `secret` or `kid:secret`, '#' comments; the first one is used)", "",
         false});
  f.add({"username", "NAME", "the caller's name inside the token", "web", false});
  f.add({"ttl", "SECONDS", "token lifetime", "300", false});
  f.add({"algorithm", "ALG", "sha256 or sha1 (sha1: what Voxbone's servlet mints)", "sha256", false});
  return f;
}

FlagSet servlet_flags() {
  FlagSet f("servlet", "The customer-side token endpoint, run beside the customer's web site.");
  f.add({"listen", "ADDR:PORT", "HTTP listen address (HTTPS with --tls-cert)", "127.0.0.1:8081", false});
  add_tls_flags(f);
  f.add({"account", "ID", "account id at the auth service", "", false});
  f.add({"secret-file", "FILE", "file holding the customer secret (as for `mint`)", "", false});
  f.add({"origin", "URL",
         "page origin allowed to fetch tokens cross-origin, e.g. https://shop.example (repeatable); the origin of "
         "the --listen address itself is always allowed",
         "", true});
  f.add({"username", "NAME", "the caller's name inside each token, followed by '.' and 8 random characters", "web",
         false});
  f.add({"ttl", "SECONDS", "token lifetime", "300", false});
  f.add({"algorithm", "ALG", "sha256 or sha1", "sha256", false});
  f.add({"static", "DIR", "also serve the files of DIR at / (the customer's web site, e.g. web/dist)", "", false});
  add_http_limit_flags(f);
  f.add({"log-level", "LEVEL", "debug, info, warn or error", "info", false});
  f.add({"log-format", "FORMAT", "json or text", "json", false});
  return f;
}

int run_mint(const FlagValues& flags) {
  auto opts = minter_options_from(flags);
  if (!opts) {
    std::fprintf(stderr, "webtrunk mint: %s\n", opts.error().message.c_str());
    return opts.error().code == kUsageError ? 2 : 1;
  }
  const auth::CustomerToken t = mint(*opts, core::unix_now());
  std::printf("%s\n", auth::customer_token_json(t).c_str());
  return 0;
}

int run_servlet(const FlagValues& flags) {
  auto opts = minter_options_from(flags, /*unique_username=*/true);
  if (!opts) {
    std::fprintf(stderr, "webtrunk servlet: %s\n", opts.error().message.c_str());
    return opts.error().code == kUsageError ? 2 : 1;
  }
  core::LogLevel level{};
  if (!core::parse_log_level(flags.get("log-level"), level)) {
    std::fprintf(stderr, "webtrunk servlet: --log-level: '%s' is not debug, info, warn or error\n",
                 flags.get("log-level").c_str());
    return 2;
  }
  core::set_log_level(level);
  core::raise_nofile_limit();
  core::set_log_json(flags.get("log-format") != "text");
  auto listen = core::SockAddr::parse(flags.get("listen"));
  if (!listen) {
    std::fprintf(stderr, "webtrunk servlet: --listen '%s': %s\n", flags.get("listen").c_str(),
                 listen.error().message.c_str());
    return 2;
  }
  ServletConfig cfg;
  cfg.minter = std::move(*opts);
  for (const auto& o : flags.all("origin")) {
    if (!valid_origin(o)) {
      std::fprintf(stderr, "webtrunk servlet: --origin '%s' is not an origin (http[s]://host[:port], no path)\n",
                   o.c_str());
      return 2;
    }
    cfg.origins.push_back(o);
  }
  cfg.static_dir = flags.get("static");
  if (!cfg.static_dir.empty()) {
    if (auto ok = check_static_dir(cfg.static_dir); !ok) {
      std::fprintf(stderr, "webtrunk servlet: --static %s\n", ok.error().message.c_str());
      return 2;
    }
  }

  // One shard, not pinned: a token is one HMAC, and the servlet runs beside other processes.
  core::ShardsConfig sc;
  sc.shards = 1;
  sc.pin = false;
  core::HttpServerOptions ho;
  if (auto lim = http_limits_from(flags, ho); !lim) {
    std::fprintf(stderr, "webtrunk servlet: %s\n", lim.error().message.c_str());
    return 2;
  }
  core::Shards shards(sc);
  CustomerServlet servlet(cfg);
  core::HttpServer http(ho, [&](const core::HttpRequest& req) { return servlet.handle(req, req.unix_time); });
  HttpDrain drain(shards, http, "servlet");
  std::vector<core::ListenerId> listeners(shards.size());
  auto tls = serve_tls_from_flags(flags, shards, [&](core::Shard& sh, std::shared_ptr<const core::TlsContext> ctx) {
    sh.set_listener_tls(listeners[sh.index()], std::move(ctx));
  });
  if (!tls) {
    std::fprintf(stderr, "webtrunk servlet: %s\n", tls.error().message.c_str());
    return 2;
  }
  const char* scheme = *tls ? "https" : "http";
  auto init = [&](core::Shard& shard) -> core::Result<void> {
    auto l = http.listen(shard, *listen, {}, *tls);
    if (l) listeners[shard.index()] = *l;
    if (!l) return core::Error{l.error().code, "--listen " + listen->to_string() + ": " + l.error().message};
    drain.set_listener(*l);
    const core::SockAddr bound = shard.listener_address(*l);
    servlet.set_own_origin(std::string(scheme) + "://" + bound.to_string());
    core::log(core::LogLevel::info, "servlet.listen", "url={}://{}/ account={} origins={} static={}",
              scheme, bound.to_string(), cfg.minter.account, cfg.origins.size(),
              cfg.static_dir.empty() ? "-" : cfg.static_dir);
    return {};
  };
  auto r = shards.run_until_signal(init);
  if (!r) {
    std::fprintf(stderr, "webtrunk servlet: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace webtrunk::app

// `webtrunk edge`: start the shards, install the WebSocket front door on each, run until SIGTERM
// (then drain: app/edge_drain.hpp).
#include <sys/resource.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <tuple>

#include "app/admin_endpoint.hpp"
#include "app/commands.hpp"
#include "app/edge_drain.hpp"
#include "app/edge_flags.hpp"
#include "app/routes_reloader.hpp"
#include "app/tls_flags.hpp"
#include "auth/edge_authenticator.hpp"
#include "auth/secrets_file.hpp"
#include "core/log.hpp"
#include "core/nofile_limit.hpp"
#include "core/shards.hpp"
#include "edge/auth_gate.hpp"
#include "edge/call_controller.hpp"
#include "edge/edge_shard.hpp"
#include "edge/shard_drain.hpp"
#include "edge/trunk_resolver.hpp"
#include "edge/ws_front_door.hpp"
#include "media/bridge.hpp"
#include "media/dtls.hpp"
#include "media/port_pool.hpp"

namespace webtrunk::app {
namespace {

const core::Counter kSecretReloadErrorsTotal{"webtrunk_edge_secret_reload_errors_total",
                                             "--edge-secret-file reloads refused (the previous secrets stay)"};

// One connection is one descriptor: lift the soft limit to the hard one so that a few thousand
// browsers do not hit the default 1024.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int run_edge(const FlagValues& flags) {
  auto cfg = edge_config_from(flags);
  if (!cfg) {
    std::fprintf(stderr, "webtrunk edge: %s\n", cfg.error().message.c_str());
    return 2;
  }
  // "ADDR:PORT" texts of --ws / --wss to addresses (nullopt: printed why, exit 2).
  auto parse_addrs = [](const std::vector<std::string>& texts, const char* flag) {
    std::optional<std::vector<core::SockAddr>> out{std::in_place};
    for (const auto& a : texts) {
      auto addr = core::SockAddr::parse(a);
      if (!addr) {
        std::fprintf(stderr, "webtrunk edge: --%s '%s': %s\n", flag, a.c_str(), addr.error().message.c_str());
        return std::optional<std::vector<core::SockAddr>>{};
      }
      out->push_back(*addr);
    }
    return out;
  };
  auto ws_parsed = parse_addrs(cfg->ws_listen, "ws");
  auto wss_parsed = parse_addrs(cfg->wss_listen, "wss");
  if (!ws_parsed || !wss_parsed) return 2;
  const std::vector<core::SockAddr> ws_addrs = std::move(*ws_parsed);
  const std::vector<core::SockAddr> wss_addrs = std::move(*wss_parsed);
  // TLS: one context for every shard, one set of ticket keys for the process (a browser that
  // reconnects to another shard resumes its session).
  auto ticket_keys = core::TlsTicketKeys::create();
  auto tls_config = tls_server_config_from(flags, ticket_keys);
  if (!tls_config) {
    std::fprintf(stderr, "webtrunk edge: %s\n", tls_config.error().message.c_str());
    return 2;
  }
  std::unique_ptr<TlsReloader> tls_reloader;
  std::shared_ptr<const core::TlsContext> tls_ctx;
  if (*tls_config && !wss_addrs.empty()) {
    tls_reloader = std::make_unique<TlsReloader>(**tls_config);
    auto ctx = tls_reloader->load();
    if (!ctx) {
      std::fprintf(stderr, "webtrunk edge: %s\n", ctx.error().message.c_str());
      return 2;
    }
    tls_ctx = *ctx;
  }
  auto trunk_tls = trunk_tls_from(flags);
  if (!trunk_tls) {
    std::fprintf(stderr, "webtrunk edge: %s\n", trunk_tls.error().message.c_str());
    return 2;
  }
  core::raise_nofile_limit();
  // The token check: secrets shared by every shard (rotation-safe store), one nonce key per process.
  auto store = std::make_shared<auth::SecretStore>();
  bool legacy = false;
  if (!cfg->no_auth) {
    auto secrets = auth::load_secrets_file(cfg->edge_secret_file);
    if (!secrets) {
      std::fprintf(stderr, "webtrunk edge: --edge-secret-file %s\n", secrets.error().message.c_str());
      return 2;
    }
    // A bare secret (no key id) verifies Kamailio auth_ephemeral tokens "<expiry>:<id>"
    // (HMAC-SHA1, as JsSIP pages configured for Kamailio mint them).
    for (const auto& sec : *secrets) legacy = legacy || sec.kid.empty();
    if (auto r = store->set_secrets(*secrets); !r) {
      std::fprintf(stderr, "webtrunk edge: --edge-secret-file: %s\n", r.error().message.c_str());
      return 2;
    }
  }
  auto nonce_key = std::make_shared<const auth::NonceKey>(auth::NonceKey::generate());
  auto addr_of = [](const std::string& ip, unsigned port) {
    return core::SockAddr::parse(ip.find(':') != std::string::npos ? "[" + ip + "]:" + std::to_string(port)
                                                                    : ip + ":" + std::to_string(port));
  };
  auto sip_addr = [&](unsigned k) { return addr_of(cfg->sip_listen, cfg->sip_port + k); };
  // The DTLS certificate toward browsers: one per process, shared read-only by every shard.
  auto identity = cfg->dtls_cert.empty() ? media::DtlsIdentity::generate()
                                         : media::DtlsIdentity::load(cfg->dtls_cert, cfg->dtls_key);
  if (!identity) {
    std::fprintf(stderr, "webtrunk edge: %s%s\n", cfg->dtls_cert.empty() ? "DTLS certificate: " : "--dtls-cert/--dtls-key: ",
                 identity.error().message.c_str());
    return 2;
  }
  if (!cfg->srtp_profiles.empty()) {
    if (auto r = (*identity)->set_srtp_profiles(cfg->srtp_profiles); !r) {
      std::fprintf(stderr, "webtrunk edge: --srtp-profiles: %s\n", r.error().message.c_str());
      return 2;
    }
  }
  if (cfg->routes->empty()) {
    core::log(core::LogLevel::warn, "edge.no_trunk", "no --trunk or --routes: every call is answered 404");
  }
  // Trunk names (RFC 3263) resolve on the resolver's thread; the first calls wait for nothing, so
  // the start waits a little for the first answers (a name that does not resolve by then keeps
  // being tried; its calls get 503 until it does).
  std::unique_ptr<edge::TrunkResolver> resolver;
  if (!cfg->routes->empty()) {
    edge::TrunkResolverConfig rc;
    rc.servers = flags.all("dns-server");
    auto r = edge::TrunkResolver::start(std::move(rc));
    if (!r) {
      std::fprintf(stderr, "webtrunk edge: %s\n", r.error().message.c_str());
      return 2;
    }
    resolver = std::move(*r);
    resolver->attach(*cfg->routes);
    if (!cfg->routes->named_trunks().empty() && !resolver->wait_settled(std::chrono::seconds(5))) {
      core::log(core::LogLevel::warn, "dns.slow_start", "trunk names not resolved within 5 s; calls get 503 until they are");
    }
  }
  if (cfg->no_auth) {
    core::log(core::LogLevel::warn, "edge.no_auth", "--no-auth: REGISTER and INVITE are accepted without a token");
  }
  raise_fd_limit();

  core::ShardsConfig sc;
  sc.shards = cfg->shards;
  sc.cpus = cfg->cpus;
  // SIP's big buffers and media's small ones, in separate rings (send copies are SIP-sized too).
  media::set_edge_udp_buffers(sc.shard);
  core::Shards shards(sc);
  // Every shard must get RTP ports: a range too small for the shard count is a flag error.
  for (unsigned k = 0; k < shards.size(); ++k) {
    if (auto slice = media::rtp_port_slice(cfg->rtp_ports, static_cast<unsigned>(shards.size()), k); !slice) {
      std::fprintf(stderr, "webtrunk edge: %s\n", slice.error().message.c_str());
      return 2;
    }
  }
  if (cfg->media_port != 0 && cfg->media_port + shards.size() - 1 > 65535) {
    std::fprintf(stderr, "webtrunk edge: --media-port %u + %u shards is beyond 65535\n", cfg->media_port, shards.size());
    return 2;
  }

  // One media bridge, front door and SIP layer per shard, owned here so they outlive the shard's
  // loop. The bridges are declared first: the SIP layers (which hold their sessions) go first.
  std::vector<std::unique_ptr<media::MediaBridge>> bridges(shards.size());
  std::vector<std::unique_ptr<edge::WsFrontDoor>> doors(shards.size());
  std::vector<std::unique_ptr<edge::EdgeShard>> sips(shards.size());
  std::vector<std::unique_ptr<edge::ShardDrain>> drains(shards.size());
  EdgeDrain drain(shards, drains, std::chrono::seconds(cfg->drain_timeout_s));
  shards.set_on_terminate([&drain](int count) { drain.on_terminate(count); });
  // --admin-listen on shard 0 (metrics are process-wide); it must outlive the shard's loop.
  // /status reads shard 0's registrations: the listener runs on shard 0's thread.
  const StatusSource status = [&sips] {
    return status_json(sips[0] ? sips[0]->sip().trunk_registrations(core::monotonic_now())
                               : std::vector<edge::TrunkRegistrations::Status>{});
  };
  core::HttpServer admin({}, [&status](const core::HttpRequest& req) { return admin_response(req, status); });
  auto init = [&](core::Shard& shard) -> core::Result<void> {
    const unsigned k = shard.index();
    if (k == 0 && !cfg->admin_listen.empty()) {
      const auto admin_addr = core::SockAddr::parse(cfg->admin_listen);  // checked with the flags
      auto l = admin.listen(shard, admin_addr.value());
      if (!l) return core::Error{l.error().code, "--admin-listen " + cfg->admin_listen + ": " + l.error().message};
      core::log(core::LogLevel::info, "admin.listen", "http={}", shard.listener_address(*l).to_string());
    }
    if (cfg->sip_port + k > 65535) return core::Error{ERANGE, "--sip-port + shard index is beyond 65535"};
    std::unique_ptr<auth::EdgeAuthenticator> authn;
    if (!cfg->no_auth) {
      auth::VerifierOptions vo;
      vo.accept_legacy = legacy;
      authn = std::make_unique<auth::EdgeAuthenticator>(nonce_key, auth::EdgeTokenVerifier(store, vo),
                                                        auth::EdgeAuthOptions{cfg->realm, false, ""});
    }
    auto gate = std::make_unique<edge::AuthGate>(edge::AuthGateOptions{!cfg->no_auth, cfg->bind_from_user, cfg->realm},
                                                 std::move(authn));
    auto& sip = sips[k];
    sip = std::make_unique<edge::EdgeShard>();
    sip->set_trunk_tls(*trunk_tls);
    sip->set_crlf_ping(std::chrono::seconds(cfg->trunk_crlf_ping_s));
    auto local = sip_addr(cfg->sip_port == 0 ? 0 : k);
    if (!local) return core::Error{EINVAL, "--sip-listen: " + local.error().message};
    auto bound = sip->open(shard, *local);
    if (!bound) {
      return core::Error{bound.error().code, "--sip-listen/--sip-port " + local->to_string() + ": " +
                                                 bound.error().message};
    }
    media::MediaConfig mcfg;
    auto media_local = addr_of(cfg->media_listen, cfg->media_port == 0 ? 0 : cfg->media_port + k);
    auto trunk_bind = addr_of(cfg->media_listen, 0);
    auto slice = media::rtp_port_slice(cfg->rtp_ports, static_cast<unsigned>(shards.size()), k);
    if (!media_local || !trunk_bind || !slice) return core::Error{EINVAL, "--media-listen/--rtp-ports"};
    mcfg.browser_listen = *media_local;
    mcfg.public_ip = cfg->public_ip;
    mcfg.trunk_bind = *trunk_bind;
    mcfg.rtp_port_min = slice->first;
    mcfg.rtp_port_max = slice->second;
    if (shards.size() > 1) {
      // The whole range, for a shard whose slice is used up (media/port_pool.hpp; README "RTP ports").
      auto whole = media::rtp_port_slice(cfg->rtp_ports, 1, 0);
      if (whole) std::tie(mcfg.rtp_borrow_min, mcfg.rtp_borrow_max) = *whole;
    }
    mcfg.engine = cfg->srtp_engine;
    mcfg.identity = *identity;
    mcfg.consent_timeout = std::chrono::seconds(cfg->consent_timeout_s);
    mcfg.media_setup_timeout = std::chrono::seconds(cfg->media_setup_timeout_s);
    mcfg.trunk_rtp_timeout = std::chrono::seconds(cfg->trunk_rtp_timeout_s);
    mcfg.trunk_rtp_mode = cfg->trunk_rtp_shared ? media::TrunkRtpMode::shared : media::TrunkRtpMode::per_call;
    auto bridge = media::MediaBridge::open(shard, std::move(mcfg));
    if (!bridge) {
      return core::Error{bridge.error().code, "--media-listen/--media-port " + media_local->to_string() + ": " +
                                                  bridge.error().message};
    }
    bridges[k] = std::move(*bridge);
    edge::EdgeShard* sp = sip.get();
    bridges[k]->on_ended = [sp, &shard](media::SessionId id, media::MediaEnd why) { sp->on_media_ended(shard, id, why); };
    core::log(core::LogLevel::info, "media.listen", "shard={} udp={} candidate={} rtp_ports={}-{}", k,
              bridges[k]->browser_address().to_string(), cfg->public_ip, slice->first, slice->second);

    edge::CallControllerConfig scfg;
    scfg.shard = k;
    scfg.shards = static_cast<unsigned>(shards.size());
    scfg.media = bridges[k].get();
    scfg.sip_host = cfg->sip_listen;
    scfg.sip_port = bound->port();  // P+k, or the kernel's pick with --sip-port 0
    scfg.routes = cfg->routes;
    scfg.codecs = cfg->codecs;
    scfg.call_limits = {cfg->limits.max_calls_per_token, static_cast<unsigned>(shards.size())};
    // One keep-alive per trunk per interval: shard 0 pings and posts what it finds to the others.
    scfg.trunk_ping.interval = std::chrono::seconds(cfg->trunk_ping_s);
    scfg.trunk_ping.timeout = std::min<core::Duration>(std::chrono::seconds(5), scfg.trunk_ping.interval);
    scfg.trunk_ping.failures_to_down = cfg->trunk_ping_failures;
    scfg.ping_trunks = k == 0;
    scfg.register_trunks = k == 0;
    scfg.call_ping = std::chrono::seconds(cfg->call_ping_s);
    scfg.trunk_100rel = cfg->trunk_100rel;
    sip->set_core(std::make_unique<edge::CallController>(std::move(scfg), std::move(gate)));
    if (k == 0) {
      // Runs on shard 0's thread; each task runs on its shard's thread, where sips[j] was made.
      sip->sip().on_trunk_state = [&shard, &sips](const core::SockAddr& addr, bool up) {
        bool all = true;
        for (unsigned j = 1; j < sips.size(); ++j) {
          all = shard.post(j, [&sips, j, addr, up](core::Shard&) {
                  if (sips[j]) sips[j]->sip().set_trunk_state(addr, up);
                }) && all;
        }
        return all;
      };
    }
    sip->start(shard);
    core::log(core::LogLevel::info, "sip.listen", "shard={} udp={}", k, bound->to_string());
    edge::WsFrontDoor::Sink sink;
    sink.on_message = [sp](core::Shard& sh, core::ConnId id, const core::WsMessage& m) { sp->on_ws_message(sh, id, m); };
    sink.on_flow_closed = [sp](core::Shard& sh, core::ConnId id) { sp->on_flow_closed(sh, id); };
    auto& door = doors[k];
    door = std::make_unique<edge::WsFrontDoor>(*cfg, std::move(sink));
    sip->set_front_door(door.get());
    sip->set_peers(&sips);
    for (const auto& a : ws_addrs) {
      if (auto r = door->listen(shard, a); !r) {
        return core::Error{r.error().code, "--ws " + a.to_string() + ": " + r.error().message};
      }
    }
    for (const auto& a : wss_addrs) {
      if (auto r = door->listen(shard, a, tls_ctx); !r) {
        return core::Error{r.error().code, "--wss " + a.to_string() + ": " + r.error().message};
      }
    }
    drains[k] = std::make_unique<edge::ShardDrain>(*sip, *door);
    return {};
  };
  // SIGHUP: new certificates (for new handshakes only) and edge secrets; the file watch: the
  // certificates when their files change, and the ticket keys' rotation.
  auto post_tls = [&](std::shared_ptr<const core::TlsContext> ctx) {
    for (unsigned k = 0; k < shards.size(); ++k) {
      edge::WsFrontDoor* door = doors[k].get();
      if (!shards.post(k, [door, ctx](core::Shard& sh) { door->set_tls(sh, ctx); })) {
        core::log(core::LogLevel::error, "tls.reload_post_failed", "shard={} mailbox full; retried at the next change", k);
      }
    }
  };
  auto reload_secrets = [&] {
    if (cfg->no_auth) return;
    auto secrets = auth::load_secrets_file(cfg->edge_secret_file);
    auto r = secrets ? store->set_secrets(*secrets) : core::Result<void>(secrets.error());
    if (!r) {
      kSecretReloadErrorsTotal.inc();
      core::log(core::LogLevel::error, "edge.secrets_reload_failed", "--edge-secret-file: {}; the previous secrets stay",
                r.error().message);
    } else {
      core::log(core::LogLevel::info, "edge.secrets_reloaded", "secrets={}", secrets->size());
    }
  };
  // Routes: each shard swaps its table on its own thread; cfg->routes follows, so that the old
  // table lives only as long as calls routed by it.
  std::optional<RoutesReloader> routes_reloader;
  if (!cfg->routes->empty()) routes_reloader.emplace([&flags] { return routes_from(flags); }, flags.get("routes"), *cfg->routes);
  auto reload_routes = [&](bool force) {
    if (!routes_reloader) return;
    auto table = routes_reloader->reload(force);
    if (!table) return;
    if (resolver) resolver->attach(*table);
    for (unsigned k = 0; k < shards.size(); ++k) {
      edge::EdgeShard* sip = sips[k].get();
      if (!shards.post(k, [sip, table](core::Shard& shard) { sip->set_routes(shard, table); })) {
        core::log(core::LogLevel::error, "routes.reload_post_failed", "shard={} mailbox full; send SIGHUP again", k);
      }
    }
    cfg->routes = std::move(table);
  };
  shards.set_on_reload([&] {
    if (tls_reloader) {
      if (auto ctx = tls_reloader->reload(true)) post_tls(ctx);
    }
    reload_secrets();
    reload_routes(true);
  });
  const std::int64_t ticket_lifetime_s = *tls_config ? (*tls_config)->ticket_lifetime_s : 7200;
  auto last_rotation = std::chrono::steady_clock::now();
  shards.set_on_watch([&] {
    if (tls_reloader) {
      if (auto ctx = tls_reloader->reload(false)) post_tls(ctx);
    }
    reload_routes(false);
    // A ticket key seals for one ticket lifetime at most (RFC 8446 §C.4), opens for two.
    if (std::chrono::steady_clock::now() - last_rotation >= std::chrono::seconds(ticket_lifetime_s)) {
      ticket_keys->rotate();
      last_rotation = std::chrono::steady_clock::now();
    }
  });
  core::log(core::LogLevel::info, "edge.start",
            "shards={} ws={} wss={} sip={}:{}+k media={}:{}+k public_ip={} rtp_ports={} srtp={} routes={} auth={} realm={}",
            shards.size(), fmt::join(cfg->ws_listen, ","), fmt::join(cfg->wss_listen, ","), cfg->sip_listen, cfg->sip_port, cfg->media_listen,
            cfg->media_port, cfg->public_ip, cfg->rtp_ports,
            cfg->srtp_engine == media::SrtpEngine::own ? "own" : "libsrtp", cfg->routes->routes().size(),
            cfg->no_auth ? "off" : "on", cfg->realm);
  auto r = shards.run_until_signal(init);
  // A MediaBridge may only be destroyed on its shard's thread while the shard lives (it cancels
  // its timer and closes its sockets there), and each shard is gone once run_until_signal
  // returns: the shard closed every socket and timer of its own. So the bridges stay, reachable,
  // until the process exits. (Wanted in core::Shards: a per-shard teardown hook on its thread.)
  static auto* const kept_bridges = new std::vector<std::unique_ptr<media::MediaBridge>>();
  for (auto& b : bridges) kept_bridges->push_back(std::move(b));
  if (!r) {
    core::log(core::LogLevel::error, "edge.fail", "{}", r.error().message);
    std::fprintf(stderr, "webtrunk edge: %s\n", r.error().message.c_str());
    return 1;
  }
  core::log(core::LogLevel::info, "edge.stop", "stopped cleanly");
  return 0;
}

}  // namespace webtrunk::app

#include "edge/edge_config.hpp"

#include <fmt/format.h>

#include <cerrno>

#include "core/log.hpp"
#include "core/shards.hpp"

namespace webtrunk::edge {

FlagSet edge_flags() {
  FlagSet f("edge", "The WebRTC edge: browsers connect over WebSocket (SIP, RFC 7118); calls go to the SIP trunk.");
  f.add({"ws", "ADDR:PORT", "WebSocket listen address ([::1]:PORT for IPv6); also serves /healthz and /metrics",
         "127.0.0.1:8080", true});
  f.add({"shards", "N", "shards (threads, one io_uring each); 0 = one per online CPU", "0", false});
  f.add({"cpu-list", "LIST", "CPUs to pin shards to, e.g. 0,2,4-7 (default: shard k on CPU k)", "", false});
  f.add({"origin", "URL", "page Origin allowed to open a WebSocket (default: any)", "", true});
  f.add({"max-message", "BYTES", "largest WebSocket message accepted (larger closes with 1009)", "65536", false});
  f.add({"max-head", "BYTES", "largest HTTP upgrade request head (larger is answered 431)", "8192", false});
  f.add({"trunk", "udp:HOST:PORT", "the SIP trunk every call goes to (or use --routes)", "", false});
  f.add({"routes", "FILE",
         "called-number routes, one `PREFIX udp:HOST:PORT` per line, longest prefix wins, `*` = default; "
         "no route answers 404",
         "", false});
  f.add({"sip-listen", "ADDR", "trunk-side SIP address (UDP), also put in Via and Contact", "127.0.0.1", false});
  f.add({"sip-port", "P", "trunk-side SIP port of shard 0; shard k uses P+k (0: any free port per shard)", "5060", false});
  f.add({"edge-secret-file", "FILE",
         "edge secrets (one `kid:secret` or bare secret per line, all tried); browsers authenticate with "
         "tokens `<expiry>:<id>` derived from them (required unless --no-auth)",
         "", false});
  f.add({"realm", "R", "digest realm of the 401/407 challenges (default: the --sip-listen address)", "", false});
  f.add({"no-auth", "", "accept REGISTER and INVITE without credentials (tests and demos only)", "", false});
  f.add({"bind-from-user", "", "refuse (403) a request whose From user is not the token id", "", false});
  f.add({"log-level", "LEVEL", "debug, info, warn or error", "info", false});
  f.add({"log-format", "FORMAT", "json or text", "json", false});
  return f;
}

core::Result<EdgeConfig> edge_config_from(const FlagValues& flags) {
  EdgeConfig c;
  c.ws_listen = flags.all("ws");
  if (c.ws_listen.empty()) c.ws_listen.push_back(flags.get("ws"));
  auto shards = flags.get_int("shards", 0, 64);
  if (!shards) return shards.error();
  c.shards = static_cast<unsigned>(*shards);
  if (!flags.get("cpu-list").empty()) {
    auto cpus = core::parse_cpu_list(flags.get("cpu-list"));
    if (!cpus) return core::Error{EINVAL, "--cpu-list: " + cpus.error().message};
    c.cpus = std::move(*cpus);
  }
  auto mm = flags.get_int("max-message", 1024, 16 << 20);
  if (!mm) return mm.error();
  c.max_message_bytes = static_cast<std::size_t>(*mm);
  auto mh = flags.get_int("max-head", 1024, 1 << 20);
  if (!mh) return mh.error();
  c.max_head_bytes = static_cast<std::size_t>(*mh);
  c.allowed_origins = flags.all("origin");

  c.sip_listen = flags.get("sip-listen");
  if (auto a = core::SockAddr::parse(c.sip_listen.find(':') != std::string::npos ? "[" + c.sip_listen + "]:0"
                                                                                 : c.sip_listen + ":0");
      !a) {
    return core::Error{EINVAL, fmt::format("--sip-listen: '{}' is not an IP address", c.sip_listen)};
  }
  auto sp = flags.get_int("sip-port", 0, 65535);
  if (!sp) return sp.error();
  c.sip_port = static_cast<std::uint16_t>(*sp);
  const std::string& trunk = flags.get("trunk");
  const std::string& routes = flags.get("routes");
  if (!trunk.empty() && !routes.empty()) return core::Error{EINVAL, "give --trunk or --routes, not both"};
  if (trunk.empty() && routes.empty()) {
    c.routes = std::make_shared<const RouteTable>();  // every INVITE gets 404 (run_edge warns)
  } else {
    auto table = trunk.empty() ? RouteTable::load_file(routes) : RouteTable::single(trunk);
    if (!table) return table.error();
    c.routes = std::make_shared<const RouteTable>(std::move(*table));
  }
  c.edge_secret_file = flags.get("edge-secret-file");
  c.no_auth = flags.flag("no-auth");
  c.bind_from_user = flags.flag("bind-from-user");
  if (c.edge_secret_file.empty() && !c.no_auth) {
    return core::Error{EINVAL,
                       "no --edge-secret-file: the edge refuses to start without a way to check tokens; give "
                       "--edge-secret-file FILE, or --no-auth to let every caller through (tests only)"};
  }
  c.realm = flags.get("realm").empty() ? c.sip_listen : flags.get("realm");

  core::LogLevel level;
  if (!core::parse_log_level(flags.get("log-level"), level)) {
    return core::Error{EINVAL, fmt::format("--log-level: '{}' is not one of debug, info, warn, error",
                                           flags.get("log-level"))};
  }
  core::set_log_level(level);
  const std::string& fmt_name = flags.get("log-format");
  if (fmt_name != "json" && fmt_name != "text") {
    return core::Error{EINVAL, fmt::format("--log-format: '{}' is not json or text", fmt_name)};
  }
  core::set_log_json(fmt_name == "json");
  return c;
}

}  // namespace webtrunk::edge

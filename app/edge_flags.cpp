#include "app/edge_flags.hpp"
#include "app/tls_flags.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "core/log.hpp"
#include "core/shards.hpp"
#include "app/edge_limit_flags.hpp"
#include "media/bridge.hpp"
#include "media/port_pool.hpp"

namespace webtrunk::app {
namespace {

bool is_ip_address(const std::string& s) {
  return core::SockAddr::parse(s.find(':') != std::string::npos ? "[" + s + "]:0" : s + ":0").ok();
}

}  // namespace

core::Result<std::vector<media::SrtpProfile>> parse_srtp_profiles(std::string_view list) {
  constexpr std::array kAll{media::SrtpProfile::aead_aes_256_gcm, media::SrtpProfile::aead_aes_128_gcm,
                            media::SrtpProfile::aes_cm_128_hmac_sha1_80};
  std::vector<media::SrtpProfile> out;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    const auto* p = std::find_if(kAll.begin(), kAll.end(), [&](media::SrtpProfile q) { return media::to_string(q) == name; });
    if (p == kAll.end()) {
      return core::Error{EINVAL, fmt::format("'{}' is not one of AEAD_AES_256_GCM, AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80",
                                             name)};
    }
    if (std::find(out.begin(), out.end(), *p) != out.end()) return core::Error{EINVAL, fmt::format("'{}' listed twice", name)};
    out.push_back(*p);
  }
  if (out.empty()) return core::Error{EINVAL, "no profile given"};
  return out;
}

FlagSet edge_flags() {
  FlagSet f("edge", "The WebRTC edge: browsers connect over WebSocket (SIP, RFC 7118); calls go to the SIP trunk.");
  f.add({"ws", "ADDR:PORT", "WebSocket listen address ([::1]:PORT for IPv6); also serves /healthz and /metrics unless --admin-listen",
         "127.0.0.1:8080", true});
  f.add({"wss", "ADDR:PORT",
         "WebSocket-over-TLS listen address (needs --tls-cert); beside or instead of --ws (without --ws only wss "
         "ports are opened); also serves /healthz and /metrics",
         "", true});
  add_tls_flags(f);
  f.add({"admin-listen", "ADDR:PORT",
         "serve /metrics and /healthz here instead of on the --ws port (which then answers 404 for them); keep it "
         "off the public network",
         "", false});
  f.add({"shards", "N", "shards (threads, one io_uring each); 0 = one per online CPU", "0", false});
  f.add({"cpu-list", "LIST", "CPUs to pin shards to, e.g. 0,2,4-7 (default: shard k on CPU k)", "", false});
  f.add({"origin", "URL", "page Origin allowed to open a WebSocket (default: any)", "", true});
  f.add({"max-message", "BYTES", "largest WebSocket message accepted (larger closes with 1009)", "65536", false});
  f.add({"max-head", "BYTES", "largest HTTP upgrade request head (larger is answered 431)", "8192", false});
  f.add({"trunk", "udp|tcp|tls:HOST:PORT",
         "the SIP trunk every call goes to (or use --routes); udp:HOST, tcp:HOST, tls:HOST or HOST alone: a name looked up "
         "by RFC 3263 (NAPTR, SRV, A/AAAA) with failover to the next SRV target",
         "", false});
  f.add({"dns-server", "IP[:PORT]", "DNS server for trunk names instead of /etc/resolv.conf's (repeatable)", "", true});
  f.add({"trunk-user", "NAME", "user name for the --trunk's digest challenges (401/407)", "", false});
  f.add({"trunk-password-file", "FILE", "file whose first line is the --trunk's digest password", "", false});
  f.add({"trunk-register", "",
         "REGISTER the edge with the --trunk as --trunk-user (Contact: the --sip-listen address), refreshed before "
         "it expires, removed on drain (a --routes line says register=yes)",
         "", false});
  f.add({"trunk-tcp-fallback", "", "requests over 1,300 bytes to a UDP --trunk go over TCP (RFC 3261 §18.1.1; a --routes line says tcp-fallback=yes)", "", false});
  f.add({"trunk-register-expires", "SECONDS", "registration lifetime asked of the --trunk (60-86400)", "600", false});
  f.add({"routes", "FILE",
         "called-number routes, one `PREFIX TRUNK [user=NAME password-file=FILE] [register=yes [register-expires=S]] [tcp-fallback=yes]` "
         "per line (TRUNK as for --trunk), longest "
         "prefix wins, `*` = default; no route answers 404; reloaded on SIGHUP and when the file (or a "
         "password file) changes, calls in progress keep their trunk",
         "", false});
  f.add({"trunk-ca", "FILE",
         "PEM file of CA certificates (one or more) trusted for tls: trunks besides the system CAs", "", false});
  f.add({"trunk-tls-cert", "FILE", "client certificate chain (PEM) shown to tls: trunks that ask for one (mutual TLS)",
         "", false});
  f.add({"trunk-tls-key", "FILE", "private key (PEM) of --trunk-tls-cert (default: in the --trunk-tls-cert file)", "",
         false});
  f.add({"sip-listen", "ADDR", "trunk-side SIP address (UDP), also put in Via and Contact", "127.0.0.1", false});
  f.add({"sip-port", "P", "trunk-side SIP port of shard 0; shard k uses P+k (0: any free port per shard)", "5060", false});
  f.add({"edge-secret-file", "FILE",
         "edge secrets (one `kid:secret` or bare secret per line, all tried); browsers authenticate with "
         "tokens `<expiry>:<id>` derived from them (required unless --no-auth)",
         "", false});
  f.add({"realm", "R", "digest realm of the 401/407 challenges (default: the --sip-listen address)", "", false});
  f.add({"no-auth", "", "accept REGISTER and INVITE without credentials (tests and demos only)", "", false});
  f.add({"bind-from-user", "", "refuse (403) a request whose From user is not the token id", "", false});
  f.add({"media-listen", "ADDR",
         "address of the media sockets: each shard's browser-side UDP port and the trunk-side RTP ports "
         "(default: the --sip-listen address)",
         "", false});
  f.add({"public-ip", "IP", "address put in the ICE host candidate browsers send media to (default: --media-listen)",
         "", false});
  f.add({"media-port", "P",
         "browser-side media UDP port of shard 0 (one port per shard carries all its browsers); shard k uses P+k; "
         "0 = any free port per shard",
         "0", false});
  f.add({"rtp-ports", "A-B", "trunk-side RTP/RTCP port range (even RTP, odd RTCP), split evenly between shards",
         "20000-29999", false});
  f.add({"trunk-rtp-mode", "shared|per-call",
         "trunk-side RTP ports: shared (one RTP/RTCP pair per shard for all calls, told apart by the trunk's source "
         "address, latched like per-call ports when the trunk sends from another port of its SDP IP, and by SSRC when "
         "calls share a trunk media address; fewer system calls per packet) or per-call (a pair per call, for "
         "trunks that need a port per call)",
         "shared", false});
  f.add({"dtls-cert", "FILE", "DTLS certificate (PEM) toward browsers; default: a self-signed ECDSA P-256 one made at start",
         "", false});
  f.add({"dtls-key", "FILE", "private key (PEM) of --dtls-cert", "", false});
  f.add({"srtp-engine", "own|libsrtp", "SRTP implementation: own (OpenSSL EVP, fast) or libsrtp (libsrtp2, the reference)",
         "own", false});
  f.add({"srtp-profiles", "LIST",
         "SRTP profiles DTLS offers, in order of preference: a comma list of AEAD_AES_256_GCM, AEAD_AES_128_GCM, "
         "AES_CM_128_HMAC_SHA1_80 (default: all three in that order)",
         "", false});
  f.add({"codecs", "LIST",
         "audio codecs a call may use, in order of preference: a comma list of PCMU, PCMA, G722, opus. The first "
         "the browser offers is the one offered to the trunk (with telephone-event), the next after a 488",
         "PCMU,PCMA", false});
  f.add({"media-setup-timeout", "SECONDS",
         "hang up a call whose browser has not finished ICE and DTLS this long after the trunk's answer "
         "(reason \"media setup timeout\"); 0: never", "10", false});
  f.add({"trunk-rtp-timeout", "SECONDS",
         "hang up a call when the trunk sends no RTP or RTCP for this long (reason \"trunk RTP timeout\"; "
         "a trunk that stops sending on hold needs a value above its hold times); 0: off", "0", false});
  f.add({"trunk-ping", "SECONDS",
         "send an OPTIONS keep-alive to every configured trunk this often (from shard 0 only); after "
         "--trunk-ping-failures in a row unanswered (5 s, or the interval if shorter), unreachable or 503, new "
         "calls toward it get 503 at once until it answers again; 0: off", "30", false});
  f.add({"trunk-ping-failures", "N", "failed keep-alives in a row that mark a trunk down", "3", false});
  f.add({"trunk-100rel", "on|off",
         "offer reliable provisional responses to the trunk (Supported: 100rel on INVITEs, RFC 3262); off for a "
         "trunk that mishandles them", "on", false});
  f.add({"trunk-crlf-ping", "SECONDS",
         "send a CRLF keep-alive (RFC 5626 §4.4.1) on a TCP trunk connection that received nothing this long; "
         "no CRLF back within 10 s closes the connection (its calls end as when the trunk resets it); 0: off",
         "30", false});
  f.add({"call-ping", "SECONDS",
         "send an in-dialog OPTIONS to the trunk this often on every answered call; a 408, 481 or unreachable "
         "trunk hangs the call up (BYE to the browser, reason \"trunk not answering\"); 0: off", "30", false});
  f.add({"consent-timeout", "SECONDS",
         "hang up a call when the browser's ICE consent (RFC 7675) or media is not seen for this long", "30", false});
  f.add({"drain-timeout", "SECONDS",
         "on SIGTERM/SIGINT: refuse new connections, calls and registrations (503) and let calls in progress run "
         "this long before hanging them up; 0 hangs up at once. A second signal hangs up at once",
         "30", false});
  add_limit_flags(f);
  f.add({"log-level", "LEVEL", "debug, info, warn or error", "info", false});
  f.add({"log-format", "FORMAT", "json or text", "json", false});
  return f;
}

core::Result<edge::RouteTable> routes_from(const FlagValues& flags) {
  const std::string& trunk = flags.get("trunk");
  const std::string& routes = flags.get("routes");
  if (!routes.empty()) return edge::RouteTable::load_file(routes);
  if (!trunk.empty()) {
    auto expires = flags.get_int("trunk-register-expires", 60, 86400);
    if (!expires) return expires.error();
    return edge::RouteTable::single(trunk, flags.get("trunk-user"), flags.get("trunk-password-file"),
                                    flags.flag("trunk-register"), static_cast<std::uint32_t>(*expires),
                                    flags.flag("trunk-tcp-fallback"));
  }
  return edge::RouteTable{};
}

core::Result<std::shared_ptr<const core::TlsContext>> trunk_tls_from(const FlagValues& flags) {
  core::TlsClientConfig config;
  config.extra_ca_file = flags.get("trunk-ca");
  config.client_cert.cert_file = flags.get("trunk-tls-cert");
  config.client_cert.key_file = flags.get("trunk-tls-key");
  if (config.client_cert.cert_file.empty() && !config.client_cert.key_file.empty()) {
    return core::Error{EINVAL, "--trunk-tls-key needs --trunk-tls-cert"};
  }
  auto ctx = core::TlsContext::client(config);
  if (!ctx) {
    const std::string& msg = ctx.error().message;
    const char* flag = !config.extra_ca_file.empty() && msg.find(config.extra_ca_file) != std::string::npos ? "--trunk-ca"
                       : !config.client_cert.cert_file.empty()                                          ? "--trunk-tls-cert/--trunk-tls-key"
                                                                                                         : "trunk TLS";
    return core::Error{ctx.error().code, fmt::format("{}: {}", flag, ctx.error().message)};
  }
  return ctx;
}

core::Result<edge::EdgeConfig> edge_config_from(const FlagValues& flags) {
  edge::EdgeConfig c;
  c.ws_listen = flags.all("ws");
  c.wss_listen = flags.all("wss");
  if (c.ws_listen.empty() && c.wss_listen.empty()) c.ws_listen.push_back(flags.get("ws"));
  if (!c.wss_listen.empty() && !tls_configured(flags)) {
    return core::Error{EINVAL, "--wss needs a certificate: --tls-cert FILE --tls-key FILE (or --tls-cert DIR)"};
  }
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
  c.admin_listen = flags.get("admin-listen");
  if (!c.admin_listen.empty()) {
    if (auto a = core::SockAddr::parse(c.admin_listen); !a) {
      return core::Error{EINVAL, fmt::format("--admin-listen '{}': {}", c.admin_listen, a.error().message)};
    }
  }
  if (auto r = limits_from(flags, c.limits); !r) return r.error();

  c.sip_listen = flags.get("sip-listen");
  if (!is_ip_address(c.sip_listen)) {
    return core::Error{EINVAL, fmt::format("--sip-listen: '{}' is not an IP address", c.sip_listen)};
  }
  auto sp = flags.get_int("sip-port", 0, 65535);
  if (!sp) return sp.error();
  c.sip_port = static_cast<std::uint16_t>(*sp);
  const std::string& trunk = flags.get("trunk");
  const std::string& routes = flags.get("routes");
  if (!trunk.empty() && !routes.empty()) return core::Error{EINVAL, "give --trunk or --routes, not both"};
  if (trunk.empty() && (!flags.get("trunk-user").empty() || !flags.get("trunk-password-file").empty())) {
    return core::Error{EINVAL, "--trunk-user/--trunk-password-file go with --trunk (--routes lines carry their own)"};
  }
  if (trunk.empty() && flags.flag("trunk-register")) {
    return core::Error{EINVAL, "--trunk-register goes with --trunk (a --routes line says register=yes)"};
  }
  auto table = routes_from(flags);  // no route at all: every INVITE gets 404 (run_edge warns)
  if (!table) return table.error();
  c.routes = std::make_shared<const edge::RouteTable>(std::move(*table));
  c.edge_secret_file = flags.get("edge-secret-file");
  c.no_auth = flags.flag("no-auth");
  c.bind_from_user = flags.flag("bind-from-user");
  if (c.edge_secret_file.empty() && !c.no_auth) {
    return core::Error{EINVAL,
                       "no --edge-secret-file: the edge refuses to start without a way to check tokens; give "
                       "--edge-secret-file FILE, or --no-auth to let every caller through (tests only)"};
  }
  c.realm = flags.get("realm").empty() ? c.sip_listen : flags.get("realm");

  auto ip_flag = [&](std::string_view name, std::string value) -> core::Result<std::string> {
    if (!is_ip_address(value)) return core::Error{EINVAL, fmt::format("--{}: '{}' is not an IP address", name, value)};
    return value;
  };
  auto ml = ip_flag("media-listen", flags.get("media-listen").empty() ? c.sip_listen : flags.get("media-listen"));
  if (!ml) return ml.error();
  c.media_listen = *ml;
  auto pip = ip_flag("public-ip", flags.get("public-ip").empty() ? c.media_listen : flags.get("public-ip"));
  if (!pip) return pip.error();
  c.public_ip = *pip;
  auto mp = flags.get_int("media-port", 0, 65535);
  if (!mp) return mp.error();
  c.media_port = static_cast<std::uint16_t>(*mp);
  c.rtp_ports = flags.get("rtp-ports");
  // The message names the flag and the range ("--rtp-ports A-B: ...").
  if (auto slice = media::rtp_port_slice(c.rtp_ports, 1, 0); !slice) return core::Error{EINVAL, slice.error().message};
  const auto trunk_mode = media::parse_trunk_rtp_mode(flags.get("trunk-rtp-mode"));
  if (!trunk_mode) {
    return core::Error{EINVAL, fmt::format("--trunk-rtp-mode: '{}' is not per-call or shared", flags.get("trunk-rtp-mode"))};
  }
  c.trunk_rtp_shared = *trunk_mode == media::TrunkRtpMode::shared;
  c.dtls_cert = flags.get("dtls-cert");
  c.dtls_key = flags.get("dtls-key");
  if (c.dtls_cert.empty() != c.dtls_key.empty()) {
    return core::Error{EINVAL, c.dtls_cert.empty() ? "--dtls-key needs --dtls-cert" : "--dtls-cert needs --dtls-key"};
  }
  auto engine = media::parse_srtp_engine(flags.get("srtp-engine"));
  if (!engine) return core::Error{EINVAL, fmt::format("--srtp-engine: '{}' is not own or libsrtp", flags.get("srtp-engine"))};
  c.srtp_engine = *engine;
  if (!flags.get("srtp-profiles").empty()) {
    auto profiles = parse_srtp_profiles(flags.get("srtp-profiles"));
    if (!profiles) return core::Error{EINVAL, "--srtp-profiles: " + profiles.error().message};
    c.srtp_profiles = std::move(*profiles);
  }
  auto codecs = edge::parse_codec_preference(flags.get("codecs"));
  if (!codecs) return core::Error{EINVAL, "--codecs: " + codecs.error().message};
  c.codecs = std::move(*codecs);
  auto mst = flags.get_int("media-setup-timeout", 0, 3600);
  if (!mst) return mst.error();
  c.media_setup_timeout_s = static_cast<unsigned>(*mst);
  auto trt = flags.get_int("trunk-rtp-timeout", 0, 86400);
  if (!trt) return trt.error();
  c.trunk_rtp_timeout_s = static_cast<unsigned>(*trt);
  auto tp = flags.get_int("trunk-ping", 0, 3600);
  if (!tp) return tp.error();
  c.trunk_ping_s = static_cast<unsigned>(*tp);
  auto tpf = flags.get_int("trunk-ping-failures", 1, 100);
  if (!tpf) return tpf.error();
  c.trunk_ping_failures = static_cast<unsigned>(*tpf);
  if (const std::string& rel = flags.get("trunk-100rel"); rel == "on" || rel == "off") {
    c.trunk_100rel = rel == "on";
  } else {
    return core::Error{EINVAL, fmt::format("--trunk-100rel: '{}' is not on or off", rel)};
  }
  auto tcp_ping = flags.get_int("trunk-crlf-ping", 0, 3600);
  if (!tcp_ping) return tcp_ping.error();
  c.trunk_crlf_ping_s = static_cast<unsigned>(*tcp_ping);
  auto cp = flags.get_int("call-ping", 0, 3600);
  if (!cp) return cp.error();
  c.call_ping_s = static_cast<unsigned>(*cp);
  auto ct = flags.get_int("consent-timeout", 5, 3600);
  if (!ct) return ct.error();
  c.consent_timeout_s = static_cast<unsigned>(*ct);
  auto dt = flags.get_int("drain-timeout", 0, 86400);
  if (!dt) return dt.error();
  c.drain_timeout_s = static_cast<unsigned>(*dt);

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

}  // namespace webtrunk::app

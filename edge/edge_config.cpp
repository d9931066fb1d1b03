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

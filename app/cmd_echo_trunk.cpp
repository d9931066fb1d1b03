// `webtrunk echo-trunk`: a SIP trunk on UDP that answers every call and echoes its audio
// (app/echo_trunk.hpp). `webtrunk demo` runs one as the edge's trunk; tests use it as a peer.
#include <cstdio>
#include <functional>
#include <memory>

#include "app/commands.hpp"
#include "app/echo_trunk.hpp"
#include "core/log.hpp"
#include "core/nofile_limit.hpp"
#include "core/shards.hpp"

namespace webtrunk::app {
namespace {

// How long a shutdown waits for the answers to its BYEs (a dead edge must not hold a restart).
constexpr core::Duration kEchoShutdownGrace = std::chrono::seconds(3);

}  // namespace

FlagSet echo_trunk_flags() {
  FlagSet f("echo-trunk", "A SIP trunk (UDP) that answers every call and sends the caller's audio back.");
  f.add({"listen", "ADDR:PORT", "SIP UDP address (port 0: the kernel picks; the log says which)", "127.0.0.1:5070",
         false});
  f.add({"media-ip", "IP", "IPv4 address for RTP (default: the --listen address)", "", false});
  f.add({"ring-ms", "MS", "ring this long (180) before answering (200)", "500", false});
  f.add({"max-calls", "N", "calls at once; more are answered 486", "200", false});
  f.add({"log-level", "LEVEL", "debug, info, warn or error", "info", false});
  f.add({"log-format", "FORMAT", "json or text", "json", false});
  return f;
}

int run_echo_trunk(const FlagValues& flags) {
  core::LogLevel level{};
  if (!core::parse_log_level(flags.get("log-level"), level)) {
    std::fprintf(stderr, "webtrunk echo-trunk: --log-level: '%s' is not debug, info, warn or error\n",
                 flags.get("log-level").c_str());
    return 2;
  }
  core::set_log_level(level);
  core::set_log_json(flags.get("log-format") != "text");
  core::raise_nofile_limit();
  auto listen = core::SockAddr::parse(flags.get("listen"));
  if (!listen || listen->family() != AF_INET) {
    std::fprintf(stderr, "webtrunk echo-trunk: --listen '%s': an IPv4 ADDR:PORT is needed\n",
                 flags.get("listen").c_str());
    return 2;
  }
  auto ring = flags.get_int("ring-ms", 0, 60000);
  auto max_calls = flags.get_int("max-calls", 1, 10000);
  for (const auto* r : {&ring, &max_calls}) {
    if (!*r) {
      std::fprintf(stderr, "webtrunk echo-trunk: %s\n", r->error().message.c_str());
      return 2;
    }
  }
  EchoTrunkConfig cfg;
  const std::string host = listen->to_string().substr(0, listen->to_string().rfind(':'));
  cfg.contact_host = host;
  cfg.media_ip = flags.get("media-ip").empty() ? host : flags.get("media-ip");
  cfg.ring_time = core::milliseconds(*ring);
  cfg.max_calls = static_cast<std::size_t>(*max_calls);

  core::ShardsConfig sc;
  sc.shards = 1;
  sc.pin = false;
  core::Shards shards(sc);
  std::unique_ptr<EchoTrunk> trunk;
  auto init = [&](core::Shard& shard) -> core::Result<void> {
    trunk = std::make_unique<EchoTrunk>();
    auto bound = trunk->open(shard, *listen, cfg);
    if (!bound) return core::Error{bound.error().code, "--listen " + listen->to_string() + ": " + bound.error().message};
    core::log(core::LogLevel::info, "echo.listen", "sip=udp:{} media_ip={} ring_ms={}", bound->to_string(),
              cfg.media_ip, *ring);
    return {};
  };
  // SIGTERM/SIGINT: BYE to every call, then stop once they are answered (or after the grace); a
  // second signal stops at once. The signal thread reaches the shard only through its mailbox.
  std::function<void(core::Shard&, core::Instant)> wait_byes = [&](core::Shard& shard, core::Instant deadline) {
    if (!trunk || trunk->unanswered_byes() == 0 || shard.now() >= deadline) {
      core::log(core::LogLevel::info, "echo.shutdown", "phase=done unanswered_byes={}", trunk ? trunk->unanswered_byes() : 0);
      return shards.request_stop();
    }
    shard.add_timer(std::chrono::milliseconds(20), [&wait_byes, &shard, deadline] { wait_byes(shard, deadline); });
  };
  shards.set_on_terminate([&](int count) {
    const bool posted = count == 1 && shards.post(0, [&](core::Shard& shard) {
      const std::size_t n = trunk ? trunk->hang_up_all(shard) : 0;
      core::log(core::LogLevel::info, "echo.shutdown", "phase=started calls={}", n);
      wait_byes(shard, shard.now() + kEchoShutdownGrace);
    });
    if (!posted) shards.request_stop();
  });
  auto r = shards.run_until_signal(init);
  if (!r) {
    std::fprintf(stderr, "webtrunk echo-trunk: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace webtrunk::app

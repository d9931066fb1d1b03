// `webtrunk edge`: start the shards, install the WebSocket front door on each, run until SIGTERM.
#include <sys/resource.h>

#include <fmt/ranges.h>

#include <cstdio>
#include <memory>

#include "core/log.hpp"
#include "core/shards.hpp"
#include "edge/commands.hpp"
#include "edge/edge_config.hpp"
#include "edge/ws_front_door.hpp"

namespace webtrunk::edge {
namespace {

inline const core::Counter kWsMessagesUnrouted{"webtrunk_ws_messages_unhandled_total",
                                               "WebSocket messages received with no SIP layer to take them"};

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
  std::vector<core::SockAddr> ws_addrs;
  for (const auto& a : cfg->ws_listen) {
    auto addr = core::SockAddr::parse(a);
    if (!addr) {
      std::fprintf(stderr, "webtrunk edge: --ws '%s': %s\n", a.c_str(), addr.error().message.c_str());
      return 2;
    }
    ws_addrs.push_back(*addr);
  }
  raise_fd_limit();

  core::ShardsConfig sc;
  sc.shards = cfg->shards;
  sc.cpus = cfg->cpus;
  core::Shards shards(sc);

  // One front door per shard, owned here so it outlives the shard's loop.
  std::vector<std::unique_ptr<WsFrontDoor>> doors(shards.size());
  auto init = [&](core::Shard& shard) -> core::Result<void> {
    WsFrontDoor::Sink sink;
    sink.on_message = [](core::Shard&, core::ConnId id, const core::WsMessage& m) {
      // The SIP layer takes these once it exists; until then they are counted and logged.
      kWsMessagesUnrouted.inc();
      core::log(core::LogLevel::debug, "ws.message", "conn={} bytes={}", id.index, m.payload.size());
    };
    auto& door = doors[shard.index()];
    door = std::make_unique<WsFrontDoor>(*cfg, std::move(sink));
    for (const auto& a : ws_addrs) {
      if (auto r = door->listen(shard, a); !r) {
        return core::Error{r.error().code, "--ws " + a.to_string() + ": " + r.error().message};
      }
    }
    return {};
  };
  core::log(core::LogLevel::info, "edge.start", "shards={} ws={}", shards.size(), fmt::join(cfg->ws_listen, ","));
  auto r = shards.run_until_signal(init);
  if (!r) {
    core::log(core::LogLevel::error, "edge.fail", "{}", r.error().message);
    std::fprintf(stderr, "webtrunk edge: %s\n", r.error().message.c_str());
    return 1;
  }
  core::log(core::LogLevel::info, "edge.stop", "stopped cleanly");
  return 0;
}

}  // namespace webtrunk::edge

#include "app/http_drain.hpp"

#include "core/log.hpp"

namespace webtrunk::app {

void HttpDrain::on_terminate(int count) {
  if (count > 1) {
    core::log(core::LogLevel::info, "http.drain", "command={} phase=stop_now why=second signal", command_);
    return shards_.request_stop();
  }
  const bool posted = shards_.post(0, [this](core::Shard& shard) {
    if (listener_) shard.close_listener(*listener_);
    listener_.reset();
    core::log(core::LogLevel::info, "http.drain", "command={} phase=started open_connections={} grace_ms={}", command_,
              server_.open_connections(), std::chrono::duration_cast<std::chrono::milliseconds>(kGrace).count());
    poll(shard, shard.now() + kGrace);
  });
  if (!posted) shards_.request_stop();
}

void HttpDrain::poll(core::Shard& shard, core::Instant deadline) {
  if (server_.open_connections() == 0 || shard.now() >= deadline) {
    core::log(core::LogLevel::info, "http.drain", "command={} phase=done open_connections={}", command_,
              server_.open_connections());
    return shards_.request_stop();
  }
  shard.add_timer(kTick, [this, &shard, deadline] { poll(shard, deadline); });
}

}  // namespace webtrunk::app

// HttpDrain: SIGTERM/SIGINT for the one-shard HTTP commands (`webtrunk auth`, `webtrunk servlet`):
// the first signal closes the listener (no new connections) and lets the connections already open
// finish their requests for up to kGrace, then stops; a second signal stops at once. Requests are
// answered as soon as they are whole (core::HttpServer), so what is left after the listener closes
// is a request still arriving or an answer still being sent. The signal thread reaches the shard
// only through its mailbox.
//
// Lifetimes: the Shards and the HttpServer must outlive the loop (both are the command's locals).
#pragma once

#include <optional>
#include <string>

#include "core/http_server.hpp"
#include "core/shards.hpp"

namespace webtrunk::app {

class HttpDrain {
 public:
  static constexpr core::Duration kGrace = std::chrono::seconds(3);
  static constexpr core::Duration kTick = std::chrono::milliseconds(50);

  HttpDrain(core::Shards& shards, core::HttpServer& server, std::string command)
      : shards_(shards), server_(server), command_(std::move(command)) {
    shards_.set_on_terminate([this](int count) { on_terminate(count); });
  }
  // From the shard's init: the listener to close on the first signal.
  void set_listener(core::ListenerId id) noexcept { listener_ = id; }

 private:
  void on_terminate(int count);
  void poll(core::Shard& shard, core::Instant deadline);

  core::Shards& shards_;
  core::HttpServer& server_;
  std::string command_;
  std::optional<core::ListenerId> listener_;
};

}  // namespace webtrunk::app

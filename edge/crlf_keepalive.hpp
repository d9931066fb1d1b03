// CrlfKeepAlive: the client side of RFC 5626 §4.4.1 keep-alives on one stream connection to a trunk.
// Sans-IO: the owner tells it when the connection came up and when bytes arrived, and asks at each
// deadline what to do: send a ping (CRLFCRLF), or give the connection up because the pong (one
// CRLF) did not come within kPongTimeout.
//
// A ping goes out only on a quiet connection: `interval` after the last bytes received (anything the
// trunk sends proves it is there, so a busy connection is never pinged). Any bytes received after a
// ping count as its pong.
#pragma once

#include <optional>

#include "core/clock.hpp"

namespace webtrunk::edge {

class CrlfKeepAlive {
 public:
  // RFC 5626 §4.4.1: "If a pong is not received within 10 seconds then the client MUST treat the
  // flow as failed."
  static constexpr core::Duration kPongTimeout = std::chrono::seconds(10);

  enum class Action { none, ping, dead };

  // `interval` zero: off (poll() never asks for anything).
  explicit CrlfKeepAlive(core::Duration interval = core::Duration::zero()) noexcept : interval_(interval) {}

  void start(core::Instant now) noexcept;  // the connection is up
  void stop() noexcept;                    // the connection is gone
  void on_received(core::Instant now) noexcept;  // any bytes, a pong included
  // What is due at `now`; Action::ping: the owner sends "\r\n\r\n" (and tells its framer to expect
  // a pong). Action::dead: the owner closes the connection; the keep-alive is stopped.
  [[nodiscard]] Action poll(core::Instant now) noexcept;
  std::optional<core::Instant> next_deadline() const noexcept;
  bool awaiting_pong() const noexcept { return ping_sent_.has_value(); }

 private:
  core::Duration interval_;
  bool running_ = false;
  core::Instant last_rx_{};
  std::optional<core::Instant> ping_sent_;
};

}  // namespace webtrunk::edge

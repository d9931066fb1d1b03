// What browsers (and anyone who can reach the WebSocket port) may make one shard hold, and who may
// connect at all (README "Limits"): the core objects' limits (core::WsLimits per connection,
// core::AdmissionControl per shard) and the shard-wide ceiling the front door applies. Filled from
// the flags by app/edge_limit_flags.hpp.
#pragma once

#include <cstddef>

#include "core/admission_control.hpp"
#include "core/clock.hpp"

namespace webtrunk::edge {

struct EdgeLimits {
  core::AdmissionLimits admission;
  std::size_t max_send_queue = 1 << 20;  // per connection, bytes not yet taken by the peer
  core::Duration partial_timeout = std::chrono::seconds(10);
  core::Duration ping_interval = std::chrono::seconds(30);
  core::Duration idle_timeout = std::chrono::seconds(120);
  // How long a connection the edge closed waits for the peer's close frame (and for its output to
  // be read) before it is dropped.
  core::Duration close_timeout = std::chrono::seconds(2);
  // Sum over a shard's connections of what peers can grow: WebSocket input, reassembly and output
  // buffers and the socket's send queue. Past it, the connection that grows is closed with 1013
  // and new connections are refused until it is back under.
  std::size_t max_memory_per_shard = std::size_t{256} << 20;
  core::Duration log_sample_interval = std::chrono::seconds(10);  // one refusal line per source per interval
  // Concurrent calls per token id on the whole edge (each shard admits its share,
  // edge/call_limits.hpp); 0: none. Accounts are held by their tokens' calls= claim.
  std::uint32_t max_calls_per_token = 100;
};

}  // namespace webtrunk::edge

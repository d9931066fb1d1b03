// The edge's configuration, read from flags (and a config file) once at start.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "edge/flags.hpp"

namespace webtrunk::edge {

struct EdgeConfig {
  std::vector<std::string> ws_listen;   // "ADDR:PORT", each opened on every shard (SO_REUSEPORT)
  unsigned shards = 0;                  // 0: one per online CPU
  std::vector<unsigned> cpus;           // shard k pinned to cpus[k % size]; empty: the allowed CPUs
  std::size_t max_message_bytes = 65536;
  std::size_t max_head_bytes = 8192;
  unsigned ws_close_timeout_ms = 2000;  // how long an edge-initiated close waits for the peer's close
  std::vector<std::string> allowed_origins;  // empty: any Origin
};

FlagSet edge_flags();
core::Result<EdgeConfig> edge_config_from(const FlagValues& flags);

}  // namespace webtrunk::edge

// The edge's configuration, read from flags (and a config file) once at start.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "edge/flags.hpp"
#include "edge/routes.hpp"

namespace webtrunk::edge {

struct EdgeConfig {
  std::vector<std::string> ws_listen;   // "ADDR:PORT", each opened on every shard (SO_REUSEPORT)
  unsigned shards = 0;                  // 0: one per online CPU
  std::vector<unsigned> cpus;           // shard k pinned to cpus[k % size]; empty: the allowed CPUs
  std::size_t max_message_bytes = 65536;
  std::size_t max_head_bytes = 8192;
  unsigned ws_close_timeout_ms = 2000;  // how long an edge-initiated close waits for the peer's close
  std::vector<std::string> allowed_origins;  // empty: any Origin

  // SIP toward the trunk (issue 3). Shard k binds UDP sip_listen:(sip_port + k) and puts that
  // address in its Via and Contact, so replies and in-dialog requests come back to it.
  std::string sip_listen = "127.0.0.1";
  std::uint16_t sip_port = 5060;
  std::shared_ptr<const RouteTable> routes;  // from --trunk or --routes; never null after parsing
  std::string edge_secret_file;              // "" only with --no-auth
  bool no_auth = false;
  bool bind_from_user = false;
  std::string realm;                         // digest realm; default: sip_listen
};

FlagSet edge_flags();
core::Result<EdgeConfig> edge_config_from(const FlagValues& flags);

}  // namespace webtrunk::edge

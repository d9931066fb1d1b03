// `--admin-listen ADDR:PORT`: /metrics (Prometheus text) and /healthz on a listener of their own,
// so that the browser-facing port, reachable by anyone, does not publish the edge's counters
// (how many calls, which refusals: a map for an attacker). With it the browser port answers 404
// for both paths (edge/ws_front_door.cpp). Served by core's HTTP server on shard 0; the metrics are
// process-wide, so one listener shows every shard.
#pragma once

#include "core/http_server.hpp"

namespace webtrunk::app {

// The answer to one request on the admin listener: GET/HEAD /healthz -> 200 "ok", /metrics -> 200
// with every counter; another method 405, another path 404.
[[nodiscard]] core::HttpResponse admin_response(const core::HttpRequest& req);

}  // namespace webtrunk::app

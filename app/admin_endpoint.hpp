// `--admin-listen ADDR:PORT`: /metrics (Prometheus text), /healthz and /status on a listener of their own,
// so that the browser-facing port, reachable by anyone, does not publish the edge's counters
// (how many calls, which refusals: a map for an attacker). With it the browser port answers 404
// for both paths (edge/ws_front_door.cpp). Served by core's HTTP server on shard 0; the metrics are
// process-wide, so one listener shows every shard.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/http_server.hpp"
#include "edge/trunk_registrations.hpp"

namespace webtrunk::app {

// The body of GET /status (JSON), made on the listener's thread (shard 0) when asked.
using StatusSource = std::function<std::string()>;

// The answer to one request on the admin listener: GET/HEAD /healthz -> 200 "ok", /metrics -> 200
// with every counter, /status -> 200 with what `status` returns (404 without one); another
// method 405, another path 404.
[[nodiscard]] core::HttpResponse admin_response(const core::HttpRequest& req, const StatusSource& status = {});

// /status: {"trunk_registrations":[{"trunk":"udp:...","user":"acme","state":"registered",
// "expires_in_s":290,"last_error":""}, ...]}
[[nodiscard]] std::string status_json(const std::vector<edge::TrunkRegistrations::Status>& registrations);

}  // namespace webtrunk::app

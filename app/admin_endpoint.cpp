#include "app/admin_endpoint.hpp"

#include "core/metrics.hpp"

namespace webtrunk::app {

core::HttpResponse admin_response(const core::HttpRequest& req) {
  if (req.method != "GET" && req.method != "HEAD") {
    return core::HttpResponse::text(405, "only GET and HEAD are served here\n").set("Allow", "GET, HEAD");
  }
  if (req.path == "/healthz") return core::HttpResponse::text(200, "ok\n");
  if (req.path == "/metrics") {
    return core::HttpResponse::with_body(200, "text/plain; version=0.0.4", core::render_metrics());
  }
  return core::HttpResponse::text(404, "not found: this port serves /healthz and /metrics\n");
}

}  // namespace webtrunk::app

#include "app/admin_endpoint.hpp"

#include <nlohmann/json.hpp>

#include "core/metrics.hpp"

namespace webtrunk::app {

std::string status_json(const std::vector<edge::TrunkRegistrations::Status>& registrations) {
  nlohmann::json regs = nlohmann::json::array();
  for (const auto& r : registrations) {
    regs.push_back({{"trunk", r.spec},
                    {"user", r.user},
                    {"state", edge::TrunkRegistrations::state_name(r.state)},
                    {"expires_in_s", r.expires_in_s},
                    {"last_error", r.last_error}});
  }
  return nlohmann::json{{"trunk_registrations", std::move(regs)}}.dump() + "\n";
}

core::HttpResponse admin_response(const core::HttpRequest& req, const StatusSource& status) {
  if (req.method != "GET" && req.method != "HEAD") {
    return core::HttpResponse::text(405, "only GET and HEAD are served here\n").set("Allow", "GET, HEAD");
  }
  if (req.path == "/healthz") return core::HttpResponse::text(200, "ok\n");
  if (req.path == "/metrics") {
    return core::HttpResponse::with_body(200, "text/plain; version=0.0.4", core::render_metrics());
  }
  if (req.path == "/status" && status) return core::HttpResponse::with_body(200, "application/json", status());
  return core::HttpResponse::text(404, "not found: this port serves /healthz, /metrics and /status\n");
}

}  // namespace webtrunk::app

// CallController: graceful drain. The shard glue (edge/shard_drain.hpp) decides when; this part
// refuses what would start something new and ends what is left.
#include <fmt/format.h>

#include <array>

#include "core/log.hpp"
#include "edge/call.hpp"
#include "edge/call_controller.hpp"
#include "edge/sip_messages.hpp"

namespace webtrunk::edge {
namespace {
// Log-sampler key of refusals while draining (one line per interval, not one per request).
constexpr std::uint64_t kDrainRefusalKey = 3;
// RFC 3326: tells both sides why the edge hung up.
constexpr std::string_view kShutdownReason = "SIP;cause=503;text=\"Edge shutting down\"";
constexpr std::string_view kShutdownEnd = "edge shutdown";
}  // namespace

void CallController::begin_drain(std::uint32_t retry_after_s) noexcept {
  if (!draining_) kDraining.inc();
  draining_ = true;
  retry_after_s_ = retry_after_s;
}

bool CallController::refuse_if_draining(core::Instant now, core::ConnId flow, const sip::MessageView& req) {
  if (!draining_) return false;
  kSipRefusedDraining.inc();
  core::log_sampled(log_sampler_, now, kDrainRefusalKey, core::LogLevel::info, "sip.refused_draining",
                    "conn={} method={}", flow.index, req.method_text());
  // RFC 3261 §21.5.4: 503 with Retry-After; a client then tries another server (RFC 3263 §4.3),
  // which is what a browser reconnecting through the load balancer does.
  const std::string after = std::to_string(retry_after_s_);
  const std::array<std::pair<std::string_view, std::string_view>, 1> h{{{"Retry-After", after}}};
  reply_ws(flow, req, 503, "Service Unavailable: draining", h);
  return true;
}

std::size_t CallController::live_calls() const noexcept {
  std::size_t n = 0;
  for (const auto& [id, call] : calls_) n += call->state == CallState::ended ? 0 : 1;
  return n;
}

std::size_t CallController::unanswered_requests() const noexcept {
  using State = sip::ClientTransaction::State;
  std::size_t n = trunk_regs_ ? trunk_regs_->unanswered() : 0;
  for (const auto& [id, call] : calls_) {
    for (const auto& t : call->clients) {
      const State st = t->txn->state();
      n += st == State::calling || st == State::trying || st == State::proceeding ? 1 : 0;
    }
  }
  return n;
}

std::size_t CallController::hang_up_all(core::Instant now) {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, call] : calls_) {
    if (call->state != CallState::ended) ids.push_back(id);
  }
  for (std::uint64_t id : ids) {
    auto it = calls_.find(id);
    if (it == calls_.end()) continue;
    Call& c = *it->second;
    kCallsEndedByShutdown.inc();
    if (c.state == CallState::calling && !c.b_answered) {
      // Still ringing: the browser's INVITE fails 503, the trunk's is cancelled (RFC 3261 §9.1).
      c.fail_browser(now, 503, "Service Unavailable: edge shutting down", kShutdownEnd);
      c.t_cancelled = true;
      if (c.invite_txn != nullptr) c.invite_txn->txn->cancel(now);
    } else {
      c.hang_up(now, kShutdownEnd, !c.flow_gone, true, kShutdownReason);
    }
    pump(now, c);
  }
  return ids.size();
}

}  // namespace webtrunk::edge

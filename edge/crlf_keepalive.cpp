#include "edge/crlf_keepalive.hpp"

namespace webtrunk::edge {

void CrlfKeepAlive::start(core::Instant now) noexcept {
  running_ = interval_ > core::Duration::zero();
  last_rx_ = now;
  ping_sent_.reset();
}

void CrlfKeepAlive::stop() noexcept {
  running_ = false;
  ping_sent_.reset();
}

void CrlfKeepAlive::on_received(core::Instant now) noexcept {
  last_rx_ = now;
  ping_sent_.reset();
}

CrlfKeepAlive::Action CrlfKeepAlive::poll(core::Instant now) noexcept {
  if (!running_) return Action::none;
  if (ping_sent_) {
    if (now < *ping_sent_ + kPongTimeout) return Action::none;
    stop();
    return Action::dead;
  }
  if (now < last_rx_ + interval_) return Action::none;
  ping_sent_ = now;
  return Action::ping;
}

std::optional<core::Instant> CrlfKeepAlive::next_deadline() const noexcept {
  if (!running_) return std::nullopt;
  return ping_sent_ ? *ping_sent_ + kPongTimeout : last_rx_ + interval_;
}

}  // namespace webtrunk::edge

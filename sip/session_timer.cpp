#include "sip/session_timer.hpp"

#include <algorithm>
#include <charconv>

#include "core/metrics.hpp"

namespace webtrunk::sip {

namespace {

const core::Counter kSessionExpiresRaised{"webtrunk_sip_session_expires_raised_total",
                                          "Session-Expires below our Min-SE raised instead of answering 422"};
const core::Counter kSessionExpiresBad{"webtrunk_sip_session_expires_bad_total",
                                       "Unparsable Session-Expires, or Require: timer without one, treated as absent"};
const core::Counter kSessionExpired{"webtrunk_sip_session_expired_total",
                                    "Sessions ended because no refresh came in time (RFC 4028 §10)"};

constexpr std::string_view kRefresherUac = ";refresher=uac";
constexpr std::string_view kRefresherUas = ";refresher=uas";

std::size_t put_uint(char* first, char* last, std::uint32_t v) noexcept {
  const auto r = std::to_chars(first, last, v);
  return static_cast<std::size_t>(r.ptr - first);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void SessionTimerHeaders::set_session_expires(std::uint32_t delta, Refresher r) noexcept {
  std::size_t n = put_uint(se_.data(), se_.data() + se_.size(), delta);
  const std::string_view param = r == Refresher::uac ? kRefresherUac : r == Refresher::uas ? kRefresherUas : "";
  param.copy(se_.data() + n, param.size());
  n += param.size();
  se_len_ = static_cast<std::uint8_t>(n);
}

void SessionTimerHeaders::set_min_se(std::uint32_t delta) noexcept {
  min_se_len_ = static_cast<std::uint8_t>(put_uint(min_se_.data(), min_se_.data() + min_se_.size(), delta));
}

std::span<const std::pair<std::string_view, std::string_view>> SessionTimerHeaders::pairs() const noexcept {
  // Rebuilt on each call so a copied SessionTimerHeaders never points into the original.
  std::size_t n = 0;
  if (se_len_ != 0) pairs_[n++] = {"Session-Expires", session_expires()};
  if (min_se_len_ != 0) pairs_[n++] = {"Min-SE", min_se()};
  if (supported_) pairs_[n++] = {"Supported", "timer"};
  if (require_) pairs_[n++] = {"Require", "timer"};
  return {pairs_.data(), n};
}

void SessionTimerHeaders::write_to(MessageWriter& w) const noexcept {
  for (const auto& [name, value] : pairs()) w.header(name, value);
}

// ---------------------------------------------------------------------------------------------

SessionTimer::SessionTimer(const SessionTimerConfig& config) : config_(config), min_se_(config.min_se) {}

core::Duration SessionTimer::expiry_after(std::uint32_t interval) noexcept {
  return core::seconds(interval) - core::seconds(std::min<std::uint32_t>(32, interval / 3));
}

void SessionTimer::note_peer_allow(const MessageView& msg) {
  if (msg.find(HeaderId::allow) != nullptr) peer_allows_update_ = has_token(msg, HeaderId::allow, "UPDATE");
}

void SessionTimer::on_request_received(const MessageView& request) {
  note_peer_allow(request);
  peer_supports_timer_ =
      has_token(request, HeaderId::supported, "timer") || has_token(request, HeaderId::require, "timer");
  // §5: the request's Min-SE (proxies raise it) is a floor too, for the rest of the dialog.
  if (const HeaderField* h = request.find(HeaderId::min_se))
    if (const auto v = parse_min_se(h->value)) min_se_ = std::max(min_se_, *v);

  SessionExpires se;
  const HeaderField* h = request.find(HeaderId::session_expires);
  if (h != nullptr && parse_session_expires(h->value, se) && se.delta > 0) {
    interval_ = se.delta;
    if (interval_ < min_se_) {
      // §9 would answer 422 here; JsSIP never retries, so take our minimum instead.
      kSessionExpiresRaised.inc();
      interval_ = min_se_;
    }
    switch (se.refresher) {
      case Refresher::uac: we_refresh_ = false; break;
      case Refresher::uas: we_refresh_ = true; break;
      case Refresher::none:
        // §9: with a UAC that supports timers the UAS picks; without, the UAS refreshes.
        we_refresh_ = !(peer_supports_timer_ && config_.prefer_peer_refresher);
        break;
    }
    active_ = true;
    return;
  }
  if (h != nullptr) kSessionExpiresBad.inc();
  if (active_) {
    // A refresh without Session-Expires: keep the interval; a UAC without timer support cannot
    // be the refresher.
    if (!peer_supports_timer_) we_refresh_ = true;
    return;
  }
  if (config_.timer_without_peer_request) {
    active_ = true;
    interval_ = std::max(config_.session_expires, min_se_);
    we_refresh_ = true;
  }
}

SessionTimerHeaders SessionTimer::response_headers() const {
  SessionTimerHeaders h;
  if (!active_) return h;
  // The refresher is named relative to the request being answered: we are its UAS.
  h.set_session_expires(interval_, we_refresh_ ? Refresher::uas : Refresher::uac);
  // §9: Require: timer MUST be there when the UAC refreshes, SHOULD when it supports timers.
  h.require_ = !we_refresh_ || peer_supports_timer_;
  return h;
}

SessionTimerHeaders SessionTimer::request_headers() {
  SessionTimerHeaders h;
  if (active_) {
    // §7.4: a refresh carries the current interval and who refreshes, named from this request:
    // we are its UAC.
    requested_ = std::max(interval_, min_se_);
    h.set_session_expires(requested_, we_refresh_ ? Refresher::uac : Refresher::uas);
  } else {
    // §7.1: the first request leaves the refresher to the UAS.
    requested_ = std::max(config_.session_expires, min_se_);
    h.set_session_expires(requested_, Refresher::none);
  }
  h.set_min_se(min_se_);
  h.supported_ = true;
  return h;
}

void SessionTimer::on_response_received(const MessageView& response_2xx) {
  note_peer_allow(response_2xx);
  SessionExpires se;
  const HeaderField* h = response_2xx.find(HeaderId::session_expires);
  if (h != nullptr && parse_session_expires(h->value, se) && se.delta > 0) {
    // §7.2: the UAS's word is final, "uac" means us. A missing refresher is the UAS's error;
    // refreshing ourselves is the safe reading.
    interval_ = se.delta;
    we_refresh_ = se.refresher != Refresher::uas;
    peer_supports_timer_ = true;
    active_ = true;
    return;
  }
  if (h != nullptr || has_token(response_2xx, HeaderId::require, "timer")) kSessionExpiresBad.inc();
  if (requested_ != 0 && config_.refresh_without_peer_support) {
    // §7.2: the UAS does not do timers; we may still refresh with what we asked for.
    interval_ = active_ ? interval_ : requested_;
    we_refresh_ = true;
    active_ = true;
    return;
  }
  stop();
  active_ = false;
}

bool SessionTimer::on_422(const MessageView& response) {
  const HeaderField* h = response.find(HeaderId::min_se);
  const std::optional<std::uint32_t> v = h != nullptr ? parse_min_se(h->value) : std::nullopt;
  if (!v || *v <= requested_) return false;
  min_se_ = std::max(min_se_, *v);
  if (active_) interval_ = std::max(interval_, min_se_);
  return true;
}

void SessionTimer::handle_refresh(core::Instant now) {
  if (!active_ || interval_ == 0) {
    refresh_at_ = expire_at_ = core::Instant::max();
    return;
  }
  // §10: the refresher refreshes at half the interval; the other side gives up at
  // interval - min(32, interval/3). The refresher keeps that expiry as its own backstop.
  refresh_at_ = we_refresh_ ? now + core::seconds(interval_) / 2 : core::Instant::max();
  expire_at_ = now + expiry_after(interval_);
}

void SessionTimer::handle_timeout(core::Instant now) {
  if (expire_at_ <= now) {
    kSessionExpired.inc();
    refresh_at_ = expire_at_ = core::Instant::max();
    push({SessionTimerEvent::Kind::expired, refresh_method()});
    return;
  }
  if (refresh_at_ <= now) {
    refresh_at_ = core::Instant::max();  // until the next handle_refresh()
    push({SessionTimerEvent::Kind::refresh_due, refresh_method()});
  }
}

std::optional<core::Instant> SessionTimer::poll_timeout() const {
  const core::Instant t = std::min(refresh_at_, expire_at_);
  if (t == core::Instant::max()) return std::nullopt;
  return t;
}

std::optional<SessionTimerEvent> SessionTimer::poll_event() {
  if (event_count_ == 0) return std::nullopt;
  const SessionTimerEvent ev = events_[0];
  events_[0] = events_[1];
  --event_count_;
  return ev;
}

void SessionTimer::stop() noexcept { refresh_at_ = expire_at_ = core::Instant::max(); }

void SessionTimer::push(SessionTimerEvent ev) noexcept {
  if (event_count_ < events_.size()) {
    events_[event_count_++] = ev;
  } else {
    events_[event_count_ - 1] = ev;
  }
}

}  // namespace webtrunk::sip

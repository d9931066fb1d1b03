// Session timers (RFC 4028) for one leg of a call, sans-IO: negotiation helpers for the
// INVITE/UPDATE exchanges, and the refresh and expiry deadlines.
//
// The edge runs one per leg. Browser leg (edge = UAS): JsSIP sends "Session-Expires: 90" with
// "Supported: timer" and no refresher; we accept, let it refresh (refresher=uac, it sends UPDATE
// every 45 s) and answer "Session-Expires: 90;refresher=uac" + "Require: timer". A value below our
// Min-SE is raised to it in the 2xx instead of answering 422, because JsSIP never retries after a
// 422 (versatica/JsSIP#397); RFC 4028 §9 lets a UAS only lower the value, erratum 1687 asks for
// exactly this raise. SIP.js sends no Session-Expires: no timer unless configured.
// Trunk leg (edge = UAC): we offer our preferred interval with Min-SE and "Supported: timer", and
// follow whatever the 2xx says (a "Require: timer" in it makes the refresher binding).
//
//   SessionTimer st;                       // per leg
//   st.on_request_received(invite);        // or: auto h = st.request_headers(); ...; st.on_response_received(ok)
//   auto hdrs = st.response_headers();     // add hdrs.pairs() to the 2xx
//   st.handle_refresh(now);                // when the 2xx is sent / received, and after each refresh
//   ... st.handle_timeout(now) when poll_timeout() is due; st.poll_event():
//     refresh_due -> send ev.method (UPDATE, or re-INVITE if the peer does not allow UPDATE)
//     expired     -> hang up both legs with BYE
//
// Lifetime: SessionTimerHeaders owns its text; pairs() views point into it and are valid while it lives.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "core/clock.hpp"
#include "sip/header_parsers.hpp"
#include "sip/message_view.hpp"
#include "sip/writer.hpp"

namespace webtrunk::sip {

struct SessionTimerConfig {
  // Our Min-SE: the shortest interval we accept (RFC 4028 §5 forbids less than 90 s on the wire).
  std::uint32_t min_se = 90;
  // What we ask for in requests we originate (RFC 4028 recommends 1800 s).
  std::uint32_t session_expires = 1800;
  // UAS: a UAC that supports timers but names no refresher is made the refresher (JsSIP refreshes
  // by UPDATE itself). False: we refresh.
  bool prefer_peer_refresher = true;
  // UAS: a request without Session-Expires (SIP.js, most trunks) still gets a timer, refreshed by us.
  bool timer_without_peer_request = false;
  // UAC: a 2xx without Session-Expires (a peer without RFC 4028): we refresh anyway with the
  // interval we asked for (re-INVITE/UPDATE work without the extension).
  bool refresh_without_peer_support = true;
};

struct SessionTimerEvent {
  enum class Kind : std::uint8_t {
    refresh_due,  // we are the refresher and half the interval passed (RFC 4028 §10)
    expired,      // no refresh by interval - min(32, interval/3) (§10): send BYE on both legs
  };
  Kind kind = Kind::expired;
  Method method = Method::update;  // refresh_due: UPDATE if the peer's Allow lists it, else INVITE
};

// Header lines to add to a request or response, e.g. {"Session-Expires", "90;refresher=uac"},
// {"Require", "timer"}. Empty when there is nothing to add.
class SessionTimerHeaders {
 public:
  [[nodiscard]] std::span<const std::pair<std::string_view, std::string_view>> pairs() const noexcept;
  void write_to(MessageWriter& w) const noexcept;
  [[nodiscard]] bool empty() const noexcept { return se_len_ == 0 && min_se_len_ == 0 && !require_ && !supported_; }

  [[nodiscard]] std::string_view session_expires() const noexcept { return {se_.data(), se_len_}; }  // "" if none
  [[nodiscard]] std::string_view min_se() const noexcept { return {min_se_.data(), min_se_len_}; }    // "" if none
  [[nodiscard]] bool require_timer() const noexcept { return require_; }
  [[nodiscard]] bool supported_timer() const noexcept { return supported_; }

 private:
  friend class SessionTimer;
  void set_session_expires(std::uint32_t delta, Refresher r) noexcept;
  void set_min_se(std::uint32_t delta) noexcept;

  std::array<char, 32> se_{};
  std::array<char, 12> min_se_{};
  std::uint8_t se_len_ = 0;
  std::uint8_t min_se_len_ = 0;
  bool require_ = false;
  bool supported_ = false;
  mutable std::array<std::pair<std::string_view, std::string_view>, 4> pairs_{};
};

class SessionTimer {
 public:
  explicit SessionTimer(const SessionTimerConfig& config = {});

  // ---- We are the UAS of an INVITE or UPDATE (initial or refresh), RFC 4028 §9 ----
  // Decides interval and refresher; never asks for a 422: a Session-Expires below
  // max(our Min-SE, the request's Min-SE) is raised to it.
  void on_request_received(const MessageView& request);
  // For the 2xx to that request: Session-Expires with the refresher, and Require: timer when the
  // UAC refreshes or supports timers (§9). Empty when no timer runs.
  [[nodiscard]] SessionTimerHeaders response_headers() const;

  // ---- We are the UAC of an INVITE or UPDATE (§7) ----
  // Session-Expires (our interval; once negotiated, the current one with its refresher), Min-SE,
  // Supported: timer. Remembers what it asked for.
  [[nodiscard]] SessionTimerHeaders request_headers();
  // The 2xx to our INVITE/UPDATE (§7.2): adopt its interval and refresher ("refresher=uac" = us).
  void on_response_received(const MessageView& response_2xx);
  // A 422 to our request (§7.3): raise our Min-SE and interval to its Min-SE. True if the request
  // is worth retrying with request_headers(); false if the 422 gives nothing larger.
  [[nodiscard]] bool on_422(const MessageView& response);

  // Any message from the peer with an Allow header tells whether it accepts UPDATE.
  void note_peer_allow(const MessageView& msg);

  // ---- Deadlines ----
  // A refresh succeeded (or the session started: the 2xx was sent or received): restart both clocks.
  void handle_refresh(core::Instant now);
  void handle_timeout(core::Instant now);
  [[nodiscard]] std::optional<core::Instant> poll_timeout() const;
  [[nodiscard]] std::optional<SessionTimerEvent> poll_event();
  // No more timers (call over, or the peer turned the extension off).
  void stop() noexcept;

  [[nodiscard]] bool active() const noexcept { return active_; }
  [[nodiscard]] std::uint32_t interval() const noexcept { return interval_; }  // seconds
  [[nodiscard]] bool we_refresh() const noexcept { return we_refresh_; }
  [[nodiscard]] bool peer_supports_timer() const noexcept { return peer_supports_timer_; }
  [[nodiscard]] bool peer_allows_update() const noexcept { return peer_allows_update_; }
  [[nodiscard]] Method refresh_method() const noexcept { return peer_allows_update_ ? Method::update : Method::invite; }
  // The effective Min-SE: ours, raised by the peer's Min-SE or a 422.
  [[nodiscard]] std::uint32_t min_se() const noexcept { return min_se_; }
  // §10: when the non-refresher gives up, interval - min(32, interval/3) after the last refresh.
  [[nodiscard]] static core::Duration expiry_after(std::uint32_t interval) noexcept;

 private:
  void push(SessionTimerEvent ev) noexcept;

  SessionTimerConfig config_;
  std::uint32_t min_se_;
  std::uint32_t interval_ = 0;
  std::uint32_t requested_ = 0;  // what our last request asked for (0: none)
  core::Instant refresh_at_ = core::Instant::max();
  core::Instant expire_at_ = core::Instant::max();
  std::array<SessionTimerEvent, 2> events_{};
  std::uint8_t event_count_ = 0;
  bool active_ = false;
  bool we_refresh_ = false;
  bool peer_supports_timer_ = false;
  bool peer_allows_update_ = false;
};

}  // namespace webtrunk::sip

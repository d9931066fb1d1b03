// ICE-lite toward the browser (RFC 8445 §2.5, "lite" implementation), sans-IO.
//
// The edge has a public address, so it never gathers or sends checks: it answers the browser's
// STUN Binding requests with the session's short-term credentials, takes the path the browser
// nominates (USE-CANDIDATE) and watches consent freshness (RFC 7675). A lite agent is always the
// controlled agent; the browser (a full agent) is always controlling.
//
// The shard's single browser-media port demultiplexes first by the first byte (RFC 7983: 0-3 is
// STUN), then stun_request_local_ufrag() finds the session a Binding request is for, and then
// that session's IceLiteAgent::handle() authenticates and answers it.
//
// STUN parsing, MESSAGE-INTEGRITY and FINGERPRINT are libnice's sans-IO stun/ library
// (stun/usages/ice.h); only the hot-path demux reads the USERNAME itself.
//
// Lifetimes: the string_view stun_request_local_ufrag() returns points into `pkt`. handle()
// writes its reply into `out` and keeps no reference to `pkt` or `out`. selected() points into
// the agent and is valid until the next handle() or the agent's destruction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/socket.hpp"
#include "media/types.hpp"

namespace webtrunk::media {

inline const core::Counter kIceChecksTotal{"webtrunk_ice_checks_total",
                                           "STUN Binding requests accepted and answered with success"};
inline const core::Counter kIceNotStunTotal{"webtrunk_ice_not_stun_total",
                                            "packets given to the ICE agent that are not well-formed STUN"};
inline const core::Counter kIceIgnoredTotal{"webtrunk_ice_ignored_total",
                                            "STUN responses and indications ignored by the ICE-lite agent"};
inline const core::Counter kIceBadRequestsTotal{
    "webtrunk_ice_bad_requests_total",
    "STUN requests answered 400 (no USERNAME, MESSAGE-INTEGRITY or FINGERPRINT; not Binding) or 420"};
inline const core::Counter kIceUnauthorizedTotal{"webtrunk_ice_unauthorized_total",
                                                 "STUN Binding requests answered 401 (bad MESSAGE-INTEGRITY)"};
inline const core::Counter kIceWrongUsernameTotal{
    "webtrunk_ice_wrong_username_total", "STUN Binding requests for another session's ufrag, dropped unanswered"};
inline const core::Counter kIceRoleConflictsTotal{
    "webtrunk_ice_role_conflicts_total", "STUN Binding requests from a peer claiming the controlled role (487)"};
inline const core::Counter kIceNominationsTotal{"webtrunk_ice_nominations_total",
                                                "paths selected by USE-CANDIDATE (first and changed)"};
inline const core::Counter kIceReplyFailuresTotal{"webtrunk_ice_reply_failures_total",
                                                  "STUN replies that could not be written (output buffer too small)"};

// Random local credentials (RFC 8839 §5.4, ice-char = ALPHA / DIGIT / "+" / "/"): an 8-char ufrag
// (48 bits) and a 24-char password (144 bits, above the 128 bits RFC 8445 §5.3 asks for), from
// OpenSSL's RAND_bytes. Aborts if the RNG fails (there is no safe fallback).
IceCredentials make_local_ice_credentials();

// Demux before any session lookup: the local ufrag a STUN Binding request names in USERNAME
// ("ours:theirs", RFC 8445 §7.2.2); nullopt if `pkt` is not a Binding request (RFC 5389 header,
// magic cookie, exact length) with a USERNAME containing a ':'. No integrity check here (the agent
// does it). Attributes after MESSAGE-INTEGRITY are not looked at (RFC 5389 §15.4).
std::optional<std::string_view> stun_request_local_ufrag(std::span<const std::byte> pkt) noexcept;

// The largest reply handle() writes: a success response with USERNAME (<= 513 bytes),
// XOR-MAPPED-ADDRESS (IPv6), MESSAGE-INTEGRITY and FINGERPRINT. `out` must have at least this
// much room, or handle() answers nothing (and counts it).
inline constexpr std::size_t kIceMaxReply = 640;

class IceLiteAgent {
 public:
  explicit IceLiteAgent(IceCredentials local, core::Duration consent_timeout = std::chrono::seconds(30));

  // The browser's credentials from its SDP. Until set, a check's remote part is not compared.
  // A new remote ufrag (ICE restart) forgets the selected path: the browser nominates again.
  void set_remote(IceCredentials remote);
  const IceCredentials& local() const noexcept { return local_; }

  struct Reply {
    std::size_t len = 0;         // bytes of `out` to send back to `from`; 0: send nothing
    bool valid = false;          // an authenticated Binding request, answered with success
    bool use_candidate = false;  // ... that carried USE-CANDIDATE (the path `from` is now selected)
  };
  // A STUN message from `from`. A valid Binding request (USERNAME "local:remote", MESSAGE-INTEGRITY
  // with our pwd, FINGERPRINT) -> success response written to `out` (same transaction id,
  // XOR-MAPPED-ADDRESS of `from`, MESSAGE-INTEGRITY, FINGERPRINT), valid=true; with USE-CANDIDATE
  // the path `from` becomes selected. A request with a bad MESSAGE-INTEGRITY -> 401 error response
  // (RFC 8445 §7.3), missing attributes -> 400, an unknown comprehension-required attribute -> 420,
  // ICE-CONTROLLED (the peer thinks it is controlled too) -> 487, a USERNAME naming another
  // session's ufrag or another remote ufrag -> dropped (len 0), responses/indications -> ignored
  // (len 0). Every accepted check refreshes consent.
  [[nodiscard]] Reply handle(core::Instant now, std::span<const std::byte> pkt, const core::SockAddr& from,
                             std::span<std::byte> out) noexcept;

  const core::SockAddr* selected() const noexcept { return selected_.is_set() ? &selected_ : nullptr; }

  // Authenticated SRTP from the selected path also refreshes consent (RFC 7675 §5.1 allows any
  // authenticated packet as proof; the caller checks it came from selected()).
  void note_media(core::Instant now) noexcept;
  // Last refresh + timeout. Consent starts at the first accepted check (or media); before that
  // there is no deadline (Instant::max()) and the call's own set-up timers apply.
  core::Instant consent_deadline() const noexcept;
  bool consent_expired(core::Instant now) const noexcept { return now >= consent_deadline(); }

 private:
  IceCredentials local_;
  IceCredentials remote_;
  core::Duration consent_timeout_;
  std::optional<core::Instant> last_refresh_;
  core::SockAddr selected_;
};

}  // namespace webtrunk::media

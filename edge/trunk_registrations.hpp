// TrunkRegistrations: the edge REGISTERs itself with the trunks that want it (`register=yes` on a
// --routes line, --trunk-register for --trunk), sans-IO. One registration per distinct (trunk
// host:port or name, transport, user), whatever the number of routes naming it.
//
//   REGISTER sip:TRUNKHOST:PORT   To/From <sip:USER@TRUNKHOST>, Contact <sip:USER@EDGE:PORT> (the
//                                 edge's trunk-side address: where the trunk sends its INVITEs;
//                                 ";transport=tcp" or ";transport=tls" over a stream),
//                                 Expires: register-expires (default 600); one Call-ID and From tag
//                                 for the registration's life, CSeq counting up (RFC 3261 §10.2)
//   401/407                       the same REGISTER again with the route's credentials
//                                 (edge/trunk_auth.hpp); a second challenge that is not stale with
//                                 a new nonce: the credentials are wrong -> stopped (no retries
//                                 until the routes are reloaded: a registrar that bans addresses
//                                 after failed logins must not see the edge hammer it)
//   2xx                           registered for what the trunk grants (our Contact's expires, else
//                                 Expires, else what we asked for); refreshed at half of it, or 30 s
//                                 before expiry when that comes first (never before a quarter of it)
//   423 Interval Too Brief        asked again at once with the Min-Expires (RFC 3261 §10.2.8)
//   timeout, unreachable, 3xx-6xx failed: tried again after a backoff doubling from 5 s to 300 s;
//                                 a registration in force stays up until it expires
//
// Where the REGISTERs go: the trunk's targets (edge/trunk_targets.hpp), an address's one or what a
// name resolved to (RFC 3263), read from its TargetSlot when an attempt starts (first REGISTER,
// refresh, retry after a backoff): the first target first. Timeout, unreachable or 503 at one
// target: the same REGISTER (a new transaction) goes to the next one at once (RFC 3263 §4.3); the
// registration fails (backoff) when the last one failed. The next attempt starts from the first
// target of the list then published (a name whose targets changed included). The Request-URI and
// the AOR keep the name. A name with no target yet: `resolving` (last_error says why), checked
// again every second, registered as soon as targets appear.
//   unregister_all() (drain)      REGISTER with Expires: 0 for every registration the trunk holds;
//                                 the drain waits for the answers (unanswered()), bounded by its own
//                                 timer
//   set_targets() (routes reload) new registrations start at once, dropped ones un-register
//
// One instance per process (shard 0's CallController owns it), as for the OPTIONS keep-alives
// (edge/trunk_pinger.hpp). Inbound INVITEs from a registered trunk are accepted as from any
// configured trunk (call_controller_inbound.cpp).
//
// Timers: a new registration, and an un-REGISTER of a reload, are due at core::Instant{} (at once).
//
// Lifetimes: the views given to handle_* are read during the call only. Transmits and Status own
// their bytes. Passwords are kept for the digest only, never logged.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/socket.hpp"
#include "edge/trunk_auth.hpp"
#include "edge/trunk_targets.hpp"
#include "sip/branch.hpp"
#include "sip/client_transaction.hpp"
#include "sip/message_view.hpp"
#include "sip/transport.hpp"

namespace webtrunk::edge {

inline const core::Gauge kTrunkRegistrationsUp{"webtrunk_trunk_registrations_up",
                                               "registrations of the edge with trunks (register=yes) in force"};
inline const core::Counter kTrunkRegistersSent{"webtrunk_trunk_registers_sent_total",
                                               "REGISTERs sent to trunks (first, refreshes, credential and 423 retries)"};
inline const core::Counter kTrunkRegisterRefreshes{"webtrunk_trunk_register_refreshes_total",
                                                   "trunk registrations refreshed before they expired"};
inline const core::Counter kTrunkRegisterFailedTimeout{"webtrunk_trunk_register_failures_timeout_total",
                                                       "trunk REGISTERs unanswered (retried after a backoff)"};
inline const core::Counter kTrunkRegisterFailedUnreachable{"webtrunk_trunk_register_failures_unreachable_total",
                                                           "trunk REGISTERs that could not be sent: ICMP unreachable, TCP connect failed"};
inline const core::Counter kTrunkRegisterFailedRejected{"webtrunk_trunk_register_failures_rejected_total",
                                                        "trunk REGISTERs answered 3xx-6xx (403, 5xx, a bad 423...; retried after a backoff)"};
inline const core::Counter kTrunkRegisterFailedAuth{"webtrunk_trunk_register_failures_auth_total",
                                                    "trunk registrations stopped: credentials refused or a challenge we cannot answer"};
inline const core::Counter kTrunkRegisterFailovers{"webtrunk_trunk_register_failovers_total",
                                                   "trunk REGISTERs sent to the next target of a trunk name (503, timeout or unreachable: RFC 3263 §4.3)"};
inline const core::Counter kTrunkUnregisters{"webtrunk_trunk_unregisters_total",
                                             "REGISTERs with Expires: 0 sent (drain, route removed)"};

class TrunkRegistrations {
 public:
  struct Target {
    std::string spec;      // the trunk as configured, for the log
    std::string hostport;  // the Request-URI's host part: "HOST:PORT" (IPv6 in brackets)
    std::string domain;    // the AOR's host: HOST (IPv6 in brackets)
    core::SockAddr addr;   // an address's target (unset for a name)
    sip::Transport transport = sip::Transport::udp;
    // The trunk's targets (the route's slot, shared with the resolver); null: {transport, addr} alone.
    std::shared_ptr<const TargetSlot> targets;
    TrunkCredentials credentials;  // user names the AOR; the password answers challenges
    std::uint32_t expires = 600;   // asked for
  };
  struct Transmit {
    core::SockAddr to;
    std::string bytes;
  };
  enum class State : std::uint8_t { idle, resolving, registering, registered, failed, stopped, unregistering, unregistered };
  // "idle", "resolving", "registering", "registered", "failed", "stopped", "unregistering", "unregistered".
  [[nodiscard]] static std::string_view state_name(State s) noexcept;
  struct Status {
    std::string spec;
    std::string user;
    State state = State::idle;
    std::int64_t expires_in_s = 0;  // registered: seconds left
    std::string last_error;         // "" or why the last attempt failed
  };

  static constexpr core::Duration kBackoffMin = std::chrono::seconds(5);
  static constexpr core::Duration kBackoffMax = std::chrono::seconds(300);
  static constexpr core::Duration kResolveRecheck = std::chrono::seconds(1);  // a name with no target yet
  static constexpr std::uint32_t kMaxExpires = 86400;  // a Min-Expires above this fails the registration

  // `contact` is the edge's trunk-side "host:port" (Via and Contact).
  TrunkRegistrations(const std::vector<Target>& targets, std::string contact, std::string user_agent,
                     std::uint64_t id_seed = 0, sip::TimerConfig timers = {});
  ~TrunkRegistrations();
  TrunkRegistrations(const TrunkRegistrations&) = delete;
  TrunkRegistrations& operator=(const TrunkRegistrations&) = delete;

  // True when `resp` answers one of our REGISTERs (then it is consumed, late ones too).
  bool handle_response(core::Instant now, const sip::MessageView& resp);
  // ICMP unreachable or a failed TCP connect to `addr`: the REGISTER in flight there fails now (the
  // next target of a name is tried).
  void handle_unreachable(core::Instant now, const core::SockAddr& addr);
  // The TCP connection to `addr` closed: the trunk may have dropped what it bound to it, so a
  // registration in force there registers again at once.
  void handle_connection_lost(core::Instant now, const core::SockAddr& addr);
  void handle_timeout(core::Instant now);
  // The routes were reloaded: registrations both sets name keep their state (one that was stopped
  // starts again: the credentials may have been fixed), new ones start at once, dropped ones
  // un-register.
  // The REGISTERs go out at the next handle_timeout() (poll_timeout() says at once). After
  // unregister_all(), nothing new starts.
  void set_targets(const std::vector<Target>& targets);
  // Drain: every registration the trunk holds is removed (Expires: 0); nothing registers again.
  void unregister_all(core::Instant now);

  [[nodiscard]] std::optional<Transmit> poll_transmit();
  [[nodiscard]] std::optional<core::Instant> poll_timeout() const;

  // Un-REGISTERs still waiting for their answer.
  [[nodiscard]] std::size_t unanswered() const noexcept;
  [[nodiscard]] std::size_t up() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return regs_.size(); }
  [[nodiscard]] std::vector<Status> status(core::Instant now) const;

 private:
  struct Reg {
    Target target;
    std::string call_id;
    std::string from_tag;
    std::uint32_t cseq = 1;
    State state = State::idle;
    bool up = false;              // counted in kTrunkRegistrationsUp
    bool leaving = false;         // un-registering for good (drain, or the route was removed)
    bool unregister_due = false;  // leaving: the REGISTER with Expires: 0 is still to be sent
    bool with_credentials = false;  // the REGISTER in flight carried them
    bool refresh = false;           // the REGISTER in flight refreshes one in force
    std::uint32_t asking = 600;     // Expires of the next REGISTER
    core::Instant next_at{};        // idle/failed/registered: when to send
    core::Instant expires_at{};     // registered: the trunk forgets us then
    core::Duration backoff{};
    std::string last_error;
    // The attempt's targets (taken when it started) and the one its REGISTERs go to.
    std::shared_ptr<const TrunkTargets> tried;
    std::size_t at = 0;
    ResolvedTarget to;
    TrunkAuth auth;
    std::unique_ptr<sip::ClientTransaction> txn;
  };

  void send(core::Instant now, Reg& r, std::uint32_t expires, const TrunkAuthAnswer* auth);
  bool start_attempt(core::Instant now, Reg& r);
  bool fail_over(core::Instant now, Reg& r, const core::Counter& metric, std::string_view why);
  void drain(core::Instant now, Reg& r);
  void on_final(core::Instant now, Reg& r, const sip::MessageView& resp);
  void on_registered(core::Instant now, Reg& r, const sip::MessageView& resp);
  void fail(core::Instant now, Reg& r, const core::Counter& metric, std::string why);
  void set_up(Reg& r, bool up);
  void leave(Reg& r);
  void send_unregister(core::Instant now, Reg& r);
  void erase_done();
  std::uint32_t granted(const Reg& r, const sip::MessageView& resp) const;
  std::string contact_uri(const Reg& r) const;

  std::string contact_;
  std::string user_agent_;
  sip::TimerConfig timers_;
  sip::IdGenerator ids_;
  std::vector<std::unique_ptr<Reg>> regs_;  // stable addresses: a reload moves them between lists
  std::deque<Transmit> out_;
  bool closed_ = false;  // unregister_all() ran
};

}  // namespace webtrunk::edge

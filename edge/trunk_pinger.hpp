// TrunkPinger: OPTIONS keep-alives from the edge to every configured trunk (--trunk-ping), sans-IO.
// It tells when a trunk stops answering, so new calls toward it get 503 at once instead of each
// waiting for its own INVITE to time out (README "Dead trunks").
//
//   every `interval`, per trunk address: OPTIONS sip:HOST:PORT, retransmitted as a non-INVITE
//     request is (RFC 3261 §17.1.2.2, T1 doubling up to T2)
//   any response but 503 -> alive (a 404 or 405 still says the trunk's SIP stack runs); the first
//     answer after a failure marks a down trunk up
//   no response within `timeout`, ICMP unreachable, or 503 (RFC 3261 §21.5.4: the trunk says it is
//     out of service) -> a failure; `failures_to_down` in a row mark the trunk down
//
// One instance per process (shard 0's CallController owns it), so a trunk gets one OPTIONS per
// interval whatever the shard count; the state changes reach the other shards through the owner's
// on_trunk_state (the shards' mailbox). Trunks start up: a restart refuses nothing until proven.
//
// Lifetimes: the views given to handle_* are read during the call only. Transmits and changes own
// their bytes.
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
#include "sip/branch.hpp"
#include "sip/client_transaction.hpp"
#include "sip/message_view.hpp"

namespace webtrunk::edge {

inline const core::Counter kTrunkPingsSent{"webtrunk_trunk_pings_sent_total", "OPTIONS keep-alives sent to trunks"};
inline const core::Counter kTrunkPingsFailed{"webtrunk_trunk_pings_failed_total",
                                             "trunk keep-alives unanswered, unreachable or answered 503"};
inline const core::Gauge kTrunksDown{"webtrunk_trunks_down", "trunk addresses marked down by --trunk-ping"};

struct TrunkPingConfig {
  core::Duration interval = core::Duration::zero();  // zero: no keep-alives
  core::Duration timeout = std::chrono::seconds(5);  // no response by then: a failure
  unsigned failures_to_down = 3;
};

class TrunkPinger {
 public:
  struct Target {
    std::string spec;      // as configured, for the log
    std::string hostport;  // the Request-URI's host part
    core::SockAddr addr;
    sip::Transport transport = sip::Transport::udp;
  };
  struct Transmit {
    core::SockAddr to;
    std::string bytes;
  };
  struct Change {
    core::SockAddr addr;
    std::string spec;
    bool up = true;
    std::string why;  // "no answer in 5 s", "unreachable", "503 Service Unavailable", "200 OK"
  };

  // Targets with one address are pinged once (several routes may share a trunk). `via` is the
  // shard's "host:port" for Via and From.
  TrunkPinger(TrunkPingConfig config, const std::vector<Target>& targets, std::string via, std::string user_agent,
              std::uint64_t id_seed = 0);

  // True when `resp` answers one of our keep-alives (then it is consumed, retransmissions too).
  bool handle_response(core::Instant now, const sip::MessageView& resp);
  // The routes were reloaded: trunks both sets name keep their state, new ones are pinged at once,
  // and a dropped trunk that was down is reported up ("no longer routed").
  void set_targets(const std::vector<Target>& targets);
  // ICMP unreachable for `addr`: the keep-alive in flight to it fails now.
  void handle_unreachable(core::Instant now, const core::SockAddr& addr);
  void handle_timeout(core::Instant now);

  [[nodiscard]] std::optional<Transmit> poll_transmit();
  [[nodiscard]] std::optional<Change> poll_change();
  [[nodiscard]] std::optional<core::Instant> poll_timeout() const;

  // The owner could not pass the last change for `addr` on: it is reported again after the next ping.
  void change_not_delivered(const core::SockAddr& addr) noexcept;
  [[nodiscard]] bool is_up(const core::SockAddr& addr) const noexcept;
  [[nodiscard]] std::size_t targets() const noexcept { return state_.size(); }

 private:
  struct State {
    Target target;
    std::string call_id;
    std::string from_tag;
    std::uint32_t cseq = 1;
    bool up = true;
    bool undelivered = false;
    unsigned failures = 0;
    core::Instant next_at{};  // the epoch: at once
    core::Instant deadline = core::Instant::max();
    std::unique_ptr<sip::ClientTransaction> txn;
  };

  void send_ping(core::Instant now, State& s);
  void drain(core::Instant now, State& s);
  void result(core::Instant now, State& s, bool alive, std::string why);

  TrunkPingConfig cfg_;
  std::string via_;
  std::string user_agent_;
  sip::IdGenerator ids_;
  std::vector<State> state_;
  std::deque<Transmit> out_;
  std::deque<Change> changes_;
};

}  // namespace webtrunk::edge

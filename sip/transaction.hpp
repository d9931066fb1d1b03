// What the SIP transaction layer (RFC 3261 §17) shares between client and server transactions:
// timer values, the events a transaction hands to its transaction user (TU), an owned copy of a
// message, and the key that matches a message to its transaction (§17.1.3, §17.2.3).
//
// The transactions themselves live in sip/client_transaction.hpp and sip/server_transaction.hpp;
// including this header brings them in too (see the end of the file).
//
// Lifetime: an OwnedMessage owns its bytes and its view points into them; it cannot be copied or
// moved (hold it by the std::unique_ptr a TxnEvent gives you). TransactionKey owns its strings.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "sip/message_view.hpp"
#include "sip/transport.hpp"

namespace webtrunk::sip {

// RFC 3261 §17.1.1.1 and Table 4. Defaults are the RFC's.
struct TimerConfig {
  core::Duration t1 = core::milliseconds(500);  // RTT estimate: first retransmission interval
  core::Duration t2 = core::seconds(4);         // cap of non-INVITE and response retransmission intervals
  core::Duration t4 = core::seconds(5);         // how long the network may hold a message (Timers I, K)
  // §17.2.1: an INVITE server transaction sends 100 (Trying) itself unless the TU sends a
  // provisional response within 200 ms.
  core::Duration trying_delay = core::milliseconds(200);
  // Timer D, the wait for retransmitted final responses on an unreliable transport (">32 s").
  core::Duration timer_d = core::seconds(32);

  // 64*T1: Timers B, F, H, J and L (RFC 6026), and the 2xx retransmission limit (§13.3.1.4).
  [[nodiscard]] core::Duration timeout() const noexcept { return 64 * t1; }
};

// A message the transaction hands out and keeps no view of: the bytes, and a view parsed from them.
struct OwnedMessage {
  explicit OwnedMessage(std::string_view raw);
  OwnedMessage(const OwnedMessage&) = delete;
  OwnedMessage& operator=(const OwnedMessage&) = delete;

  const std::string bytes;  // never changes: `view` points into it
  MessageView view;         // valid when `parsed`
  bool parsed = false;
};

struct TxnEvent {
  enum class Kind : std::uint8_t {
    // Client: a response for the TU (status, message). Retransmitted responses a transaction
    // absorbs (§17.1.1.2 Completed, §17.1.2.2 Completed) never come up.
    response,
    // Client: Timer B or F, no final response (§17.1.1.2, §17.1.2.2): act as if 408 came. Also
    // INVITE with a CANCEL sent and no final response for 64*T1 (§9.1).
    // Server INVITE: Timer H, a non-2xx final was never ACKed (§17.2.1).
    timeout,
    // handle_transport_error(): the transport could not send (§17.1.4, §17.2.4).
    transport_error,
    // Client INVITE: cancel() was asked and a provisional response has arrived (§9.1). `request`
    // holds the CANCEL: send it in a new ClientTransaction(now, Method::cancel, request,
    // <this transaction's branch>, <same transport>) to the same destination.
    cancel_ready,
    // The transaction is over (Terminated state): drop it. Always the last event.
    terminated,
  };

  Kind kind = Kind::terminated;
  int status = 0;                         // response: the status code
  std::unique_ptr<OwnedMessage> message;  // response: the response itself
  std::string request;                    // cancel_ready: the CANCEL bytes
};

// Matches a message to its transaction: the top Via's branch and sent-by, and the method
// (§17.1.3 for responses, §17.2.3 for requests). ACK is keyed as INVITE, so an ACK for a non-2xx
// final finds its INVITE server transaction (an ACK for a 2xx has a new branch and finds none:
// it goes to the dialog). CANCEL keys as CANCEL, its own transaction; cancelled_invite() gives
// the INVITE server transaction it cancels (§9.2). Only RFC 3261 branches ("z9hG4bK") make a key:
// the RFC 2543 fallback of §17.2.3 is not implemented (no browser or trunk of ours needs it).
// Extension methods all key as Method::unknown: the branch alone tells them apart.
struct TransactionKey {
  std::string branch;   // compared case-sensitively
  std::string sent_by;  // host (lower-cased) [":" port]
  Method method = Method::unknown;

  friend bool operator==(const TransactionKey&, const TransactionKey&) = default;

  // The key of the server transaction a received request belongs to (or that a request we are
  // about to send will have as a client transaction).
  [[nodiscard]] static std::optional<TransactionKey> of_request(const MessageView& request);
  // The key of the client transaction a received response belongs to: top Via, CSeq method.
  [[nodiscard]] static std::optional<TransactionKey> of_response(const MessageView& response);

  [[nodiscard]] TransactionKey cancelled_invite() const {
    TransactionKey k = *this;
    k.method = Method::invite;
    return k;
  }
};

struct TransactionKeyHash {
  std::size_t operator()(const TransactionKey& k) const noexcept;
};

namespace detail {

// A transaction's pending events: four slots, no allocation. Only provisional responses can pile
// up without bound; when the ring is full the oldest queued provisional response is dropped
// (counted), so final responses, timeouts and `terminated` are never lost (at most three of those
// can be pending at once).
class EventQueue {
 public:
  void push(TxnEvent ev) noexcept;
  [[nodiscard]] std::optional<TxnEvent> pop() noexcept;
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }

 private:
  static constexpr std::size_t kSlots = 4;
  std::array<TxnEvent, kSlots> slots_{};
  std::uint8_t count_ = 0;
};

// "Timer off".
inline constexpr core::Instant kNever = core::Instant::max();

// The first element of the first Via line, as written (for an ACK or CANCEL that repeats it).
[[nodiscard]] std::string_view first_via_element(const MessageView& msg) noexcept;

}  // namespace detail

}  // namespace webtrunk::sip

template <>
struct std::hash<webtrunk::sip::TransactionKey> {
  std::size_t operator()(const webtrunk::sip::TransactionKey& k) const noexcept {
    return webtrunk::sip::TransactionKeyHash{}(k);
  }
};

// Including sip/transaction.hpp gives the whole transaction layer. Both headers include this one
// first; #pragma once makes the cycle harmless: whichever header comes first, the shared types
// above are complete before either class is declared.
#include "sip/client_transaction.hpp"  // IWYU pragma: export
#include "sip/server_transaction.hpp"  // IWYU pragma: export

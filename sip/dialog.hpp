// A SIP dialog (RFC 3261 §12): the state one side of one leg keeps between requests. The edge, a
// B2BUA, holds two per call: UAS toward the browser, UAC toward the trunk.
//
//   auto d = Dialog::from_uac(invite_sent, ok_200);          // or from a 1xx with a To tag: early
//   std::string ack = d->make_request(Method::ack, "198.51.100.20:5062", new_branch(), {}, {}, {});
//   std::string bye = d->make_request(Method::bye, "198.51.100.20:5062", new_branch(), {}, {}, {});
//   if (auto v = d->check_request(in_dialog_request); !v.ok()) answer(v.code, v.reason);
//
// Lifetime: a Dialog owns copies of everything it took from the messages. route_set() and the
// other accessors return views into the Dialog, valid until it changes or dies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sip/message_view.hpp"
#include "sip/transport.hpp"
#include "sip/validate.hpp"

namespace webtrunk::sip {

// RFC 3261 §12: Call-ID, local tag, remote tag. Tags compare case-sensitively here (they are
// tokens we or the peer generated and echo verbatim).
struct DialogId {
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;

  friend bool operator==(const DialogId&, const DialogId&) = default;

  // For a request we received: local = To tag, remote = From tag. nullopt without a To tag
  // (not in a dialog) or without Call-ID / From tag.
  [[nodiscard]] static std::optional<DialogId> of_incoming_request(const MessageView& request);
  // For a response we received to our request: local = From tag, remote = To tag.
  [[nodiscard]] static std::optional<DialogId> of_incoming_response(const MessageView& response);
};

struct DialogIdHash {
  std::size_t operator()(const DialogId& id) const noexcept;
};

using HeaderPair = std::pair<std::string_view, std::string_view>;

class Dialog {
 public:
  enum class Role : std::uint8_t { uac, uas };
  enum class State : std::uint8_t { early, confirmed };

  // §12.1.2: from the request we sent (INVITE, or another dialog-creating request) and a response
  // to it carrying a To tag: a 1xx makes an early dialog, a 2xx a confirmed one. Route set =
  // Record-Route of the response, reversed; remote target = its Contact. nullopt when the response
  // has no To tag or either message lacks Call-ID, From tag or CSeq.
  [[nodiscard]] static std::optional<Dialog> from_uac(const MessageView& request_sent,
                                                      const MessageView& response);
  // §12.1.1: from the request we received and our answer's To tag and Contact (a header value,
  // e.g. "<sip:edge@203.0.113.10:5062;transport=udp>"; angle brackets are added if missing).
  // Route set = the request's Record-Route in order; remote target = its Contact. Early until
  // confirm(). nullopt when the request lacks Call-ID, From tag or CSeq.
  [[nodiscard]] static std::optional<Dialog> from_uas(const MessageView& request_received,
                                                      std::string_view local_tag, std::string_view local_contact);

  // §12.2.1.1: a request inside the dialog. Request-URI = remote target and Route = route set
  // (loose routing; for a strict first hop, §12.2.1.1's rewrite), From/To with the tags, Call-ID,
  // CSeq = local CSeq + 1 (ACK and CANCEL reuse the last INVITE's number), a Via
  // "SIP/2.0/<transport()> <via_sent_by>;branch=<branch>" (via_sent_by may carry more params, e.g.
  // "host:port;rport"), Max-Forwards 70, Contact for target-refresh methods (INVITE, UPDATE,
  // SUBSCRIBE, NOTIFY, REFER), then `extra_headers`, Content-Type when a body or type is given, the body.
  [[nodiscard]] std::string make_request(Method m, std::string_view via_sent_by, std::string_view branch,
                                         std::span<const HeaderPair> extra_headers = {},
                                         std::string_view content_type = {}, std::string_view body = {});

  // §12.2.2: an in-dialog request we received. A CSeq lower than the remote CSeq gets
  // {500, "CSeq out of order"} (ACK and CANCEL are not checked: they repeat their INVITE's
  // number). Otherwise the remote CSeq is taken, and a target refresh (INVITE, UPDATE) with a
  // Contact replaces the remote target.
  [[nodiscard]] Verdict check_request(const MessageView& request);

  // UAC: a response to a request we sent in this dialog. A 2xx to the dialog-creating request
  // confirms an early dialog and recomputes route set and remote target from it (§13.2.2.4); a
  // 1xx/2xx to a target refresh with a Contact replaces the remote target (§12.2.1.2).
  void handle_response(const MessageView& response);
  // UAS: we sent the 2xx (§12.1.1): early -> confirmed.
  void confirm() noexcept { state_ = State::confirmed; }

  [[nodiscard]] DialogId id() const { return {call_id_, local_tag_, remote_tag_}; }
  [[nodiscard]] std::string_view call_id() const noexcept { return call_id_; }
  [[nodiscard]] std::string_view local_tag() const noexcept { return local_tag_; }
  [[nodiscard]] std::string_view remote_tag() const noexcept { return remote_tag_; }
  // The last CSeq number we used (0 before the first request of a UAS dialog).
  [[nodiscard]] std::uint32_t local_cseq() const noexcept { return local_cseq_; }
  // The peer's last CSeq number; nullopt for a UAC dialog before the peer sent a request.
  [[nodiscard]] std::optional<std::uint32_t> remote_cseq() const noexcept { return remote_cseq_; }
  // The CSeq number of our last INVITE (the one an ACK or CANCEL repeats).
  [[nodiscard]] std::uint32_t invite_cseq() const noexcept { return invite_cseq_; }
  [[nodiscard]] std::string_view remote_target() const noexcept { return remote_target_; }
  // Route header values (each "<uri;lr>" as received) in the order requests carry them.
  [[nodiscard]] std::span<const std::string> route_set() const noexcept { return route_set_; }
  [[nodiscard]] std::string_view local_party() const noexcept { return local_party_; }    // From value we send
  [[nodiscard]] std::string_view remote_party() const noexcept { return remote_party_; }  // To value we send
  [[nodiscard]] std::string_view local_contact() const noexcept { return local_contact_; }
  [[nodiscard]] Role role() const noexcept { return role_; }
  [[nodiscard]] State state() const noexcept { return state_; }
  // The Via transport of requests we send: from the top Via of the dialog-creating request.
  [[nodiscard]] Transport transport() const noexcept { return transport_; }

  void set_transport(Transport t) noexcept { transport_ = t; }
  void set_local_contact(std::string_view contact);
  // E.g. a random first CSeq for a UAS dialog (the next request uses n + 1).
  void set_local_cseq(std::uint32_t n) noexcept { local_cseq_ = n; }

 private:
  Dialog() = default;
  void take_route_set(const MessageView& msg, bool reverse);
  void take_remote_target(const MessageView& msg);

  std::string call_id_;
  std::string local_tag_;
  std::string remote_tag_;
  std::string local_party_;
  std::string remote_party_;
  std::string local_contact_;
  std::string remote_target_;
  std::vector<std::string> route_set_;
  std::uint32_t local_cseq_ = 0;
  std::uint32_t invite_cseq_ = 0;
  std::optional<std::uint32_t> remote_cseq_;
  Method creating_method_ = Method::invite;
  std::uint32_t creating_cseq_ = 0;
  Role role_ = Role::uac;
  State state_ = State::early;
  Transport transport_ = Transport::udp;
};

}  // namespace webtrunk::sip

template <>
struct std::hash<webtrunk::sip::DialogId> {
  std::size_t operator()(const webtrunk::sip::DialogId& id) const noexcept { return webtrunk::sip::DialogIdHash{}(id); }
};

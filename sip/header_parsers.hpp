// Lazy header-value parsers (RFC 3261 §20, §25.1, RFC 4028, RFC 5626, RFC 6665, RFC 3326).
//
// Nothing here runs at parse time: call the helper for the header you need, when you need it.
// Each takes the trimmed value view from a HeaderField (or one element of a comma list, from
// ListCursor) and fills a struct of views. Folded values are read as they are: CRLF+SP/HT counts
// as LWS wherever the grammar allows LWS.
//
// Lifetime: every view points into the text that was parsed, i.e. into the receive buffer behind
// the MessageView; it lives as long as that buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/message_view.hpp"
#include "sip/params.hpp"
#include "sip/uri.hpp"

namespace webtrunk::sip {

// Walks the elements of a comma-separated header (Via, Contact, Route, Record-Route, Supported,
// Require, Allow, ...) across all of its header lines in order. Commas inside quoted strings and
// <...> do not split. Elements come back trimmed; an empty element ("a,,b") is returned as "" so a
// strict caller can reject it.
class ListCursor {
 public:
  ListCursor(const MessageView& msg, HeaderId id) noexcept;
  explicit ListCursor(std::string_view one_value) noexcept;

  [[nodiscard]] bool next(std::string_view& element) noexcept;
  // False when a quoted string or <...> was left open.
  [[nodiscard]] bool ok() const noexcept { return ok_; }

 private:
  const MessageView* msg_ = nullptr;
  const HeaderField* header_ = nullptr;
  std::string_view rest_;
  bool have_rest_ = false;
  bool ok_ = true;
};

// via-parm = sent-protocol LWS sent-by *( SEMI via-params ) (RFC 3261 §20.42)
struct Via {
  std::string_view protocol_name;     // "SIP"
  std::string_view protocol_version;  // "2.0"
  std::string_view transport;         // "UDP", "TCP", "TLS", "SCTP", "WS", "WSS", or an unknown token
  std::string_view host;              // IPv6 without brackets
  std::string_view sent_by;           // host[:port] as written
  std::uint16_t port = 0;
  bool has_port = false;
  bool ipv6 = false;
  std::string_view params;            // ";branch=z9hG4bK..;rport" as written
  std::string_view branch;
  std::string_view received;
  std::string_view maddr;
  std::string_view rport;             // the value when "rport=1234"
  bool has_rport = false;             // RFC 3581
};

[[nodiscard]] bool parse_via(std::string_view element, Via& out) noexcept;
// The first element of the first Via line: the one a response is routed by (RFC 3261 §18.2.2).
[[nodiscard]] std::optional<Via> top_via(const MessageView& msg) noexcept;
// RFC 3261 §8.1.1.7: an RFC 3261 branch starts with the magic cookie "z9hG4bK".
[[nodiscard]] bool has_magic_cookie(std::string_view branch) noexcept;

// name-addr / addr-spec with header parameters: From, To, Contact, Route, Record-Route,
// Refer-To, P-Asserted-Identity... (RFC 3261 §20.10, §25.1)
struct NameAddr {
  std::string_view display_name;  // as written: quoted (quotes kept) or token words; "" if none
  std::string_view uri;           // the URI text, without <>
  bool angle_brackets = false;
  std::string_view params;        // ";tag=..;expires=.." as written, "" if none
  std::string_view tag_param;     // the tag parameter's value, found while checking params

  [[nodiscard]] std::string_view tag() const noexcept { return tag_param; }  // "" when absent
};

// Strict where a B2BUA must be: no LWS inside <...> (RFC 4475 §3.1.2.14), display names are a
// quoted string or tokens (§3.1.2.15), an unbracketed URI may not hold '?' or ',' (§3.1.2.13).
[[nodiscard]] bool parse_name_addr(std::string_view element, NameAddr& out) noexcept;

// Contact: "*" or name-addr/addr-spec with params like expires, q, +sip.instance, reg-id (RFC 5626).
[[nodiscard]] inline bool is_star_contact(std::string_view element) noexcept { return element == "*"; }
[[nodiscard]] std::optional<std::uint32_t> contact_expires(const NameAddr& contact) noexcept;
// +sip.instance="<urn:uuid:...>" -> "urn:uuid:..." (quotes and angle brackets removed).
[[nodiscard]] std::string_view contact_instance(const NameAddr& contact) noexcept;
// reg-id=1 -> 1 (RFC 5626 §4.2).
[[nodiscard]] std::optional<std::uint32_t> contact_reg_id(const NameAddr& contact) noexcept;

struct CSeq {
  std::uint32_t number = 0;
  Method method = Method::unknown;
  std::string_view method_text;
};
// CSeq = 1*DIGIT LWS Method; the number must be below 2**31 (RFC 3261 §8.1.1.5, RFC 4475 §3.1.2.4).
[[nodiscard]] bool parse_cseq(std::string_view value, CSeq& out) noexcept;

// Max-Forwards = 1*DIGIT, 0..255 (RFC 3261 §20.22; leading zeros allowed).
[[nodiscard]] std::optional<std::uint32_t> parse_max_forwards(std::string_view value) noexcept;
// delta-seconds = 1*DIGIT. Values beyond 2**32-1 are clamped to it, as RFC 3261 §20.19 and
// RFC 4475 §3.1.2.4 allow ("treat as the maximum"), rather than rejected.
[[nodiscard]] std::optional<std::uint32_t> parse_delta_seconds(std::string_view value) noexcept;

// Call-ID = word [ "@" word ] (RFC 3261 §25.1).
[[nodiscard]] bool is_valid_call_id(std::string_view value) noexcept;

// A token (or number) followed by parameters: Event, Reason, Content-Disposition,
// Subscription-State, Session-Expires, Min-SE, Retry-After...
struct ValueWithParams {
  std::string_view value;
  std::string_view params;
};
[[nodiscard]] bool parse_value_with_params(std::string_view text, ValueWithParams& out) noexcept;

// media-type = m-type SLASH m-subtype *( SEMI m-parameter ) (RFC 3261 §20.15)
struct MediaType {
  std::string_view type;
  std::string_view subtype;
  std::string_view params;
  [[nodiscard]] bool is(std::string_view t, std::string_view s) const noexcept;  // case-insensitive
};
[[nodiscard]] bool parse_media_type(std::string_view value, MediaType& out) noexcept;

// Session-Expires = delta-seconds *( SEMI (se-params) ), se-params = refresher-param / generic-param
// (RFC 4028 §4). JsSIP sends "90" on the first INVITE and "90;refresher=uac" afterwards.
enum class Refresher : std::uint8_t { none, uac, uas };
struct SessionExpires {
  std::uint32_t delta = 0;
  Refresher refresher = Refresher::none;
  std::string_view params;
};
[[nodiscard]] bool parse_session_expires(std::string_view value, SessionExpires& out) noexcept;
// Min-SE = delta-seconds *( SEMI generic-param ) (RFC 4028 §5)
[[nodiscard]] std::optional<std::uint32_t> parse_min_se(std::string_view value) noexcept;

// Event = event-type *( SEMI event-param ), with id (RFC 6665 §8.2.1)
struct Event {
  std::string_view package;  // "refer", "dialog", "presence.winfo", ...
  std::string_view id;
  std::string_view params;
};
[[nodiscard]] bool parse_event(std::string_view value, Event& out) noexcept;

// Reason = protocol *( SEMI reason-params ): SIP;cause=488;text="Not Acceptable Here" (RFC 3326)
struct Reason {
  std::string_view protocol;  // "SIP", "Q.850", ...
  int cause = 0;              // 0 when absent
  std::string_view text;      // quoted string as written, "" when absent
  std::string_view params;
};
[[nodiscard]] bool parse_reason(std::string_view element, Reason& out) noexcept;

// Token lists: Supported, Require, Proxy-Require, Unsupported, Allow, Allow-Events.
// True when any element of any line of `id` equals `token` (case-insensitive).
[[nodiscard]] bool has_token(const MessageView& msg, HeaderId id, std::string_view token) noexcept;
// True when every element of every line of `id` is a token.
[[nodiscard]] bool is_token_list(const MessageView& msg, HeaderId id) noexcept;

// What routing needs, straight from the index: the transaction key and the dialog id parts.
[[nodiscard]] std::string_view call_id(const MessageView& msg) noexcept;  // "" when absent
[[nodiscard]] std::optional<CSeq> cseq(const MessageView& msg) noexcept;
[[nodiscard]] std::string_view from_tag(const MessageView& msg) noexcept;  // "" when absent
[[nodiscard]] std::string_view to_tag(const MessageView& msg) noexcept;    // "" when absent

}  // namespace webtrunk::sip

// Small builders the edge's SIP layer shares: responses with extra headers and a body, SDP
// helpers for telling a re-offer from a refresh, the DTMF INFO reader, and a few header readers.
//
// Lifetimes: every function returns owned strings, or views into its argument.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "sip/message_view.hpp"

namespace webtrunk::edge {

using HeaderList = std::span<const std::pair<std::string_view, std::string_view>>;

// The methods the edge handles inside a call (Allow in its answers).
inline constexpr std::string_view kDialogAllow = "INVITE, ACK, CANCEL, BYE, UPDATE, INFO, OPTIONS";

// RFC 3261 §8.2.6 response to `req` (its Via, From, To + our tag, Call-ID, CSeq), then `extra`
// headers in order, then Content-Type (when `body` is not empty) and the body.
std::string build_response(const sip::MessageView& req, int code, std::string_view reason, std::string_view to_tag,
                           HeaderList extra = {}, std::string_view content_type = {}, std::string_view body = {});

// For a request the parser refused: "SIP/2.0 400 <reason>" with its Via, From, To, Call-ID and
// CSeq lines copied as they are, when all of them can be found by a plain line scan (RFC 3261
// §8.2.6: the client needs them to match the answer). nullopt for a response, an ACK, or a message
// too broken to answer (then it is dropped).
std::optional<std::string> salvage_bad_request(std::string_view bytes, std::string_view reason);

// The SDP o= line (RFC 4566 §5.2) without its line end, "" if none. Equal o= lines mean an
// unchanged session description (RFC 3264 §8: the version did not move).
std::string_view sdp_origin(std::string_view body) noexcept;

// True when the message carries an SDP body (Content-Type application/sdp and a body).
bool has_sdp(const sip::MessageView& msg) noexcept;

// The user part of a URI text ("sip:+1555@x" -> "+1555"), "" if none or not parsable.
std::string_view uri_user(std::string_view uri) noexcept;

// "host:port", IPv6 in brackets; and the host alone, bracketed if IPv6 (for URIs).
std::string host_port(std::string_view host, std::uint16_t port);
std::string bracket_host(std::string_view host);

// The Content-Type value of a message ("" if none).
std::string_view content_type_of(const sip::MessageView& m) noexcept;

// A value safe to put in a reason phrase (printable ASCII, at most 80 characters).
std::string safe_reason(std::string_view text);
// A user part we can put in a URI as is: RFC 3261 §25.1 unreserved and user-unreserved characters
// (escapes kept), at most 64. Anything else is dropped; an empty result is "anonymous".
std::string uri_safe_user(std::string_view s);

// RFC 3261 §20.43 Warning value: `code agent "text"` (text made safe, quotes and backslashes dropped).
std::string warning_value(int code, std::string_view agent, std::string_view text);

// SIP INFO carrying a DTMF digit, as JsSIP sends it (application/dtmf-relay, "Signal=5\r\n
// Duration=100") or as application/dtmf (the digit alone). Durations are clamped to 40-5000 ms.
struct DtmfInfo {
  bool is_dtmf = false;  // one of the two content types
  bool valid = false;    // and a digit could be read
  char digit = 0;        // '0'-'9', '*', '#', 'A'-'D'
  std::uint32_t duration_ms = 100;
  std::string_view why;  // when !valid: what is wrong (static text)
};
DtmfInfo read_dtmf_info(std::string_view content_type, std::string_view body) noexcept;

}  // namespace webtrunk::edge

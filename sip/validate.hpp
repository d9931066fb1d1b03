// Checks a parsed message for what a proxy or B2BUA must refuse before any transaction or dialog
// work (RFC 3261 §8.2, §16.3, §20; RFC 4475 §3.1.2, §3.3): mandatory headers, single-valued
// headers given once, CSeq against the method, the SIP version, URI schemes, Require.
//
// Lifetime: Verdict::reason is static text, fit for the reason phrase of the answer.
#pragma once

#include <string_view>

#include "sip/message_view.hpp"

namespace webtrunk::sip {

struct Verdict {
  int code = 0;              // 0 = acceptable; else the status code to answer (400, 416, 420, 505)
  std::string_view reason;   // e.g. "Missing Call-ID", "CSeq method does not match"

  [[nodiscard]] bool ok() const noexcept { return code == 0; }
};

// Option tags this edge implements; a Require naming anything else gets 420 (RFC 3261 §8.2.2.3).
// timer (RFC 4028), outbound (RFC 5626), path (RFC 3327), gruu (RFC 5627), replaces (RFC 3891).
inline constexpr std::string_view kSupportedOptionTags[] = {"timer", "outbound", "path", "gruu", "replaces"};

// Requests: Via, From, To, Call-ID, CSeq and Max-Forwards present (the single-valued ones once),
// each parses; CSeq method equals the request method; SIP/2.0; a sip/sips/tel Request-URI without
// headers; Content-Length consistent with the body; Require only names kSupportedOptionTags.
[[nodiscard]] Verdict validate_request(const MessageView& msg) noexcept;

// Responses: Via, From, To, Call-ID, CSeq present and parsing; SIP/2.0. A response that fails is
// dropped (RFC 3261 §18.1.2), never answered.
[[nodiscard]] Verdict validate_response(const MessageView& msg) noexcept;

class MessageWriter;
// For a 420 answer: writes "Unsupported: a, b" with the Require option tags of `req` that are not in
// kSupportedOptionTags (RFC 3261 §8.2.2.3). Writes nothing when there are none.
void write_unsupported(const MessageView& req, MessageWriter& w) noexcept;

}  // namespace webtrunk::sip

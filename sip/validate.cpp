#include "sip/validate.hpp"

#include "core/metrics.hpp"
#include "sip/header_parsers.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "sip/writer.hpp"

namespace webtrunk::sip {

namespace {

const core::Counter kRejected{"webtrunk_sip_validate_rejected_total",
                              "SIP messages that parsed but failed validation (missing or malformed headers)"};

Verdict reject(int code, std::string_view reason) noexcept {
  kRejected.inc();
  return {code, reason};
}

bool is_supported_option(std::string_view tag) noexcept {
  for (std::string_view s : kSupportedOptionTags)
    if (text::iequals(s, tag)) return true;
  return false;
}

struct Mandatory {
  HeaderId id;
  std::string_view missing;
  std::string_view multiple;
};

constexpr Mandatory kSingle[] = {
    {HeaderId::from, "Missing From", "Multiple From headers"},
    {HeaderId::to, "Missing To", "Multiple To headers"},
    {HeaderId::call_id, "Missing Call-ID", "Multiple Call-ID headers"},
    {HeaderId::cseq, "Missing CSeq", "Multiple CSeq headers"},
};

bool name_addr_ok(std::string_view value) noexcept {
  NameAddr na;
  Uri uri;
  return parse_name_addr(value, na) && parse_uri(na.uri, uri);
}

// Checks shared by requests and responses. Returns a non-ok Verdict on the first problem.
Verdict check_common(const MessageView& msg, bool request) noexcept {
  if (!text::iequals(msg.version(), "SIP/2.0"))  // RFC 3261 §21.5.21: 505 for a version we do not speak
    return reject(request ? 505 : 400, "Version Not Supported");

  for (const Mandatory& m : kSingle) {
    const std::size_t n = msg.count(m.id);
    if (n == 0) return reject(400, m.missing);
    if (n > 1) return reject(400, m.multiple);  // RFC 4475 §3.3.8
  }
  if (msg.find(HeaderId::via) == nullptr) return reject(400, "Missing Via");

  ListCursor vias(msg, HeaderId::via);
  std::string_view element;
  while (vias.next(element)) {
    Via via;
    if (!parse_via(element, via)) return reject(400, "Bad Via");
    // RFC 4475 §3.2.1: the cookie with nothing after it is no transaction id at all.
    if (via.branch == "z9hG4bK") return reject(400, "Bad Via branch");
  }
  if (!vias.ok()) return reject(400, "Bad Via");

  if (!name_addr_ok(msg.value(HeaderId::from))) return reject(400, "Bad From");
  if (!name_addr_ok(msg.value(HeaderId::to))) return reject(400, "Bad To");
  if (!is_valid_call_id(msg.value(HeaderId::call_id))) return reject(400, "Bad Call-ID");
  CSeq cs;
  if (!parse_cseq(msg.value(HeaderId::cseq), cs)) return reject(400, "Bad CSeq");

  // Contact: "*" alone, or name-addr/addr-spec list (RFC 3261 §20.10).
  if (msg.find(HeaderId::contact) != nullptr) {
    ListCursor contacts(msg, HeaderId::contact);
    std::size_t n = 0;
    bool star = false;
    while (contacts.next(element)) {
      ++n;
      if (is_star_contact(element)) {
        star = true;
        continue;
      }
      if (!name_addr_ok(element)) return reject(400, "Bad Contact");
    }
    if (!contacts.ok() || (star && n > 1)) return reject(400, "Bad Contact");
  }
  for (const HeaderId id : {HeaderId::route, HeaderId::record_route}) {
    ListCursor routes(msg, id);
    while (routes.next(element)) {
      NameAddr na;
      if (!parse_name_addr(element, na) || !na.angle_brackets) return reject(400, "Bad Route");
    }
    if (!routes.ok()) return reject(400, "Bad Route");
  }
  if (const HeaderField* h = msg.find(HeaderId::expires); h != nullptr && !parse_delta_seconds(h->value))
    return reject(400, "Bad Expires");
  // RFC 3261 §20.17: SIP-date is rfc1123-date, always "GMT" (RFC 4475 §3.1.2.12).
  if (const HeaderField* h = msg.find(HeaderId::date);
      h != nullptr && (h->value.size() < 3 || h->value.substr(h->value.size() - 3) != "GMT"))
    return reject(400, "Bad Date");
  if (const HeaderField* h = msg.find(HeaderId::session_expires); h != nullptr) {
    SessionExpires se;
    if (!parse_session_expires(h->value, se)) return reject(400, "Bad Session-Expires");
  }
  if (const HeaderField* h = msg.find(HeaderId::content_type); h != nullptr) {
    MediaType mt;
    if (!parse_media_type(h->value, mt)) return reject(400, "Bad Content-Type");
  } else if (!msg.body().empty()) {
    return reject(400, "Missing Content-Type");  // RFC 3261 §20.15
  }
  if (const auto cl = msg.content_length(); cl && *cl != msg.body().size())
    return reject(400, "Bad Content-Length");
  return {};
}

}  // namespace

Verdict validate_request(const MessageView& msg) noexcept {
  if (!msg.is_request()) return reject(400, "Not a request");
  if (Verdict v = check_common(msg, true); !v.ok()) return v;

  const std::size_t mf = msg.count(HeaderId::max_forwards);
  if (mf == 0) return reject(400, "Missing Max-Forwards");  // RFC 3261 §8.1.1.6
  if (mf > 1) return reject(400, "Multiple Max-Forwards headers");
  if (!parse_max_forwards(msg.value(HeaderId::max_forwards))) return reject(400, "Bad Max-Forwards");

  CSeq cs;
  (void)parse_cseq(msg.value(HeaderId::cseq), cs);
  // RFC 3261 §8.1.1.5 and RFC 4475 §3.1.2.17-18: the CSeq method matches the request method.
  if (cs.method_text != msg.method_text()) return reject(400, "CSeq method does not match");

  Uri ruri;
  if (!parse_uri(msg.request_uri(), ruri)) return reject(400, "Bad Request-URI");
  // RFC 3261 §8.2.2.1: a scheme we do not serve gets 416 (RFC 4475 §3.3.2, §3.3.3).
  if (ruri.scheme == UriScheme::other) return reject(416, "Unsupported URI Scheme");
  // RFC 3261 §19.1.5: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
  if (!ruri.headers.empty()) return reject(400, "Request-URI has headers");

  // RFC 3261 §8.2.2.3: Require with an option we lack -> 420 (Unsupported lists them).
  ListCursor req(msg, HeaderId::require);
  std::string_view tag;
  while (req.next(tag))
    if (!is_supported_option(tag)) return reject(420, "Bad Extension");
  return {};
}

void write_unsupported(const MessageView& req, MessageWriter& w) noexcept {
  ListCursor c(req, HeaderId::require);
  std::string_view tag;
  bool first = true;
  while (c.next(tag)) {
    if (is_supported_option(tag) || !text::is_token(tag)) continue;
    if (first) w.header_begin("Unsupported");
    else w.header_append(", ");
    w.header_append(tag);
    first = false;
  }
  if (!first) w.header_end();
}

Verdict validate_response(const MessageView& msg) noexcept {
  if (!msg.is_response()) return reject(400, "Not a response");
  return check_common(msg, false);
}

}  // namespace webtrunk::sip

// libFuzzer target: parse_message() on arbitrary bytes with both framings, then every lazy header
// helper and the validators on whatever parsed. Crashes found here become tests in tests/sip/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sip/auth_params.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "sip/validate.hpp"
#include "sip/writer.hpp"

namespace {

using namespace webtrunk::sip;

void exercise(const MessageView& m) {
  (void)(m.is_request() ? validate_request(m) : validate_response(m));
  Uri uri;
  (void)parse_uri(m.request_uri(), uri);
  (void)top_via(m);
  (void)call_id(m);
  (void)cseq(m);
  (void)from_tag(m);
  (void)to_tag(m);
  std::string scratch;
  std::string_view e;
  for (const HeaderField& h : m.headers()) {
    (void)unfold(h.value, scratch);
    switch (h.id) {
      case HeaderId::via: {
        ListCursor c(h.value);
        Via v;
        while (c.next(e)) (void)parse_via(e, v);
        break;
      }
      case HeaderId::from:
      case HeaderId::to:
      case HeaderId::contact:
      case HeaderId::route:
      case HeaderId::record_route:
      case HeaderId::refer_to:
      case HeaderId::p_asserted_identity: {
        ListCursor c(h.value);
        while (c.next(e)) {
          NameAddr na;
          if (!parse_name_addr(e, na)) continue;
          (void)na.tag();
          (void)unquote(na.display_name, scratch);
          (void)contact_expires(na);
          (void)contact_instance(na);
          (void)contact_reg_id(na);
          if (parse_uri(na.uri, uri)) {
            ParamCursor pc(uri.params);
            Param p;
            while (pc.next(p)) (void)unquote(p.value, scratch);
            (void)uri_part_equals(uri.user, uri.host);
          }
        }
        break;
      }
      case HeaderId::cseq: {
        CSeq c;
        (void)parse_cseq(h.value, c);
        break;
      }
      case HeaderId::max_forwards: (void)parse_max_forwards(h.value); break;
      case HeaderId::expires:
      case HeaderId::min_expires: (void)parse_delta_seconds(h.value); break;
      case HeaderId::content_type: {
        MediaType mt;
        (void)parse_media_type(h.value, mt);
        break;
      }
      case HeaderId::session_expires: {
        SessionExpires se;
        (void)parse_session_expires(h.value, se);
        break;
      }
      case HeaderId::min_se: (void)parse_min_se(h.value); break;
      case HeaderId::event: {
        Event ev;
        (void)parse_event(h.value, ev);
        break;
      }
      case HeaderId::reason: {
        ListCursor c(h.value);
        Reason r;
        while (c.next(e)) (void)parse_reason(e, r);
        break;
      }
      case HeaderId::authorization:
      case HeaderId::proxy_authorization:
      case HeaderId::www_authenticate:
      case HeaderId::proxy_authenticate: {
        AuthParams a;
        if (parse_auth(h.value, a)) (void)a.get("nonce");
        break;
      }
      case HeaderId::supported:
      case HeaderId::require:
      case HeaderId::allow: (void)has_token(m, h.id, "timer"); break;
      case HeaderId::call_id: (void)is_valid_call_id(h.value); break;
      default: {
        ValueWithParams vp;
        (void)parse_value_with_params(h.value, vp);
        break;
      }
    }
  }
  // Round trip through the writer: what we write must parse again, to the same header lines and
  // body (Content-Length is rewritten, so it is left out of the count) - unless the copy outgrew the
  // parser's limits (CRLF for bare LF, one more header line), which the writer does not police.
  std::string out;
  MessageWriter w(out);
  const std::size_t lines = m.headers().size() - m.count(HeaderId::content_length) + 1;
  if (write_message(m, MessageEdits{}, w) && out.size() <= kMaxMessageSize && lines <= MessageView::kMaxHeaders) {
    MessageView again;
    if (parse_message(out, again, {Framing::stream}).status != ParseStatus::ok) __builtin_trap();
    const std::size_t cl = m.count(HeaderId::content_length);
    if (again.headers().size() != m.headers().size() - cl + 1) __builtin_trap();
    if (again.body() != m.body()) __builtin_trap();
  }
  if (m.is_request() && m.count(HeaderId::via) + 5 <= MessageView::kMaxHeaders) {
    const std::string resp = make_response(m, 400, "Bad Request", "t");
    MessageView r;
    if (parse_message(resp, r, {Framing::stream}).status != ParseStatus::ok) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  for (Framing f : {Framing::datagram, Framing::stream}) {
    MessageView m;
    const ParseResult r = parse_message(bytes, m, {f});
    if (r.status == ParseStatus::invalid && r.reason.empty()) __builtin_trap();
    // Every view lies inside the input, also in what an invalid message leaves for the 400.
    const char* lo = reinterpret_cast<const char*>(data);
    const char* hi = lo + size;
    auto inside = [&](std::string_view v) { return v.empty() || (v.data() >= lo && v.data() + v.size() <= hi); };
    for (const HeaderField& h : m.headers())
      if (!inside(h.name) || !inside(h.value)) __builtin_trap();
    if (r.status == ParseStatus::invalid) {
      if (m.is_request() && m.find(HeaderId::via) != nullptr) (void)make_response(m, 400, r.reason, "t");
      continue;
    }
    if (r.status != ParseStatus::ok) continue;
    if (r.consumed > size || !inside(m.raw()) || !inside(m.body())) __builtin_trap();
    exercise(m);
  }
  return 0;
}

#include "sip/dialog.hpp"

#include <algorithm>

#include "core/metrics.hpp"
#include "sip/header_parsers.hpp"
#include "sip/params.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "sip/writer.hpp"

namespace webtrunk::sip {

namespace {

const core::Counter kDialogCSeqOutOfOrder{"webtrunk_sip_dialog_cseq_out_of_order_total",
                                          "In-dialog requests refused with 500 for a CSeq below the last one"};

std::string unfolded(std::string_view value) {
  std::string scratch;
  return std::string(unfold(value, scratch));
}

bool is_target_refresh(Method m) noexcept {
  return m == Method::invite || m == Method::update || m == Method::subscribe || m == Method::notify ||
         m == Method::refer;
}

std::optional<Transport> via_transport(const MessageView& msg) {
  const std::optional<Via> v = top_via(msg);
  if (!v) return std::nullopt;
  return transport_from_name(v->transport);
}

// The URI inside a name-addr / addr-spec header value ("" if it does not parse).
std::string_view uri_of(std::string_view name_addr) {
  NameAddr na;
  if (!parse_name_addr(name_addr, na)) return {};
  return na.uri;
}

void write_value(MessageWriter& w, HeaderId id, std::string_view value) {
  w.header_begin(header_canonical_name(id));
  w.append_unfolded(value);
  w.header_end();
}

}  // namespace

std::optional<DialogId> DialogId::of_incoming_request(const MessageView& request) {
  const std::string_view cid = sip::call_id(request);
  const std::string_view local = to_tag(request);
  const std::string_view remote = from_tag(request);
  if (cid.empty() || local.empty() || remote.empty()) return std::nullopt;
  return DialogId{std::string(cid), std::string(local), std::string(remote)};
}

std::optional<DialogId> DialogId::of_incoming_response(const MessageView& response) {
  const std::string_view cid = sip::call_id(response);
  const std::string_view local = from_tag(response);
  const std::string_view remote = to_tag(response);
  if (cid.empty() || local.empty() || remote.empty()) return std::nullopt;
  return DialogId{std::string(cid), std::string(local), std::string(remote)};
}

std::size_t DialogIdHash::operator()(const DialogId& id) const noexcept {
  const std::hash<std::string_view> h;
  std::size_t x = h(id.call_id);
  x ^= h(id.local_tag) + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
  x ^= h(id.remote_tag) + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
  return x;
}

std::optional<Dialog> Dialog::from_uac(const MessageView& request_sent, const MessageView& response) {
  const int status = response.status_code();
  if (!request_sent.is_request() || !response.is_response() || status < 101 || status > 299) return std::nullopt;
  const std::optional<CSeq> cs = cseq(request_sent);
  const std::string_view cid = sip::call_id(request_sent);
  const std::string_view ltag = from_tag(request_sent);
  const std::string_view rtag = to_tag(response);
  if (!cs || cid.empty() || ltag.empty() || rtag.empty()) return std::nullopt;

  Dialog d;
  d.role_ = Role::uac;
  d.state_ = status < 200 ? State::early : State::confirmed;
  d.call_id_ = cid;
  d.local_tag_ = ltag;
  d.remote_tag_ = rtag;
  d.local_party_ = unfolded(request_sent.value(HeaderId::from));
  d.remote_party_ = unfolded(response.value(HeaderId::to));
  {
    ListCursor c(request_sent, HeaderId::contact);
    std::string_view e;
    if (c.next(e)) d.local_contact_ = unfolded(e);
  }
  d.local_cseq_ = cs->number;
  d.creating_cseq_ = cs->number;
  d.creating_method_ = request_sent.method();
  if (request_sent.method() == Method::invite) d.invite_cseq_ = cs->number;
  d.transport_ = via_transport(request_sent).value_or(Transport::udp);
  // §12.1.2: the route set is the Record-Route of the response, in reverse order.
  d.take_route_set(response, /*reverse=*/true);
  d.take_remote_target(response);
  if (d.remote_target_.empty()) d.remote_target_ = uri_of(d.remote_party_);
  return d;
}

std::optional<Dialog> Dialog::from_uas(const MessageView& request_received, std::string_view local_tag,
                                       std::string_view local_contact) {
  if (!request_received.is_request()) return std::nullopt;
  const std::optional<CSeq> cs = cseq(request_received);
  const std::string_view cid = sip::call_id(request_received);
  const std::string_view rtag = from_tag(request_received);
  if (!cs || cid.empty() || rtag.empty()) return std::nullopt;

  Dialog d;
  d.role_ = Role::uas;
  d.state_ = State::early;
  d.call_id_ = cid;
  d.remote_tag_ = rtag;
  d.remote_party_ = unfolded(request_received.value(HeaderId::from));
  d.local_party_ = unfolded(request_received.value(HeaderId::to));
  if (const std::string_view existing = to_tag(request_received); !existing.empty()) {
    d.local_tag_ = existing;
  } else {
    d.local_tag_ = local_tag;
    d.local_party_.append(";tag=");
    d.local_party_.append(local_tag);
  }
  d.set_local_contact(local_contact);
  d.remote_cseq_ = cs->number;
  d.creating_cseq_ = cs->number;
  d.creating_method_ = request_received.method();
  d.transport_ = via_transport(request_received).value_or(Transport::udp);
  // §12.1.1: the route set is the Record-Route of the request, in order.
  d.take_route_set(request_received, /*reverse=*/false);
  d.take_remote_target(request_received);
  if (d.remote_target_.empty()) d.remote_target_ = uri_of(d.remote_party_);
  return d;
}

void Dialog::set_local_contact(std::string_view contact) {
  contact = text::trim_lws(contact);
  if (contact.empty() || contact.find('<') != std::string_view::npos) {
    local_contact_ = contact;
    return;
  }
  local_contact_.clear();
  local_contact_.reserve(contact.size() + 2);
  local_contact_.push_back('<');
  local_contact_.append(contact);
  local_contact_.push_back('>');
}

void Dialog::take_route_set(const MessageView& msg, bool reverse) {
  route_set_.clear();
  ListCursor c(msg, HeaderId::record_route);
  std::string_view e;
  while (c.next(e))
    if (!e.empty()) route_set_.push_back(unfolded(e));
  if (reverse) std::reverse(route_set_.begin(), route_set_.end());
}

void Dialog::take_remote_target(const MessageView& msg) {
  ListCursor c(msg, HeaderId::contact);
  std::string_view e;
  if (!c.next(e)) return;
  const std::string_view uri = uri_of(e);
  if (!uri.empty()) remote_target_ = uri;
}

std::string Dialog::make_request(Method m, std::string_view via_sent_by, std::string_view branch,
                                 std::span<const HeaderPair> extra_headers, std::string_view content_type,
                                 std::string_view body) {
  std::uint32_t number = 0;
  if (m == Method::ack || m == Method::cancel) {
    number = invite_cseq_;  // §13.2.2.4 (ACK), §9.1 (CANCEL): the INVITE's number
  } else {
    number = ++local_cseq_;
    if (m == Method::invite) invite_cseq_ = number;
  }

  // §12.2.1.1: loose routing when the first route has ";lr"; else the first route becomes the
  // Request-URI and the remote target goes last in the Route set.
  std::string_view request_uri = remote_target_;
  bool strict = false;
  if (!route_set_.empty()) {
    Uri first;
    const std::string_view first_uri = uri_of(route_set_.front());
    if (parse_uri(first_uri, first) && !has_param(first.params, "lr")) {
      strict = true;
      request_uri = first_uri;
    }
  }

  std::string out;
  out.reserve(512 + body.size());
  MessageWriter w(out);
  w.request_line(method_text(m), request_uri);
  w.header_begin(header_canonical_name(HeaderId::via));
  w.header_append("SIP/2.0/");
  w.header_append(via_transport_name(transport_));
  w.header_append(" ");
  w.header_append(via_sent_by);
  w.header_append(";branch=");
  w.header_append(branch);
  w.header_end();
  for (std::size_t i = strict ? 1 : 0; i < route_set_.size(); ++i) w.header(HeaderId::route, route_set_[i]);
  if (strict) {
    w.header_begin(header_canonical_name(HeaderId::route));
    w.header_append("<");
    w.header_append(remote_target_);
    w.header_append(">");
    w.header_end();
  }
  w.header(HeaderId::max_forwards, "70");
  write_value(w, HeaderId::from, local_party_);
  write_value(w, HeaderId::to, remote_party_);
  w.header(HeaderId::call_id, call_id_);
  w.header_begin(header_canonical_name(HeaderId::cseq));
  w.header_append(std::to_string(number));
  w.header_append(" ");
  w.header_append(method_text(m));
  w.header_end();
  if (is_target_refresh(m) && !local_contact_.empty()) w.header(HeaderId::contact, local_contact_);
  for (const HeaderPair& h : extra_headers) w.header(h.first, h.second);
  if (!content_type.empty()) w.header(HeaderId::content_type, content_type);
  w.finish(body);
  return out;
}

Verdict Dialog::check_request(const MessageView& request) {
  const std::optional<CSeq> cs = cseq(request);
  if (!cs) return Verdict{400, "Bad CSeq"};
  const Method m = request.method();
  if (m == Method::ack || m == Method::cancel) return {};
  // §12.2.2: lower than the remote sequence number: out of order, 500.
  if (remote_cseq_ && cs->number < *remote_cseq_) {
    kDialogCSeqOutOfOrder.inc();
    return Verdict{500, "CSeq out of order"};
  }
  remote_cseq_ = cs->number;
  if (m == Method::invite || m == Method::update) take_remote_target(request);
  return {};
}

void Dialog::handle_response(const MessageView& response) {
  const std::optional<CSeq> cs = cseq(response);
  const int status = response.status_code();
  if (!cs || status < 101 || status > 299 || to_tag(response) != remote_tag_) return;
  if (state_ == State::early && status >= 200 && cs->number == creating_cseq_ && cs->method == creating_method_) {
    // §13.2.2.4: confirmed, route set recomputed from the 2xx.
    state_ = State::confirmed;
    if (role_ == Role::uac) take_route_set(response, /*reverse=*/true);
    take_remote_target(response);
    return;
  }
  // §12.2.1.2: a target refresh's 2xx (or reliable 1xx) replaces the remote target.
  if (cs->method == Method::invite || cs->method == Method::update) take_remote_target(response);
}

}  // namespace webtrunk::sip

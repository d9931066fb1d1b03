#include "sip/message_view.hpp"

#include <cstring>

#include "sip/text.hpp"

namespace webtrunk::sip {

namespace {

struct MethodName {
  std::string_view text;
  Method method;
};

constexpr MethodName kMethods[] = {
    {"INVITE", Method::invite},   {"ACK", Method::ack},         {"BYE", Method::bye},
    {"CANCEL", Method::cancel},   {"REGISTER", Method::register_}, {"OPTIONS", Method::options},
    {"INFO", Method::info},       {"UPDATE", Method::update},   {"PRACK", Method::prack},
    {"SUBSCRIBE", Method::subscribe}, {"NOTIFY", Method::notify}, {"REFER", Method::refer},
    {"MESSAGE", Method::message}, {"PUBLISH", Method::publish},
};

struct HeaderName {
  std::string_view name;
  HeaderId id;
};

// Long names, then compact forms (RFC 3261 §7.3.3 and the RFCs that added letters).
constexpr HeaderName kHeaderNames[] = {
    {"Via", HeaderId::via},
    {"From", HeaderId::from},
    {"To", HeaderId::to},
    {"Call-ID", HeaderId::call_id},
    {"CSeq", HeaderId::cseq},
    {"Max-Forwards", HeaderId::max_forwards},
    {"Contact", HeaderId::contact},
    {"Route", HeaderId::route},
    {"Record-Route", HeaderId::record_route},
    {"Content-Length", HeaderId::content_length},
    {"Content-Type", HeaderId::content_type},
    {"Content-Encoding", HeaderId::content_encoding},
    {"Content-Disposition", HeaderId::content_disposition},
    {"Expires", HeaderId::expires},
    {"Min-Expires", HeaderId::min_expires},
    {"Session-Expires", HeaderId::session_expires},
    {"Min-SE", HeaderId::min_se},
    {"Supported", HeaderId::supported},
    {"Require", HeaderId::require},
    {"Proxy-Require", HeaderId::proxy_require},
    {"Unsupported", HeaderId::unsupported},
    {"Authorization", HeaderId::authorization},
    {"Proxy-Authorization", HeaderId::proxy_authorization},
    {"WWW-Authenticate", HeaderId::www_authenticate},
    {"Proxy-Authenticate", HeaderId::proxy_authenticate},
    {"Authentication-Info", HeaderId::authentication_info},
    {"Allow", HeaderId::allow},
    {"Allow-Events", HeaderId::allow_events},
    {"Event", HeaderId::event},
    {"Subscription-State", HeaderId::subscription_state},
    {"Reason", HeaderId::reason},
    {"Subject", HeaderId::subject},
    {"Refer-To", HeaderId::refer_to},
    {"Referred-By", HeaderId::referred_by},
    {"Replaces", HeaderId::replaces},
    {"Accept", HeaderId::accept},
    {"Accept-Encoding", HeaderId::accept_encoding},
    {"Accept-Language", HeaderId::accept_language},
    {"Accept-Contact", HeaderId::accept_contact},
    {"Reject-Contact", HeaderId::reject_contact},
    {"Request-Disposition", HeaderId::request_disposition},
    {"User-Agent", HeaderId::user_agent},
    {"Server", HeaderId::server},
    {"Date", HeaderId::date},
    {"Timestamp", HeaderId::timestamp},
    {"Retry-After", HeaderId::retry_after},
    {"Warning", HeaderId::warning},
    {"Identity", HeaderId::identity},
    {"Path", HeaderId::path},
    {"Service-Route", HeaderId::service_route},
    {"RSeq", HeaderId::rseq},
    {"RAck", HeaderId::rack},
    {"P-Asserted-Identity", HeaderId::p_asserted_identity},
    {"P-Preferred-Identity", HeaderId::p_preferred_identity},
    {"Privacy", HeaderId::privacy},
    {"Organization", HeaderId::organization},
    {"Priority", HeaderId::priority},
    {"In-Reply-To", HeaderId::in_reply_to},
    {"Call-Info", HeaderId::call_info},
    {"Alert-Info", HeaderId::alert_info},
    {"Error-Info", HeaderId::error_info},
    {"Reply-To", HeaderId::reply_to},
    {"MIME-Version", HeaderId::mime_version},
    {"Content-Language", HeaderId::content_language},
};

// Compact forms by letter: RFC 3261 §7.3.3 (i m e l c f s k t v), RFC 6665 (o u), RFC 3515 (r),
// RFC 3892 (b), RFC 4028 (x), RFC 3841 (a j d), RFC 8224 (y).
constexpr HeaderId compact_id(char c) noexcept {
  switch (text::lower(c)) {
    case 'i': return HeaderId::call_id;
    case 'm': return HeaderId::contact;
    case 'e': return HeaderId::content_encoding;
    case 'l': return HeaderId::content_length;
    case 'c': return HeaderId::content_type;
    case 'f': return HeaderId::from;
    case 's': return HeaderId::subject;
    case 'k': return HeaderId::supported;
    case 't': return HeaderId::to;
    case 'v': return HeaderId::via;
    case 'o': return HeaderId::event;
    case 'u': return HeaderId::allow_events;
    case 'r': return HeaderId::refer_to;
    case 'b': return HeaderId::referred_by;
    case 'x': return HeaderId::session_expires;
    case 'a': return HeaderId::accept_contact;
    case 'j': return HeaderId::reject_contact;
    case 'd': return HeaderId::request_disposition;
    case 'y': return HeaderId::identity;
    default: return HeaderId::unknown;
  }
}

// Names bucketed by length so a lookup compares against two or three candidates at most.
constexpr std::size_t kMaxNameLen = 24;
constexpr std::size_t kBucketSlots = 8;
struct Buckets {
  std::array<std::array<std::uint8_t, kBucketSlots>, kMaxNameLen + 1> slot{};
  std::array<std::uint8_t, kMaxNameLen + 1> size{};
};

constexpr Buckets make_buckets() {
  Buckets b{};
  for (std::size_t i = 0; i < std::size(kHeaderNames); ++i) {
    std::size_t n = kHeaderNames[i].name.size();
    b.slot[n][b.size[n]++] = static_cast<std::uint8_t>(i);
  }
  return b;
}

constexpr Buckets kBuckets = make_buckets();

static_assert([] {
  for (const auto& h : kHeaderNames)
    if (h.name.size() > kMaxNameLen) return false;
  for (std::size_t n = 0; n <= kMaxNameLen; ++n)
    if (kBuckets.size[n] > kBucketSlots) return false;
  return true;
}());

constexpr std::array<std::string_view, kHeaderIdCount> make_canonical() {
  std::array<std::string_view, kHeaderIdCount> a{};
  for (const auto& h : kHeaderNames) a[static_cast<std::size_t>(h.id)] = h.name;
  return a;
}

constexpr std::array<std::string_view, kHeaderIdCount> kCanonical = make_canonical();

}  // namespace

Method method_from_text(std::string_view text) noexcept {
  // Case-sensitive on purpose (RFC 3261 §7.1).
  for (const auto& m : kMethods)
    if (m.text == text) return m.method;
  return Method::unknown;
}

std::string_view method_text(Method m) noexcept {
  for (const auto& e : kMethods)
    if (e.method == m) return e.text;
  return {};
}

HeaderId header_id_from_name(std::string_view name) noexcept {
  const std::size_t n = name.size();
  if (n == 1) return compact_id(name[0]);
  if (n == 0 || n > kMaxNameLen) return HeaderId::unknown;
  const char first = text::lower(name[0]);
  for (std::uint8_t k = 0; k < kBuckets.size[n]; ++k) {
    const HeaderName& cand = kHeaderNames[kBuckets.slot[n][k]];
    if (text::lower(cand.name[0]) == first && text::iequals(cand.name, name)) return cand.id;
  }
  return HeaderId::unknown;
}

std::string_view header_canonical_name(HeaderId id) noexcept {
  const auto i = static_cast<std::size_t>(id);
  return i < kCanonical.size() ? kCanonical[i] : std::string_view{};
}

void MessageView::clear() noexcept {
  raw_ = head_ = start_line_ = method_text_ = request_uri_ = version_ = reason_ = body_ = {};
  status_code_ = 0;
  method_ = Method::unknown;
  is_request_ = false;
  has_content_length_ = false;
  content_length_ = 0;
  header_count_ = 0;
  first_.fill(0);
}

const HeaderField* MessageView::find(HeaderId id) const noexcept {
  const auto i = static_cast<std::size_t>(id);
  if (i == 0 || i >= kHeaderIdCount || first_[i] == 0) return nullptr;
  return &headers_[first_[i] - 1u];
}

const HeaderField* MessageView::find_next(const HeaderField* after) const noexcept {
  if (after == nullptr) return nullptr;
  const HeaderField* end = headers_.data() + header_count_;
  for (const HeaderField* h = after + 1; h < end; ++h)
    if (h->id == after->id && (h->id != HeaderId::unknown || text::iequals(h->name, after->name))) return h;
  return nullptr;
}

const HeaderField* MessageView::find(std::string_view name) const noexcept {
  const HeaderId id = header_id_from_name(name);
  if (id != HeaderId::unknown) return find(id);
  for (std::size_t i = 0; i < header_count_; ++i)
    if (headers_[i].id == HeaderId::unknown && text::iequals(headers_[i].name, name)) return &headers_[i];
  return nullptr;
}

std::size_t MessageView::count(HeaderId id) const noexcept {
  std::size_t n = 0;
  for (const HeaderField* h = find(id); h != nullptr; h = find_next(h)) ++n;
  return n;
}

std::string_view MessageView::value(HeaderId id) const noexcept {
  const HeaderField* h = find(id);
  return h != nullptr ? h->value : std::string_view{};
}

std::optional<std::uint32_t> MessageView::content_length() const noexcept {
  if (!has_content_length_) return std::nullopt;
  return content_length_;
}

}  // namespace webtrunk::sip

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

// Long names in an open-addressing table keyed by (length, first and last letter), built at
// compile time: a lookup is one or two probes and one compare. Names are stored lower-case.
constexpr std::size_t kMaxNameLen = 24;
constexpr std::size_t kSlots = 256;

constexpr std::size_t name_hash(std::size_t n, char first, char last) noexcept {
  return (n * 31u + static_cast<unsigned char>(first) * 7u + static_cast<unsigned char>(last) * 3u) & (kSlots - 1);
}

struct NameTable {
  std::array<std::uint8_t, kSlots> slot{};  // index+1 into kHeaderNames, 0 = empty
  std::array<std::array<char, kMaxNameLen>, std::size(kHeaderNames)> lower{};
};

constexpr NameTable make_name_table() {
  NameTable t{};
  for (std::size_t i = 0; i < std::size(kHeaderNames); ++i) {
    const std::string_view name = kHeaderNames[i].name;
    for (std::size_t k = 0; k < name.size(); ++k) t.lower[i][k] = text::lower(name[k]);
    std::size_t h = name_hash(name.size(), t.lower[i][0], t.lower[i][name.size() - 1]);
    while (t.slot[h] != 0) h = (h + 1) & (kSlots - 1);
    t.slot[h] = static_cast<std::uint8_t>(i + 1);
  }
  return t;
}

constexpr NameTable kNameTable = make_name_table();

static_assert([] {
  for (const auto& h : kHeaderNames)
    if (h.name.size() > kMaxNameLen || h.name.size() < 2) return false;
  return true;
}());

constexpr std::array<std::string_view, kHeaderIdCount> make_canonical() {
  std::array<std::string_view, kHeaderIdCount> a{};
  for (const auto& h : kHeaderNames) a[static_cast<std::size_t>(h.id)] = h.name;
  return a;
}

constexpr std::array<std::string_view, kHeaderIdCount> kCanonical = make_canonical();

template <class Word>
bool chunk_equal(const char* a, const char* b) noexcept {
  Word x;
  Word y;
  std::memcpy(&x, a, sizeof x);
  std::memcpy(&y, b, sizeof y);
  return static_cast<Word>(x | static_cast<Word>(0x2020202020202020ULL)) == y;
}

// Case-insensitive compare of an input name against a lower-case table name of the same length
// n >= 2, in whole words (overlapping at the end) rather than octet by octet; reads only [0, n).
bool names_equal(const char* in, const char* lower, std::size_t n) noexcept {
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 <= n; i += 8)
      if (!chunk_equal<std::uint64_t>(in + i, lower + i)) return false;
    return chunk_equal<std::uint64_t>(in + n - 8, lower + n - 8);
  }
  if (n >= 4) return chunk_equal<std::uint32_t>(in, lower) && chunk_equal<std::uint32_t>(in + n - 4, lower + n - 4);
  return chunk_equal<std::uint16_t>(in, lower) && chunk_equal<std::uint16_t>(in + n - 2, lower + n - 2);
}

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
  // Known names hold only letters and '-', and a header name only token characters: for those,
  // (c | 0x20) folds case exactly (the only other octet mapping onto '-' is CR, not a token char).
  const char first = static_cast<char>(name[0] | 0x20);
  const char last = static_cast<char>(name[n - 1] | 0x20);
  for (std::size_t h = name_hash(n, first, last);; h = (h + 1) & (kSlots - 1)) {
    const std::uint8_t s = kNameTable.slot[h];
    if (s == 0) return HeaderId::unknown;
    const HeaderName& cand = kHeaderNames[s - 1u];
    if (cand.name.size() != n) continue;
    if (names_equal(name.data(), kNameTable.lower[s - 1u].data(), n)) return cand.id;
  }
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

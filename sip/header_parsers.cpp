#include "sip/header_parsers.hpp"

#include <array>

#include "sip/text.hpp"

namespace webtrunk::sip {

using text::Scanner;

// ---------------------------------------------------------------------------------------------
// ListCursor

namespace {
constexpr std::array<bool, 256> make_list_special() {
  std::array<bool, 256> t{};
  for (char c : std::string_view{",\"<>\\"}) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kListSpecial = make_list_special();
}  // namespace

ListCursor::ListCursor(const MessageView& msg, HeaderId id) noexcept : msg_(&msg), header_(msg.find(id)) {
  if (header_ != nullptr) {
    rest_ = header_->value;
    have_rest_ = !rest_.empty();
  }
}

ListCursor::ListCursor(std::string_view one_value) noexcept : rest_(one_value), have_rest_(!one_value.empty()) {}

bool ListCursor::next(std::string_view& element) noexcept {
  if (!ok_) return false;
  while (!have_rest_) {  // an empty header line ("Supported:") holds no element
    if (msg_ == nullptr || header_ == nullptr) return false;
    header_ = msg_->find_next(header_);
    if (header_ == nullptr) return false;
    rest_ = header_->value;
    have_rest_ = !rest_.empty();
  }
  bool quoted = false;
  int angle = 0;
  std::size_t i = 0;
  for (; i < rest_.size(); ++i) {
    // Skip the plain octets fast; only these five change the state.
    while (i < rest_.size() && !kListSpecial[static_cast<unsigned char>(rest_[i])]) ++i;
    if (i >= rest_.size()) break;
    const char c = rest_[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
      continue;
    }
    if (c == '"') quoted = true;
    else if (c == '<') ++angle;
    else if (c == '>' && angle > 0) --angle;
    else if (c == ',' && angle == 0) break;
  }
  if (quoted || angle != 0) {
    ok_ = false;
    return false;
  }
  element = text::trim_lws(rest_.substr(0, i < rest_.size() ? i : rest_.size()));
  if (i < rest_.size()) {
    rest_ = rest_.substr(i + 1);  // after a trailing comma the next element is "" (strict callers reject it)
  } else {
    rest_ = {};
    have_rest_ = false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Via

namespace {
constexpr std::array<bool, 256> make_host_chars() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] = text::is_alnum(static_cast<char>(c));
  t['-'] = t['.'] = t['_'] = true;
  return t;
}
constexpr std::array<bool, 256> kHostChar = make_host_chars();

// scheme characters: ALPHA / DIGIT / "+" / "-" / "."
constexpr std::array<bool, 256> make_scheme_chars() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] = text::is_alnum(static_cast<char>(c));
  t['+'] = t['-'] = t['.'] = true;
  return t;
}
constexpr std::array<bool, 256> kSchemeChar = make_scheme_chars();
}  // namespace

bool has_magic_cookie(std::string_view branch) noexcept {
  return branch.size() >= 7 && branch.substr(0, 7) == "z9hG4bK";
}

bool parse_via(std::string_view element, Via& out) noexcept {
  out = Via{};
  Scanner sc(element);
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS
  out.protocol_name = sc.token();
  if (out.protocol_name.empty() || !sc.eat_sep('/')) return false;
  out.protocol_version = sc.token();
  if (out.protocol_version.empty() || !sc.eat_sep('/')) return false;
  out.transport = sc.token();
  if (out.transport.empty() || !sc.skip_lws()) return false;
  // sent-by = host [ COLON port ]
  const std::size_t host_start = sc.pos();
  if (sc.peek() == '[') {
    const std::size_t close = element.find(']', host_start);
    if (close == std::string_view::npos) return false;
    out.host = element.substr(host_start + 1, close - host_start - 1);
    out.ipv6 = true;
    sc.set_pos(close + 1);
    if (!is_valid_host(out.host, true)) return false;
  } else {
    // hostname / IPv4address characters only, so no second validation pass is needed.
    std::size_t i = host_start;
    while (i < element.size() && kHostChar[static_cast<unsigned char>(element[i])]) ++i;
    sc.set_pos(i);
    out.host = sc.slice(host_start, i);
    if (out.host.empty()) return false;
  }
  std::size_t sent_by_end = sc.pos();
  if (sc.eat_sep(':')) {
    std::uint64_t port = 0;
    const std::string_view digits = sc.digits();
    if (digits.size() > 5 || !text::parse_uint(digits, 65535, port)) return false;
    out.port = static_cast<std::uint16_t>(port);
    out.has_port = true;
    sent_by_end = sc.pos();
  }
  out.sent_by = sc.slice(host_start, sent_by_end);
  out.params = text::trim_lws(sc.rest());
  ParamCursor pc(out.params);
  Param p;
  while (pc.next(p)) {
    if (text::iequals(p.name, "branch")) out.branch = p.value;
    else if (text::iequals(p.name, "received")) out.received = p.value;
    else if (text::iequals(p.name, "maddr")) out.maddr = p.value;
    else if (text::iequals(p.name, "rport")) {
      out.has_rport = true;
      out.rport = p.value;
    }
  }
  if (!pc.ok()) return false;
  if (out.has_rport && !out.rport.empty()) {
    std::uint64_t port = 0;
    if (!text::parse_uint(out.rport, 65535, port)) return false;
  }
  return true;
}

std::optional<Via> top_via(const MessageView& msg) noexcept {
  const HeaderField* h = msg.find(HeaderId::via);
  if (h == nullptr) return std::nullopt;
  Via v;
  // Most Via lines hold one value: a vectorised search for ',' saves splitting the list.
  if (h->value.find(',') == std::string_view::npos) {
    if (!parse_via(h->value, v)) return std::nullopt;
    return v;
  }
  ListCursor c(msg, HeaderId::via);
  std::string_view element;
  if (!c.next(element) || !parse_via(element, v)) return std::nullopt;
  return v;
}

// ---------------------------------------------------------------------------------------------
// name-addr / addr-spec

namespace {

// scheme ":" with at least one more character: enough to tell an addr-spec from display tokens.
bool looks_like_uri(std::string_view s) noexcept {
  if (s.empty() || !text::is_alpha(s[0])) return false;
  std::size_t i = 1;
  while (i < s.size() && kSchemeChar[static_cast<unsigned char>(s[i])]) ++i;
  return i + 1 < s.size() && s[i] == ':';
}

}  // namespace

bool parse_name_addr(std::string_view element, NameAddr& out) noexcept {
  out = NameAddr{};
  Scanner sc(text::trim_lws(element));
  if (sc.at_end()) return false;
  const std::size_t start = sc.pos();
  bool name_addr = false;
  if (sc.peek() == '"') {
    if (!sc.quoted_string(out.display_name)) return false;  // unterminated (RFC 4475 §3.1.2.6)
    sc.skip_lws();
    if (sc.peek() != '<') return false;
    name_addr = true;
  } else if (sc.peek() == '<') {
    name_addr = true;
  } else {
    // display-name = *(token LWS): read tokens; a '<' after them makes it a name-addr. UTF-8
    // octets are taken as token characters here: PBXs send unquoted "Jörg <sip:...>", and
    // refusing a call over it helps nobody. Separators (',' of RFC 4475 §3.1.2.15) still fail.
    std::size_t last_token_end = start;
    const std::string_view all = sc.text();
    while (!sc.at_end()) {
      std::size_t i = sc.pos();
      while (i < all.size() && (text::is_token_char(all[i]) || static_cast<unsigned char>(all[i]) >= 0x80)) ++i;
      if (i == sc.pos()) break;
      sc.set_pos(i);
      last_token_end = i;
      sc.skip_lws();
    }
    if (sc.peek() == '<') {
      name_addr = true;
      out.display_name = sc.slice(start, last_token_end);
    } else {
      sc.set_pos(start);
    }
  }
  if (name_addr) {
    sc.eat('<');
    const std::size_t uri_start = sc.pos();
    const std::string_view rest = sc.rest();
    const std::size_t close = rest.find('>');
    if (close == std::string_view::npos) return false;
    out.uri = rest.substr(0, close);
    // LAQUOT = SWS "<", RAQUOT = ">" SWS: no white space inside the brackets (RFC 4475 §3.1.2.14).
    if (out.uri.empty() || text::is_lws(out.uri.front()) || text::is_lws(out.uri.back())) return false;
    if (!looks_like_uri(out.uri)) return false;
    out.angle_brackets = true;
    sc.set_pos(uri_start + close + 1);
  } else {
    // addr-spec: the URI ends at ';' (those params belong to the header) or LWS. RFC 3261 §20:
    // a URI with ',', '?' or ';' must be bracketed, so '?' or ',' here is an error (RFC 4475 §3.1.2.13).
    const std::size_t uri_start = sc.pos();
    while (!sc.at_end() && sc.peek() != ';' && !text::is_lws(sc.peek())) {
      const char c = sc.peek();
      if (c == '?' || c == ',' || c == '<' || c == '>' || c == '"') return false;
      sc.set_pos(sc.pos() + 1);
    }
    out.uri = sc.slice(uri_start, sc.pos());
    if (!looks_like_uri(out.uri)) return false;
  }
  out.params = text::trim_lws(sc.rest());
  // One pass checks the parameters and picks up the tag (the dialog id needs it, RFC 3261 §12).
  ParamCursor pc(out.params);
  Param p;
  while (pc.next(p))
    if (out.tag_param.empty() && p.name.size() == 3 && text::iequals(p.name, "tag")) out.tag_param = p.value;
  return pc.ok();
}

std::optional<std::uint32_t> contact_expires(const NameAddr& contact) noexcept {
  const auto v = find_param(contact.params, "expires");
  if (!v) return std::nullopt;
  return parse_delta_seconds(*v);
}

std::string_view contact_instance(const NameAddr& contact) noexcept {
  std::string_view v = find_param(contact.params, "+sip.instance").value_or(std::string_view{});
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.size() >= 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
  return v;
}

std::optional<std::uint32_t> contact_reg_id(const NameAddr& contact) noexcept {
  const auto v = find_param(contact.params, "reg-id");
  std::uint64_t n = 0;
  if (!v || !text::parse_uint(*v, 0xFFFFFFFFu, n)) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

// ---------------------------------------------------------------------------------------------
// Scalars

bool parse_cseq(std::string_view value, CSeq& out) noexcept {
  Scanner sc(value);
  std::uint64_t n = 0;
  if (!text::parse_uint(sc.digits(), 0x7FFFFFFFu, n) || !sc.skip_lws()) return false;
  const std::string_view m = sc.token();
  sc.skip_lws();
  if (m.empty() || !sc.at_end()) return false;
  out.number = static_cast<std::uint32_t>(n);
  out.method_text = m;
  out.method = method_from_text(m);
  return true;
}

std::optional<std::uint32_t> parse_max_forwards(std::string_view value) noexcept {
  std::uint64_t n = 0;
  if (!text::parse_uint(text::trim_lws(value), 255, n)) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

std::optional<std::uint32_t> parse_delta_seconds(std::string_view value) noexcept {
  value = text::trim_lws(value);
  if (value.empty()) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : value) {
    if (!text::is_digit(c)) return std::nullopt;
    if (n <= 0xFFFFFFFFu) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return static_cast<std::uint32_t>(n > 0xFFFFFFFFu ? 0xFFFFFFFFu : n);
}

bool is_valid_call_id(std::string_view value) noexcept {
  if (value.empty()) return false;
  const std::size_t at = value.find('@');
  const std::string_view a = value.substr(0, at);
  if (a.empty()) return false;
  for (char c : a)
    if (!text::is_word_char(c)) return false;
  if (at == std::string_view::npos) return true;
  const std::string_view b = value.substr(at + 1);
  if (b.empty()) return false;
  for (char c : b)
    if (!text::is_word_char(c)) return false;
  return true;
}

bool parse_value_with_params(std::string_view text, ValueWithParams& out) noexcept {
  Scanner sc(text::trim_lws(text));
  out.value = sc.token();
  if (out.value.empty()) return false;
  out.params = text::trim_lws(sc.rest());
  return out.params.empty() || params_valid(out.params);
}

bool MediaType::is(std::string_view t, std::string_view s) const noexcept {
  return text::iequals(type, t) && text::iequals(subtype, s);
}

bool parse_media_type(std::string_view value, MediaType& out) noexcept {
  Scanner sc(text::trim_lws(value));
  out.type = sc.token();
  if (out.type.empty() || !sc.eat_sep('/')) return false;
  out.subtype = sc.token();
  if (out.subtype.empty()) return false;
  out.params = text::trim_lws(sc.rest());
  return out.params.empty() || params_valid(out.params);
}

bool parse_session_expires(std::string_view value, SessionExpires& out) noexcept {
  ValueWithParams vp;
  if (!parse_value_with_params(value, vp)) return false;
  const auto delta = parse_delta_seconds(vp.value);
  if (!delta) return false;
  out.delta = *delta;
  out.params = vp.params;
  out.refresher = Refresher::none;
  if (const auto r = find_param(vp.params, "refresher")) {
    if (text::iequals(*r, "uac")) out.refresher = Refresher::uac;
    else if (text::iequals(*r, "uas")) out.refresher = Refresher::uas;
    else return false;
  }
  return true;
}

std::optional<std::uint32_t> parse_min_se(std::string_view value) noexcept {
  ValueWithParams vp;
  if (!parse_value_with_params(value, vp)) return std::nullopt;
  return parse_delta_seconds(vp.value);
}

bool parse_event(std::string_view value, Event& out) noexcept {
  ValueWithParams vp;
  if (!parse_value_with_params(value, vp)) return false;
  out.package = vp.value;
  out.params = vp.params;
  out.id = find_param(vp.params, "id").value_or(std::string_view{});
  return true;
}

bool parse_reason(std::string_view element, Reason& out) noexcept {
  ValueWithParams vp;
  if (!parse_value_with_params(element, vp)) return false;
  out.protocol = vp.value;
  out.params = vp.params;
  out.cause = 0;
  if (const auto c = find_param(vp.params, "cause")) {
    std::uint64_t n = 0;
    if (!text::parse_uint(*c, 0xFFFF, n)) return false;
    out.cause = static_cast<int>(n);
  }
  out.text = find_param(vp.params, "text").value_or(std::string_view{});
  return true;
}

bool has_token(const MessageView& msg, HeaderId id, std::string_view token) noexcept {
  ListCursor c(msg, id);
  std::string_view e;
  while (c.next(e))
    if (text::iequals(e, token)) return true;
  return false;
}

bool is_token_list(const MessageView& msg, HeaderId id) noexcept {
  ListCursor c(msg, id);
  std::string_view e;
  while (c.next(e))
    if (!text::is_token(e)) return false;
  return c.ok();
}

// ---------------------------------------------------------------------------------------------
// Routing shortcuts

std::string_view call_id(const MessageView& msg) noexcept { return msg.value(HeaderId::call_id); }

std::optional<CSeq> cseq(const MessageView& msg) noexcept {
  const HeaderField* h = msg.find(HeaderId::cseq);
  CSeq c;
  if (h == nullptr || !parse_cseq(h->value, c)) return std::nullopt;
  return c;
}

namespace {
std::string_view tag_of(const MessageView& msg, HeaderId id) noexcept {
  const HeaderField* h = msg.find(id);
  NameAddr na;
  if (h == nullptr || !parse_name_addr(h->value, na)) return {};
  return na.tag();
}
}  // namespace

std::string_view from_tag(const MessageView& msg) noexcept { return tag_of(msg, HeaderId::from); }
std::string_view to_tag(const MessageView& msg) noexcept { return tag_of(msg, HeaderId::to); }

}  // namespace webtrunk::sip

#include "sip/sdp.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <array>
#include <initializer_list>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "sip/text.hpp"

namespace webtrunk::sip::sdp {

namespace {

core::Error malformed(std::size_t line, std::string_view what) {
  return core::Error{-EINVAL, fmt::format("line {}: {}", line, what)};
}

// Fields of an o=, c= or m= value: separated by one or more SP (RFC 8866 says exactly one; stacks
// that write two are common enough not to refuse). Returns how many were found; stops at `max`
// and leaves the rest of the value in the last field.
std::size_t split_fields(std::string_view value, std::string_view* out, std::size_t max) noexcept {
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < value.size() && n < max) {
    while (i < value.size() && value[i] == ' ') ++i;
    if (i == value.size()) break;
    if (n + 1 == max) {
      std::string_view rest = value.substr(i);
      while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
      out[n++] = rest;
      break;
    }
    const std::size_t start = i;
    while (i < value.size() && value[i] != ' ') ++i;
    out[n++] = value.substr(start, i - start);
  }
  return n;
}

bool parse_origin(std::string_view value, Origin& o) noexcept {
  std::array<std::string_view, 7> f{};
  if (split_fields(value, f.data(), f.size()) != 6) return false;
  o = Origin{f[0], f[1], f[2], f[3], f[4], f[5]};
  return true;
}

bool parse_connection(std::string_view value, Connection& c) noexcept {
  std::array<std::string_view, 4> f{};
  if (split_fields(value, f.data(), f.size()) != 3) return false;
  if (!text::is_token(f[0]) || !text::is_token(f[1])) return false;
  c = Connection{f[0], f[1], f[2]};
  return true;
}

// m=<media> <port>[/<number of ports>] <proto> <fmt> ...
const char* parse_media_line(std::string_view value, Media& m, std::size_t max_formats) {
  std::array<std::string_view, 3> head{};
  std::size_t i = 0;
  for (std::size_t k = 0; k < head.size(); ++k) {
    while (i < value.size() && value[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < value.size() && value[i] != ' ') ++i;
    head[k] = value.substr(start, i - start);
    if (head[k].empty()) return "m= line needs <media> <port> <proto> <formats>";
  }
  if (!text::is_token(head[0])) return "bad media type in m= line";
  // proto = token *("/" token), fmt = token (RFC 8866 §9). Checked, not only split: error messages
  // and our own answers repeat them, so they must hold nothing a SIP reason phrase cannot.
  for (char c : head[2])
    if (!text::is_token_char(c) && c != '/') return "bad proto in m= line";
  std::string_view port = head[1];
  std::string_view count;
  if (const std::size_t slash = port.find('/'); slash != std::string_view::npos) {
    count = port.substr(slash + 1);
    port = port.substr(0, slash);
  }
  std::uint64_t v = 0;
  if (!text::parse_uint(port, 65535, v)) return "bad port in m= line";
  m.port = static_cast<std::uint16_t>(v);
  if (!count.empty() || port.size() != head[1].size()) {
    if (!text::parse_uint(count, 65535, v) || v == 0) return "bad number of ports in m= line";
    m.port_count = static_cast<std::uint16_t>(v);
  }
  m.media = head[0];
  m.proto = head[2];
  while (i < value.size()) {
    while (i < value.size() && value[i] == ' ') ++i;
    if (i == value.size()) break;
    const std::size_t start = i;
    while (i < value.size() && value[i] != ' ') ++i;
    if (m.formats.size() == max_formats) return "too many formats in m= line";
    m.formats.push_back(value.substr(start, i - start));
    if (!text::is_token(m.formats.back())) return "bad format in m= line";
  }
  if (m.formats.empty()) return "m= line without formats";
  return nullptr;
}

bool parse_attribute(std::string_view value, Attribute& a) noexcept {
  const std::size_t colon = value.find(':');
  a.name = value.substr(0, colon);
  if (!text::is_token(a.name)) return false;
  a.has_value = colon != std::string_view::npos;
  a.value = a.has_value ? value.substr(colon + 1) : std::string_view{};
  return true;
}

std::optional<std::string_view> find_attribute(const std::vector<Attribute>& attrs,
                                               std::string_view name) noexcept {
  for (const Attribute& a : attrs)
    if (a.name == name) return a.value;
  return std::nullopt;
}

// RFC 8866 §5: i u e p c b t r z k a (session), i c b k a (media). r= belongs to the t= before it,
// so both share a rank and keep their order.
int rank(char type) noexcept {
  switch (type) {
    case 'i': return 0;
    case 'u': return 1;
    case 'e': return 2;
    case 'p': return 3;
    case 'b': return 5;
    case 't':
    case 'r': return 6;
    case 'z': return 7;
    case 'k': return 8;
    default: return 9;
  }
}
constexpr int kConnectionRank = 4;
constexpr int kAttributeRank = 9;

void write_section(Writer& w, const std::optional<Connection>& c, const std::vector<Line>& other,
                   const std::vector<Attribute>& attributes) {
  // A stable sort by rank: one pass per rank (sections hold a handful of such lines).
  for (int r = 0; r < kAttributeRank; ++r) {
    if (r == kConnectionRank && c) w.connection(*c);
    for (const Line& l : other)
      if (rank(l.type) == r) w.line(l.type, l.value);
  }
  for (const Attribute& a : attributes) w.attribute(a);
}

constexpr std::string_view kDirections[] = {"sendrecv", "sendonly", "recvonly", "inactive"};

std::optional<std::string_view> find_direction(const std::vector<Attribute>& attrs) noexcept {
  for (const Attribute& a : attrs)
    for (std::string_view d : kDirections)
      if (a.name == d) return d;
  return std::nullopt;
}

}  // namespace

// ---- lookups ----

std::optional<std::string_view> Media::attribute(std::string_view name) const noexcept {
  return find_attribute(attributes, name);
}

std::optional<Rtpmap> Media::rtpmap(std::uint8_t pt) const noexcept {
  for (const Attribute& a : attributes) {
    if (a.name != "rtpmap") continue;
    std::optional<Rtpmap> r = parse_rtpmap(a.value);
    if (r && r->pt == pt) return r;
  }
  return static_rtpmap(pt);
}

std::string_view Media::fmtp(std::uint8_t pt) const noexcept {
  for (const Attribute& a : attributes) {
    if (a.name != "fmtp") continue;
    const std::size_t sp = a.value.find(' ');
    const std::optional<std::uint8_t> p = payload_type(a.value.substr(0, sp));
    if (!p || *p != pt || sp == std::string_view::npos) continue;
    std::string_view params = a.value.substr(sp);
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    return params;
  }
  return {};
}

std::optional<std::string_view> Session::attribute(std::string_view name) const noexcept {
  return find_attribute(attributes, name);
}

std::optional<std::string_view> Session::attribute(const Media& m, std::string_view name) const noexcept {
  if (auto v = m.attribute(name)) return v;
  return attribute(name);
}

const Connection* Session::connection_for(const Media& m) const noexcept {
  if (m.connection) return &*m.connection;
  return connection ? &*connection : nullptr;
}

std::string_view Session::direction(const Media& m) const noexcept {
  if (auto d = find_direction(m.attributes)) return *d;
  if (auto d = find_direction(attributes)) return *d;
  return "sendrecv";
}

std::optional<Rtpmap> static_rtpmap(std::uint8_t pt) noexcept {
  // RFC 3551 §6, table 4 (audio): the types a trunk may list without an a=rtpmap line.
  switch (pt) {
    case 0: return Rtpmap{0, "PCMU", 8000, 1};
    case 3: return Rtpmap{3, "GSM", 8000, 1};
    case 4: return Rtpmap{4, "G723", 8000, 1};
    case 5: return Rtpmap{5, "DVI4", 8000, 1};
    case 6: return Rtpmap{6, "DVI4", 16000, 1};
    case 7: return Rtpmap{7, "LPC", 8000, 1};
    case 8: return Rtpmap{8, "PCMA", 8000, 1};
    // G.722 samples at 16 kHz but its RTP clock is 8000 (RFC 3551 §4.5.2).
    case 9: return Rtpmap{9, "G722", 8000, 1};
    case 10: return Rtpmap{10, "L16", 44100, 2};
    case 11: return Rtpmap{11, "L16", 44100, 1};
    case 12: return Rtpmap{12, "QCELP", 8000, 1};
    case 13: return Rtpmap{13, "CN", 8000, 1};
    case 14: return Rtpmap{14, "MPA", 90000, 1};
    case 15: return Rtpmap{15, "G728", 8000, 1};
    case 16: return Rtpmap{16, "DVI4", 11025, 1};
    case 17: return Rtpmap{17, "DVI4", 22050, 1};
    case 18: return Rtpmap{18, "G729", 8000, 1};
    default: return std::nullopt;
  }
}

std::optional<std::uint8_t> payload_type(std::string_view fmt) noexcept {
  std::uint64_t v = 0;
  if (fmt.size() > 3 || !text::parse_uint(fmt, 127, v)) return std::nullopt;
  return static_cast<std::uint8_t>(v);
}

std::optional<Rtpmap> parse_rtpmap(std::string_view value) noexcept {
  const std::size_t sp = value.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  const std::optional<std::uint8_t> pt = payload_type(value.substr(0, sp));
  if (!pt) return std::nullopt;
  std::string_view rest = text::trim_lws(value.substr(sp + 1));
  const std::size_t s1 = rest.find('/');
  if (s1 == std::string_view::npos || s1 == 0) return std::nullopt;
  Rtpmap r;
  r.pt = *pt;
  r.encoding = rest.substr(0, s1);
  if (!text::is_token(r.encoding)) return std::nullopt;
  rest.remove_prefix(s1 + 1);
  const std::size_t s2 = rest.find('/');
  std::uint64_t v = 0;
  if (!text::parse_uint(rest.substr(0, s2), 0xFFFFFFFFu, v) || v == 0) return std::nullopt;
  r.clock_rate = static_cast<std::uint32_t>(v);
  if (s2 != std::string_view::npos) {
    if (!text::parse_uint(rest.substr(s2 + 1), 255, v) || v == 0) return std::nullopt;
    r.channels = static_cast<std::uint8_t>(v);
  }
  return r;
}

core::Result<core::SockAddr> to_sockaddr(const Connection& c, std::uint16_t port) {
  if (!text::iequals(c.net_type, "IN")) return core::Error{-EINVAL, "c= network type is not IN"};
  // inet_pton needs a NUL-terminated string; an address longer than any literal is not one.
  if (c.address.size() >= INET6_ADDRSTRLEN) return core::Error{-EINVAL, "c= address is not an IP address"};
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, c.address.data(), c.address.size());
  if (text::iequals(c.addr_type, "IP4")) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    if (inet_pton(AF_INET, buf, &sin.sin_addr) != 1)
      return core::Error{-EINVAL, "c= address is not an IPv4 address"};
    return core::SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
  }
  if (text::iequals(c.addr_type, "IP6")) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    if (inet_pton(AF_INET6, buf, &sin6.sin6_addr) != 1)
      return core::Error{-EINVAL, "c= address is not an IPv6 address"};
    return core::SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
  }
  return core::Error{-EINVAL, "c= address type is neither IP4 nor IP6"};
}

std::string_view addr_type(const core::SockAddr& addr) noexcept {
  return addr.family() == AF_INET6 ? "IP6" : "IP4";
}

std::string address_text(const core::SockAddr& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr.data())->sin_addr, buf, sizeof buf);
  } else if (addr.family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr.data())->sin6_addr, buf, sizeof buf);
  } else {
    return "0.0.0.0";
  }
  return buf;
}

// ---- parse ----

core::Result<Session> parse(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_size)
    return core::Error{-EMSGSIZE, fmt::format("larger than {} bytes", limits.max_size)};
  Session s;
  bool seen_v = false, seen_o = false, seen_s = false;
  std::size_t lines = 0;
  std::size_t lineno = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (++lines > limits.max_lines) return malformed(lineno, fmt::format("more than {} lines", limits.max_lines));
    if (line.size() > limits.max_line_length)
      return malformed(lineno, fmt::format("line longer than {} bytes", limits.max_line_length));
    // RFC 8866 §9: text is any octet but NUL, CR and LF.
    if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos)
      return malformed(lineno, "NUL or CR inside a line");
    if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z')
      return malformed(lineno, "not a <type>=<value> line");
    const char type = line[0];
    const std::string_view value = line.substr(2);
    if (!seen_v) {
      if (type != 'v') return malformed(lineno, "the first line is not v=");
      if (value != "0") return malformed(lineno, "SDP version is not 0");
      seen_v = true;
      continue;
    }
    Media* cur = s.media.empty() ? nullptr : &s.media.back();
    switch (type) {
      case 'v': return malformed(lineno, "second v= line");
      case 'o':
        if (seen_o || cur) return malformed(lineno, "o= line out of place");
        if (!parse_origin(value, s.origin)) return malformed(lineno, "o= line needs six fields");
        seen_o = true;
        break;
      case 's':
        if (seen_s || cur) return malformed(lineno, "s= line out of place");
        s.session_name = value;
        seen_s = true;
        break;
      case 'u':
      case 'e':
      case 'p':
      case 't':
      case 'r':
      case 'z':
        if (cur) return malformed(lineno, fmt::format("{}= line inside a media section", type));
        s.other.push_back(Line{type, value});
        break;
      case 'i':
      case 'b':
      case 'k':
        (cur ? cur->other : s.other).push_back(Line{type, value});
        break;
      case 'c': {
        std::optional<Connection>& target = cur ? cur->connection : s.connection;
        // RFC 8866 allows several c= in a media section for layered multicast only; unicast
        // offer/answer has one, and which of several we should send to would be a guess.
        if (target) return malformed(lineno, "more than one c= line in a section");
        Connection c;
        if (!parse_connection(value, c)) return malformed(lineno, "c= line needs <nettype> <addrtype> <address>");
        target = c;
        break;
      }
      case 'a': {
        Attribute a;
        if (!parse_attribute(value, a)) return malformed(lineno, "a= line without a valid attribute name");
        (cur ? cur->attributes : s.attributes).push_back(a);
        break;
      }
      case 'm': {
        if (!seen_o || !seen_s) return malformed(lineno, "m= line before o= and s=");
        if (s.media.size() == limits.max_media)
          return malformed(lineno, fmt::format("more than {} media sections", limits.max_media));
        Media m;
        if (const char* why = parse_media_line(value, m, limits.max_formats)) return malformed(lineno, why);
        s.media.push_back(std::move(m));
        break;
      }
      default: return malformed(lineno, fmt::format("unknown line type '{}='", type));
    }
  }
  if (!seen_v) return core::Error{-EINVAL, "empty (no v= line)"};
  if (!seen_o) return core::Error{-EINVAL, "no o= line"};
  if (!seen_s) return core::Error{-EINVAL, "no s= line"};
  return s;
}

// ---- write ----

namespace {

void append(std::string& out, std::initializer_list<std::string_view> pieces) {
  for (std::string_view p : pieces) out += p;
}

// "m=<media> <port>[/<count>] <proto>", the formats still to come.
void media_head(std::string& out, std::string_view media, std::uint16_t port, std::uint16_t count,
                std::string_view proto) {
  if (count != 0)
    fmt::format_to(std::back_inserter(out), "m={} {}/{} {}", media, port, count, proto);
  else
    fmt::format_to(std::back_inserter(out), "m={} {} {}", media, port, proto);
}

}  // namespace

Writer& Writer::line(char type, std::string_view value) {
  append(*out_, {std::string_view(&type, 1), "=", value, "\r\n"});
  return *this;
}

Writer& Writer::origin(const Origin& o) {
  fmt::format_to(std::back_inserter(*out_), "o={} {} {} {} {} {}\r\n", o.username, o.session_id,
                 o.session_version, o.net_type, o.addr_type, o.address);
  return *this;
}

Writer& Writer::origin(std::string_view username, std::uint64_t session_id, std::uint64_t version,
                       const core::SockAddr& addr) {
  fmt::format_to(std::back_inserter(*out_), "o={} {} {} IN {} {}\r\n", username, session_id, version,
                 addr_type(addr), address_text(addr));
  return *this;
}

Writer& Writer::connection(const Connection& c) {
  fmt::format_to(std::back_inserter(*out_), "c={} {} {}\r\n", c.net_type, c.addr_type, c.address);
  return *this;
}

Writer& Writer::connection(const core::SockAddr& addr) {
  fmt::format_to(std::back_inserter(*out_), "c=IN {} {}\r\n", addr_type(addr), address_text(addr));
  return *this;
}

Writer& Writer::media(std::string_view media, std::uint16_t port, std::string_view proto,
                      std::span<const std::string_view> formats) {
  media_head(*out_, media, port, 0, proto);
  for (std::string_view f : formats) append(*out_, {" ", f});
  *out_ += "\r\n";
  return *this;
}

Writer& Writer::media(std::string_view media, std::uint16_t port, std::string_view proto,
                      std::span<const std::uint8_t> payload_types) {
  media_head(*out_, media, port, 0, proto);
  for (std::uint8_t pt : payload_types) fmt::format_to(std::back_inserter(*out_), " {}", pt);
  *out_ += "\r\n";
  return *this;
}

Writer& Writer::attribute(std::string_view name) { return line('a', name); }

Writer& Writer::attribute(std::string_view name, std::string_view value) {
  append(*out_, {"a=", name, ":", value, "\r\n"});
  return *this;
}

Writer& Writer::attribute(const Attribute& a) {
  return a.has_value ? attribute(a.name, a.value) : attribute(a.name);
}

Writer& Writer::rtpmap(const Rtpmap& r) {
  if (r.channels == 1)
    fmt::format_to(std::back_inserter(*out_), "a=rtpmap:{} {}/{}\r\n", r.pt, r.encoding, r.clock_rate);
  else
    fmt::format_to(std::back_inserter(*out_), "a=rtpmap:{} {}/{}/{}\r\n", r.pt, r.encoding, r.clock_rate,
                   r.channels);
  return *this;
}

Writer& Writer::fmtp(std::uint8_t pt, std::string_view params) {
  fmt::format_to(std::back_inserter(*out_), "a=fmtp:{} {}\r\n", pt, params);
  return *this;
}

Writer& Writer::host_candidate(std::string_view foundation, unsigned component, std::uint32_t priority,
                               const core::SockAddr& addr) {
  fmt::format_to(std::back_inserter(*out_), "a=candidate:{} {} udp {} {} {} typ host\r\n", foundation,
                 component, priority, address_text(addr), addr.port());
  return *this;
}

void write(const Session& s, std::string& out) {
  Writer w(out);
  w.version();
  w.origin(s.origin);
  w.session_name(s.session_name);
  write_section(w, s.connection, s.other, s.attributes);
  for (const Media& m : s.media) {
    media_head(out, m.media, m.port, m.port_count, m.proto);
    for (std::string_view f : m.formats) append(out, {" ", f});
    out += "\r\n";
    write_section(w, m.connection, m.other, m.attributes);
  }
}

std::string write(const Session& s) {
  std::string out;
  out.reserve(1024);
  write(s, out);
  return out;
}

}  // namespace webtrunk::sip::sdp

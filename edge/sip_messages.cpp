#include "edge/sip_messages.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "sip/header_parsers.hpp"
#include "sip/uri.hpp"
#include "sip/writer.hpp"

namespace webtrunk::edge {

std::string build_response(const sip::MessageView& req, int code, std::string_view reason, std::string_view to_tag,
                           HeaderList extra, std::string_view content_type, std::string_view body) {
  std::string out;
  out.reserve(req.head().size() / 2 + 128 + body.size());
  sip::MessageWriter w(out);
  sip::write_response_head(req, code, reason, to_tag, w);
  for (const auto& [name, value] : extra) w.header(name, value);
  if (!body.empty()) w.header(sip::HeaderId::content_type, content_type.empty() ? "application/sdp" : content_type);
  w.finish(body);
  return out;
}

std::optional<std::string> salvage_bad_request(std::string_view bytes, std::string_view reason) {
  if (bytes.empty() || bytes.starts_with("SIP/") || bytes.size() > 65536) return std::nullopt;
  const std::size_t head_end = bytes.find("\r\n\r\n");
  std::string_view head = bytes.substr(0, head_end);
  const std::size_t first = head.find("\r\n");
  if (first == std::string_view::npos) return std::nullopt;
  head.remove_prefix(first + 2);
  std::string vias, from, to, call_id, cseq;
  int lines = 0;
  while (!head.empty() && ++lines < 128) {
    const std::size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || line.size() > 1024) continue;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    const sip::HeaderId id = sip::header_id_from_name(name);
    const bool copied = id == sip::HeaderId::via || id == sip::HeaderId::from || id == sip::HeaderId::to ||
                        id == sip::HeaderId::call_id || id == sip::HeaderId::cseq;
    if (!copied) continue;
    // A control byte (NUL included) in a line the 400 copies would make the answer as broken as
    // the request: no answer then. Elsewhere it is only the reason for the 400.
    for (char c : line) {
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return std::nullopt;
    }
    const std::string l(line);
    switch (id) {
      case sip::HeaderId::via: vias += l + "\r\n"; break;
      case sip::HeaderId::from: from = l + "\r\n"; break;
      case sip::HeaderId::to: to = l + "\r\n"; break;
      case sip::HeaderId::call_id: call_id = l + "\r\n"; break;
      case sip::HeaderId::cseq: cseq = l + "\r\n"; break;
      default: break;
    }
  }
  if (vias.empty() || from.empty() || to.empty() || call_id.empty() || cseq.empty()) return std::nullopt;
  if (cseq.find("ACK") != std::string::npos) return std::nullopt;  // never answered (RFC 3261 §17)
  std::string why = safe_reason(reason);
  if (why.empty()) why = "Bad Request";
  return "SIP/2.0 400 " + why + "\r\n" + vias + from + to + call_id + cseq + "Content-Length: 0\r\n\r\n";
}

std::string_view sdp_origin(std::string_view body) noexcept {
  std::size_t at = body.starts_with("o=") ? 0 : body.find("\no=");
  if (at == std::string_view::npos) return {};
  if (body[at] == '\n') ++at;
  std::size_t end = body.find('\n', at);
  std::string_view line = body.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool has_sdp(const sip::MessageView& msg) noexcept {
  if (msg.body().empty()) return false;
  sip::MediaType mt;
  return sip::parse_media_type(msg.value(sip::HeaderId::content_type), mt) && mt.is("application", "sdp");
}

std::string_view uri_user(std::string_view uri_text) noexcept {
  sip::Uri uri;
  if (!sip::parse_uri(uri_text, uri)) return {};
  return uri.user;
}

std::string host_port(std::string_view host, std::uint16_t port) {
  return host.find(':') != std::string_view::npos ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

std::string bracket_host(std::string_view host) {
  return host.find(':') != std::string_view::npos ? fmt::format("[{}]", host) : std::string(host);
}

std::string_view content_type_of(const sip::MessageView& m) noexcept { return m.value(sip::HeaderId::content_type); }

std::string safe_reason(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= 80) break;
    if (c >= 0x20 && c < 0x7f) out.push_back(c);
  }
  return out;
}

std::string warning_value(int code, std::string_view agent, std::string_view text) {
  std::string t = safe_reason(text);
  std::erase_if(t, [](char c) { return c == '"' || c == '\\'; });
  return fmt::format("{} {} \"{}\"", code, agent, t);
}

namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]);
    const auto y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

// '0'-'9', '*', '#', 'A'-'D' (lower case accepted); 0 for anything else.
char dtmf_digit(std::string_view s) noexcept {
  if (s.size() != 1) return 0;
  const char c = s[0];
  if ((c >= '0' && c <= '9') || c == '*' || c == '#') return c;
  if (c >= 'A' && c <= 'D') return c;
  if (c >= 'a' && c <= 'd') return static_cast<char>(c - 'a' + 'A');
  return 0;
}

}  // namespace

DtmfInfo read_dtmf_info(std::string_view content_type, std::string_view body) noexcept {
  DtmfInfo d;
  sip::MediaType mt;
  if (!sip::parse_media_type(content_type, mt)) return d;
  const bool relay = mt.is("application", "dtmf-relay");
  if (!relay && !mt.is("application", "dtmf")) return d;
  d.is_dtmf = true;
  if (body.size() > 256) {
    d.why = "body too long";
    return d;
  }
  std::string_view signal;
  std::string_view duration;
  if (relay || body.find('=') != std::string_view::npos) {
    // "Signal=5\r\nDuration=100", keys case-insensitive, any line end.
    int lines = 0;
    while (!body.empty() && ++lines <= 16) {
      const std::size_t eol = body.find('\n');
      const std::string_view line = body.substr(0, eol);
      body = eol == std::string_view::npos ? std::string_view{} : body.substr(eol + 1);
      const std::size_t eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view key = trim(line.substr(0, eq));
      if (iequal(key, "signal")) signal = trim(line.substr(eq + 1));
      if (iequal(key, "duration")) duration = trim(line.substr(eq + 1));
    }
  } else {
    signal = trim(body);
  }
  d.digit = dtmf_digit(signal);
  if (d.digit == 0) {
    d.why = signal.empty() ? "no Signal" : "Signal is not a DTMF digit";
    return d;
  }
  if (!duration.empty()) {
    std::uint32_t ms = 0;
    for (char c : duration) {
      if (c < '0' || c > '9' || ms > 100000) {
        d.why = "Duration is not a number";
        return d;
      }
      ms = ms * 10 + static_cast<std::uint32_t>(c - '0');
    }
    d.duration_ms = std::clamp<std::uint32_t>(ms, 40, 5000);
  }
  d.valid = true;
  return d;
}

std::string uri_safe_user(std::string_view s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-_.!~*'()&=+$,;?/%").find(c) != std::string_view::npos;
    if (ok && out.size() < 64) out.push_back(c);
  }
  return out.empty() ? "anonymous" : out;
}


}  // namespace webtrunk::edge

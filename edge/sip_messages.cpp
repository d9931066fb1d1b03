#include "edge/sip_messages.hpp"

#include <fmt/format.h>

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
    for (char c : line) {
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return std::nullopt;
    }
    const std::string l(line);
    const sip::HeaderId id = sip::header_id_from_name(name);
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

bool looks_like_sdp(std::string_view body) noexcept {
  // RFC 4566 §5: "v=0" is the first line; a session a trunk can use has media.
  if (!body.starts_with("v=0\r\n") && !body.starts_with("v=0\n")) return false;
  return body.find("\nm=") != std::string_view::npos;
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

}  // namespace webtrunk::edge

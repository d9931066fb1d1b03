// SDP as data (RFC 8866, which obsoletes RFC 4566): a parser into views, lookups the offer/answer
// code needs (attributes at media or session level, rtpmap/fmtp by payload type, the RFC 3551
// static payload types, c= as a socket address), and a writer that emits canonical SDP (CRLF, the
// line order of RFC 8866 §5).
//
// This layer knows nothing of browsers or trunks: edge/media_sdp.* reads and writes each side's
// dialect on top of it. sip/ does not include media/ (DESIGN.md).
//
// Lifetime: every std::string_view in a Session (and its Media, Attribute, Line, Connection, Origin)
// points into the text given to parse() and lives as long as that text does. A Writer holds a
// reference to its std::string and must not outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/socket.hpp"

namespace webtrunk::sip::sdp {

// A line kept as it came, for the types nobody here interprets (i= u= e= p= b= t= r= z= k=).
struct Line {
  char type = 0;
  std::string_view value;
  friend bool operator==(const Line&, const Line&) = default;
};

// "a=name" (a property attribute: has_value false) or "a=name:value" (value may be empty).
struct Attribute {
  std::string_view name;
  std::string_view value;
  bool has_value = false;
  friend bool operator==(const Attribute&, const Attribute&) = default;
};

// c=<nettype> <addrtype> <address>. The address is as written (it may carry a multicast /ttl or
// be a name); to_sockaddr() says whether it is a unicast IP literal we can send to.
struct Connection {
  std::string_view net_type;   // "IN"
  std::string_view addr_type;  // "IP4" or "IP6"
  std::string_view address;
  friend bool operator==(const Connection&, const Connection&) = default;
};

// o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
struct Origin {
  std::string_view username;
  std::string_view session_id;
  std::string_view session_version;
  std::string_view net_type;
  std::string_view addr_type;
  std::string_view address;
  friend bool operator==(const Origin&, const Origin&) = default;
};

// a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>] (RFC 8866 §6.6), or an RFC 3551 static type.
struct Rtpmap {
  std::uint8_t pt = 0;
  std::string_view encoding;  // as written: "opus", "PCMU", "telephone-event"
  std::uint32_t clock_rate = 0;
  std::uint8_t channels = 1;
  friend bool operator==(const Rtpmap&, const Rtpmap&) = default;
};

// One m= section.
struct Media {
  std::string_view media;  // "audio", "video", "application", ...
  std::uint16_t port = 0;
  std::uint16_t port_count = 0;  // the "/<number of ports>" suffix; 0 when absent
  std::string_view proto;        // "UDP/TLS/RTP/SAVPF", "RTP/AVP", ...
  std::vector<std::string_view> formats;
  std::optional<Connection> connection;
  std::vector<Line> other;  // i= b= k= in order
  std::vector<Attribute> attributes;

  // The value of the first a=<name>[:value] (case-sensitive name, as RFC 8866 §5.13 says); nullopt
  // when absent. A property attribute yields an empty view.
  std::optional<std::string_view> attribute(std::string_view name) const noexcept;
  bool has_attribute(std::string_view name) const noexcept { return attribute(name).has_value(); }
  // The a=rtpmap for payload type `pt`, or its RFC 3551 static mapping when there is no a=rtpmap
  // line (trunks often omit it for 0, 8, 9, 18). nullopt for an unnamed dynamic type.
  std::optional<Rtpmap> rtpmap(std::uint8_t pt) const noexcept;
  // The parameters of "a=fmtp:<pt> <params>"; empty when there is none.
  std::string_view fmtp(std::uint8_t pt) const noexcept;

  friend bool operator==(const Media&, const Media&) = default;
};

struct Session {
  Origin origin;
  std::string_view session_name;  // s=
  std::optional<Connection> connection;
  std::vector<Line> other;  // i= u= e= p= b= t= r= z= k= in order
  std::vector<Attribute> attributes;
  std::vector<Media> media;

  std::optional<std::string_view> attribute(std::string_view name) const noexcept;
  // The media section's attribute if it has one, else the session's (RFC 8866 §5.13: a media-level
  // value overrides a session-level one for ice-ufrag, fingerprint, setup, directions, ...).
  std::optional<std::string_view> attribute(const Media& m, std::string_view name) const noexcept;
  // The media section's c= if it has one, else the session's.
  const Connection* connection_for(const Media& m) const noexcept;
  // "sendrecv", "sendonly", "recvonly" or "inactive": the media level's, else the session level's,
  // else "sendrecv" (RFC 8866 §6.7).
  std::string_view direction(const Media& m) const noexcept;

  friend bool operator==(const Session&, const Session&) = default;
};

// Bounds on the work a peer can cause. Chrome's audio+video offers reach 8 kB and ~200 attributes
// (research/features.md §3.6); these leave room for that several times over.
struct Limits {
  std::size_t max_size = 64 * 1024;
  std::size_t max_lines = 2048;
  std::size_t max_line_length = 4096;
  std::size_t max_media = 64;
  std::size_t max_formats = 128;
};

// Parses a whole session description. CRLF or bare LF line ends; a last line without one is
// accepted; empty lines are skipped. v=0 must come first, o= and s= must be present; unknown line
// types are refused (RFC 8866 §5). The error message says what is wrong and on which line, in words
// fit for a "488 malformed SDP: <why>" reason.
[[nodiscard]] core::Result<Session> parse(std::string_view text, const Limits& limits = {});

// RFC 3551 §6 static audio payload types (0 PCMU/8000, 8 PCMA/8000, 9 G722/8000, 13 CN/8000 ...).
std::optional<Rtpmap> static_rtpmap(std::uint8_t pt) noexcept;
// Parses an a=rtpmap value "<pt> <encoding>/<rate>[/<channels>]".
std::optional<Rtpmap> parse_rtpmap(std::string_view value) noexcept;
// A format string "0".."127" as a payload type.
std::optional<std::uint8_t> payload_type(std::string_view fmt) noexcept;

// The address of a c= line with `port`, when it is an IPv4 or IPv6 literal of the stated type
// (no multicast TTL suffix, no host name).
[[nodiscard]] core::Result<core::SockAddr> to_sockaddr(const Connection& c, std::uint16_t port);

// Writes SDP lines in canonical form: "<type>=<value>\r\n", nothing checked. Append-only.
class Writer {
 public:
  explicit Writer(std::string& out) noexcept : out_(&out) {}

  Writer& line(char type, std::string_view value);
  Writer& version() { return line('v', "0"); }
  Writer& origin(const Origin& o);
  // o=<username> <id> <version> IN IP4|IP6 <address of addr>
  Writer& origin(std::string_view username, std::uint64_t session_id, std::uint64_t version,
                 const core::SockAddr& addr);
  Writer& session_name(std::string_view s) { return line('s', s); }
  Writer& connection(const Connection& c);
  Writer& connection(const core::SockAddr& addr);  // c=IN IP4|IP6 <address of addr>
  Writer& timing() { return line('t', "0 0"); }
  Writer& media(std::string_view media, std::uint16_t port, std::string_view proto,
                std::span<const std::string_view> formats);
  Writer& media(std::string_view media, std::uint16_t port, std::string_view proto,
                std::span<const std::uint8_t> payload_types);
  Writer& attribute(std::string_view name);                          // a=name
  Writer& attribute(std::string_view name, std::string_view value);  // a=name:value
  Writer& attribute(const Attribute& a);
  Writer& rtpmap(const Rtpmap& r);  // channels written only when not 1
  Writer& fmtp(std::uint8_t pt, std::string_view params);
  // a=candidate:<foundation> <component> udp <priority> <address> <port> typ host (RFC 8839 §5.1)
  Writer& host_candidate(std::string_view foundation, unsigned component, std::uint32_t priority,
                         const core::SockAddr& addr);

  std::string& out() noexcept { return *out_; }

 private:
  std::string* out_;
};

// The whole session in RFC 8866 §5 order: v o s i u e p c b t r z k a, then per media m i c b k a.
// For input that was already in that order, write(parse(x)) == x with CRLF line ends.
void write(const Session& s, std::string& out);
std::string write(const Session& s);

// "IP4" or "IP6", and the address without port ("192.0.2.1", "2001:db8::1"), of a set SockAddr.
std::string_view addr_type(const core::SockAddr& addr) noexcept;
std::string address_text(const core::SockAddr& addr);

}  // namespace webtrunk::sip::sdp

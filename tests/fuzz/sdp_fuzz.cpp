// libFuzzer target: sip::sdp::parse() on arbitrary bytes, every lookup on what parsed, and two
// properties: (1) what write() makes of a parsed session parses, and writes again to the same text; (2) when
// the input reads as a browser offer or a trunk SDP, the SDP the edge generates from it (trunk offer,
// browser answer) parses, so the edge never sends a peer SDP it could not read itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "edge/media_sdp.hpp"
#include "sip/sdp.hpp"

namespace {

using namespace webtrunk;
namespace sdp = webtrunk::sip::sdp;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void exercise(const sdp::Session& s) {
  (void)s.attribute("group");
  for (const sdp::Media& m : s.media) {
    (void)s.direction(m);
    (void)s.attribute(m, "ice-ufrag");
    for (std::string_view f : m.formats) {
      if (auto pt = sdp::payload_type(f)) {
        (void)m.rtpmap(*pt);
        (void)m.fmtp(*pt);
      }
    }
    if (const sdp::Connection* c = s.connection_for(m)) (void)sdp::to_sockaddr(*c, m.port);
  }
}

media::LocalMedia local_media() {
  media::LocalMedia l;
  l.ice = {"Qm3tZ0aa", "vRz2PpL0k1XyY7bZmNq8sW4h"};
  l.fingerprint =
      "12:B7:87:BD:2C:D9:47:5B:22:2E:20:18:E1:5D:76:75:06:DE:6A:B4:D0:4F:B0:7C:68:29:26:DA:CD:74:93:45";
  l.browser_addr = core::SockAddr::parse("[2001:db8::10]:40000").value();
  l.trunk_addr = core::SockAddr::parse("198.51.100.20:50000").value();
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = sdp::parse(text);
  if (parsed.ok()) {
    exercise(parsed.value());
    // CRLF for LF can grow the text; nothing else write() does makes a line longer or adds one.
    sdp::Limits roomy;
    roomy.max_size = 2 * roomy.max_size;
    const std::string again = sdp::write(parsed.value());
    auto reparsed = sdp::parse(again, roomy);
    check(reparsed.ok());
    // write() puts lines in RFC 8866 order, so the reparse may hold them in another order than
    // the input did (a fuzz finding: i= after t=); writing it again must change nothing.
    check(reparsed.value().media.size() == parsed.value().media.size());
    check(sdp::write(reparsed.value()) == again);
  }

  static const media::LocalMedia local = local_media();
  auto offer = edge::read_browser_offer(text);
  if (offer.ok()) {
    // read_browser_offer() accepts only offers with PCMU, PCMA or G722, so with all four there is a choice.
    static const std::vector<std::string> every{"PCMU", "PCMA", "G722", "opus"};
    const std::vector<edge::SdpCodec> candidates = edge::codec_candidates(offer.value(), every);
    check(!candidates.empty());
    for (const edge::SdpCodec& c : candidates) {
      check(sdp::parse(edge::write_trunk_offer(offer.value(), c, local, edge::SdpOrigin{1, 1})).ok());
    }
    const media::CodecMap early = edge::offered_codecs(offer.value(), candidates.front());
    check(!early.codecs.empty());
    check(sdp::parse(edge::write_browser_answer(offer.value(), early, media::Direction::sendrecv, local,
                                                edge::SdpOrigin{1, 2})).ok());
  }
  auto trunk = edge::read_trunk_sdp(text);
  if (trunk.ok() && offer.ok()) {
    const media::CodecMap map = edge::map_codecs(offer.value(), trunk.value());
    const media::Direction dir = edge::answer_direction(offer.value().direction, trunk.value().direction);
    check(sdp::parse(edge::write_browser_answer(offer.value(), map, dir, local, edge::SdpOrigin{1, 3})).ok());
  }
  return 0;
}

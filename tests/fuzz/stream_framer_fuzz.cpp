// libFuzzer target for sip::StreamFramer: the input is a TCP byte stream, fed in chunks whose sizes
// come from its first byte. Besides "no crash", it checks that every message handed out is inside
// the limit and parses on its own as a datagram, and that a failed framer stays failed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sip/parser.hpp"
#include "sip/stream_framer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 97;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  webtrunk::sip::StreamFramer f(4096);
  for (std::size_t at = 0; at < in.size(); at += chunk) {
    const std::string_view part = in.substr(at, chunk);
    f.feed(std::as_bytes(std::span<const char>(part.data(), part.size())));
    for (;;) {
      const auto n = f.next();
      if (n.kind == webtrunk::sip::StreamFramer::Kind::none) break;
      if (n.kind == webtrunk::sip::StreamFramer::Kind::invalid) {
        if (!f.failed() || f.buffered() != 0) __builtin_trap();
        return 0;
      }
      if (n.kind == webtrunk::sip::StreamFramer::Kind::message) {
        if (n.message.size() > 4096) __builtin_trap();
        webtrunk::sip::MessageView v;
        const auto r = webtrunk::sip::parse_message(std::as_bytes(std::span<const char>(n.message.data(), n.message.size())), v);
        if (r.status != webtrunk::sip::ParseStatus::ok) __builtin_trap();
      }
    }
    if (f.buffered() > 4096 + chunk) __builtin_trap();
  }
  return 0;
}

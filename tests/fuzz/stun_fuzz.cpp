// libFuzzer target for what the browser-media port hands the ICE-lite agent and the DTLS endpoint.
// Input layout: byte 0 chooses the target, the rest is the packet(s):
//   even: one STUN packet into stun_request_local_ufrag() and IceLiteAgent::handle() (an agent whose
//         credentials the seed corpus signs with, so mutations reach MESSAGE-INTEGRITY and beyond);
//   odd:  datagrams for a DtlsEndpoint, each prefixed by a 2-byte length, with a clock step after
//         each (so retransmission timers fire), then take_srtp_keys and more datagrams.
// Each packet sits in its own exact-size heap buffer, so any over-read is an ASan report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include <stun/stunmessage.h>

#include "core/bytes.hpp"
#include "media/dtls.hpp"
#include "media/ice_lite.hpp"

namespace {

using namespace webtrunk;

void check(bool ok) {
  if (!ok) std::abort();
}

// Shared with the corpus: tests/fuzz/corpus/stun/ checks are signed with these.
const media::IceCredentials kLocal{"EdgeUfrg", "EdgePasswordEdgePassword"};
const media::IceCredentials kRemote{"brws", "browserpasswordbrowserpw"};

void fuzz_stun(std::span<const std::uint8_t> data, std::uint8_t mode) {
  const std::vector<std::byte> pkt(reinterpret_cast<const std::byte*>(data.data()),
                                   reinterpret_cast<const std::byte*>(data.data() + data.size()));
  if (auto ufrag = media::stun_request_local_ufrag(pkt)) {
    const auto* begin = reinterpret_cast<const char*>(pkt.data());
    check(ufrag->data() >= begin && ufrag->data() + ufrag->size() <= begin + pkt.size());
  }
  media::IceLiteAgent agent(kLocal);
  if (mode & 2) agent.set_remote(kRemote);
  const core::SockAddr from = core::SockAddr::parse((mode & 4) ? "[2001:db8::7]:5000" : "192.0.2.7:5000").value();
  std::vector<std::byte> out(media::kIceMaxReply);
  const core::Instant now = core::Instant{} + std::chrono::seconds(100);
  const auto r = agent.handle(now, pkt, from, out);
  check(r.len <= out.size());
  check(!r.valid || r.len > 0);
  check(!r.use_candidate || r.valid);
  if (r.len > 0) {  // whatever we answer is a well-formed STUN message of exactly that length
    check(stun_message_validate_buffer_length(reinterpret_cast<const std::uint8_t*>(out.data()), r.len, true) ==
          static_cast<int>(r.len));
    check(std::memcmp(out.data() + 8, pkt.data() + 8, 12) == 0);  // the request's transaction
  }
  if (r.valid) {
    check(!agent.consent_expired(now));
    check(agent.consent_deadline() == now + std::chrono::seconds(30));
  } else {
    check(agent.consent_deadline() == core::Instant::max());
  }
  check((agent.selected() != nullptr) == r.use_candidate);
}

void fuzz_dtls(std::span<const std::uint8_t> data) {
  static const std::shared_ptr<media::DtlsIdentity> identity = media::DtlsIdentity::generate().value();
  media::DtlsEndpoint ep(identity, "AB:CD");
  core::Instant now = core::Instant{} + std::chrono::seconds(100);
  std::size_t off = 0;
  for (int round = 0; off + 2 <= data.size() && round < 64; ++round) {
    const std::size_t len = std::min<std::size_t>(core::load_be16(reinterpret_cast<const std::byte*>(&data[off])),
                                                  data.size() - off - 2);
    const std::vector<std::byte> d(reinterpret_cast<const std::byte*>(&data[off + 2]),
                                   reinterpret_cast<const std::byte*>(&data[off + 2 + len]));
    off += 2 + len;
    ep.handle_datagram(now, d);
    while (auto out = ep.poll_transmit()) check(out->size() <= media::DtlsEndpoint::kDtlsMtu);
    if (auto t = ep.poll_timeout()) {
      check(*t > now);
      if (len & 1) {
        now = *t;
        ep.handle_timeout(now);
      }
    }
    now += std::chrono::milliseconds(len);
    if (round == 8) {
      // Garbage cannot finish a handshake against a fingerprint nobody has.
      check(!ep.take_srtp_keys());
    }
  }
  check(ep.state() != media::DtlsEndpoint::State::connected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  if (mode & 1) {
    fuzz_dtls(rest);
  } else {
    fuzz_stun(rest, mode);
  }
  return 0;
}

// libFuzzer target for what the relay does with untrusted datagrams: classify (RFC 7983), the RTP
// and RTCP views, and SRTP/SRTCP unprotect with a fixed key for each profile (a peer's packets
// reach unprotect before anything authenticates them). Besides "no crash, no over-read", it checks:
// a parsed RTP header lies inside the packet, and whatever our transform protects, a fresh
// receiver unprotects back to the same bytes. The first byte picks the profile.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "media/rtp.hpp"
#include "media/srtp.hpp"

namespace {

using namespace webtrunk::media;

constexpr SrtpProfile kProfiles[] = {SrtpProfile::aes_cm_128_hmac_sha1_80, SrtpProfile::aead_aes_128_gcm,
                                     SrtpProfile::aead_aes_256_gcm};

SrtpKeys fixed_keys(SrtpProfile p) {
  SrtpKeys k;
  k.profile = p;
  for (std::size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<std::uint8_t>(0xa0 + i);
  for (std::size_t i = 0; i < k.salt.size(); ++i) k.salt[i] = static_cast<std::uint8_t>(0x30 + i);
  return k;
}

std::unique_ptr<SrtpTransform> make(SrtpProfile p) {
  auto t = make_srtp(SrtpEngine::own, fixed_keys(p));
  if (!t.ok()) __builtin_trap();
  return std::move(t).value();
}

// Receivers that live across inputs, so replay windows and per-SSRC state get exercised.
SrtpTransform& long_lived(std::size_t i) {
  static std::unique_ptr<SrtpTransform> t[3] = {make(kProfiles[0]), make(kProfiles[1]), make(kProfiles[2])};
  return *t[i];
}

// The packet in a buffer of exactly its size plus the tailroom, so ASan sees any over-read.
std::vector<std::byte> copy(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> b(size + kSrtpMaxOverhead);
  if (size > 0) std::memcpy(b.data(), data, size);
  return b;
}

void round_trip(SrtpProfile p, const std::uint8_t* data, std::size_t size, bool rtcp) {
  auto tx = make(p);
  auto rx = make(p);
  std::vector<std::byte> b = copy(data, size);
  auto n = rtcp ? tx->protect_rtcp(b, size) : tx->protect_rtp(b, size);
  if (!n.ok()) return;
  if (*n != size + (rtcp ? srtp_rtcp_overhead(p) : srtp_rtp_overhead(p))) __builtin_trap();
  b.resize(*n);  // exact size again: unprotect must not read past the protected packet
  const std::vector<std::byte> sent = b;
  auto m = rtcp ? rx->unprotect_rtcp(b, b.size()) : rx->unprotect_rtp(b, b.size());
  if (!m.ok() || *m != size || (size > 0 && std::memcmp(b.data(), data, size) != 0)) __builtin_trap();
  // A second delivery is a replay.
  std::vector<std::byte> again = sent;
  auto r = rtcp ? rx->unprotect_rtcp(again, again.size()) : rx->unprotect_rtp(again, again.size());
  if (r.ok() || r.error().code != static_cast<int>(SrtpError::replayed)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t pi = data[0] % 3;
  ++data;
  --size;
  const std::span<const std::byte> pkt(reinterpret_cast<const std::byte*>(data), size);

  (void)classify(pkt);
  if (auto h = parse_rtp(pkt)) {
    if (h->header_len + h->payload_len > size || h->header_len < 12) __builtin_trap();
  }
  (void)valid_rtcp(pkt);

  std::vector<std::byte> b = copy(data, size);
  (void)long_lived(pi).unprotect_rtp(std::span(b).first(size), size);
  b = copy(data, size);
  (void)long_lived(pi).unprotect_rtcp(std::span(b).first(size), size);

  round_trip(kProfiles[pi], data, size, false);
  round_trip(kProfiles[pi], data, size, true);
  return 0;
}

// Our SRTP transform against libsrtp2 (the reference engine), packet by packet: the same keys and
// packets give the same bytes, each side unprotects the other's output, and both accept and reject
// the same packets (ROC rollover, replays, too-old packets, forgeries). Plus the published vectors:
// RFC 3711 Appendix B.2 (AES-CM) and B.3 (key derivation), RFC 7714 §16-17 (AES-GCM).
#include "media/srtp.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "media/srtp_libsrtp.hpp"

namespace webtrunk::media {
namespace {

using Bytes = std::vector<std::byte>;

Bytes hex(std::string_view s) {
  Bytes out;
  int hi = -1;
  for (char c : s) {
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::byte>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

std::string to_hex(std::span<const std::byte> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::byte x : b) {
    s += d[std::to_integer<unsigned>(x) >> 4];
    s += d[std::to_integer<unsigned>(x) & 15];
  }
  return s;
}

// A deterministic generator, so a failure names the same packet every run.
struct Lcg {
  std::uint64_t s;
  std::uint32_t next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(s >> 33);
  }
};

SrtpKeys keys_for(SrtpProfile p, std::uint8_t seed) {
  SrtpKeys k;
  k.profile = p;
  for (std::size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<std::uint8_t>(seed * 31 + i * 7 + 1);
  for (std::size_t i = 0; i < k.salt.size(); ++i) k.salt[i] = static_cast<std::uint8_t>(seed * 17 + i * 13 + 5);
  return k;
}

struct RtpSpec {
  std::uint32_t ssrc = 0x11223344;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  std::size_t payload = 160;
  unsigned csrcs = 0;
  std::size_t ext_words = 0;  // a header extension of this many 32-bit words (RFC 8285 one-byte)
};

// An RTP packet with kSrtpMaxOverhead bytes of tailroom; returns it and its length.
std::pair<Bytes, std::size_t> rtp_packet(const RtpSpec& s) {
  Bytes b(12 + 4 * s.csrcs + (s.ext_words ? 4 + 4 * s.ext_words : 0) + s.payload + kSrtpMaxOverhead);
  b[0] = static_cast<std::byte>(0x80 | (s.ext_words ? 0x10 : 0) | s.csrcs);
  b[1] = std::byte{0};  // PCMU
  core::store_be16(&b[2], s.seq);
  core::store_be32(&b[4], s.ts);
  core::store_be32(&b[8], s.ssrc);
  std::size_t at = 12;
  for (unsigned i = 0; i < s.csrcs; ++i, at += 4) core::store_be32(&b[at], 0xc0000000u + i);
  if (s.ext_words) {
    core::store_be16(&b[at], 0xbede);
    core::store_be16(&b[at + 2], static_cast<std::uint16_t>(s.ext_words));
    at += 4;
    for (std::size_t i = 0; i < 4 * s.ext_words; ++i) b[at++] = static_cast<std::byte>(0x10 + i);
  }
  for (std::size_t i = 0; i < s.payload; ++i) b[at++] = static_cast<std::byte>((s.seq + i * 3) & 0xff);
  return {b, at};
}

// A compound RTCP packet: an SR with one report block, then an SDES with a CNAME.
std::pair<Bytes, std::size_t> rtcp_packet(std::uint32_t ssrc, std::uint32_t n) {
  Bytes b(52 + 16 + 4 + kSrtpMaxOverhead);
  b[0] = std::byte{0x81};
  b[1] = std::byte{200};
  core::store_be16(&b[2], 12);  // 13 words
  core::store_be32(&b[4], ssrc);
  for (std::size_t i = 8; i < 52; ++i) b[i] = static_cast<std::byte>(i + n);
  b[52] = std::byte{0x81};
  b[53] = std::byte{202};
  core::store_be16(&b[54], 3);  // 4 words
  core::store_be32(&b[56], ssrc);
  b[60] = std::byte{1};  // CNAME
  b[61] = std::byte{5};
  std::memcpy(&b[62], "abcde", 5);  // then a zero (end of list) and padding to the word
  return {b, 68};
}

std::unique_ptr<SrtpTransform> make(SrtpEngine e, const SrtpKeys& k) {
  auto r = make_srtp(e, k);
  EXPECT_TRUE(r.ok());
  return r.ok() ? std::move(r).value() : nullptr;
}

// What a transform did with one packet: its bytes on success, or the error code.
struct Outcome {
  int error = 0;
  Bytes bytes;
  bool operator==(const Outcome&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << (o.error ? "error " + std::to_string(o.error) : to_hex(o.bytes));
}

enum class Op { protect_rtp, unprotect_rtp, protect_rtcp, unprotect_rtcp };
Outcome run(SrtpTransform& t, Op op, Bytes buf, std::size_t len) {
  core::Result<std::size_t> r = std::size_t{0};
  switch (op) {
    case Op::protect_rtp: r = t.protect_rtp(buf, len); break;
    case Op::unprotect_rtp: r = t.unprotect_rtp(buf, len); break;
    case Op::protect_rtcp: r = t.protect_rtcp(buf, len); break;
    case Op::unprotect_rtcp: r = t.unprotect_rtcp(buf, len); break;
  }
  if (!r.ok()) return {r.error().code, {}};
  buf.resize(*r);
  return {0, std::move(buf)};
}
Bytes with_tailroom(const Bytes& b) {
  Bytes out = b;
  out.resize(b.size() + kSrtpMaxOverhead);
  return out;
}

// Our engine on the given backend (make_srtp's derivation, then the backend asked for).
std::unique_ptr<SrtpTransform> make_own(srtp_detail::OwnBackend b, const SrtpKeys& k) {
  srtp_detail::SessionKeys s;
  EXPECT_TRUE(srtp_detail::derive_session_keys(k, s));
  auto r = srtp_detail::make_own_srtp(k.profile, s, b);
  EXPECT_TRUE(r.ok());
  return r.ok() ? std::move(r).value() : nullptr;
}

// Four transforms on the same keys: each engine as sender and as receiver.
struct Quad {
  SrtpProfile profile_;
  std::unique_ptr<SrtpTransform> own_tx, lib_tx, own_rx, lib_rx;
  Quad(srtp_detail::OwnBackend b, const SrtpKeys& k)
      : profile_(k.profile),
        own_tx(make_own(b, k)),
        lib_tx(make(SrtpEngine::libsrtp, k)),
        own_rx(make_own(b, k)),
        lib_rx(make(SrtpEngine::libsrtp, k)) {}

  // Protect with both engines (same bytes), then unprotect each output with the other engine.
  void rtp_round_trip(const RtpSpec& s) {
    auto [pkt, len] = rtp_packet(s);
    const Outcome ours = run(*own_tx, Op::protect_rtp, pkt, len);
    const Outcome ref = run(*lib_tx, Op::protect_rtp, pkt, len);
    ASSERT_EQ(ours, ref) << "protect seq " << s.seq << " ssrc " << s.ssrc;
    ASSERT_EQ(ours.error, 0);
    ASSERT_EQ(ours.bytes.size(), len + srtp_rtp_overhead(profile()));
    const Bytes plain(pkt.begin(), pkt.begin() + static_cast<std::ptrdiff_t>(len));
    const Outcome a = run(*lib_rx, Op::unprotect_rtp, with_tailroom(ours.bytes), ours.bytes.size());
    const Outcome b = run(*own_rx, Op::unprotect_rtp, with_tailroom(ref.bytes), ref.bytes.size());
    ASSERT_EQ(a, (Outcome{0, plain})) << "libsrtp unprotects ours, seq " << s.seq;
    ASSERT_EQ(b, (Outcome{0, plain})) << "ours unprotects libsrtp's, seq " << s.seq;
  }
  SrtpProfile profile() const { return profile_; }
};

// Every test below runs for each profile on each of our backends: AES-NI where this CPU has it
// (what make_srtp picks), and OpenSSL EVP.
struct Variant {
  SrtpProfile profile;
  srtp_detail::OwnBackend backend;
};
class SrtpProfiles : public ::testing::TestWithParam<Variant> {
 protected:
  SrtpProfile profile() const { return GetParam().profile; }
  srtp_detail::OwnBackend backend() const { return GetParam().backend; }
  std::unique_ptr<SrtpTransform> own(const SrtpKeys& k) const { return make_own(backend(), k); }
};

TEST_P(SrtpProfiles, ProtectEqualsLibsrtpAndEachUnprotectsTheOther) {
  Quad q(backend(), keys_for(profile(), 1));
  for (std::uint16_t seq = 1000; seq < 1100; ++seq) {
    RtpSpec s;
    s.seq = seq;
    s.ts = seq * 160u;
    s.payload = (seq % 7 == 0) ? 0 : 20 + (seq % 200);  // odd sizes, and empty payloads
    s.csrcs = seq % 3;
    s.ext_words = seq % 4 == 1 ? 2 : 0;
    q.rtp_round_trip(s);
    if (HasFatalFailure()) return;
  }
}

TEST_P(SrtpProfiles, ManySsrcsInterleaved) {
  Quad q(backend(), keys_for(profile(), 2));
  for (int round = 0; round < 30; ++round) {
    for (std::uint32_t k = 0; k < 20; ++k) {
      RtpSpec s;
      s.ssrc = 0x1000 + k * 0x01010101u;
      s.seq = static_cast<std::uint16_t>(k * 3000 + round);  // each SSRC starts elsewhere
      q.rtp_round_trip(s);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_P(SrtpProfiles, RocRolloverFromNearTheWrap) {
  for (std::uint16_t start : {std::uint16_t{65500}, std::uint16_t{65535}, std::uint16_t{32000}}) {
    Quad q(backend(), keys_for(profile(), 3));
    std::uint16_t seq = start;
    for (int i = 0; i < 40000 && !HasFatalFailure(); i += (i < 200 ? 1 : 997)) {
      RtpSpec s;
      s.seq = static_cast<std::uint16_t>(seq + i);  // wraps 65535 -> 0 (ROC 0 -> 1, and again)
      q.rtp_round_trip(s);
    }
  }
}

// Deliver a sender's packets late, twice, out of order and across the wrap: both receivers must
// take the same decision on every packet (and give the same plaintext).
TEST_P(SrtpProfiles, ReplayAndReorderDecisionsMatchLibsrtp) {
  const SrtpKeys k = keys_for(profile(), 4);
  auto sender = own(k);
  std::vector<Bytes> sent;
  std::uint16_t seq = 65000;
  for (int i = 0; i < 3000; ++i) {
    RtpSpec s;
    s.seq = seq;
    s.payload = 40;
    auto [pkt, len] = rtp_packet(s);
    auto r = sender->protect_rtp(pkt, len);
    ASSERT_TRUE(r.ok());
    pkt.resize(*r);
    sent.push_back(pkt);
    seq = static_cast<std::uint16_t>(seq + (i % 500 == 499 ? 300 : 1));  // a few gaps beyond the window
  }
  auto own_rx = own(k);
  auto lib_rx = make(SrtpEngine::libsrtp, k);
  Lcg rng{42};
  int accepted = 0, replayed = 0, too_old = 0;
  std::size_t cursor = 0;
  for (int i = 0; i < 6000; ++i) {
    // Mostly the next packet, sometimes one up to 300 back (a replay or a late one), sometimes ahead.
    std::size_t pick = cursor;
    const std::uint32_t r = rng.next() % 10;
    if (r < 6) {
      pick = cursor < sent.size() - 1 ? cursor++ : cursor;
    } else if (r < 9) {
      const std::size_t back = rng.next() % 300;
      pick = cursor > back ? cursor - back : 0;
    } else {
      pick = std::min(sent.size() - 1, cursor + rng.next() % 40);
    }
    const Outcome a = run(*own_rx, Op::unprotect_rtp, with_tailroom(sent[pick]), sent[pick].size());
    const Outcome b = run(*lib_rx, Op::unprotect_rtp, with_tailroom(sent[pick]), sent[pick].size());
    ASSERT_EQ(a, b) << "delivery " << i << " of packet " << pick;
    accepted += a.error == 0;
    replayed += a.error == static_cast<int>(SrtpError::replayed);
    too_old += a.error == static_cast<int>(SrtpError::too_old);
  }
  // The walk exercised every branch.
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(replayed, 100);
  EXPECT_GT(too_old, 10);
}

TEST_P(SrtpProfiles, ProtectRefusesARepeatedIndexLikeLibsrtp) {
  Quad q(backend(), keys_for(profile(), 5));
  for (int seq_i : {100, 101, 101, 50, 300, 171, 172, 173, 173, 40000, 100}) {
    const auto seq = static_cast<std::uint16_t>(seq_i);
    RtpSpec s;
    s.seq = seq;
    auto [pkt, len] = rtp_packet(s);
    EXPECT_EQ(run(*q.own_tx, Op::protect_rtp, pkt, len), run(*q.lib_tx, Op::protect_rtp, pkt, len)) << seq;
  }
  // The last 100 came after 40000, so it was taken as the next ROC (RFC 3711 §3.3.1): now it is a repeat.
  RtpSpec s;
  s.seq = 100;
  auto [pkt, len] = rtp_packet(s);
  auto r = q.own_tx->protect_rtp(pkt, len);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, static_cast<int>(SrtpError::replayed));
}

TEST_P(SrtpProfiles, ReplayedAndTooOldAreRejected) {
  const SrtpKeys k = keys_for(profile(), 6);
  auto tx = own(k);
  auto rx = own(k);
  std::vector<Bytes> sent;
  for (std::uint16_t seq = 0; seq < 200; ++seq) {
    RtpSpec s;
    s.seq = seq;
    auto [pkt, len] = rtp_packet(s);
    pkt.resize(tx->protect_rtp(pkt, len).value());
    sent.push_back(pkt);
  }
  auto deliver = [&](std::size_t i) { return run(*rx, Op::unprotect_rtp, with_tailroom(sent[i]), sent[i].size()); };
  EXPECT_EQ(deliver(199).error, 0);
  EXPECT_EQ(deliver(199).error, static_cast<int>(SrtpError::replayed));
  EXPECT_EQ(deliver(199 - 127).error, 0);  // the oldest index still in the window
  EXPECT_EQ(deliver(199 - 127).error, static_cast<int>(SrtpError::replayed));
  EXPECT_EQ(deliver(199 - 128).error, static_cast<int>(SrtpError::too_old));
  EXPECT_EQ(deliver(0).error, static_cast<int>(SrtpError::too_old));
}

TEST_P(SrtpProfiles, AFlippedBitFailsAuthentication) {
  const SrtpKeys k = keys_for(profile(), 7);
  auto tx = own(k);
  RtpSpec s;
  s.seq = 7;
  s.csrcs = 1;
  auto [pkt, len] = rtp_packet(s);
  pkt.resize(tx->protect_rtp(pkt, len).value());
  // Every bit from the timestamp on (header fields that keep the packet well formed, the
  // ciphertext, the tag). A rejected packet leaves no state, so the receivers stay fresh.
  auto own_rx = own(k);
  auto lib_rx = make(SrtpEngine::libsrtp, k);
  for (std::size_t bit = 4 * 8; bit < pkt.size() * 8; ++bit) {
    Bytes bad = pkt;
    bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    const Outcome a = run(*own_rx, Op::unprotect_rtp, with_tailroom(bad), bad.size());
    EXPECT_EQ(a.error, static_cast<int>(SrtpError::auth_failed)) << "bit " << bit;
    EXPECT_EQ(a, run(*lib_rx, Op::unprotect_rtp, with_tailroom(bad), bad.size())) << "bit " << bit;
  }
  // And the untouched packet passes (the loop above is not failing for another reason).
  EXPECT_EQ(run(*own_rx, Op::unprotect_rtp, with_tailroom(pkt), pkt.size()).error, 0);
}

TEST_P(SrtpProfiles, SrtcpEqualsLibsrtpBothWays) {
  Quad q(backend(), keys_for(profile(), 8));
  for (std::uint32_t n = 0; n < 50; ++n) {
    const std::uint32_t ssrc = n % 3 == 0 ? 0xaabbccdd : 0x01020304;
    auto [pkt, len] = rtcp_packet(ssrc, n);
    const Outcome ours = run(*q.own_tx, Op::protect_rtcp, pkt, len);
    const Outcome ref = run(*q.lib_tx, Op::protect_rtcp, pkt, len);
    ASSERT_EQ(ours, ref) << "SRTCP protect " << n;
    ASSERT_EQ(ours.bytes.size(), len + srtp_rtcp_overhead(profile()));
    const Bytes plain(pkt.begin(), pkt.begin() + static_cast<std::ptrdiff_t>(len));
    EXPECT_EQ(run(*q.lib_rx, Op::unprotect_rtcp, with_tailroom(ours.bytes), ours.bytes.size()), (Outcome{0, plain}));
    EXPECT_EQ(run(*q.own_rx, Op::unprotect_rtcp, with_tailroom(ref.bytes), ref.bytes.size()), (Outcome{0, plain}));
    // A second delivery is a replay for both.
    const Outcome again = run(*q.own_rx, Op::unprotect_rtcp, with_tailroom(ref.bytes), ref.bytes.size());
    EXPECT_EQ(again.error, static_cast<int>(SrtpError::replayed));
    EXPECT_EQ(again, run(*q.lib_rx, Op::unprotect_rtcp, with_tailroom(ours.bytes), ours.bytes.size()));
  }
}

TEST_P(SrtpProfiles, SrtcpWindowAndForgeriesMatchLibsrtp) {
  const SrtpKeys k = keys_for(profile(), 9);
  auto tx = own(k);
  std::vector<Bytes> sent;
  for (std::uint32_t n = 0; n < 400; ++n) {
    auto [pkt, len] = rtcp_packet(0x5555, n);
    pkt.resize(tx->protect_rtcp(pkt, len).value());
    sent.push_back(pkt);
  }
  auto own_rx = own(k);
  auto lib_rx = make(SrtpEngine::libsrtp, k);
  Lcg rng{7};
  int outcomes[8] = {};
  for (int i = 0; i < 1500; ++i) {
    std::size_t pick = rng.next() % sent.size();
    Bytes b = sent[pick];
    if (rng.next() % 8 == 0) b[8 + rng.next() % (b.size() - 8)] ^= std::byte{0x40};  // a forgery
    const Outcome a = run(*own_rx, Op::unprotect_rtcp, with_tailroom(b), b.size());
    ASSERT_EQ(a, run(*lib_rx, Op::unprotect_rtcp, with_tailroom(b), b.size())) << "delivery " << i;
    ++outcomes[a.error];
  }
  EXPECT_GT(outcomes[0], 100);
  EXPECT_GT(outcomes[static_cast<int>(SrtpError::auth_failed)], 20);
  EXPECT_GT(outcomes[static_cast<int>(SrtpError::replayed)], 20);
  EXPECT_GT(outcomes[static_cast<int>(SrtpError::too_old)], 100);
}

TEST_P(SrtpProfiles, MalformedPacketsAreRejectedWithTheReason) {
  const SrtpKeys k = keys_for(profile(), 10);
  auto t = own(k);
  Bytes b(64);
  b[0] = std::byte{0x80};
  EXPECT_EQ(t->protect_rtp(b, 11).error().code, static_cast<int>(SrtpError::too_short));
  EXPECT_EQ(t->unprotect_rtp(b, 12 + srtp_rtp_overhead(profile()) - 1).error().code,
            static_cast<int>(SrtpError::too_short));
  // Not enough tailroom for the tag.
  EXPECT_EQ(t->protect_rtp(std::span(b).first(40), 40 - srtp_rtp_overhead(profile()) + 1).error().code,
            static_cast<int>(SrtpError::too_short));
  b[0] = std::byte{0x40};  // version 1
  EXPECT_EQ(t->protect_rtp(b, 40).error().code, static_cast<int>(SrtpError::bad_header));
  b[0] = std::byte{0x8f};  // 15 CSRCs do not fit in 40 bytes
  EXPECT_EQ(t->protect_rtp(b, 40).error().code, static_cast<int>(SrtpError::too_short));
  b[0] = std::byte{0x90};  // an extension whose length runs past the end
  core::store_be16(&b[14], 100);
  EXPECT_EQ(t->protect_rtp(b, 40).error().code, static_cast<int>(SrtpError::too_short));
  EXPECT_EQ(t->unprotect_rtcp(b, 8 + 4 + srtp_rtp_overhead(profile()) - 1).error().code,
            static_cast<int>(SrtpError::too_short));
  EXPECT_EQ(t->protect_rtcp(b, 7).error().code, static_cast<int>(SrtpError::too_short));
  const auto before = kSrtpRejectedMalformed.total();
  (void)t->protect_rtcp(b, 3);
  EXPECT_EQ(kSrtpRejectedMalformed.total(), before + 1);  // counted
}

std::vector<Variant> all_variants() {
  std::vector<Variant> v;
  for (auto b : {srtp_detail::OwnBackend::fastest, srtp_detail::OwnBackend::evp}) {
    for (auto p : {SrtpProfile::aes_cm_128_hmac_sha1_80, SrtpProfile::aead_aes_128_gcm, SrtpProfile::aead_aes_256_gcm}) {
      v.push_back({p, b});
    }
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllProfiles, SrtpProfiles, ::testing::ValuesIn(all_variants()),
                         [](const auto& param_info) {
                           std::string n(to_string(param_info.param.profile));
                           for (char& c : n) c = c == '_' ? 'x' : c;
                           return n + (param_info.param.backend == srtp_detail::OwnBackend::evp ? "_evp" : "_fastest");
                         });

// ---- published vectors ----

std::vector<std::uint8_t> u8(std::string_view h) {
  const Bytes b = hex(h);
  std::vector<std::uint8_t> out;
  for (std::byte x : b) out.push_back(std::to_integer<std::uint8_t>(x));
  return out;
}

std::string derive(std::string_view key, std::string_view salt, srtp_detail::KeyLabel label, std::size_t n) {
  const auto k = u8(key);
  const auto s = u8(salt);
  std::vector<std::uint8_t> out(n);
  EXPECT_TRUE(srtp_detail::derive_session_key(k, s, label, out));
  return to_hex(std::as_bytes(std::span(out)));
}

TEST(SrtpVectors, Rfc3711AppendixB3KeyDerivation) {
  using L = srtp_detail::KeyLabel;
  const std::string_view mk = "E1F97A0D3E018BE0D64FA32C06DE4139";
  const std::string_view ms = "0EC675AD498AFEEBB6960B3AABE6";
  EXPECT_EQ(derive(mk, ms, L::rtp_encryption, 16), "c61e7a93744f39ee10734afe3ff7a087");
  EXPECT_EQ(derive(mk, ms, L::rtp_salt, 14), "30cbbc08863d8c85d49db34a9ae1");
  EXPECT_EQ(derive(mk, ms, L::rtp_auth, 20), "cebe321f6ff7716b6fd4ab49af256a156d38baa4");
}

TEST(SrtpVectors, Rfc3711AppendixB2AesCmKeystream) {
  // With label 0 the derivation is the plain AES-CM keystream from counter salt || 0000.
  EXPECT_EQ(derive("2B7E151628AED2A6ABF7158809CF4F3C", "F0F1F2F3F4F5F6F7F8F9FAFBFCFD",
                   srtp_detail::KeyLabel::rtp_encryption, 48),
            "e03ead0935c95e80e166b16dd92b4eb4"
            "d23513162b02d0f72a43a2fe4a5f97ab"
            "41e95b3bb0a2e8dd477901e4fca894c0");
}

std::unique_ptr<SrtpTransform> rfc7714_transform(SrtpProfile p, srtp_detail::OwnBackend b) {
  srtp_detail::SessionKeys s;
  const auto key = u8("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const auto salt = u8("517569642070726f2071756f");
  std::memcpy(s.rtp_key.data(), key.data(), srtp_key_len(p));
  std::memcpy(s.rtcp_key.data(), key.data(), srtp_key_len(p));
  std::memcpy(s.rtp_salt.data(), salt.data(), 12);
  std::memcpy(s.rtcp_salt.data(), salt.data(), 12);
  auto r = srtp_detail::make_own_srtp(p, s, b);
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

constexpr std::string_view kRfc7714Rtp =
    "8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e697320646976"
    "69736120696e20706172746573207472"
    "6573";

constexpr std::string_view kRfc7714Rtcp =
    "81c8000d4d6172734e5450314e545032"
    "525450200000042a0000e9304c756e61"
    "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";

void check_rfc7714(SrtpProfile p, srtp_detail::OwnBackend backend, std::string_view srtp, std::string_view srtcp) {
  auto t = rfc7714_transform(p, backend);
  // §16: SSRC 0x5501a0b2, ROC 0, SEQ 0xf17b (a first packet: ROC 0).
  const Bytes rtp = hex(kRfc7714Rtp);
  EXPECT_EQ(run(*t, Op::protect_rtp, with_tailroom(rtp), rtp.size()), (Outcome{0, hex(srtp)}));
  EXPECT_EQ(run(*t, Op::unprotect_rtp, with_tailroom(hex(srtp)), hex(srtp).size()), (Outcome{0, rtp}));
  // §17: SRTCP index 0x5d4 (our sender would start at 1, so check the receiving side).
  const Bytes rtcp = hex(kRfc7714Rtcp);
  EXPECT_EQ(run(*t, Op::unprotect_rtcp, with_tailroom(hex(srtcp)), hex(srtcp).size()), (Outcome{0, rtcp}));
  Bytes forged = hex(srtcp);
  forged[30] ^= std::byte{8};
  auto t2 = rfc7714_transform(p, backend);
  EXPECT_EQ(run(*t2, Op::unprotect_rtcp, with_tailroom(forged), forged.size()).error,
            static_cast<int>(SrtpError::auth_failed));
}

void check_rfc7714(SrtpProfile p, std::string_view srtp, std::string_view srtcp) {
  for (auto b : {srtp_detail::OwnBackend::fastest, srtp_detail::OwnBackend::evp}) {
    SCOPED_TRACE(b == srtp_detail::OwnBackend::evp ? "evp" : "fastest");
    check_rfc7714(p, b, srtp, srtcp);
  }
}

TEST(SrtpVectors, Rfc7714AeadAes128Gcm) {
  check_rfc7714(SrtpProfile::aead_aes_128_gcm,
                "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd5"
                "0d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce",
                "81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32d"
                "c676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf872"
                "45d9eade800005d4");
}

TEST(SrtpVectors, Rfc7714AeadAes256Gcm) {
  check_rfc7714(SrtpProfile::aead_aes_256_gcm,
                "8040f17b8041f8d35501a0b232b1de78a822fe12ef9f78fa332e33aab1801238"
                "9a58e2f3b50b2a0276ffae0f1ba63799b87b7aa3db36dfffd6b0f9bb7878d7a76c13",
                "81c8000d4d617273d50ae4d1f5ce5d304ba297e47d470c282c3ece5dbffe0a50"
                "a2eaa5c1110555be8415f658c61de0476f1b6fad1d1eb30c4446839f57ff6f6c"
                "b26ac3be800005d4");
}

TEST(SrtpEngine, ParsesItsName) {
  EXPECT_EQ(parse_srtp_engine("own").value(), SrtpEngine::own);
  EXPECT_EQ(parse_srtp_engine("libsrtp").value(), SrtpEngine::libsrtp);
  EXPECT_FALSE(parse_srtp_engine("openssl").ok());
  EXPECT_EQ(to_string(SrtpEngine::libsrtp), "libsrtp");
}

}  // namespace
}  // namespace webtrunk::media

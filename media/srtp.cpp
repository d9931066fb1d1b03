// Our SRTP transform (see srtp.hpp). Where it matters for speed (bench/RESULTS.md, SRTP):
// - Where the CPU has AES-NI, PCLMULQDQ and the SHA extensions (OwnBackend::fastest): AES-GCM is
//   AesGcm, AES-CM is AesCtr and HMAC-SHA1 compresses with SHA-NI from saved keyed states
//   (media/aes_gcm.hpp, aes_ctr.hpp, hmac_sha1.hpp). OpenSSL 3's EVP spends more per packet on
//   parameter dispatch than on the cipher.
// - Elsewhere, on OpenSSL: AES-CM as one AES-ECB context per session key, keyed once, over the
//   counter blocks we write, then XOR (no per-packet IV re-init); HMAC-SHA1 from a copy of the
//   saved keyed SHA_CTX; AES-GCM as one EVP context per session key with only the IV set per packet.
// ROC estimation and both replay windows follow libsrtp2 2.5.0 (srtp_index_guess, srtp_rdbx_*,
// srtp_rdb_*) so that the two engines accept and reject the same packets.
#include "media/srtp.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <optional>
#include <variant>
#include <vector>

#include "core/bytes.hpp"
#include "media/aes_ctr.hpp"
#include "media/aes_gcm.hpp"
#include "media/hmac_sha1.hpp"
#include "media/srtp_libsrtp.hpp"

namespace webtrunk::media {

core::Error srtp_reject(SrtpError e) noexcept {
  // Messages stay within the small-string buffer: a flood of bad packets allocates nothing.
  switch (e) {
    case SrtpError::too_short: kSrtpRejectedMalformed.inc(); return {static_cast<int>(e), "too short"};
    case SrtpError::bad_header: kSrtpRejectedMalformed.inc(); return {static_cast<int>(e), "bad header"};
    case SrtpError::auth_failed: kSrtpRejectedAuth.inc(); return {static_cast<int>(e), "auth failed"};
    case SrtpError::replayed: kSrtpRejectedReplay.inc(); return {static_cast<int>(e), "replayed"};
    case SrtpError::too_old: kSrtpRejectedReplay.inc(); return {static_cast<int>(e), "too old"};
    case SrtpError::internal: break;
  }
  kSrtpRejectedInternal.inc();
  return {static_cast<int>(SrtpError::internal), "crypto failed"};
}

core::Result<SrtpEngine> parse_srtp_engine(std::string_view s) {
  if (s == "own") return SrtpEngine::own;
  if (s == "libsrtp") return SrtpEngine::libsrtp;
  return core::Error{-22, "SRTP engine must be 'own' or 'libsrtp'"};
}

std::string_view to_string(SrtpEngine e) noexcept { return e == SrtpEngine::own ? "own" : "libsrtp"; }

namespace {

using srtp_detail::KeyLabel;
using srtp_detail::OwnBackend;
using srtp_detail::SessionKeys;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// An AES-ECB context keyed with `key` (16 or 32 bytes): the block function AES-CM runs on.
CipherCtx make_ecb(std::span<const std::uint8_t> key) noexcept {
  CipherCtx c(EVP_CIPHER_CTX_new());
  if (!c) return c;
  const EVP_CIPHER* cipher = key.size() == 32 ? EVP_aes_256_ecb() : EVP_aes_128_ecb();
  if (EVP_EncryptInit_ex(c.get(), cipher, nullptr, key.data(), nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(c.get(), 0) != 1) {
    c.reset();
  }
  return c;
}

// RFC 3711 §4.1.1 AES counter mode: XORs the keystream that starts at counter block `iv` into
// `data`. Every SRTP and key-derivation IV ends in 16 zero bits, and the counter only ever
// increments those (libsrtp2 and RFC 3711 alike), so block b is the IV with b in its last two
// bytes; that bounds `len` to 2^16 blocks (1 MiB), far above any datagram.
bool aes_cm_xor(EVP_CIPHER_CTX* ecb, const std::uint8_t (&iv)[16], std::byte* data, std::size_t len) noexcept {
  constexpr std::size_t kChunkBlocks = 16;  // 256 bytes: a G.711 or Opus packet in one call
  if (len > (std::size_t{1} << 20) || iv[14] != 0 || iv[15] != 0) return false;
  alignas(16) std::uint8_t counters[kChunkBlocks * 16];
  alignas(16) std::uint8_t stream[kChunkBlocks * 16];
  std::uint32_t block = 0;
#if defined(__SSE2__)
  // Each counter block written by one 16-byte store: the AES code loads it straight back, and a
  // load assembled from narrower stores stalls on store forwarding (half the cost of the packet).
  const __m128i base = _mm_loadu_si128(reinterpret_cast<const __m128i*>(iv));
#endif
  while (len > 0) {
    const std::size_t n = std::min(len, sizeof counters);
    const std::size_t blocks = (n + 15) / 16;
    for (std::size_t b = 0; b < blocks; ++b, ++block) {
#if defined(__SSE2__)
      // lane 7 = bytes 14-15; short, because -O0 builds see the intrinsic's 16-bit parameter
      const auto be = static_cast<short>(((block & 0xff) << 8) | ((block >> 8) & 0xff));
      _mm_store_si128(reinterpret_cast<__m128i*>(counters + 16 * b), _mm_insert_epi16(base, be, 7));
#else
      std::memcpy(counters + 16 * b, iv, 14);
      counters[16 * b + 14] = static_cast<std::uint8_t>(block >> 8);
      counters[16 * b + 15] = static_cast<std::uint8_t>(block);
#endif
    }
    int out_len = 0;
    if (EVP_EncryptUpdate(ecb, stream, &out_len, counters, static_cast<int>(blocks * 16)) != 1) return false;
    for (std::size_t i = 0; i < n; ++i) data[i] ^= std::byte{stream[i]};
    data += n;
    len -= n;
  }
  return true;
}

// libsrtp2's srtp_rdbx_t: the highest RTP packet index seen (ROC << 16 | SEQ) and a window of the
// 128 indices at and below it. Bit i of `seen` is index - i.
struct RtpReplay {
  static constexpr int kWindow = 128;  // libsrtp2's default (srtp_policy_t.window_size = 0)
  std::uint64_t index = 0;
  unsigned __int128 seen = 0;

  // srtp_rdbx_estimate_index + srtp_index_guess (RFC 3711 Appendix A): the index of `seq` and its
  // distance from the highest index. Until the highest index passes 0x8000 the ROC is taken as 0,
  // because a guess of ROC - 1 would wrap to 0xffffffff.
  int estimate(std::uint16_t seq, std::uint64_t& est) const noexcept {
    constexpr int kMedian = 0x8000;
    constexpr int kSeqMax = 0x10000;
    if (index <= static_cast<std::uint64_t>(kMedian)) {
      est = seq;
      return int{seq} - int{static_cast<std::uint16_t>(index)};
    }
    const auto roc = static_cast<std::uint32_t>(index >> 16);
    const int local = static_cast<std::uint16_t>(index);
    const int s = seq;
    std::uint32_t guess_roc = roc;
    int diff = s - local;
    if (local < kMedian) {
      if (s - local > kMedian) {
        guess_roc = roc - 1;
        diff = s - local - kSeqMax;
      }
    } else if (local - kMedian > s) {
      guess_roc = roc + 1;
      diff = s - local + kSeqMax;
    }
    est = (std::uint64_t{guess_roc} << 16) | seq;
    return diff;
  }

  // srtp_rdbx_check.
  std::optional<SrtpError> check(int delta) const noexcept {
    if (delta > 0) return std::nullopt;
    if (-delta >= kWindow) return SrtpError::too_old;
    if ((seen >> -delta) & 1) return SrtpError::replayed;
    return std::nullopt;
  }

  // srtp_rdbx_add_index (after check passed).
  void add(int delta) noexcept {
    if (delta > 0) {
      index += static_cast<std::uint16_t>(delta);
      seen = delta >= kWindow ? 0 : seen << delta;
      seen |= 1;
    } else {
      seen |= static_cast<unsigned __int128>(1) << -delta;
    }
  }
};

// libsrtp2's srtp_rdb_t for received SRTCP: a window of 128 indices starting at `start`.
struct RtcpReplay {
  static constexpr std::uint32_t kWindow = 128;
  std::uint32_t start = 0;
  unsigned __int128 seen = 0;  // bit i: index start + i

  std::optional<SrtpError> check(std::uint32_t i) const noexcept {
    if (i >= start + kWindow) return std::nullopt;
    if (i < start) return SrtpError::too_old;
    if ((seen >> (i - start)) & 1) return SrtpError::replayed;
    return std::nullopt;
  }

  void add(std::uint32_t i) noexcept {
    std::uint32_t delta = i - start;
    if (delta < kWindow) {
      seen |= static_cast<unsigned __int128>(1) << delta;
      return;
    }
    delta -= kWindow - 1;
    seen = delta >= kWindow ? 0 : seen >> delta;
    seen |= static_cast<unsigned __int128>(1) << (kWindow - 1);
    start += delta;
  }
};

constexpr std::uint32_t kSrtcpIndexMax = 0x7fffffff;  // 31 bits (RFC 3711 §3.4)
constexpr std::uint32_t kSrtcpEFlag = 0x80000000;
constexpr std::size_t kRtpHeader = 12;
constexpr std::size_t kRtcpHeader = 8;  // up to and including the sender's SSRC
constexpr std::size_t kSrtcpTrailer = 4;  // E flag and index
constexpr std::size_t kCmTag = 10;       // HMAC-SHA1-80
constexpr std::size_t kGcmTag = 16;
// Per-direction cap on SSRCs, so a peer with the keys cannot grow our state without bound. A
// browser's audio uses one or two.
constexpr std::size_t kMaxStreams = 64;

// Where the RTP payload starts (after CSRCs and the header extension), or an error. Like
// libsrtp2's srtp_validate_rtp_header, plus the version check.
core::Result<std::size_t> rtp_header_len(const std::byte* p, std::size_t len) noexcept {
  if (len < kRtpHeader) return srtp_reject(SrtpError::too_short);
  const auto b0 = std::to_integer<unsigned>(p[0]);
  if ((b0 >> 6) != 2) return srtp_reject(SrtpError::bad_header);
  std::size_t h = kRtpHeader + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (len < h + 4) return srtp_reject(SrtpError::too_short);
    h += 4 + 4 * std::size_t{core::load_be16(p + h + 2)};
  }
  if (len < h) return srtp_reject(SrtpError::too_short);
  return h;
}

// AES-CM-HMAC-SHA1's keys.
struct CmKeys {
  AesCtr aes_ctr;  // on AES-NI (use_aes_ctr), else KeyState::cipher
  bool use_aes_ctr = false;
  HmacSha1 hmac;
};

// One session key's crypto state (RTP or RTCP). A profile uses either the GCM or the CM keys, so
// they share the room (a session has four of these: both directions, RTP and RTCP).
struct KeyState {
  CipherCtx cipher;  // AES-ECB for AES-CM, AES-GCM for the AEAD profiles, unless on AES-NI
  // monostate: GCM on `cipher`; AesGcm: the AEAD profiles on AES-NI; CmKeys: AES-CM.
  std::variant<std::monostate, AesGcm, CmKeys> keys;
  std::uint8_t salt[14] = {};

  const AesGcm* aes_gcm() const noexcept { return std::get_if<AesGcm>(&keys); }
  const CmKeys& cm() const noexcept { return *std::get_if<CmKeys>(&keys); }
  ~KeyState() { OPENSSL_cleanse(salt, sizeof salt); }
};

class OwnSrtp final : public SrtpTransform {
 public:
  OwnSrtp(SrtpProfile p, OwnBackend b)
      : gcm_(p != SrtpProfile::aes_cm_128_hmac_sha1_80),
        fast_(b == OwnBackend::fastest),
        tag_(srtp_rtp_overhead(p)) {}

  bool init(SrtpProfile p, const SessionKeys& k) noexcept {
    const std::size_t key_len = srtp_key_len(p);
    if (!init_key(p, rtp_, std::span(k.rtp_key.data(), key_len), k.rtp_salt, k.rtp_auth)) return false;
    return init_key(p, rtcp_, std::span(k.rtcp_key.data(), key_len), k.rtcp_salt, k.rtcp_auth);
  }

  core::Result<std::size_t> protect_rtp(std::span<std::byte> buf, std::size_t len) override {
    if (len > buf.size()) return srtp_reject(SrtpError::internal);
    std::byte* p = buf.data();
    auto h = rtp_header_len(p, len);
    if (!h) return h;
    if (buf.size() - len < tag_) return srtp_reject(SrtpError::too_short);  // no tailroom
    const std::uint32_t ssrc = core::load_be32(p + 8);
    const std::uint16_t seq = core::load_be16(p + 2);
    TxStream* st = find(tx_, ssrc);
    if (st == nullptr) {
      if (tx_.size() >= kMaxStreams) return srtp_reject(SrtpError::internal);
      st = &tx_.emplace_back(TxStream{ssrc, {}, 0});
    }
    // libsrtp2 refuses to protect an index twice (allow_repeat_tx = 0): a repeated or very old
    // sequence number would reuse keystream.
    std::uint64_t est = 0;
    const int delta = st->rtp.estimate(seq, est);
    if (auto e = st->rtp.check(delta)) return srtp_reject(*e);
    st->rtp.add(delta);
    if (!(gcm_ ? gcm_rtp(true, p, *h, len, ssrc, est) : cm_protect_rtp(p, *h, len, ssrc, est))) {
      return srtp_reject(SrtpError::internal);
    }
    return len + tag_;
  }

  core::Result<std::size_t> unprotect_rtp(std::span<std::byte> buf, std::size_t len) override {
    if (len > buf.size()) return srtp_reject(SrtpError::internal);
    std::byte* p = buf.data();
    auto h = rtp_header_len(p, len);
    if (!h) return h;
    if (len - *h < tag_) return srtp_reject(SrtpError::too_short);
    const std::uint32_t ssrc = core::load_be32(p + 8);
    const std::uint16_t seq = core::load_be16(p + 2);
    RxStream* st = find(rx_, ssrc);
    const RtpReplay fresh;
    const RtpReplay& replay = st ? st->rtp : fresh;
    std::uint64_t est = 0;
    const int delta = replay.estimate(seq, est);
    if (auto e = replay.check(delta)) return srtp_reject(*e);
    const std::size_t body = len - tag_;
    if (gcm_) {
      if (!gcm_rtp(false, p, *h, body, ssrc, est)) return srtp_reject(SrtpError::auth_failed);
    } else {
      if (!cm_check_rtp(p, body, est)) return srtp_reject(SrtpError::auth_failed);
      if (!cm_crypt_rtp(p, *h, body, ssrc, est)) return srtp_reject(SrtpError::internal);
    }
    if (st == nullptr) {  // authenticated: now the stream may cost state
      if (rx_.size() >= kMaxStreams) return srtp_reject(SrtpError::internal);
      st = &rx_.emplace_back(RxStream{ssrc, {}, {}});
    }
    st->rtp.add(delta);
    return body;
  }

  core::Result<std::size_t> protect_rtcp(std::span<std::byte> buf, std::size_t len) override {
    if (len > buf.size()) return srtp_reject(SrtpError::internal);
    std::byte* p = buf.data();
    if (len < kRtcpHeader) return srtp_reject(SrtpError::too_short);
    if ((std::to_integer<unsigned>(p[0]) >> 6) != 2) return srtp_reject(SrtpError::bad_header);
    if (buf.size() - len < tag_ + kSrtcpTrailer) return srtp_reject(SrtpError::too_short);
    const std::uint32_t ssrc = core::load_be32(p + 4);
    TxStream* st = find(tx_, ssrc);
    if (st == nullptr) {
      if (tx_.size() >= kMaxStreams) return srtp_reject(SrtpError::internal);
      st = &tx_.emplace_back(TxStream{ssrc, {}, 0});
    }
    // libsrtp2 (srtp_rdb_increment): the first SRTCP index is 1; at 2^31 - 1 the key is spent.
    if (st->rtcp_index >= kSrtcpIndexMax) return srtp_reject(SrtpError::internal);
    const std::uint32_t index = ++st->rtcp_index;
    bool ok = false;
    if (gcm_) {
      // RFC 7714 §9: header | ciphertext | tag | E+index.
      core::store_be32(p + len + kGcmTag, kSrtcpEFlag | index);
      ok = gcm_rtcp(true, p, len, p + len + kGcmTag, true, ssrc, index);
    } else {
      // RFC 3711 §3.4: header | ciphertext | E+index | tag, the tag covering the trailer.
      ok = cm_crypt(rtcp_, ssrc, index, p + kRtcpHeader, len - kRtcpHeader);
      core::store_be32(p + len, kSrtcpEFlag | index);
      std::uint8_t mac[HmacSha1::kDigestLen];
      rtcp_.cm().hmac.mac(p, len + kSrtcpTrailer, {}, mac);
      std::memcpy(p + len + kSrtcpTrailer, mac, kCmTag);
    }
    if (!ok) return srtp_reject(SrtpError::internal);
    return len + tag_ + kSrtcpTrailer;
  }

  core::Result<std::size_t> unprotect_rtcp(std::span<std::byte> buf, std::size_t len) override {
    if (len > buf.size()) return srtp_reject(SrtpError::internal);
    std::byte* p = buf.data();
    if (len < kRtcpHeader + tag_ + kSrtcpTrailer) return srtp_reject(SrtpError::too_short);
    if ((std::to_integer<unsigned>(p[0]) >> 6) != 2) return srtp_reject(SrtpError::bad_header);
    const std::uint32_t ssrc = core::load_be32(p + 4);
    const std::byte* trailer = gcm_ ? p + len - kSrtcpTrailer : p + len - tag_ - kSrtcpTrailer;
    const std::uint32_t word = core::load_be32(trailer);
    const bool encrypted = (word & kSrtcpEFlag) != 0;
    const std::uint32_t index = word & kSrtcpIndexMax;
    // libsrtp2 refuses unencrypted SRTCP with AES-CM (srtp_err_status_cant_check) and accepts it,
    // authenticated as a whole, with GCM (RFC 7714 §9.3).
    if (!encrypted && !gcm_) return srtp_reject(SrtpError::bad_header);
    RxStream* st = find(rx_, ssrc);
    const RtcpReplay fresh;
    const RtcpReplay& replay = st ? st->rtcp : fresh;
    if (auto e = replay.check(index)) return srtp_reject(*e);
    const std::size_t body = len - tag_ - kSrtcpTrailer;
    if (gcm_) {
      if (!gcm_rtcp(false, p, body, trailer, encrypted, ssrc, index)) return srtp_reject(SrtpError::auth_failed);
    } else {
      std::uint8_t mac[HmacSha1::kDigestLen];
      rtcp_.cm().hmac.mac(p, len - tag_, {}, mac);
      if (CRYPTO_memcmp(mac, p + len - tag_, kCmTag) != 0) return srtp_reject(SrtpError::auth_failed);
      if (!cm_crypt(rtcp_, ssrc, index, p + kRtcpHeader, body - kRtcpHeader)) {
        return srtp_reject(SrtpError::internal);
      }
    }
    if (st == nullptr) {
      if (rx_.size() >= kMaxStreams) return srtp_reject(SrtpError::internal);
      st = &rx_.emplace_back(RxStream{ssrc, {}, {}});
    }
    st->rtcp.add(index);
    return body;
  }

 private:
  struct TxStream {
    std::uint32_t ssrc;
    RtpReplay rtp;
    std::uint32_t rtcp_index;  // the last SRTCP index sent
  };
  struct RxStream {
    std::uint32_t ssrc;
    RtpReplay rtp;
    RtcpReplay rtcp;
  };

  // Linear: a session has a handful of SSRCs; the last one found is tried first.
  template <class S>
  S* find(std::vector<S>& v, std::uint32_t ssrc) noexcept {
    if (last_ < v.size() && v[last_].ssrc == ssrc) return &v[last_];
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i].ssrc == ssrc) {
        last_ = i;
        return &v[i];
      }
    }
    return nullptr;
  }

  bool init_key(SrtpProfile p, KeyState& ks, std::span<const std::uint8_t> key,
                const std::array<std::uint8_t, 14>& salt, const std::array<std::uint8_t, 20>& auth) noexcept {
    std::memcpy(ks.salt, salt.data(), srtp_salt_len(p));
    if (!gcm_) {
      CmKeys& cm = ks.keys.emplace<CmKeys>();
      cm.hmac.set_key(std::span<const std::uint8_t, HmacSha1::kKeyLen>(auth.data(), HmacSha1::kKeyLen), fast_);
      if (fast_ && AesCtr::supported()) {
        cm.aes_ctr.set_key(key);
        cm.use_aes_ctr = true;
        return true;
      }
      ks.cipher = make_ecb(key);
      return ks.cipher != nullptr;
    }
    if (fast_ && AesGcm::supported()) {
      ks.keys.emplace<AesGcm>().set_key(key);
      return true;
    }
    ks.cipher.reset(EVP_CIPHER_CTX_new());
    if (!ks.cipher) return false;
    const EVP_CIPHER* c = key.size() == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
    return EVP_CipherInit_ex(ks.cipher.get(), c, nullptr, key.data(), nullptr, 1) == 1;
  }

  // RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16).
  static void cm_iv(const KeyState& ks, std::uint32_t ssrc, std::uint64_t index, std::uint8_t (&iv)[16]) noexcept {
    std::memcpy(iv, ks.salt, 14);
    iv[14] = iv[15] = 0;
    std::byte x[12];
    core::store_be32(x, ssrc);
    core::store_be64(x + 4, index << 16);
    for (std::size_t i = 0; i < 12; ++i) iv[4 + i] ^= std::to_integer<std::uint8_t>(x[i]);
  }

  static bool cm_crypt(const KeyState& ks, std::uint32_t ssrc, std::uint64_t index, std::byte* p,
                       std::size_t n) noexcept {
    std::uint8_t iv[16];
    cm_iv(ks, ssrc, index, iv);
    const CmKeys& cm = ks.cm();
    return cm.use_aes_ctr ? cm.aes_ctr.xor_keystream(iv, p, n) : aes_cm_xor(ks.cipher.get(), iv, p, n);
  }

  bool cm_crypt_rtp(std::byte* p, std::size_t h, std::size_t end, std::uint32_t ssrc, std::uint64_t est) noexcept {
    return cm_crypt(rtp_, ssrc, est, p + h, end - h);
  }

  // RFC 3711 §4.2: the tag covers the authenticated portion and then the ROC.
  void cm_mac_rtp(const std::byte* p, std::size_t end, std::uint64_t est, std::uint8_t (&mac)[HmacSha1::kDigestLen]) {
    std::byte roc[4];
    core::store_be32(roc, static_cast<std::uint32_t>(est >> 16));
    rtp_.cm().hmac.mac(p, end, std::span(reinterpret_cast<const std::uint8_t*>(roc), 4), mac);
  }

  bool cm_protect_rtp(std::byte* p, std::size_t h, std::size_t len, std::uint32_t ssrc, std::uint64_t est) noexcept {
    if (!cm_crypt_rtp(p, h, len, ssrc, est)) return false;
    std::uint8_t mac[HmacSha1::kDigestLen];
    cm_mac_rtp(p, len, est, mac);
    std::memcpy(p + len, mac, kCmTag);
    return true;
  }

  bool cm_check_rtp(const std::byte* p, std::size_t body, std::uint64_t est) noexcept {
    std::uint8_t mac[HmacSha1::kDigestLen];
    cm_mac_rtp(p, body, est, mac);
    return CRYPTO_memcmp(mac, p + body, kCmTag) == 0;
  }

  // RFC 7714 §8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt; AAD = the RTP header; the tag
  // follows the ciphertext. `end` is where the payload ends (the tag starts).
  bool gcm_rtp(bool enc, std::byte* p, std::size_t h, std::size_t end, std::uint32_t ssrc, std::uint64_t est) noexcept {
    std::uint8_t iv[12];
    std::byte x[12] = {};
    core::store_be32(x + 2, ssrc);
    core::store_be32(x + 6, static_cast<std::uint32_t>(est >> 16));
    core::store_be16(x + 10, static_cast<std::uint16_t>(est));
    for (std::size_t i = 0; i < 12; ++i) iv[i] = rtp_.salt[i] ^ std::to_integer<std::uint8_t>(x[i]);
    const AesGcm::Aad aad[1] = {{p, h}};
    return gcm(rtp_, enc, iv, aad, p + h, end - h, p + end);
  }

  // RFC 7714 §9.1: IV = (00 00 || SSRC || 00 00 || 0 || index) XOR salt; AAD = the first 8 bytes and
  // the E+index word, or the whole packet and that word when E is clear (§9.3).
  bool gcm_rtcp(bool enc, std::byte* p, std::size_t body, const std::byte* trailer, bool encrypted,
                std::uint32_t ssrc, std::uint32_t index) noexcept {
    std::uint8_t iv[12];
    std::byte x[12] = {};
    core::store_be32(x + 2, ssrc);
    core::store_be32(x + 8, index);
    for (std::size_t i = 0; i < 12; ++i) iv[i] = rtcp_.salt[i] ^ std::to_integer<std::uint8_t>(x[i]);
    const std::size_t aad = encrypted ? kRtcpHeader : body;
    const std::size_t text = encrypted ? body - kRtcpHeader : 0;
    const AesGcm::Aad pieces[2] = {{p, aad}, {trailer, kSrtcpTrailer}};
    return gcm(rtcp_, enc, iv, pieces, p + aad, text, p + body);
  }

  // One AES-GCM operation in place: `text` bytes at `data`, the tag at `tag` (written when
  // encrypting, checked when decrypting). False on a tag mismatch or a library failure.
  static bool gcm(const KeyState& ks, bool enc, const std::uint8_t (&iv)[12], std::span<const AesGcm::Aad> aad,
                  std::byte* data, std::size_t text, std::byte* tag) noexcept {
    if (const AesGcm* g = ks.aes_gcm()) {
      if (!enc) return g->open(iv, aad, data, text, tag);
      g->seal(iv, aad, data, text, tag);
      return true;
    }
    EVP_CIPHER_CTX* c = ks.cipher.get();
    int n = 0;
    if (EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, iv, enc ? 1 : 0) != 1) return false;
    for (const AesGcm::Aad& a : aad) {
      if (a.n > 0 && EVP_CipherUpdate(c, nullptr, &n, reinterpret_cast<const unsigned char*>(a.p),
                                      static_cast<int>(a.n)) != 1) {
        return false;
      }
    }
    auto* d = reinterpret_cast<unsigned char*>(data);
    if (text > 0 && EVP_CipherUpdate(c, d, &n, d, static_cast<int>(text)) != 1) return false;
    if (enc) {
      if (EVP_CipherFinal_ex(c, d + text, &n) != 1) return false;
      return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTag), tag) == 1;
    }
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTag), tag) != 1) return false;
    return EVP_CipherFinal_ex(c, d + text, &n) == 1;
  }

  const bool gcm_;
  const bool fast_;  // AES-NI and SHA-NI where the CPU has them, instead of OpenSSL
  const std::size_t tag_;
  KeyState rtp_;
  KeyState rtcp_;
  std::vector<TxStream> tx_;
  std::vector<RxStream> rx_;
  std::size_t last_ = 0;
};

}  // namespace

namespace srtp_detail {

bool derive_session_key(std::span<const std::uint8_t> master_key, std::span<const std::uint8_t> master_salt,
                        KeyLabel label, std::span<std::uint8_t> out) noexcept {
  const CipherCtx ecb = make_ecb(master_key);
  if (!ecb) return false;
  // x = key_id XOR master_salt with key_id = label || r (r = 0 for KDR 0), the label in the 8th
  // byte of the 14-byte salt; the counter block is x * 2^16.
  std::uint8_t iv[16] = {};
  std::memcpy(iv, master_salt.data(), std::min<std::size_t>(master_salt.size(), 14));
  iv[7] ^= static_cast<std::uint8_t>(label);
  std::memset(out.data(), 0, out.size());
  const bool ok = aes_cm_xor(ecb.get(), iv, reinterpret_cast<std::byte*>(out.data()), out.size());
  OPENSSL_cleanse(iv, sizeof iv);
  return ok;
}

bool derive_session_keys(const SrtpKeys& keys, SessionKeys& s) noexcept {
  const SrtpProfile p = keys.profile;
  const std::size_t kl = srtp_key_len(p);
  const std::size_t sl = srtp_salt_len(p);
  const auto mk = std::span<const std::uint8_t>(keys.key.data(), kl);
  const auto ms = std::span<const std::uint8_t>(keys.salt.data(), sl);
  bool ok = derive_session_key(mk, ms, KeyLabel::rtp_encryption, std::span(s.rtp_key.data(), kl)) &&
            derive_session_key(mk, ms, KeyLabel::rtp_salt, std::span(s.rtp_salt.data(), sl)) &&
            derive_session_key(mk, ms, KeyLabel::rtcp_encryption, std::span(s.rtcp_key.data(), kl)) &&
            derive_session_key(mk, ms, KeyLabel::rtcp_salt, std::span(s.rtcp_salt.data(), sl));
  if (ok && p == SrtpProfile::aes_cm_128_hmac_sha1_80) {
    ok = derive_session_key(mk, ms, KeyLabel::rtp_auth, s.rtp_auth) &&
         derive_session_key(mk, ms, KeyLabel::rtcp_auth, s.rtcp_auth);
  }
  return ok;
}

core::Result<std::unique_ptr<SrtpTransform>> make_own_srtp(SrtpProfile profile, const SessionKeys& keys,
                                                           OwnBackend backend) {
  auto t = std::make_unique<OwnSrtp>(profile, backend);
  if (!t->init(profile, keys)) return srtp_reject(SrtpError::internal);
  return std::unique_ptr<SrtpTransform>(std::move(t));
}

}  // namespace srtp_detail

core::Result<std::unique_ptr<SrtpTransform>> make_srtp(SrtpEngine engine, const SrtpKeys& keys) {
  if (engine == SrtpEngine::libsrtp) return make_libsrtp(keys);
  SessionKeys s;
  auto r = srtp_detail::derive_session_keys(keys, s)
               ? srtp_detail::make_own_srtp(keys.profile, s)
               : core::Result<std::unique_ptr<SrtpTransform>>(srtp_reject(SrtpError::internal));
  OPENSSL_cleanse(&s, sizeof s);
  return r;
}

}  // namespace webtrunk::media

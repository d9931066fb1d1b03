// SRTP and SRTCP (RFC 3711, RFC 7714 for AES-GCM), in place, for one direction of one session.
//
// Two engines behind one interface: our own transform on OpenSSL EVP (the default, the fast path)
// and libsrtp2 (media/srtp_libsrtp.hpp, the reference; `--srtp-engine=libsrtp`). Both make the
// same bytes and the same accept/reject decisions for the same keys and packets; the tests hold
// ours to libsrtp2 2.5.0 bit for bit, including its ROC estimation and replay windows.
//
// A transform covers every SSRC it sees: per SSRC it keeps the RTP packet index (ROC and highest
// sequence number, RFC 3711 §3.3.1) with a 128-packet replay window, and the SRTCP index with a
// 128-index window. Protect and unprotect keep separate per-SSRC state (the relay uses one
// transform with the tx keys for protect and another with the rx keys for unprotect). A stream
// is created by protect, or by the first unprotect that passes authentication, so forged packets
// cost no state. Sans-IO: no clock, no socket; not thread-safe (one shard owns it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "core/metrics.hpp"
#include "core/result.hpp"
#include "media/types.hpp"

namespace webtrunk::media {

// core::Error.code of every rejection (the message is a short fixed text: it never allocates).
enum class SrtpError : int { too_short = 1, bad_header, auth_failed, replayed, too_old, internal };

class SrtpTransform {
 public:
  virtual ~SrtpTransform() = default;
  // In place. `buf` covers the packet (its first `len` bytes) plus tailroom: protect needs
  // srtp_rtp_overhead / srtp_rtcp_overhead of the profile (kSrtpMaxOverhead covers all).
  // Returns the new length; on error the packet bytes are unspecified (drop the packet).
  virtual core::Result<std::size_t> protect_rtp(std::span<std::byte> buf, std::size_t len) = 0;
  virtual core::Result<std::size_t> unprotect_rtp(std::span<std::byte> buf, std::size_t len) = 0;
  virtual core::Result<std::size_t> protect_rtcp(std::span<std::byte> buf, std::size_t len) = 0;
  virtual core::Result<std::size_t> unprotect_rtcp(std::span<std::byte> buf, std::size_t len) = 0;
};

enum class SrtpEngine : std::uint8_t { own, libsrtp };
core::Result<SrtpEngine> parse_srtp_engine(std::string_view s);  // "own" | "libsrtp"
std::string_view to_string(SrtpEngine e) noexcept;

// Fails only if the crypto library cannot be set up (never for valid SrtpKeys).
core::Result<std::unique_ptr<SrtpTransform>> make_srtp(SrtpEngine engine, const SrtpKeys& keys);

// Every packet either engine rejects is counted in one of these (summed over shards).
inline const core::Counter kSrtpRejectedMalformed{"webtrunk_srtp_rejected_malformed_total",
                                                  "SRTP/SRTCP packets too short or with a bad header"};
inline const core::Counter kSrtpRejectedAuth{"webtrunk_srtp_rejected_auth_total",
                                             "SRTP/SRTCP packets that failed authentication"};
inline const core::Counter kSrtpRejectedReplay{"webtrunk_srtp_rejected_replay_total",
                                               "SRTP/SRTCP packets replayed or older than the replay window"};
inline const core::Counter kSrtpRejectedInternal{"webtrunk_srtp_rejected_internal_total",
                                                 "SRTP/SRTCP packets the crypto library failed on"};

// The Error for `e`, counted in its metric. Shared by both engines so they count alike.
core::Error srtp_reject(SrtpError e) noexcept;

namespace srtp_detail {

// Session key derivation label (RFC 3711 §4.3.1 and §4.3.2).
enum class KeyLabel : std::uint8_t {
  rtp_encryption = 0,
  rtp_auth = 1,
  rtp_salt = 2,
  rtcp_encryption = 3,
  rtcp_auth = 4,
  rtcp_salt = 5,
};

// RFC 3711 §4.3 with a key derivation rate of 0: `out` gets the AES-CM PRF keystream for `label`
// under the master key (16 or 32 bytes) and master salt (14 bytes; a 12-byte GCM salt is padded
// with two zero bytes, as libsrtp2 does). False if OpenSSL fails.
bool derive_session_key(std::span<const std::uint8_t> master_key, std::span<const std::uint8_t> master_salt,
                        KeyLabel label, std::span<std::uint8_t> out) noexcept;

// Session keys as they come out of the derivation: what RFC 7714 §16-17 publishes test vectors
// for. `rtp_auth`/`rtcp_auth` are used by AES_CM_128_HMAC_SHA1_80 only (20 bytes).
struct SessionKeys {
  std::array<std::uint8_t, 32> rtp_key{}, rtcp_key{};
  std::array<std::uint8_t, 14> rtp_salt{}, rtcp_salt{};
  std::array<std::uint8_t, 20> rtp_auth{}, rtcp_auth{};
};
// All six (four for GCM) session keys of `keys`. False if OpenSSL fails.
bool derive_session_keys(const SrtpKeys& keys, SessionKeys& out) noexcept;

// How our transform computes. `fastest`: AEAD profiles on AesGcm (media/aes_gcm.hpp) where the CPU
// has AES-NI and PCLMULQDQ, else on OpenSSL EVP. `evp`: OpenSSL EVP always (what the tests and
// the benchmark compare the fast path against).
enum class OwnBackend : std::uint8_t { fastest, evp };

// Our transform keyed with session keys directly (the RFC 7714 vectors); make_srtp derives them
// and uses OwnBackend::fastest.
core::Result<std::unique_ptr<SrtpTransform>> make_own_srtp(SrtpProfile profile, const SessionKeys& keys,
                                                           OwnBackend backend = OwnBackend::fastest);

}  // namespace srtp_detail

}  // namespace webtrunk::media

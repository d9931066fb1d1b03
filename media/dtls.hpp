// DTLS-SRTP toward the browser (RFC 5763, RFC 5764), the server side, sans-IO on OpenSSL.
//
// The edge answers every offer with a=setup:passive, so it is always the DTLS server: it waits for
// the browser's ClientHello and sends nothing before, which also guarantees that no DTLS reaches
// the browser before it has the answer (the rtpengine failure mode in research/features.md §3.1).
//
// Versions: OpenSSL 3.0 (Debian 12) implements DTLS 1.2 only; Chromium's DTLS 1.3 ClientHello
// carries legacy_version DTLS 1.2 and is answered with DTLS 1.2. DTLS 1.3 comes with OpenSSL 3.5.
//
// No cookie exchange (HelloVerifyRequest): the handshake only starts on a path the browser has
// already proven with an authenticated ICE check (the caller feeds only datagrams from the
// selected 5-tuple), so the source address cannot be spoofed for amplification, and skipping it
// saves a round trip while the callee rings.
//
// The peer is authenticated only by the SHA-256 fingerprint of its certificate from the SDP
// (RFC 8122): any self-signed certificate is accepted by the chain check, then compared.
//
// Usage (one endpoint per call, one identity per process):
//   ep.handle_datagram(now, record);               // a datagram whose first byte is 20..63 (RFC 7983)
//   while (auto d = ep.poll_transmit()) send(*d);  // in order, each <= 1200 bytes
//   timer at ep.poll_timeout() -> ep.handle_timeout(now);
//   if (ep.state() == connected) keys = ep.take_srtp_keys();   // frees the OpenSSL state
//
// Lifetimes: nothing handed out points into the endpoint; datagrams are moved out. An endpoint
// holds a shared_ptr to its identity. Endpoints are not thread-safe; one shard owns each.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <openssl/types.h>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"
#include "media/types.hpp"

namespace webtrunk::media {

inline const core::Counter kDtlsHandshakesTotal{"webtrunk_dtls_handshakes_total",
                                                "DTLS handshakes completed with SRTP keys exported"};
inline const core::Counter kDtlsFailuresTotal{"webtrunk_dtls_failures_total",
                                              "DTLS handshakes failed (fingerprint, alert, timeout, protocol)"};
inline const core::Counter kDtlsFingerprintMismatchTotal{
    "webtrunk_dtls_fingerprint_mismatch_total", "DTLS peer certificates whose SHA-256 is not the SDP fingerprint"};
inline const core::Counter kDtlsRetransmitsTotal{"webtrunk_dtls_retransmits_total",
                                                 "DTLS flights sent again (timer, or the peer's retransmission)"};
inline const core::Counter kDtlsDroppedTotal{
    "webtrunk_dtls_dropped_total", "datagrams given to a DTLS endpoint that were not DTLS records or came too late"};

// The process's certificate: one self-signed ECDSA P-256 made at start, or loaded from PEM files.
// Shared by every endpoint of every shard (read-only once endpoints exist).
class DtlsIdentity {
 public:
  static core::Result<std::shared_ptr<DtlsIdentity>> generate();
  // `cert_pem` and `key_pem` are paths to PEM files (--dtls-cert, --dtls-key); the key must match.
  static core::Result<std::shared_ptr<DtlsIdentity>> load(const std::string& cert_pem, const std::string& key_pem);
  ~DtlsIdentity();
  DtlsIdentity(const DtlsIdentity&) = delete;
  DtlsIdentity& operator=(const DtlsIdentity&) = delete;

  // Restricts/orders the SRTP profiles offered in use_srtp (default: AEAD_AES_256_GCM,
  // AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80). As the DTLS server we pick, by this order, the
  // first one the browser also lists (Chromium lists GCM last, so being the server gets GCM).
  // Start-up only: call before endpoints are made.
  core::Result<void> set_srtp_profiles(std::span<const SrtpProfile> profiles);
  // "AB:CD:..." (upper-case hex, colons): the a=fingerprint:sha-256 value of our certificate.
  const std::string& fingerprint_sha256() const noexcept { return fingerprint_; }

  SSL_CTX* ssl_ctx() const noexcept { return ctx_; }  // for DtlsEndpoint

 private:
  explicit DtlsIdentity(SSL_CTX* ctx, std::string fingerprint) : ctx_(ctx), fingerprint_(std::move(fingerprint)) {}
  static core::Result<std::shared_ptr<DtlsIdentity>> from_cert_and_key(X509* cert, EVP_PKEY* key);
  SSL_CTX* ctx_;
  std::string fingerprint_;
};

// The server role (a=setup:passive) for one call: waits for the browser's ClientHello.
class DtlsEndpoint {
 public:
  enum class State : std::uint8_t { waiting, handshaking, connected, failed };

  // `remote_fingerprint_sha256`: the browser's a=fingerprint:sha-256 value, either case.
  DtlsEndpoint(std::shared_ptr<DtlsIdentity> identity, std::string remote_fingerprint_sha256);
  ~DtlsEndpoint();
  DtlsEndpoint(const DtlsEndpoint&) = delete;
  DtlsEndpoint& operator=(const DtlsEndpoint&) = delete;

  // A re-offer may carry a new fingerprint; it applies to the next certificate checked.
  void set_remote_fingerprint(std::string fp);

  // One datagram from the browser (one or more DTLS records).
  void handle_datagram(core::Instant now, std::span<const std::byte> record);
  // Datagrams to send to the browser, in order; each at most kDtlsMtu bytes.
  std::optional<std::vector<std::byte>> poll_transmit();
  // When handle_timeout wants to run: the retransmission timer while our flight is unanswered
  // (RFC 6347 §4.2.4: 1 s, doubling, at most 60 s), nullopt otherwise.
  std::optional<core::Instant> poll_timeout() const;
  void handle_timeout(core::Instant now);

  State state() const noexcept { return state_; }
  // Why it failed: "certificate fingerprint does not match", "handshake timed out", "peer sent
  // alert: ...", "peer closed the DTLS session", "DTLS protocol error: ...". Empty otherwise.
  const std::string& failure() const noexcept { return failure_; }
  std::optional<SrtpProfile> profile() const noexcept;

  // Once connected: the keys (split_dtls_srtp_keys, we are the server), once. After this the SSL
  // object is freed; the endpoint keeps its last flight and answers a retransmitted client final
  // flight with it (DESIGN.md), and answers nothing else. A close_notify or fatal alert from the
  // browser after connect -> state failed with the reason (the caller may hang up); after the SSL
  // object is gone the alert is authenticated with the browser's record key kept from it (about
  // 50 bytes), so a forged datagram cannot end a call.
  std::optional<SrtpKeyPair> take_srtp_keys();

  // True while the OpenSSL connection is alive (before take_srtp_keys or failure).
  bool has_ssl() const noexcept { return ssl_ != nullptr; }

  static constexpr std::size_t kDtlsMtu = 1200;  // what fits any path a browser uses

 private:
  // Runs the handshake (or a read once connected); `client_hello`: the datagram carried one.
  void drive(core::Instant now, bool client_hello);
  void collect_output();           // moves what OpenSSL wrote into the outbox (and the flight copy)
  void fail(std::string why);
  void fail_from_openssl(int ssl_error);
  void free_ssl() noexcept;
  void handle_after_keys(std::span<const std::byte> record);
  bool open_alert(const std::byte* header, std::span<const std::byte> body, std::uint8_t alert[2]) const;
  static int verify_peer(int ok, X509_STORE_CTX* store);
  static void info_callback(const SSL* ssl, int where, int ret);

  std::shared_ptr<DtlsIdentity> identity_;
  std::string remote_fp_;  // upper case
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  State state_ = State::waiting;
  std::string failure_;
  bool fingerprint_mismatch_ = false;
  int peer_alert_ = -1;  // (level << 8) | description of the last alert the browser sent
  std::optional<SrtpKeyPair> keys_;
  // Kept from the SSL object when it is freed: the browser's record-layer write key, so an alert
  // it sends after that (sealed in epoch 1) is authenticated before it may end the call.
  struct AlertKey {
    int cipher_nid = 0;  // NID_aes_128_gcm, NID_aes_256_gcm or NID_chacha20_poly1305
    std::array<std::uint8_t, 32> key{};
    std::array<std::uint8_t, 12> iv{};  // the implicit part: 4 bytes for GCM, 12 for ChaCha20
  };
  std::optional<AlertKey> alert_key_;
  bool keys_taken_ = false;

  // To send: outbox_[outbox_head_..]. A vector, not a deque: an empty std::deque still holds
  // about 600 bytes, more than everything else an endpoint keeps after take_srtp_keys.
  std::vector<std::vector<std::byte>> outbox_;
  std::size_t outbox_head_ = 0;
  std::vector<std::vector<std::byte>> written_;  // what OpenSSL wrote during the current call
  std::vector<std::vector<std::byte>> flight_;   // our last flight, for retransmission
  std::optional<core::Instant> retransmit_at_;
  core::Duration rto_{};
  unsigned retransmits_ = 0;
  unsigned answered_after_keys_ = 0;
  unsigned answered_hellos_ = 0;
};

}  // namespace webtrunk::media

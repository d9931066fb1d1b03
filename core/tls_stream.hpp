// TlsStream: one TLS connection, sans-IO (DESIGN.md "Sans-IO"), on two OpenSSL memory BIOs. It
// sits between the reactor and a plaintext codec (WsConnection, HttpServer, a SIP stream): the
// shard gives it the bytes the socket received and sends what it wants sent; the codec gets the
// decrypted bytes and hands it what it wants encrypted.
//
//   auto s = TlsStream::server(ctx, now);                 // per accepted connection
//   s.handle_bytes(now, received);                        // ciphertext from the socket
//   while (auto ev = s.poll_event()) handle(*ev);         // handshake done, data, closed, failed
//   n = s.write(plaintext);                               // accepted n bytes (0: later, or not open)
//   send(s.pending_output()); s.consume_output(sent);     // ciphertext to the socket
//   timer at s.poll_timeout() -> s.handle_timeout(now);   // the handshake deadline
//   if (s.wants_close() && s.pending_output().empty()) close the socket;
//
// Plaintext on a TLS port: a server whose first received byte is not a handshake record (22,
// RFC 8446 §5.1), e.g. "GET /", fails with TlsFailure::plaintext at once, so the caller can count
// it and close (or answer with a redirect of its own).
//
// Bounds: at most kMaxPendingInput bytes of received ciphertext (plus one handle_bytes span) wait
// for poll_event (more fails the connection with TlsFailure::backlog: a caller that drains poll_event after every
// handle_bytes never gets there, since OpenSSL then holds at most one partial record); at most
// kMaxPendingOutput bytes of ciphertext wait to be sent (write() accepts less, or 0, beyond it);
// what OpenSSL answers on its own (KeyUpdate, alerts) may add kProtocolOutputSlack, and a peer
// that makes it answer more without reading fails with TlsFailure::backlog too.
//
// Memory: SSL_MODE_RELEASE_BUFFERS frees OpenSSL's record buffers between records; the memory BIOs
// themselves and the plaintext buffer are freed once drained (and made again for the next record).
// What an idle connection keeps is the SSL object and its keys: bench/RESULTS.md "TLS" has the figure.
//
// Lifetimes:
// - The span given to handle_bytes is copied; it may be reused at once.
// - TlsData::bytes points into the stream and is valid until the next call to poll_event,
//   handle_bytes, write or close. It is writable (a codec may unmask or parse in place).
// - TlsHandshakeDone's string_views point into the stream or its context; valid while the stream lives.
// - pending_output() is valid until the next non-const call.
// - The stream holds a reference to its TlsContext, so a reload does not affect it.
// Not thread-safe: one shard owns each stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include <openssl/types.h>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/tls_context.hpp"

struct ssl_session_st;

namespace webtrunk::core {

inline const Counter kTlsHandshakesTotal{"webtrunk_tls_handshakes_total", "TLS handshakes completed (full)"};
inline const Counter kTlsResumedTotal{"webtrunk_tls_resumed_total", "TLS handshakes completed by resuming a session"};
inline const Counter kTlsFailuresTotal{"webtrunk_tls_failures_total",
                                       "TLS connections failed (any reason below, or a protocol error)"};
inline const Counter kTlsPlaintextTotal{"webtrunk_tls_plaintext_total",
                                        "connections to a TLS port that started with something else (plain HTTP)"};
inline const Counter kTlsHandshakeTimeoutsTotal{"webtrunk_tls_handshake_timeouts_total",
                                                "TLS handshakes not finished by the deadline"};
inline const Counter kTlsPeerAlertsTotal{"webtrunk_tls_peer_alerts_total", "TLS connections ended by a fatal alert from the peer"};
inline const Counter kTlsBadRecordsTotal{"webtrunk_tls_bad_records_total",
                                         "TLS connections failed on a record that did not decrypt or parse"};
inline const Counter kTlsVerifyFailuresTotal{"webtrunk_tls_verify_failures_total",
                                             "TLS peer certificates refused (chain or host name)"};
inline const Counter kTlsBacklogTotal{"webtrunk_tls_backlog_total",
                                      "TLS connections failed because received data was not read in time"};
inline const Counter kTlsRenegotiationRefusedTotal{"webtrunk_tls_renegotiation_refused_total",
                                                   "TLS 1.2 renegotiation attempts answered with no_renegotiation"};

enum class TlsFailure : std::uint8_t {
  plaintext,          // the first bytes were not a TLS handshake record
  handshake_timeout,  // no finished handshake by the deadline
  peer_alert,         // the peer sent a fatal alert (reason names it)
  bad_record,         // a record failed to decrypt, or a message failed to parse
  verify,             // client: the server's certificate or name did not verify
  backlog,            // received data piled up unread (see Bounds)
  internal,           // OpenSSL could not allocate or set up
};
const char* tls_failure_name(TlsFailure f) noexcept;  // "plaintext", "handshake_timeout", ...

// The handshake finished; write() works from now on.
struct TlsHandshakeDone {
  TlsVersion version = TlsVersion::tls1_3;
  bool resumed = false;
  std::string_view alpn;         // "" if none was agreed
  std::string_view server_name;  // the SNI the client sent ("" if none)
  std::string_view cipher;       // OpenSSL's name, e.g. "TLS_AES_128_GCM_SHA256"
};
// Decrypted application data, in order.
struct TlsData {
  std::span<std::byte> bytes;
};
// The peer sent close_notify (RFC 8446 §6.1); ours is queued in reply. Nothing follows.
struct TlsClosed {};
struct TlsFailed {
  TlsFailure failure = TlsFailure::internal;
  std::string_view reason;  // for a log line; valid while the stream lives
};
using TlsEvent = std::variant<TlsHandshakeDone, TlsData, TlsClosed, TlsFailed>;

// A client's saved session, to resume the next connection to the same server (tickets).
using TlsSession = std::shared_ptr<ssl_session_st>;  // ssl_session_st is OpenSSL's SSL_SESSION

class TlsStream {
 public:
  static constexpr std::size_t kMaxPendingInput = 64 * 1024;
  static constexpr std::size_t kMaxPendingOutput = 64 * 1024;
  static constexpr std::size_t kProtocolOutputSlack = 16 * 1024;  // see Bounds
  static constexpr std::size_t kReadChunk = 16 * 1024;  // one record's plaintext at most (RFC 8446 §5.1)

  // A server connection (the context's role must be server); the handshake deadline runs from `now`.
  static TlsStream server(std::shared_ptr<const TlsContext> ctx, Instant now);
  // A client connection to `host` (SNI and the name the certificate must carry; an IP literal is
  // checked against the certificate's IP addresses and sent no SNI). `resume`: a session from an
  // earlier connection to the same host. The ClientHello is in pending_output() at once.
  static TlsStream client(std::shared_ptr<const TlsContext> ctx, Instant now, std::string_view host,
                          TlsSession resume = nullptr);

  ~TlsStream();
  TlsStream(TlsStream&& other) noexcept;
  TlsStream& operator=(TlsStream&& other) noexcept;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  void handle_bytes(Instant now, std::span<const std::byte> ciphertext) noexcept;
  [[nodiscard]] std::optional<TlsEvent> poll_event() noexcept;

  // Encrypts up to data.size() bytes; returns how many were taken (0 before the handshake is done,
  // after close or failure, or while kMaxPendingOutput bytes wait to be sent).
  [[nodiscard]] std::size_t write(std::span<const std::byte> data) noexcept;
  // Sends close_notify; write() takes nothing more. wants_close() once the peer's arrives (or at
  // once if the handshake never finished).
  void close() noexcept;

  std::span<const std::byte> pending_output() const noexcept;
  void consume_output(std::size_t n) noexcept;

  std::optional<Instant> poll_timeout() const noexcept;
  void handle_timeout(Instant now) noexcept;

  bool is_open() const noexcept { return state_ == State::open; }
  // Closed or failed: close the socket once pending_output() is empty.
  bool wants_close() const noexcept { return state_ == State::closed || state_ == State::failed; }
  // Client: the session to resume with next time (after a TLS 1.3 ticket arrived: once some data
  // was read, or at least poll_event was called after the handshake). Null if none.
  TlsSession session() const noexcept;
  // The OpenSSL connection, for diagnostics (the peer's certificate) and tests; driving it (reads,
  // writes, handshakes) behind the stream's back breaks the stream. Null if creation failed.
  SSL* native_handle() const noexcept { return ssl_; }
  // Heap this stream holds outside OpenSSL (buffers' capacity), for memory accounting.
  std::size_t buffer_bytes() const noexcept;

 private:
  enum class State : std::uint8_t { handshaking, open, closing, closed, failed };
  TlsStream(std::shared_ptr<const TlsContext> ctx, Instant now, bool server) noexcept;
  void drive_handshake() noexcept;
  std::optional<TlsEvent> read_some() noexcept;
  void fail(TlsFailure f, std::string why) noexcept;
  void fail_from_ssl(int ssl_error) noexcept;
  void release_idle_buffers() noexcept;
  void drop_empty_bios() noexcept;
  // Makes the memory BIOs an idle connection dropped; false (and failed) if it cannot.
  [[nodiscard]] bool ensure_bios() noexcept;
  void free_ssl() noexcept;
  static void info_callback(const SSL* ssl, int where, int ret);

  std::shared_ptr<const TlsContext> ctx_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  Instant deadline_{};
  Instant last_now_{};  // for the log limiter only
  State state_ = State::handshaking;
  bool server_ = true;
  bool first_byte_seen_ = false;
  bool handshake_complete_ = false;
  bool done_reported_ = false;  // TlsHandshakeDone handed out
  bool end_reported_ = false;   // TlsClosed/TlsFailed handed out
  bool peer_closed_ = false;
  TlsFailure failure_ = TlsFailure::internal;
  int peer_alert_ = -1;  // (level << 8) | description of the last alert received
  std::string reason_;
  std::unique_ptr<std::byte[]> rd_;  // plaintext of the last TlsData; freed when drained
};

}  // namespace webtrunk::core

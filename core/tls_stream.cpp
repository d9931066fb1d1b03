#include "core/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <string>
#include <utility>

#include "core/log.hpp"

namespace webtrunk::core {

namespace {

constexpr std::uint8_t kContentHandshake = 22;  // RFC 8446 §5.1 ContentType
constexpr std::uint8_t kContentAlert = 21;
// An idle connection keeps no BIO at all: a drained memory BIO is freed (a mem BIO never shrinks,
// and even an empty one is five allocations, about 0.3 KiB), and made again before OpenSSL next
// reads or writes. That costs a few small allocations per burst, within the noise of a 1 KiB
// record's cost (bench/RESULTS.md "TLS").

std::size_t bio_pending(BIO* b) noexcept { return b ? BIO_ctrl_pending(b) : 0; }

int ssl_ex_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

BIO* new_mem_bio() noexcept {
  BIO* b = BIO_new(BIO_s_mem());
  if (b) BIO_set_mem_eof_return(b, -1);  // empty means "wait for more", not end of stream
  return b;
}

std::size_t bio_capacity(BIO* b) noexcept {
  if (!b) return 0;
  BUF_MEM* bm = nullptr;
  BIO_get_mem_ptr(b, &bm);
  return bm ? bm->max : 0;
}

// At most kLogBurst failure lines per second for the whole process: a peer that fails handshakes
// in a loop is visible in the metrics, not a flood in the log.
bool may_log(Instant now) noexcept {
  constexpr int kLogBurst = 20;
  static std::atomic<std::int64_t> window{0};
  static std::atomic<int> used{0};
  const std::int64_t sec = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::int64_t w = window.load(std::memory_order_relaxed);
  if (w != sec && window.compare_exchange_strong(w, sec, std::memory_order_relaxed)) {
    used.store(0, std::memory_order_relaxed);
  }
  return used.fetch_add(1, std::memory_order_relaxed) < kLogBurst;
}

// OpenSSL 3.0 names no TLS 1.3 alert: "unknown" for certificate_required, what a server that
// wants a client certificate sends (RFC 8446 §6.2).
std::string alert_text(int alert) {
  const int desc = alert & 0xff;
  if (desc == TLS13_AD_CERTIFICATE_REQUIRED) return "certificate required";
  if (desc == TLS13_AD_MISSING_EXTENSION) return "missing extension";
  const std::string text = SSL_alert_desc_string_long(alert);
  return text == "unknown" ? fmt::format("alert {}", desc) : text;
}

}  // namespace

const char* tls_failure_name(TlsFailure f) noexcept {
  switch (f) {
    case TlsFailure::plaintext: return "plaintext";
    case TlsFailure::handshake_timeout: return "handshake_timeout";
    case TlsFailure::peer_alert: return "peer_alert";
    case TlsFailure::bad_record: return "bad_record";
    case TlsFailure::verify: return "verify";
    case TlsFailure::backlog: return "backlog";
    case TlsFailure::internal: return "internal";
  }
  return "internal";
}

TlsStream::TlsStream(std::shared_ptr<const TlsContext> ctx, Instant now, bool server) noexcept
    : ctx_(std::move(ctx)), deadline_(now + ctx_->handshake_timeout()), last_now_(now), server_(server) {
  ssl_ = SSL_new(ctx_->ssl_ctx());
  rbio_ = new_mem_bio();
  wbio_ = new_mem_bio();
  if (!ssl_ || !rbio_ || !wbio_) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    rbio_ = wbio_ = nullptr;
    SSL_free(ssl_);
    ssl_ = nullptr;
    fail(TlsFailure::internal, "cannot create the TLS connection");
    return;
  }
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_ex_data(ssl_, ssl_ex_index(), this);
  SSL_set_info_callback(ssl_, &TlsStream::info_callback);
}

TlsStream TlsStream::server(std::shared_ptr<const TlsContext> ctx, Instant now) {
  TlsStream s(std::move(ctx), now, true);
  if (s.ssl_) SSL_set_accept_state(s.ssl_);
  return s;
}

TlsStream TlsStream::client(std::shared_ptr<const TlsContext> ctx, Instant now, std::string_view host,
                            TlsSession resume) {
  TlsStream s(std::move(ctx), now, false);
  if (!s.ssl_) return s;
  SSL_set_connect_state(s.ssl_);
  const std::string name(host);
  // RFC 6066 §3: no IP literals in SNI; RFC 6125 §6: the name (or address) the certificate must carry.
  bool named = true;
  if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s.ssl_), name.c_str()) != 1) {
    ERR_clear_error();
    named = SSL_set_tlsext_host_name(s.ssl_, name.c_str()) == 1 && SSL_set1_host(s.ssl_, name.c_str()) == 1;
  }
  if (!named) {
    s.fail(TlsFailure::internal, "cannot set the TLS host name");
    return s;
  }
  if (resume) SSL_set_session(s.ssl_, resume.get());
  s.drive_handshake();  // the ClientHello
  return s;
}

TlsStream::~TlsStream() { free_ssl(); }

void TlsStream::free_ssl() noexcept {
  if (!ssl_) return;
  // OpenSSL marks the session of a connection freed without close_notify as not resumable (its
  // "bad session" rule); a connection that simply ended (TCP closed, idle) keeps its ticket good,
  // only a failed one loses it.
  if (state_ != State::failed) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl_);  // frees both BIOs
  ssl_ = nullptr;
  rbio_ = wbio_ = nullptr;
}

TlsStream::TlsStream(TlsStream&& other) noexcept { *this = std::move(other); }

TlsStream& TlsStream::operator=(TlsStream&& other) noexcept {
  if (this == &other) return *this;
  free_ssl();
  ctx_ = std::move(other.ctx_);
  ssl_ = std::exchange(other.ssl_, nullptr);
  rbio_ = std::exchange(other.rbio_, nullptr);
  wbio_ = std::exchange(other.wbio_, nullptr);
  deadline_ = other.deadline_;
  last_now_ = other.last_now_;
  state_ = other.state_;
  server_ = other.server_;
  first_byte_seen_ = other.first_byte_seen_;
  handshake_complete_ = other.handshake_complete_;
  done_reported_ = other.done_reported_;
  end_reported_ = other.end_reported_;
  peer_closed_ = other.peer_closed_;
  failure_ = other.failure_;
  peer_alert_ = other.peer_alert_;
  reason_ = std::move(other.reason_);
  rd_ = std::move(other.rd_);
  other.state_ = State::failed;
  other.end_reported_ = true;
  if (ssl_) SSL_set_ex_data(ssl_, ssl_ex_index(), this);  // the info callback finds the stream here
  return *this;
}

void TlsStream::info_callback(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT) {
    if (auto* self = static_cast<TlsStream*>(SSL_get_ex_data(ssl, ssl_ex_index()))) self->peer_alert_ = ret;
  } else if ((where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT && (ret & 0xff) == SSL_AD_NO_RENEGOTIATION) {
    kTlsRenegotiationRefusedTotal.inc();  // RFC 5746 / SSL_OP_NO_RENEGOTIATION: a 1.2 ClientHello after the handshake
  }
}

void TlsStream::handle_bytes(Instant now, std::span<const std::byte> ciphertext) noexcept {
  last_now_ = now;
  if (ciphertext.empty() || !ssl_ || state_ == State::failed || state_ == State::closed) return;
  if (!first_byte_seen_) {
    first_byte_seen_ = true;
    const auto b = std::to_integer<std::uint8_t>(ciphertext[0]);
    if (server_ && b != kContentHandshake) {
      kTlsPlaintextTotal.inc();
      fail(TlsFailure::plaintext, fmt::format("plaintext on a TLS port (first byte 0x{:02x})", b));
      return;
    }
    if (!server_ && b != kContentHandshake && b != kContentAlert) {
      fail(TlsFailure::bad_record, fmt::format("the server did not answer with TLS (first byte 0x{:02x})", b));
      return;
    }
  }
  // What is still unread after the caller drained poll_event is less than one record; more means
  // the caller stopped reading (one call may bring more: the caller's receive buffer bounds it).
  if (!ensure_bios()) return;
  if (bio_pending(rbio_) > kMaxPendingInput) {
    kTlsBacklogTotal.inc();
    fail(TlsFailure::backlog, "received TLS data was not read (backlog over the limit)");
    return;
  }
  if (BIO_write(rbio_, ciphertext.data(), static_cast<int>(ciphertext.size())) != static_cast<int>(ciphertext.size())) {
    fail(TlsFailure::internal, "cannot buffer received TLS data");
    return;
  }
  if (state_ == State::handshaking) drive_handshake();
}

void TlsStream::drive_handshake() noexcept {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    state_ = State::open;
    handshake_complete_ = true;
    (SSL_session_reused(ssl_) ? kTlsResumedTotal : kTlsHandshakesTotal).inc();
    return;
  }
  const int err = SSL_get_error(ssl_, r);
  if (err != SSL_ERROR_WANT_READ) fail_from_ssl(err);
}

std::optional<TlsEvent> TlsStream::poll_event() noexcept {
  if (handshake_complete_ && !done_reported_) {
    done_reported_ = true;
    TlsHandshakeDone d;
    d.version = SSL_version(ssl_) == TLS1_3_VERSION ? TlsVersion::tls1_3 : TlsVersion::tls1_2;
    d.resumed = SSL_session_reused(ssl_) == 1;
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
    if (alpn) d.alpn = std::string_view(reinterpret_cast<const char*>(alpn), alpn_len);
    if (const char* sni = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) d.server_name = sni;
    if (const char* c = SSL_get_cipher_name(ssl_)) d.cipher = c;
    return d;
  }
  if (state_ == State::open || state_ == State::closing) {
    if (auto ev = read_some()) return ev;
  }
  if (end_reported_) return std::nullopt;
  if (state_ == State::failed) {
    end_reported_ = true;
    return TlsFailed{failure_, reason_};
  }
  if (state_ == State::closed && peer_closed_) {
    end_reported_ = true;
    return TlsClosed{};
  }
  return std::nullopt;
}

std::optional<TlsEvent> TlsStream::read_some() noexcept {
  // No input BIO: everything received was read (it is dropped only then), nothing to do.
  if (!rbio_ && SSL_pending(ssl_) == 0) {
    rd_.reset();
    return std::nullopt;
  }
  if (!ensure_bios()) return std::nullopt;
  // What OpenSSL writes on its own while reading (KeyUpdate answers, alerts) is not bounded by
  // write(): a peer that sends such requests and never reads our answers is cut off here.
  if (bio_pending(wbio_) > kMaxPendingOutput + kProtocolOutputSlack) {
    kTlsBacklogTotal.inc();
    fail(TlsFailure::backlog, "the peer does not read what we send (output backlog over the limit)");
    return std::nullopt;
  }
  if (!rd_) rd_.reset(new (std::nothrow) std::byte[kReadChunk]);
  if (!rd_) {
    fail(TlsFailure::internal, "cannot allocate the TLS read buffer");
    return std::nullopt;
  }
  ERR_clear_error();
  const int n = SSL_read(ssl_, rd_.get(), static_cast<int>(kReadChunk));
  if (n > 0) return TlsData{std::span<std::byte>(rd_.get(), static_cast<std::size_t>(n))};
  const int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_WANT_READ) {
    release_idle_buffers();
    return std::nullopt;
  }
  if (err == SSL_ERROR_ZERO_RETURN) {  // RFC 8446 §6.1: close_notify; answer with ours
    peer_closed_ = true;
    if (state_ == State::open) {
      ERR_clear_error();
      static_cast<void>(SSL_shutdown(ssl_));
    }
    state_ = State::closed;
    rd_.reset();
    return std::nullopt;
  }
  fail_from_ssl(err);
  return std::nullopt;
}

std::size_t TlsStream::write(std::span<const std::byte> data) noexcept {
  if (state_ != State::open || data.empty() || !ensure_bios()) return 0;
  const std::size_t pending = bio_pending(wbio_);
  if (pending >= kMaxPendingOutput) return 0;
  const std::size_t take = std::min(data.size(), kMaxPendingOutput - pending);
  ERR_clear_error();
  const int r = SSL_write(ssl_, data.data(), static_cast<int>(take));
  if (r > 0) return static_cast<std::size_t>(r);
  fail_from_ssl(SSL_get_error(ssl_, r));
  return 0;
}

void TlsStream::close() noexcept {
  if (state_ == State::handshaking) {
    state_ = State::closed;
    end_reported_ = true;  // nothing was ever open; the caller closed it
    return;
  }
  if (state_ != State::open || !ensure_bios()) return;
  ERR_clear_error();
  static_cast<void>(SSL_shutdown(ssl_));  // queues close_notify; 0 = the peer's has not come yet
  state_ = State::closing;
}

std::span<const std::byte> TlsStream::pending_output() const noexcept {
  if (!wbio_) return {};
  char* p = nullptr;
  const long n = BIO_get_mem_data(wbio_, &p);
  if (n <= 0 || !p) return {};
  return {reinterpret_cast<const std::byte*>(p), static_cast<std::size_t>(n)};
}

void TlsStream::consume_output(std::size_t n) noexcept {
  if (!wbio_) return;
  const std::size_t pending = BIO_ctrl_pending(wbio_);
  n = std::min(n, pending);
  if (n == pending && state_ != State::handshaking) {  // all sent: idle until the next record
    SSL_set0_wbio(ssl_, nullptr);  // frees it with its buffer
    wbio_ = nullptr;
    drop_empty_bios();
    return;
  }
  std::array<char, 1024> sink;
  while (n > 0) {
    const int r = BIO_read(wbio_, sink.data(), static_cast<int>(std::min(n, sink.size())));
    if (r <= 0) break;
    n -= static_cast<std::size_t>(r);
  }
}

std::optional<Instant> TlsStream::poll_timeout() const noexcept {
  if (state_ == State::handshaking) return deadline_;
  return std::nullopt;
}

void TlsStream::handle_timeout(Instant now) noexcept {
  last_now_ = now;
  if (state_ == State::handshaking && now >= deadline_) {
    kTlsHandshakeTimeoutsTotal.inc();
    fail(TlsFailure::handshake_timeout, "TLS handshake not finished in time");
  }
}

TlsSession TlsStream::session() const noexcept {
  if (!ssl_) return nullptr;
  SSL_SESSION* s = SSL_get1_session(ssl_);
  if (!s) return nullptr;
  if (SSL_SESSION_is_resumable(s) != 1) {
    SSL_SESSION_free(s);
    return nullptr;
  }
  return TlsSession(s, SSL_SESSION_free);
}

std::size_t TlsStream::buffer_bytes() const noexcept {
  return (rd_ ? kReadChunk : 0) + bio_capacity(rbio_) + bio_capacity(wbio_);
}

// Called when OpenSSL is waiting for more input with nothing unread: drop the plaintext buffer and
// a grown input buffer (RELEASE_BUFFERS already dropped OpenSSL's own record buffers).
void TlsStream::release_idle_buffers() noexcept {
  rd_.reset();
  drop_empty_bios();
}

// OpenSSL keeps a partial record in its own buffer, so an input BIO with nothing unread can go.
void TlsStream::drop_empty_bios() noexcept {
  if (!ssl_) return;
  if (rbio_ && BIO_ctrl_pending(rbio_) == 0 && SSL_pending(ssl_) == 0) {
    SSL_set0_rbio(ssl_, nullptr);
    rbio_ = nullptr;
  }
  if (wbio_ && BIO_ctrl_pending(wbio_) == 0) {
    SSL_set0_wbio(ssl_, nullptr);
    wbio_ = nullptr;
  }
}

bool TlsStream::ensure_bios() noexcept {
  if (!ssl_) return false;
  if (!rbio_) {
    if (BIO* b = new_mem_bio()) {
      SSL_set0_rbio(ssl_, b);
      rbio_ = b;
    }
  }
  if (!wbio_) {
    if (BIO* b = new_mem_bio()) {
      SSL_set0_wbio(ssl_, b);
      wbio_ = b;
    }
  }
  if (rbio_ && wbio_) return true;
  fail(TlsFailure::internal, "cannot allocate the TLS buffers");
  return false;
}

void TlsStream::fail_from_ssl(int ssl_error) noexcept {
  if (!server_ && SSL_get_verify_result(ssl_) != X509_V_OK) {
    kTlsVerifyFailuresTotal.inc();
    fail(TlsFailure::verify, std::string("server certificate refused: ") +
                                 X509_verify_cert_error_string(SSL_get_verify_result(ssl_)));
  } else if (peer_alert_ >= 0 && (peer_alert_ >> 8) == SSL3_AL_FATAL) {
    kTlsPeerAlertsTotal.inc();
    fail(TlsFailure::peer_alert, std::string("peer sent alert: ") + alert_text(peer_alert_));
  } else if (ssl_error == SSL_ERROR_SSL) {
    kTlsBadRecordsTotal.inc();
    fail(TlsFailure::bad_record, openssl_error_text("TLS protocol error"));
  } else {
    fail(TlsFailure::internal, openssl_error_text("TLS internal error"));
  }
}

void TlsStream::fail(TlsFailure f, std::string why) noexcept {
  if (state_ == State::failed || state_ == State::closed) return;
  kTlsFailuresTotal.inc();
  if (may_log(last_now_)) {
    log(LogLevel::info, "tls.failed", "role={} failure={} why={}", server_ ? "server" : "client", tls_failure_name(f),
        why);
  }
  state_ = State::failed;
  failure_ = f;
  reason_ = std::move(why);
  rd_.reset();
  // Unread input is of no use now; the output (an alert, perhaps) is still to be sent.
  if (ssl_ && rbio_) {
    SSL_set0_rbio(ssl_, nullptr);
    rbio_ = nullptr;
  }
}

}  // namespace webtrunk::core

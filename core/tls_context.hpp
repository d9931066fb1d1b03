// TlsContext: the TLS configuration of a listener (server) or of the trunk side (client), built
// once, immutable, shared by every shard through a std::shared_ptr<const TlsContext>. Each
// connection is a TlsStream (core/tls_stream.hpp) made from it.
//
// What every context does:
// - TLS 1.2 and 1.3 only (RFC 8996 retires 1.0 and 1.1); key exchange on X25519 or P-256;
//   TLS 1.2 suites are ECDHE with AES-GCM or ChaCha20-Poly1305 only (RFC 9325 §4.2).
// - No renegotiation (SSL_OP_NO_RENEGOTIATION: a 1.2 client's new ClientHello gets a
//   no_renegotiation alert, RFC 5246 §7.2.2), no compression (CRIME), SSL_MODE_RELEASE_BUFFERS
//   so an idle connection holds no record buffers.
// Server: one or several certificate chains, picked by the client's SNI (RFC 6066 §3) against each
// certificate's names (SAN DNS names, wildcards in the left-most label, RFC 6125 §6.4.3); no match
// or no SNI gets the first. ALPN "http/1.1" (RFC 7301) when the client offers ALPN. Session tickets
// (RFC 8446 §4.6.1, RFC 5077) sealed with TlsTicketKeys shared by every shard, so a browser that
// reconnects to another shard still resumes.
// Client: the peer is verified against the system CAs plus an optional extra CA file, and its name
// is checked against the host name given to TlsStream::client (RFC 6125); optional client
// certificate for mutual TLS.
//
// Reload (SIGHUP): build a new context with reload_tls_context and swap the shared_ptr; a
// connection keeps the context it started with (it holds a reference), so nothing established is
// touched, and a bad file leaves the old context in use.
//
// Loading errors carry Error::code = one of TlsLoadError, with tls_load_error_reason(code) a short
// fixed string ("unreadable", "not_pem", ...) a caller can count by, and a message that says what
// to fix (file, and for dates the validity period).
//
// Thread safety: a TlsContext is read-only once built and may be used from every shard at once.
// TlsTicketKeys is the one shared mutable piece: rotate()/set() from any thread, read by
// handshakes on every shard (a mutex held for a memcpy).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <openssl/types.h>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"

namespace webtrunk::core {

inline const Counter kTlsLoadErrorsTotal{"webtrunk_tls_load_errors_total",
                                         "TLS certificate/key/CA loads that failed (the old context stays)"};
inline const Counter kTlsTicketKeyUnknownTotal{
    "webtrunk_tls_ticket_key_unknown_total",
    "session tickets presented with a key that was rotated out or never ours (full handshake instead)"};

// Error::code values of a failed load (positive, apart from -errno).
enum class TlsLoadError : int {
  unreadable = 7001,      // missing file, no permission, a directory with no *.pem
  not_pem = 7002,         // no "-----BEGIN" in it
  no_certificate = 7003,  // PEM, but no CERTIFICATE block
  no_private_key = 7004,  // no (unencrypted) private key block where one is expected
  key_mismatch = 7005,    // the key is not the certificate's
  expired = 7006,         // notAfter in the past
  not_yet_valid = 7007,   // notBefore in the future
  bad_config = 7008,      // nothing to load, an unusable option, or OpenSSL refused the setup
};
// "unreadable", "not_pem", "no_certificate", "no_private_key", "key_mismatch", "expired",
// "not_yet_valid", "bad_config"; "other" for any other code.
const char* tls_load_error_reason(int code) noexcept;

enum class TlsVersion : std::uint8_t { tls1_2, tls1_3 };

// Session-ticket keys (RFC 5077 §4 layout: name, AES-256-CBC key, HMAC-SHA256 key), shared by all
// shards of a process (and by several processes if they are given the same keys with set()).
// The current key seals new tickets; the previous one still opens tickets (which are then
// re-issued under the current key); older tickets fall back to a full handshake. Rotate every
// ticket lifetime or so (a timer in the process): a key never seals for longer than one period
// and is gone after two, which bounds what a stolen key can decrypt (RFC 8446 §C.4).
class TlsTicketKeys {
 public:
  struct Key {
    std::array<std::uint8_t, 16> name{};
    std::array<std::uint8_t, 32> aes_key{};
    std::array<std::uint8_t, 32> hmac_key{};
  };
  // With one fresh random current key and no previous one.
  static std::shared_ptr<TlsTicketKeys> create();
  static Key random_key();

  // previous = current; current = a fresh random key.
  void rotate();
  // Both keys given (several machines sharing keys); previous may be absent.
  void set(const Key& current, const std::optional<Key>& previous);

  Key current() const;
  // The key named `name`: the current or the previous one.
  std::optional<Key> find(const std::uint8_t* name, std::size_t len) const;

 private:
  mutable std::mutex mu_;
  Key current_;
  std::optional<Key> previous_;
};

// One certificate chain and its key. key_file empty: the key is in cert_file (after the chain).
// cert_pem/key_pem, when set, are the PEM text itself (from a secret store, a test, the demo) and
// the file names are used only in messages.
struct TlsCertFiles {
  std::string cert_file;
  std::string key_file;
  std::string cert_pem;
  std::string key_pem;
};

struct TlsServerConfig {
  // Certificates, in order; the first is the default for a client that sends no SNI or a name no
  // certificate has.
  std::vector<TlsCertFiles> certs;
  // And/or a directory: every *.pem in it, in name order (after `certs`), each holding a chain
  // followed by its key.
  std::string cert_dir;
  std::shared_ptr<TlsTicketKeys> ticket_keys;  // null: no session tickets (every handshake full)
  std::vector<std::string> alpn{"http/1.1"};   // the protocols we accept, in our order of preference
  TlsVersion min_version = TlsVersion::tls1_2;
  TlsVersion max_version = TlsVersion::tls1_3;
  Duration handshake_timeout = seconds(10);
  std::int64_t ticket_lifetime_s = 7200;       // RFC 8446 §4.6.1: ticket_lifetime, at most 7 days
  std::optional<std::int64_t> unix_now;        // for the validity check; default: the wall clock
};

struct TlsClientConfig {
  bool system_cas = true;  // the OS trust store (Debian: /etc/ssl/certs)
  std::string extra_ca_file;  // PEM, one or more CA certificates trusted besides (or instead of) them
  std::string extra_ca_pem;   // the same as text
  TlsCertFiles client_cert;   // optional, for mutual TLS (nothing set: none)
  std::vector<std::string> alpn;  // none by default (SIP over TLS has no ALPN id)
  TlsVersion min_version = TlsVersion::tls1_2;
  TlsVersion max_version = TlsVersion::tls1_3;
  Duration handshake_timeout = seconds(10);
  std::optional<std::int64_t> unix_now;
};

// What was loaded, for logs and tests.
struct TlsCertInfo {
  std::string subject;              // one-line RFC 2253 form, e.g. "CN=edge.example"
  std::vector<std::string> names;   // SAN DNS names
  std::string not_after;            // "2027-01-02 03:04:05 UTC"
};

class TlsContext {
 public:
  enum class Role : std::uint8_t { server, client };

  [[nodiscard]] static Result<std::shared_ptr<const TlsContext>> server(const TlsServerConfig& config);
  [[nodiscard]] static Result<std::shared_ptr<const TlsContext>> client(const TlsClientConfig& config);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  Role role() const noexcept { return role_; }
  Duration handshake_timeout() const noexcept { return handshake_timeout_; }
  const std::vector<TlsCertInfo>& certificates() const noexcept { return infos_; }

  // For TlsStream: the context new connections start on (the default certificate's for a server).
  SSL_CTX* ssl_ctx() const noexcept { return ctxs_.front(); }

 private:
  TlsContext() = default;
  friend struct TlsContextBuilder;
  static int servername_callback(SSL* ssl, int* alert, void* arg);

  Role role_ = Role::server;
  Duration handshake_timeout_{};
  std::vector<SSL_CTX*> ctxs_;  // server: one per certificate, same settings; client: one
  std::vector<X509*> leaves_;   // server: each ctx's leaf certificate (owned by its ctx)
  std::vector<TlsCertInfo> infos_;
  std::vector<unsigned char> alpn_wire_;  // RFC 7301 §3.1 ProtocolNameList
  std::shared_ptr<TlsTicketKeys> ticket_keys_;
};

// Builds a context from `config`. On success `slot` holds the new one (connections made earlier
// keep theirs); on error `slot` is untouched and the error says why (also counted).
[[nodiscard]] Result<void> reload_tls_context(std::shared_ptr<const TlsContext>& slot, const TlsServerConfig& config);
[[nodiscard]] Result<void> reload_tls_context(std::shared_ptr<const TlsContext>& slot, const TlsClientConfig& config);

// The newest OpenSSL error of this thread appended to `what` ("what: reason"), and the queue cleared.
std::string openssl_error_text(const char* what);

}  // namespace webtrunk::core

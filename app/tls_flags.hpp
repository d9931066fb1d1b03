// The TLS flags shared by every command with a public port (edge, auth, servlet): certificates
// and keys, and what a running process does with them: one TlsTicketKeys rotated by time, a
// reload on SIGHUP or when a certificate file changes (checked every 5 s).
//
//   --tls-cert FILE --tls-key FILE   repeatable pairs, in order; the first is the default for a
//                                    client without SNI (or with a name no certificate has)
//   --tls-cert DIR                   every NAME.crt with its NAME.key in DIR (and every NAME.pem
//                                    holding a chain and its key), in name order
// A --tls-key may be left out when the key follows the chain in the --tls-cert file.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/flags.hpp"
#include "core/result.hpp"
#include "core/shards.hpp"
#include "core/tls_context.hpp"

namespace webtrunk::app {

void add_tls_flags(FlagSet& f);
// Whether any --tls-cert was given.
bool tls_configured(const FlagValues& flags);

// The server configuration the flags name (nullopt: no TLS). An error names the flag at fault.
core::Result<std::optional<core::TlsServerConfig>> tls_server_config_from(const FlagValues& flags,
                                                                            std::shared_ptr<core::TlsTicketKeys> keys);

// A loaded certificate set and what is needed to load it again. Not thread-safe: used by the one
// thread that reloads (the signal thread).
class TlsReloader {
 public:
  explicit TlsReloader(core::TlsServerConfig config) : config_(std::move(config)) { stamp_ = stamp(); }
  // Builds the context (at start: an error is fatal, and says what to fix).
  [[nodiscard]] core::Result<std::shared_ptr<const core::TlsContext>> load();
  // Builds a new context if the files changed since the last load (`force`: always). nullptr when
  // nothing changed or the new files are bad (logged, counted in webtrunk_tls_load_errors_total;
  // the caller keeps the old context).
  [[nodiscard]] std::shared_ptr<const core::TlsContext> reload(bool force);

 private:
  std::vector<std::string> files() const;
  std::string stamp() const;  // sizes and modification times of every file
  core::TlsServerConfig config_;
  std::string stamp_;
};

// For a command with TLS listeners on its shards (auth, servlet): the context the flags name
// (nullptr: no --tls-cert), with one TlsTicketKeys for the process rotated every ticket lifetime,
// and a reload on SIGHUP or a certificate file change that calls `apply` on every shard with the
// new context (through the mailbox). An error names the flag and file at fault.
using ApplyTls = std::function<void(core::Shard&, std::shared_ptr<const core::TlsContext>)>;
[[nodiscard]] core::Result<std::shared_ptr<const core::TlsContext>> serve_tls_from_flags(const FlagValues& flags,
                                                                                         core::Shards& shards,
                                                                                         ApplyTls apply);

}  // namespace webtrunk::app

#include "app/tls_flags.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <system_error>

#include "app/file_stamp.hpp"
#include "core/log.hpp"

namespace webtrunk::app {
namespace fs = std::filesystem;

void add_tls_flags(FlagSet& f) {
  f.add({"tls-cert", "FILE|DIR",
         "TLS certificate chain (PEM, e.g. Let's Encrypt fullchain.pem), or a directory of NAME.crt + NAME.key "
         "pairs; repeat for several names (chosen by SNI, the first is the default); reloaded on SIGHUP and when "
         "the files change",
         "", true});
  f.add({"tls-key", "FILE", "private key of the --tls-cert in the same position (e.g. privkey.pem)", "", true});
}

bool tls_configured(const FlagValues& flags) { return !flags.all("tls-cert").empty(); }

core::Result<std::optional<core::TlsServerConfig>> tls_server_config_from(const FlagValues& flags,
                                                                            std::shared_ptr<core::TlsTicketKeys> keys) {
  const auto& certs = flags.all("tls-cert");
  const auto& tls_keys = flags.all("tls-key");
  if (certs.empty()) {
    if (!tls_keys.empty()) return core::Error{EINVAL, "--tls-key given without --tls-cert"};
    return std::optional<core::TlsServerConfig>{};
  }
  core::TlsServerConfig config;
  config.ticket_keys = std::move(keys);
  std::size_t key_i = 0;
  for (const auto& c : certs) {
    std::error_code ec;
    if (fs::is_directory(c, ec)) {
      std::vector<fs::path> entries;
      for (const auto& e : fs::directory_iterator(c, ec)) entries.push_back(e.path());
      std::sort(entries.begin(), entries.end());
      const std::size_t before = config.certs.size();
      for (const auto& p : entries) {
        if (p.extension() == ".crt") {
          fs::path key = p;
          key.replace_extension(".key");
          if (!fs::exists(key, ec)) {
            return core::Error{EINVAL, fmt::format("--tls-cert {}: {} has no {}", c, p.filename().string(),
                                                   key.filename().string())};
          }
          config.certs.push_back({p.string(), key.string(), "", ""});
        } else if (p.extension() == ".pem") {
          config.certs.push_back({p.string(), "", "", ""});
        }
      }
      if (config.certs.size() == before) {
        return core::Error{EINVAL, fmt::format("--tls-cert {}: no NAME.crt/NAME.key pair or NAME.pem in it", c)};
      }
      continue;
    }
    std::string key = key_i < tls_keys.size() ? tls_keys[key_i] : "";
    ++key_i;
    config.certs.push_back({c, key, "", ""});
  }
  if (key_i < tls_keys.size()) return core::Error{EINVAL, "more --tls-key than --tls-cert files"};
  return std::optional<core::TlsServerConfig>{std::move(config)};
}

std::vector<std::string> TlsReloader::files() const {
  std::vector<std::string> out;
  for (const auto& c : config_.certs) {
    out.push_back(c.cert_file);
    if (!c.key_file.empty()) out.push_back(c.key_file);
  }
  return out;
}

std::string TlsReloader::stamp() const { return file_stamp(files()); }

core::Result<std::shared_ptr<const core::TlsContext>> TlsReloader::load() {
  stamp_ = stamp();
  auto ctx = core::TlsContext::server(config_);
  if (!ctx) return core::Error{ctx.error().code, "--tls-cert/--tls-key: " + ctx.error().message};
  return ctx;
}

std::shared_ptr<const core::TlsContext> TlsReloader::reload(bool force) {
  const std::string now = stamp();
  if (!force && now == stamp_) return nullptr;
  stamp_ = now;  // a bad file is reported once per change, not every 5 s
  auto ctx = core::TlsContext::server(config_);
  if (!ctx) {
    core::log(core::LogLevel::error, "tls.reload_failed", "reason={} {}; the previous certificates stay in use",
              core::tls_load_error_reason(ctx.error().code), ctx.error().message);
    return nullptr;
  }
  const auto& infos = (*ctx)->certificates();
  core::log(core::LogLevel::info, "tls.reloaded", "certificates={} first={} not_after={}", infos.size(),
            infos.empty() ? "" : infos.front().subject, infos.empty() ? "" : infos.front().not_after);
  return *ctx;
}

core::Result<std::shared_ptr<const core::TlsContext>> serve_tls_from_flags(const FlagValues& flags,
                                                                          core::Shards& shards, ApplyTls apply) {
  auto keys = core::TlsTicketKeys::create();
  auto config = tls_server_config_from(flags, keys);
  if (!config) return config.error();
  if (!*config) return std::shared_ptr<const core::TlsContext>{};
  const std::int64_t lifetime_s = (*config)->ticket_lifetime_s;
  auto reloader = std::make_shared<TlsReloader>(std::move(**config));
  auto ctx = reloader->load();
  if (!ctx) return ctx.error();
  auto post = [&shards, apply](std::shared_ptr<const core::TlsContext> fresh) {
    for (unsigned k = 0; k < shards.size(); ++k) {
      if (!shards.post(k, [apply, fresh](core::Shard& sh) { apply(sh, fresh); })) {
        core::log(core::LogLevel::error, "tls.reload_post_failed", "shard={} mailbox full", k);
      }
    }
  };
  shards.set_on_reload([reloader, post] {
    if (auto fresh = reloader->reload(true)) post(fresh);
  });
  auto last_rotation = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  shards.set_on_watch([reloader, post, keys, last_rotation, lifetime_s] {
    if (auto fresh = reloader->reload(false)) post(fresh);
    // A ticket key seals for one ticket lifetime at most (RFC 8446 §C.4), opens for two.
    if (std::chrono::steady_clock::now() - *last_rotation >= std::chrono::seconds(lifetime_s)) {
      keys->rotate();
      *last_rotation = std::chrono::steady_clock::now();
    }
  });
  return ctx;
}

}  // namespace webtrunk::app

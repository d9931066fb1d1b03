#include "app/customer_servlet.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>

#include "auth/secrets_file.hpp"
#include "core/log.hpp"
#include "sip/branch.hpp"

namespace webtrunk::app {
namespace {

constexpr std::size_t kSuffixSize = 9;  // ".xxxxxxxx"

// The same alphabet as the edge token's `u=` claim (auth/README.md), so the name survives the trip
// into the edge token unchanged.
bool valid_username(std::string_view u) noexcept {
  if (u.empty() || u.size() > 64) return false;
  for (char c : u) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Only plain names: no "..", no hidden files, no encoded characters. The demo site's files all fit.
bool safe_path(std::string_view p) noexcept {
  if (p.empty() || p.front() != '/' || p.size() > 256) return false;
  for (std::size_t i = 1; i < p.size(); ++i) {
    const char c = p[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '/';
    if (!ok) return false;
    if (p[i - 1] == '/' && (c == '.' || c == '/')) return false;  // "..", ".hidden", "//"
  }
  return true;
}

// Opens `rel` (no leading '/') for reading only if it resolves inside `root`, symlinks included:
// a link that leads out of the served directory (to /etc, to a home directory) must not publish
// what it points to. openat2(RESOLVE_BENEATH) refuses any resolution that leaves the root (EXDEV),
// absolute links included, and RESOLVE_NO_MAGICLINKS the /proc/self/fd kind; before Linux 5.6
// (ENOSYS) the real path is compared with the root's instead. -1 with errno set on refusal.
int open_beneath(const std::string& root, const std::string& rel) {
  const int dir = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(::syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how));
  const int saved = errno;
  ::close(dir);
  if (fd >= 0 || saved != ENOSYS) {
    errno = saved;
    return fd;
  }
  char real_root[PATH_MAX];
  char real_file[PATH_MAX];
  const std::string full = root + "/" + rel;
  if (::realpath(root.c_str(), real_root) == nullptr || ::realpath(full.c_str(), real_file) == nullptr) return -1;
  const std::string_view r(real_root), f(real_file);
  if (!(f.starts_with(r) && f.size() > r.size() && f[r.size()] == '/')) {
    errno = EXDEV;
    return -1;
  }
  return ::open(real_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

std::string_view content_type(std::string_view path) noexcept {
  const auto ends = [&](std::string_view ext) { return path.ends_with(ext); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".json") || ends(".map")) return "application/json";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

core::HttpResponse refuse(int status, std::string_view code, std::string_view reason) {
  kServletRefusedTotal.inc();
  return core::HttpResponse::json_error(status, code, reason);
}

}  // namespace

bool valid_origin(std::string_view origin) noexcept {
  std::string_view rest;
  if (origin.starts_with("http://")) {
    rest = origin.substr(7);
  } else if (origin.starts_with("https://")) {
    rest = origin.substr(8);
  } else {
    return false;
  }
  if (rest.empty() || rest.size() > 255) return false;
  for (char c : rest) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

core::Result<void> check_static_dir(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return core::Error{ENOENT, dir + ": not a directory"};
  if (!std::filesystem::is_regular_file(std::filesystem::path(dir) / "index.html", ec)) {
    return core::Error{ENOENT, dir + ": has no index.html"};
  }
  return {};
}

bool CustomerServlet::origin_allowed(const core::HttpRequest& req) const {
  const auto origin = req.header("Origin");
  if (!origin) return true;
  // Browsers set Sec-Fetch-Site themselves (a page's script cannot), and send Origin on a
  // same-origin POST too: the site's own page is always allowed.
  if (req.header("Sec-Fetch-Site") == "same-origin") return true;
  if (*origin == own_origin_) return true;
  return std::find(cfg_.origins.begin(), cfg_.origins.end(), *origin) != cfg_.origins.end();
}

core::HttpResponse CustomerServlet::handle(const core::HttpRequest& req, std::int64_t now) const {
  if (req.path == "/token") {
    if (core::is_cors_preflight(req)) {
      const bool ok = origin_allowed(req);
      if (!ok) kServletRefusedTotal.inc();
      return core::cors_preflight(req.header("Origin"), ok, "GET, POST", "Content-Type");
    }
    if (req.method != "GET" && req.method != "POST") {
      auto r = refuse(405, "method_not_allowed", "use GET or POST");
      r.set("Allow", "GET, POST, OPTIONS");
      return r;
    }
    return token(req, now);
  }
  if (req.path == "/healthz" && (req.method == "GET" || req.method == "HEAD")) {
    return core::HttpResponse::text(200, "ok\n");
  }
  if (!cfg_.static_dir.empty() && (req.method == "GET" || req.method == "HEAD")) return file(req, now);
  return refuse(404, "not_found", "this servlet serves /token and /healthz");
}

core::HttpResponse CustomerServlet::token(const core::HttpRequest& req, std::int64_t now) const {
  const auto origin = req.header("Origin");
  if (!origin_allowed(req)) {
    core::log(core::LogLevel::info, "servlet.origin_refused", "origin={} peer={}", *origin, req.peer.to_string());
    auto r = refuse(403, "origin_not_allowed", "this page's origin may not fetch tokens from this servlet");
    core::add_cors_headers(r, origin, false);
    return r;
  }
  const auth::CustomerToken t = mint(cfg_.minter, now);
  kServletTokensTotal.inc();
  const bool voxbone = req.query_param("format") == "voxbone";
  auto r = core::HttpResponse::json(200, voxbone ? auth::voxbone_config_json(t) : auth::customer_token_json(t));
  // A token is single use at the auth service: no cache may hand the same one out twice.
  r.set("Cache-Control", "no-store");
  if (origin) core::add_cors_headers(r, origin, true);
  return r;
}

core::HttpResponse CustomerServlet::file(const core::HttpRequest& req, std::int64_t now) const {
  std::string path(req.path);
  if (!path.empty() && path.back() == '/') path += "index.html";
  if (!safe_path(path)) return refuse(404, "not_found", "no such file");
  // Read per request: the files are small, and a rebuilt page shows without a restart.
  const int fd = open_beneath(cfg_.static_dir, path.substr(1));
  if (fd < 0) {
    if (errno == EXDEV || errno == ELOOP) {
      kServletOutsideRootTotal.inc();
      core::log_sampled(log_sampler_, core::Instant{} + std::chrono::seconds(now), core::address_key(req.peer),
                        core::LogLevel::warn, "servlet.outside_root", "path={} peer={}", path, req.peer.to_string());
    }
    return refuse(404, "not_found", "no such file");
  }
  struct stat st {};
  std::string body;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (!ok) {
    ::close(fd);
    return refuse(404, "not_found", "no such file");
  }
  body.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (ok && got < body.size()) {
    const ssize_t n = ::read(fd, body.data() + got, body.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;  // shrank while read: serve what is there
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (!ok) return core::HttpResponse::json_error(500, "read_failed", "the file cannot be read");
  body.resize(got);
  auto r = core::HttpResponse::with_body(200, std::string(content_type(path)), std::move(body));
  r.set("Cache-Control", "no-cache");
  r.set("X-Content-Type-Options", "nosniff");
  return r;
}

core::Result<std::string> load_customer_secret(const std::string& path) {
  auto secrets = auth::load_secrets_file(path);
  if (!secrets) return secrets.error();
  return std::move(secrets->front().key);
}

core::Result<MinterOptions> minter_options_from(const FlagValues& flags, bool unique_username) {
  MinterOptions o;
  o.unique_username = unique_username;
  o.account = flags.get("account");
  if (o.account.empty()) return core::Error{kUsageError, "--account is required"};
  if (!valid_username(o.account)) {
    return core::Error{kUsageError, "--account: 1 to 64 of A-Z a-z 0-9 . _ @ -"};
  }
  o.username = flags.get("username");
  if (!valid_username(o.username) || (unique_username && o.username.size() > 64 - kSuffixSize)) {
    return core::Error{kUsageError, unique_username ? "--username: 1 to 55 of A-Z a-z 0-9 . _ @ -"
                                                    : "--username: 1 to 64 of A-Z a-z 0-9 . _ @ -"};
  }
  // The auth service refuses customer tokens that live longer than 600 s (auth.md §7).
  auto ttl = flags.get_int("ttl", 1, 600);
  if (!ttl) return core::Error{kUsageError, ttl.error().message};
  o.ttl = *ttl;
  const std::string& alg = flags.get("algorithm");
  if (alg == "sha256") {
    o.algo = auth::HmacAlgo::sha256;
  } else if (alg == "sha1") {
    o.algo = auth::HmacAlgo::sha1;
  } else {
    return core::Error{kUsageError, "--algorithm: '" + alg + "' is not sha256 or sha1"};
  }
  const std::string& file = flags.get("secret-file");
  if (file.empty()) return core::Error{kUsageError, "--secret-file is required"};
  auto secret = load_customer_secret(file);
  if (!secret) return core::Error{EINVAL, "--secret-file " + secret.error().message};
  o.secret = std::move(*secret);
  return o;
}

auth::CustomerToken mint(const MinterOptions& opts, std::int64_t now) {
  if (!opts.unique_username) {
    return auth::mint_customer_token(opts.account, opts.username, opts.secret, now, opts.ttl, opts.algo);
  }
  std::string name = opts.username + '.';
  char suffix[kSuffixSize - 1];
  sip::thread_id_generator().fill(suffix, sizeof suffix);  // unique, not secret: the MAC is the secret part
  name.append(suffix, sizeof suffix);
  return auth::mint_customer_token(opts.account, name, opts.secret, now, opts.ttl, opts.algo);
}

}  // namespace webtrunk::app

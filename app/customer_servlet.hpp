// The customer side of the chain of trust (DESIGN.md step 2): the options both `webtrunk mint` and
// `webtrunk servlet` take, the token they hand out (auth::mint_customer_token: one implementation),
// and the servlet's request handling, sans-IO: core::HttpRequest in, core::HttpResponse out, so it
// is tested without sockets (cmd_customer.cpp runs it on core::HttpServer).
//
// The servlet's routes:
//   GET|POST /token       {"account","username","expires","key"}  (?format=voxbone: {"key","expires","username"},
//                         the shape of Voxbone's WebrtcAuthServlet). Cache-Control: no-store.
//   OPTIONS /token        CORS preflight
//   GET /healthz          ok
//   GET|HEAD /<file>      the files of --static DIR (the customer's site; "/" is index.html)
//                         only what resolves inside DIR: a symlink out of it is 404 (openat2
//                         RESOLVE_BENEATH), so a link to a secret file next to the site is not served
// Origins: a request from a page is allowed when it is same-origin (Sec-Fetch-Site: same-origin, or
// an Origin equal to the servlet's own), or its Origin is on the --origin list; then the answer
// carries Access-Control-Allow-Origin for it. Any other Origin gets 403 {"error":"origin_not_allowed"}.
// A request with no Origin at all (curl, a server of the customer's) is not a browser page of another
// site, and is served.
//
// Lifetimes: everything is owned strings. The secret lives in MinterOptions for the life of the
// process and is never logged or printed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "app/flags.hpp"
#include "auth/customer_token.hpp"
#include "auth/hmac.hpp"
#include "core/http_server.hpp"
#include "core/log_sampler.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"

namespace webtrunk::app {

// Error::code for a bad flag (the CLI exits 2); anything else (an unreadable file) exits 1.
inline constexpr int kUsageError = 2;

struct MinterOptions {
  std::string account;
  std::string username = "web";
  std::string secret;
  std::int64_t ttl = auth::kCustomerTokenTtl;
  auth::HmacAlgo algo = auth::HmacAlgo::sha256;
  // Append ".<8 random characters>" to the username of each token. The auth service accepts a
  // token once, and two tokens for one username minted in the same second are identical (the MAC
  // covers only "<expires>:<username>"): the servlet, which mints for many page loads, needs this.
  bool unique_username = false;
};

// The customer secret from a file in the --edge-secret-file format (auth/secrets_file.hpp): the first
// secret counts, its kid (if any) is ignored since a customer token carries none.
core::Result<std::string> load_customer_secret(const std::string& path);

// --account, --secret-file, --username, --ttl, --algorithm. The username may take 55 characters
// with unique_username (its suffix makes 64), else 64.
core::Result<MinterOptions> minter_options_from(const FlagValues& flags, bool unique_username = false);

auth::CustomerToken mint(const MinterOptions& opts, std::int64_t now);

inline const core::Counter kServletTokensTotal{"webtrunk_servlet_tokens_total", "customer tokens handed out"};
inline const core::Counter kServletRefusedTotal{"webtrunk_servlet_refused_total",
                                                "servlet requests refused (origin not allowed, bad method, bad path)"};
inline const core::Counter kServletOutsideRootTotal{
    "webtrunk_servlet_outside_root_total",
    "--static requests refused 404: the path resolves outside the directory (a symlink out of it)"};

// "scheme://host[:port]" with scheme http or https, no path, no trailing '/'.
bool valid_origin(std::string_view origin) noexcept;
// The directory exists and holds index.html.
core::Result<void> check_static_dir(const std::string& dir);

struct ServletConfig {
  MinterOptions minter;
  std::vector<std::string> origins;  // allowed cross-origin pages
  std::string static_dir;            // empty: no files served
};

class CustomerServlet {
 public:
  explicit CustomerServlet(ServletConfig cfg) : cfg_(std::move(cfg)) {}

  // The servlet's own origin ("http://127.0.0.1:8081"), known once it listens.
  void set_own_origin(std::string origin) { own_origin_ = std::move(origin); }

  // `now`: unix seconds.
  core::HttpResponse handle(const core::HttpRequest& req, std::int64_t now) const;

 private:
  bool origin_allowed(const core::HttpRequest& req) const;
  core::HttpResponse token(const core::HttpRequest& req, std::int64_t now) const;
  core::HttpResponse file(const core::HttpRequest& req, std::int64_t now) const;

  ServletConfig cfg_;
  std::string own_origin_;
  mutable core::LogSampler log_sampler_;  // paths refused outside the root, per peer address
};

}  // namespace webtrunk::app

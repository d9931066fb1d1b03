// The customer side of the chain of trust (issue 5): `webtrunk mint` prints one customer token,
// `webtrunk servlet` hands them out over HTTP beside the customer's web site (edge/customer_servlet.hpp
// holds its request logic). Both mint with auth::mint_customer_token: one implementation.
#include <cstdio>
#include <string>

#include "auth/customer_token.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "edge/commands.hpp"
#include "edge/customer_servlet.hpp"

namespace webtrunk::edge {

FlagSet mint_flags() {
  FlagSet f("mint", "Mint a customer token (what a customer's servlet hands to its web page) as JSON.");
  f.add({"account", "ID", "account id at the auth service", "", false});
  f.add({"secret-file", "FILE",
         "file holding the customer secret (a line `secret` or `kid:secret`, '#' comments; the first one is used)", "",
         false});
  f.add({"username", "NAME", "the caller's name inside the token", "web", false});
  f.add({"ttl", "SECONDS", "token lifetime", "300", false});
  f.add({"algorithm", "ALG", "sha256 or sha1 (sha1: what Voxbone's servlet mints)", "sha256", false});
  return f;
}

FlagSet servlet_flags() {
  FlagSet f("servlet", "The customer-side token endpoint, run beside the customer's web site.");
  f.add({"listen", "ADDR:PORT", "HTTP listen address", "127.0.0.1:8081", false});
  f.add({"account", "ID", "account id at the auth service", "", false});
  f.add({"secret-file", "FILE", "file holding the customer secret (as for `mint`)", "", false});
  f.add({"origin", "URL",
         "page origin allowed to fetch tokens cross-origin, e.g. https://shop.example (repeatable); the origin of "
         "the --listen address itself is always allowed",
         "", true});
  f.add({"username", "NAME", "the caller's name inside each token", "web", false});
  f.add({"ttl", "SECONDS", "token lifetime", "300", false});
  f.add({"algorithm", "ALG", "sha256 or sha1", "sha256", false});
  f.add({"static", "DIR", "also serve the files of DIR at / (the customer's web site, e.g. web/dist)", "", false});
  f.add({"log-level", "LEVEL", "debug, info, warn or error", "info", false});
  f.add({"log-format", "FORMAT", "json or text", "json", false});
  return f;
}

int run_mint(const FlagValues& flags) {
  auto opts = minter_options_from(flags);
  if (!opts) {
    std::fprintf(stderr, "webtrunk mint: %s\n", opts.error().message.c_str());
    return opts.error().code == kUsageError ? 2 : 1;
  }
  const auth::CustomerToken t = mint(*opts, core::unix_now());
  std::printf("%s\n", auth::customer_token_json(t).c_str());
  return 0;
}

int run_servlet(const FlagValues&) {
  std::fprintf(stderr, "webtrunk: `servlet` is not in this build yet.\n");
  return 1;
}

}  // namespace webtrunk::edge

// The customer side of the chain of trust (issue 5): `webtrunk mint` and `webtrunk servlet`. Not in
// this build yet.
#include <cstdio>

#include "edge/commands.hpp"

namespace webtrunk::edge {

FlagSet mint_flags() {
  FlagSet f("mint", "Mint a customer token (what a customer's servlet hands to its web page) as JSON.");
  f.add({"account", "ID", "account id at the auth service", "", false});
  f.add({"secret-file", "FILE", "file holding the customer secret", "", false});
  f.add({"username", "NAME", "the caller's name inside the token", "web", false});
  f.add({"ttl", "SECONDS", "token lifetime", "300", false});
  f.add({"algorithm", "ALG", "sha256 or sha1", "sha256", false});
  return f;
}

FlagSet servlet_flags() {
  FlagSet f("servlet", "The customer-side token endpoint, run beside the customer's web site.");
  f.add({"listen", "ADDR:PORT", "HTTP listen address", "127.0.0.1:8081", false});
  f.add({"account", "ID", "account id at the auth service", "", false});
  f.add({"secret-file", "FILE", "file holding the customer secret", "", false});
  f.add({"origin", "URL", "page origin allowed to fetch tokens", "", true});
  f.add({"ttl", "SECONDS", "token lifetime", "300", false});
  return f;
}

int run_mint(const FlagValues&) {
  std::fprintf(stderr, "webtrunk: `mint` is not in this build yet.\n");
  return 1;
}

int run_servlet(const FlagValues&) {
  std::fprintf(stderr, "webtrunk: `servlet` is not in this build yet.\n");
  return 1;
}

}  // namespace webtrunk::edge

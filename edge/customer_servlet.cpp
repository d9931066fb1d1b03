#include "edge/customer_servlet.hpp"

#include <cerrno>

#include "auth/secrets_file.hpp"

namespace webtrunk::edge {
namespace {

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

}  // namespace

core::Result<std::string> load_customer_secret(const std::string& path) {
  auto secrets = auth::load_secrets_file(path);
  if (!secrets) return secrets.error();
  return std::move(secrets->front().key);
}

core::Result<MinterOptions> minter_options_from(const FlagValues& flags) {
  MinterOptions o;
  o.account = flags.get("account");
  if (o.account.empty()) return core::Error{kUsageError, "--account is required"};
  if (!valid_username(o.account)) {
    return core::Error{kUsageError, "--account: 1 to 64 of A-Z a-z 0-9 . _ @ -"};
  }
  o.username = flags.get("username");
  if (!valid_username(o.username)) {
    return core::Error{kUsageError, "--username: 1 to 64 of A-Z a-z 0-9 . _ @ -"};
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
  return auth::mint_customer_token(opts.account, opts.username, opts.secret, now, opts.ttl, opts.algo);
}

}  // namespace webtrunk::edge

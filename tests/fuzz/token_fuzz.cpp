// libFuzzer target for everything in auth/ that reads untrusted text: edge token usernames (digest
// and bearer), nonces, digest credentials, customer tokens, base64, and secrets-file content.
// The first byte picks the parser; the rest is the input. Besides "no crash, no over-read", it
// checks invariants: a parsed username's claims are views inside the input, a minted token always
// verifies, base64 round-trips, and an issued nonce is ok now, stale later and invalid elsewhere.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "auth/base64.hpp"
#include "auth/customer_token.hpp"
#include "auth/digest.hpp"
#include "auth/edge_token.hpp"
#include "auth/edge_token_verifier.hpp"
#include "auth/nonce.hpp"
#include "auth/replay_cache.hpp"
#include "auth/secrets_file.hpp"

namespace {

using namespace webtrunk::auth;

constexpr std::int64_t kNow = 1767220000;

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

EdgeTokenVerifier& verifier() {
  static EdgeTokenVerifier* v = [] {
    VerifierOptions o;
    o.accept_legacy = true;
    auto* p = new EdgeTokenVerifier(o);
    if (!p->set_secrets({Secret{"k1", "fuzz-secret-k1-0000"}, Secret{"", "fuzz-legacy-0000"}}).ok()) __builtin_trap();
    return p;
  }();
  return *v;
}

const NonceKey& nonce_key() {
  static const NonceKey k(std::array<std::uint8_t, 32>{42});
  return k;
}

// Splits at the first '\n' (or the whole input for the first part).
std::string_view take_line(std::string_view& s) {
  const std::size_t nl = s.find('\n');
  std::string_view line = s.substr(0, nl);
  s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
  return line;
}

void fuzz_username(std::string_view in) {
  ParsedUsername p;
  if (parse_edge_username(in, p) == TokenError::none && p.has_claims) {
    if (!inside(p.claims.kid, in) || !inside(p.claims.account, in) || !inside(p.claims.numbers, in) ||
        !inside(p.claims.user, in)) {
      __builtin_trap();
    }
    (void)p.claims.allows_number("15551234567");
    (void)p.claims.allows_number(in.substr(0, 12));
  }
  TokenCheck c;
  verifier().check(kNow, in, c);
  std::string_view rest = in;
  const std::string_view user = take_line(rest);
  verifier().check_bearer(kNow, user, rest, c);
}

void fuzz_nonce(std::string_view in) {
  std::string_view rest = in;
  const std::string_view nonce = take_line(rest);
  (void)nonce_key().check(kNow, nonce, rest);
  // Whatever the binding bytes, what we issue checks ok now, stale later, invalid elsewhere.
  std::array<std::uint8_t, kNonceRandomSize> r{};
  for (std::size_t i = 0; i < r.size() && i < nonce.size(); ++i) r[i] = static_cast<std::uint8_t>(nonce[i]);
  const std::string issued = nonce_key().issue(kNow, rest, r);
  if (nonce_key().check(kNow, issued, rest) != NonceStatus::ok) __builtin_trap();
  if (nonce_key().check(kNow + 301, issued, rest) != NonceStatus::stale) __builtin_trap();
  std::string other(rest);
  other += 'x';
  if (nonce_key().check(kNow, issued, other) != NonceStatus::invalid) __builtin_trap();
}

void fuzz_digest(std::string_view in) {
  DigestCredentials c;
  std::string_view rest = in;
  c.username = take_line(rest);
  c.realm = take_line(rest);
  c.nonce = take_line(rest);
  c.uri = take_line(rest);
  c.response = take_line(rest);
  c.algorithm = take_line(rest);
  c.qop = take_line(rest);
  c.nc = take_line(rest);
  c.cnonce = take_line(rest);
  const std::string_view method = take_line(rest);
  (void)check_digest(c, method, rest);
  DigestHex h;
  if (compute_digest_response(c, method, rest, h) == DigestStatus::ok) {
    c.response = h.view();
    if (check_digest(c, method, rest) != DigestStatus::ok) __builtin_trap();  // round trip
  }
  DigestChallenge ch;
  ch.realm = c.realm;
  ch.nonce = c.nonce;
  ch.opaque = c.opaque;
  (void)build_challenges(ch, !in.empty() && (in.size() & 1));
}

void fuzz_customer(std::string_view in) {
  std::string_view rest = in;
  CustomerToken t;
  t.account = std::string(take_line(rest));
  t.username = std::string(take_line(rest));
  const std::string_view exp = take_line(rest);
  t.expires = 0;
  for (char ch : exp.substr(0, 18)) t.expires = t.expires * 10 + (static_cast<unsigned char>(ch) % 10);
  t.key = std::string(take_line(rest));
  (void)verify_customer_token(t, rest, kNow);
  static ReplayCache cache(64);
  (void)cache.check_and_insert(kNow, customer_token_id(t), t.expires);
  (void)voxbone_config_script(t, t.account);
  (void)customer_token_json(t);
  // Minting with arbitrary text, then verifying, must succeed when the username is acceptable.
  const auto m = mint_customer_token(t.account, t.username, rest, kNow);
  const auto r = verify_customer_token(m, rest, kNow);
  if (r != CustomerTokenError::none && r != CustomerTokenError::malformed) __builtin_trap();
}

void fuzz_secrets(std::string_view in) {
  auto r = parse_secrets(in);
  if (r.ok()) {
    SecretStore store;
    if (!store.set_secrets(r.value()).ok()) __builtin_trap();  // a parsed file is always accepted
  }
}

void fuzz_base64(std::string_view in) {
  std::array<std::uint8_t, 512> out{};
  if (auto n = base64_decode_lenient(in, out)) {
    const std::string again = base64_encode(std::span<const std::uint8_t>(out.data(), *n));
    std::array<std::uint8_t, 512> out2{};
    auto n2 = base64_decode_lenient(again, out2);
    if (!n2 || *n2 != *n || std::memcmp(out.data(), out2.data(), *n) != 0) __builtin_trap();
  }
  if (auto n = base64url_decode_strict(in, out)) {
    if (base64url_encode(std::span<const std::uint8_t>(out.data(), *n)) != in) __builtin_trap();  // canonical
  }
}

void fuzz_mint(std::string_view in) {
  std::string_view rest = in;
  MintClaims claims;
  claims.account = std::string(take_line(rest));
  const std::string id(take_line(rest));
  while (!rest.empty() && claims.numbers.size() < 40) claims.numbers.emplace_back(take_line(rest));
  auto t = mint_edge_token(Secret{"k1", "fuzz-secret-k1-0000"}, kNow + 60, id, claims);
  if (t.ok()) {
    TokenCheck c;
    verifier().check_bearer(kNow, t->username, t->password, c);
    if (!c.ok()) __builtin_trap();  // everything we mint, we accept
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0:
      fuzz_username(in);
      break;
    case 1:
      fuzz_nonce(in);
      break;
    case 2:
      fuzz_digest(in);
      break;
    case 3:
      fuzz_customer(in);
      break;
    case 4:
      fuzz_secrets(in);
      break;
    case 5:
      fuzz_base64(in);
      break;
    default:
      fuzz_mint(in);
      break;
  }
  return 0;
}

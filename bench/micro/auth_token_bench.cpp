// Edge token and digest costs. Target: >= 500,000 edge-token verifications per second per core
// with HMAC-SHA256. The BM_AuthHmac* group measures the ways to key an HMAC once and reuse it,
// which is why auth/hmac.cpp copies saved SHA-256 states (see the figures in auth/README.md).
//   build-auth/bench/webtrunk_microbench --benchmark_filter=Auth
#define OPENSSL_SUPPRESS_DEPRECATED 1  // HMAC_CTX_copy is measured for comparison only

#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <string>

#include "auth/edge_authenticator.hpp"
#include "auth/edge_token.hpp"
#include "auth/edge_token_verifier.hpp"
#include "auth/hmac.hpp"
#include "auth/nonce.hpp"

namespace webtrunk::auth {
namespace {

constexpr std::int64_t kNow = 1767220000;
const Secret kSecret{"k1", "edge-secret-k1-0123456789abcdef"};

std::string typical_username() {
  return mint_edge_token(kSecret, kNow + 3600, "alice", MintClaims{"shop", {"15551230000", "1555123*"}, 3600})
      ->username;
}

// --- ways to compute HMAC-SHA256(secret, username) ----------------------------------------

void BM_AuthHmacSha256_SavedStates(benchmark::State& state) {
  const HmacKey key(HmacAlgo::sha256, kSecret.key);
  const std::string u = typical_username();
  std::array<std::uint8_t, kMaxMacSize> mac{};
  for (auto _ : state) {
    key.mac(u, mac);
    benchmark::DoNotOptimize(mac);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthHmacSha256_SavedStates);

void BM_AuthHmacSha256_OneShot(benchmark::State& state) {
  const std::string u = typical_username();
  unsigned char mac[32];
  unsigned int len = 0;
  for (auto _ : state) {
    HMAC(EVP_sha256(), kSecret.key.data(), static_cast<int>(kSecret.key.size()),
         reinterpret_cast<const unsigned char*>(u.data()), u.size(), mac, &len);
    benchmark::DoNotOptimize(mac);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthHmacSha256_OneShot);

EVP_MAC_CTX* keyed_mac_ctx(EVP_MAC* mac) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(kSecret.key.data()), kSecret.key.size(), params);
  return ctx;
}

void BM_AuthHmacSha256_EvpMacDup(benchmark::State& state) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* base = keyed_mac_ctx(mac);
  const std::string u = typical_username();
  unsigned char out[32];
  std::size_t len = 0;
  for (auto _ : state) {
    EVP_MAC_CTX* c = EVP_MAC_CTX_dup(base);
    EVP_MAC_update(c, reinterpret_cast<const unsigned char*>(u.data()), u.size());
    EVP_MAC_final(c, out, &len, sizeof out);
    EVP_MAC_CTX_free(c);
    benchmark::DoNotOptimize(out);
  }
  EVP_MAC_CTX_free(base);
  EVP_MAC_free(mac);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthHmacSha256_EvpMacDup);

// EVP_MAC_init with a NULL key reuses the key already set (the provider keeps the ipad/opad states).
void BM_AuthHmacSha256_EvpMacReinit(benchmark::State& state) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* c = keyed_mac_ctx(mac);
  const std::string u = typical_username();
  unsigned char out[32];
  std::size_t len = 0;
  for (auto _ : state) {
    EVP_MAC_init(c, nullptr, 0, nullptr);
    EVP_MAC_update(c, reinterpret_cast<const unsigned char*>(u.data()), u.size());
    EVP_MAC_final(c, out, &len, sizeof out);
    benchmark::DoNotOptimize(out);
  }
  EVP_MAC_CTX_free(c);
  EVP_MAC_free(mac);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthHmacSha256_EvpMacReinit);

void BM_AuthHmacSha256_HmacCtxCopy(benchmark::State& state) {
  HMAC_CTX* base = HMAC_CTX_new();
  HMAC_Init_ex(base, kSecret.key.data(), static_cast<int>(kSecret.key.size()), EVP_sha256(), nullptr);
  HMAC_CTX* c = HMAC_CTX_new();
  const std::string u = typical_username();
  unsigned char out[32];
  unsigned int len = 0;
  for (auto _ : state) {
    HMAC_CTX_copy(c, base);
    HMAC_Update(c, reinterpret_cast<const unsigned char*>(u.data()), u.size());
    HMAC_Final(c, out, &len);
    benchmark::DoNotOptimize(out);
  }
  HMAC_CTX_free(c);
  HMAC_CTX_free(base);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthHmacSha256_HmacCtxCopy);

// --- the edge's work per request ---------------------------------------------------------

EdgeTokenVerifier make_verifier() {
  EdgeTokenVerifier v;
  // Several live secrets, the token's kid last, so the lookup is not the best case.
  std::vector<Secret> secrets;
  for (int i = 0; i < 3; ++i) secrets.push_back(Secret{"old" + std::to_string(i), "old-secret-" + std::to_string(i)});
  secrets.push_back(kSecret);
  if (!v.set_secrets(secrets).ok()) std::abort();
  return v;
}

// Parse, time policy, claims, kid lookup, HMAC-SHA256, base64: the password for the digest check.
void BM_AuthEdgeTokenVerify(benchmark::State& state) {
  EdgeTokenVerifier v = make_verifier();
  const std::string u = typical_username();
  TokenCheck c;
  for (auto _ : state) {
    v.check(kNow, u, c);
    benchmark::DoNotOptimize(c.passwords[0]);
  }
  if (!c.ok()) state.SkipWithError("token refused");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthEdgeTokenVerify);

void BM_AuthEdgeTokenVerifyBearer(benchmark::State& state) {
  EdgeTokenVerifier v = make_verifier();
  auto t = mint_edge_token(kSecret, kNow + 3600, "alice", MintClaims{"shop", {"15551230000", "1555123*"}, 3600});
  TokenCheck c;
  for (auto _ : state) {
    v.check_bearer(kNow, t->username, t->password, c);
    benchmark::DoNotOptimize(c.error);
  }
  if (!c.ok()) state.SkipWithError("token refused");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthEdgeTokenVerifyBearer);

void BM_AuthDigestCheckMd5(benchmark::State& state) {
  DigestCredentials c;
  const std::string u = typical_username();
  const std::string pw = "zleVzuep2cx+4VE0v+B6FPKf8kUaWDlVkKB4AgQihwc=";
  c.username = u;
  c.realm = "edge.example.net";
  c.nonce = "AAAAAGlVxSAAAAAAAAAAAAAAAAB1c2VyLWZsb3ctMDAwMDAwMDE";
  c.uri = "sip:+15551234567@edge.example.net";
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "0a4f113b";
  DigestHex h;
  (void)compute_digest_response(c, "INVITE", pw, h);
  const std::string resp(h.view());
  c.response = resp;
  for (auto _ : state) benchmark::DoNotOptimize(check_digest(c, "INVITE", pw));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthDigestCheckMd5);

// A whole authenticated INVITE: nonce MAC, token (HMAC-SHA256), MD5 digest, number claim.
void BM_AuthFullInviteMd5(benchmark::State& state) {
  const std::array<std::uint8_t, 32> nk{1};
  EdgeAuthenticator auth(std::make_shared<NonceKey>(nk), make_verifier(),
                         EdgeAuthOptions{"edge.example.net", false, ""});
  auto t = mint_edge_token(kSecret, kNow + 3600, "alice", MintClaims{"shop", {"15551230000", "1555123*"}, 3600});
  const std::string ch = auth.challenge(kNow, "flow-1", false)[0];
  const auto at = ch.find("nonce=\"") + 7;
  const std::string nonce = ch.substr(at, ch.find('"', at) - at);
  DigestCredentials c;
  c.username = t->username;
  c.realm = "edge.example.net";
  c.nonce = nonce;
  c.uri = "sip:+15551234567@edge.example.net";
  c.algorithm = "MD5";
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "0a4f113b";
  DigestHex h;
  (void)compute_digest_response(c, "INVITE", t->password, h);
  const std::string resp(h.view());
  c.response = resp;
  AuthResult r;
  for (auto _ : state) {
    auth.authenticate(kNow + 1, &c, "INVITE", "flow-1", "+15551234567", r);
    benchmark::DoNotOptimize(r.action);
  }
  if (r.action != AuthAction::accept) state.SkipWithError("not accepted");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthFullInviteMd5);

void BM_AuthNonceIssue(benchmark::State& state) {
  const NonceKey k = NonceKey::generate();
  for (auto _ : state) benchmark::DoNotOptimize(k.issue(kNow, "flow-1"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthNonceIssue);

}  // namespace
}  // namespace webtrunk::auth

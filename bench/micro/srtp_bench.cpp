// SRTP protect and unprotect per packet (12-byte RTP header + 160-byte payload, a G.711 frame) for
// each profile: our engine as make_srtp builds it (`own`: AES-NI, PCLMULQDQ and SHA-NI where the
// CPU has them), our engine on OpenSSL EVP only (`own-evp`), and libsrtp2, in the same run.
// Targets: <= 120 ns for AEAD_AES_256_GCM, <= 200 ns for AES_CM_128_HMAC_SHA1_80. The
// BM_SrtpHmacSha1, BM_SrtpAesCm and BM_SrtpGcm256 groups measure the ways to do the parts, which
// is why media/srtp.cpp does them as it does; BM_SrtpContextBytes is the heap per transform.
//   build/bench/webtrunk_microbench --benchmark_filter='Srtp|Srtcp' --benchmark_repetitions=5
#define OPENSSL_SUPPRESS_DEPRECATED 1  // SHA1_* and HMAC_CTX are measured for comparison

#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <emmintrin.h>

#include <array>
#include <cstring>
#include <malloc.h>
#include <ctime>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "media/aes_ctr.hpp"
#include "media/aes_gcm.hpp"
#include "media/hmac_sha1.hpp"
#include "media/rtp.hpp"
#include "media/srtp.hpp"

namespace webtrunk::media {
namespace {

constexpr std::size_t kRtpLen = 12 + 160;
constexpr std::size_t kBatch = 256;  // packets protected ahead for the unprotect loop (fits in L2)

SrtpKeys bench_keys(SrtpProfile p) {
  SrtpKeys k;
  k.profile = p;
  for (std::size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<std::uint8_t>(i * 11 + 3);
  for (std::size_t i = 0; i < k.salt.size(); ++i) k.salt[i] = static_cast<std::uint8_t>(i * 5 + 9);
  return k;
}

using Packet = std::array<std::byte, kRtpLen + kSrtpMaxOverhead>;

double thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

void fill_rtp(Packet& p, std::uint16_t seq) {
  p.fill(std::byte{0x55});
  p[0] = std::byte{0x80};
  p[1] = std::byte{0};
  core::store_be16(&p[2], seq);
  core::store_be32(&p[4], seq * 160u);
  core::store_be32(&p[8], 0x12345678);
}

// Which transform a benchmark runs: libsrtp2, ours as make_srtp builds it (AES-NI where the CPU has
// it), or ours on OpenSSL EVP only.
enum class Impl { own, own_evp, libsrtp };
std::string_view impl_name(Impl i) { return i == Impl::own ? "own" : i == Impl::own_evp ? "own-evp" : "libsrtp"; }

std::unique_ptr<SrtpTransform> make_or_skip(benchmark::State& state, Impl impl, SrtpProfile p) {
  core::Result<std::unique_ptr<SrtpTransform>> t = core::Error{};
  if (impl == Impl::own_evp) {
    srtp_detail::SessionKeys s;
    if (!srtp_detail::derive_session_keys(bench_keys(p), s)) {
      state.SkipWithError("key derivation failed");
      return nullptr;
    }
    t = srtp_detail::make_own_srtp(p, s, srtp_detail::OwnBackend::evp);
  } else {
    t = make_srtp(impl == Impl::own ? SrtpEngine::own : SrtpEngine::libsrtp, bench_keys(p));
  }
  if (!t.ok()) {
    state.SkipWithError(t.error().message.c_str());
    return nullptr;
  }
  return std::move(t).value();
}

void BM_SrtpProtect(benchmark::State& state, Impl e, SrtpProfile p) {
  auto tx = make_or_skip(state, e, p);
  if (!tx) return;
  Packet pkt;
  fill_rtp(pkt, 0);
  std::uint16_t seq = 0;
  for (auto _ : state) {
    set_sequence(pkt, seq++);  // each packet a new index, as on the wire (the ROC wraps too)
    auto r = tx->protect_rtp(pkt, kRtpLen);
    if (!r.ok()) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(pkt);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SrtpUnprotect(benchmark::State& state, Impl e, SrtpProfile p) {
  auto tx = make_or_skip(state, e, p);
  auto rx = make_or_skip(state, e, p);
  if (!tx || !rx) return;
  std::vector<Packet> batch(kBatch);
  std::vector<std::size_t> lens(kBatch);
  std::uint16_t seq = 0;
  std::size_t next = kBatch;
  // PauseTiming/ResumeTiming cost this VM's kernel time that lands in the CPU column; `ns` counts
  // only the unprotect loops (thread CPU time read once per batch), the figure to read.
  double loop_ns = 0;
  double loop_start = 0;
  std::size_t looped = 0;
  for (auto _ : state) {
    if (next == kBatch) {  // protect the next batch off the clock
      if (loop_start > 0) {
        loop_ns += thread_cpu_ns() - loop_start;
        looped += kBatch;
      }
      state.PauseTiming();
      for (std::size_t i = 0; i < kBatch; ++i) {
        fill_rtp(batch[i], seq++);
        lens[i] = tx->protect_rtp(batch[i], kRtpLen).value();
      }
      next = 0;
      state.ResumeTiming();
      loop_start = thread_cpu_ns();
    }
    auto r = rx->unprotect_rtp(batch[next], lens[next]);
    if (!r.ok()) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
    ++next;
    benchmark::DoNotOptimize(batch.data());
  }
  state.SetItemsProcessed(state.iterations());
  if (looped > 0) state.counters["ns"] = loop_ns / static_cast<double>(looped);
}

void BM_SrtcpProtect(benchmark::State& state, Impl e, SrtpProfile p) {
  auto tx = make_or_skip(state, e, p);
  if (!tx) return;
  std::array<std::byte, 80 + kSrtpMaxOverhead> pkt{};
  pkt[0] = std::byte{0x81};
  pkt[1] = std::byte{200};
  core::store_be16(&pkt[2], 19);  // an SR with one report block is 52 bytes; 80 with SDES
  for (auto _ : state) {
    auto r = tx->protect_rtcp(pkt, 80);
    if (!r.ok()) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(pkt);
  }
  state.SetItemsProcessed(state.iterations());
}

// Heap per transform (malloc'd bytes, glibc's mallinfo2): right after make_srtp, and once it has
// protected one RTP packet (one SSRC's state). Not a timing: read the `bytes` counters. The whole
// object is on the heap (make_srtp returns a unique_ptr), so this includes its sizeof.
void BM_SrtpContextBytes(benchmark::State& state, Impl e, SrtpProfile p) {
  constexpr std::size_t kN = 200;
  double created = 0;
  double used = 0;
  for (auto _ : state) {
    std::vector<std::unique_ptr<SrtpTransform>> v;
    v.reserve(kN);
    v.push_back(make_or_skip(state, e, p));  // the crypto libraries' one-time set-up, not counted
    v.clear();
    const auto before = mallinfo2().uordblks;
    for (std::size_t i = 0; i < kN; ++i) v.push_back(make_or_skip(state, e, p));
    const auto after_make = mallinfo2().uordblks;
    Packet pkt;
    for (auto& t : v) {
      fill_rtp(pkt, 1);
      if (t && !t->protect_rtp(pkt, kRtpLen).ok()) state.SkipWithError("protect failed");
    }
    const auto after_use = mallinfo2().uordblks;
    created = static_cast<double>(after_make - before) / kN;
    used = static_cast<double>(after_use - before) / kN;
  }
  state.counters["bytes"] = created;
  state.counters["bytes_in_use"] = used;
}

const int kRegistered = [] {
  for (Impl e : {Impl::own, Impl::own_evp, Impl::libsrtp}) {
    for (SrtpProfile p :
         {SrtpProfile::aes_cm_128_hmac_sha1_80, SrtpProfile::aead_aes_128_gcm, SrtpProfile::aead_aes_256_gcm}) {
      const std::string suffix = std::string("/") + std::string(impl_name(e)) + "/" + std::string(to_string(p));
      benchmark::RegisterBenchmark(("BM_SrtpProtect" + suffix).c_str(), BM_SrtpProtect, e, p);
      benchmark::RegisterBenchmark(("BM_SrtpUnprotect" + suffix).c_str(), BM_SrtpUnprotect, e, p);
      benchmark::RegisterBenchmark(("BM_SrtcpProtect" + suffix).c_str(), BM_SrtcpProtect, e, p);
      benchmark::RegisterBenchmark(("BM_SrtpContextBytes" + suffix).c_str(), BM_SrtpContextBytes, e, p)
          ->Iterations(1);
    }
  }
  return 0;
}();

// --- the two halves of AES-CM-HMAC on OpenSSL 3, each way we could do it ----------------------

constexpr std::size_t kMacLen = kRtpLen + 4;  // the packet and the ROC

void BM_SrtpHmacSha1_SavedStates(benchmark::State& state) {
  std::uint8_t key[20] = {1, 2, 3};
  std::uint8_t pad[64];
  SHA_CTX inner, outer;
  std::memset(pad, 0x36, 64);
  for (int i = 0; i < 20; ++i) pad[i] ^= key[i];
  SHA1_Init(&inner);
  SHA1_Update(&inner, pad, 64);
  std::memset(pad, 0x5c, 64);
  for (int i = 0; i < 20; ++i) pad[i] ^= key[i];
  SHA1_Init(&outer);
  SHA1_Update(&outer, pad, 64);
  std::array<std::uint8_t, kMacLen> msg{};
  std::uint8_t out[20];
  for (auto _ : state) {
    SHA_CTX c = inner;
    SHA1_Update(&c, msg.data(), msg.size());
    SHA1_Final(out, &c);
    c = outer;
    SHA1_Update(&c, out, 20);
    SHA1_Final(out, &c);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_SrtpHmacSha1_SavedStates);

// What the transform does where the CPU has the SHA extensions (media/hmac_sha1.hpp).
void BM_SrtpHmacSha1_ShaNi(benchmark::State& state) {
  if (!HmacSha1::sha_ni_supported()) {
    state.SkipWithError("no SHA extensions");
    return;
  }
  const std::uint8_t key[20] = {1, 2, 3};
  HmacSha1 h;
  h.set_key(key, true);
  std::array<std::byte, kRtpLen> msg{};
  const std::uint8_t roc[4] = {};
  std::uint8_t out[20];
  for (auto _ : state) {
    h.mac(msg.data(), msg.size(), roc, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_SrtpHmacSha1_ShaNi);

void BM_SrtpHmacSha1_EvpMacDup(benchmark::State& state) {
  std::uint8_t key[20] = {1, 2, 3};
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* base = EVP_MAC_CTX_new(mac);
  char digest[] = "SHA1";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  EVP_MAC_init(base, key, sizeof key, params);
  std::array<std::uint8_t, kMacLen> msg{};
  std::uint8_t out[20];
  std::size_t n = 0;
  for (auto _ : state) {
    EVP_MAC_CTX* c = EVP_MAC_CTX_dup(base);
    EVP_MAC_update(c, msg.data(), msg.size());
    EVP_MAC_final(c, out, &n, sizeof out);
    EVP_MAC_CTX_free(c);
    benchmark::DoNotOptimize(out);
  }
  EVP_MAC_CTX_free(base);
  EVP_MAC_free(mac);
}
BENCHMARK(BM_SrtpHmacSha1_EvpMacDup);

void BM_SrtpHmacSha1_HmacCtxReinit(benchmark::State& state) {
  std::uint8_t key[20] = {1, 2, 3};
  HMAC_CTX* c = HMAC_CTX_new();
  HMAC_Init_ex(c, key, sizeof key, EVP_sha1(), nullptr);
  std::array<std::uint8_t, kMacLen> msg{};
  std::uint8_t out[20];
  unsigned n = 0;
  for (auto _ : state) {
    HMAC_Init_ex(c, nullptr, 0, nullptr, nullptr);  // same key: libsrtp2's OpenSSL backend does this
    HMAC_Update(c, msg.data(), msg.size());
    HMAC_Final(c, out, &n);
    benchmark::DoNotOptimize(out);
  }
  HMAC_CTX_free(c);
}
BENCHMARK(BM_SrtpHmacSha1_HmacCtxReinit);

// 160 bytes of AES-128 counter mode: ECB over counter blocks we write (ours) against the CTR mode
// with its IV set per packet.
void BM_SrtpAesCm_EcbCounters(benchmark::State& state) {
  std::uint8_t key[16] = {7};
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), nullptr, key, nullptr);
  EVP_CIPHER_CTX_set_padding(c, 0);
  alignas(16) std::array<std::uint8_t, 160> counters{};
  std::array<std::uint8_t, 160> data{}, stream{};
  alignas(16) std::uint8_t iv[16] = {1, 2, 3};
  for (auto _ : state) {
    // As media/srtp.cpp does: one 16-byte store per counter block.
    ++iv[9];
    const __m128i base = _mm_load_si128(reinterpret_cast<const __m128i*>(iv));
    for (int b = 0; b < 10; ++b) {
      _mm_store_si128(reinterpret_cast<__m128i*>(&counters[16 * static_cast<std::size_t>(b)]),
                      _mm_insert_epi16(base, b << 8, 7));
    }
    int len = 0;
    EVP_EncryptUpdate(c, stream.data(), &len, counters.data(), 160);
    for (std::size_t i = 0; i < 160; ++i) data[i] ^= stream[i];
    benchmark::DoNotOptimize(data);
  }
  EVP_CIPHER_CTX_free(c);
}
BENCHMARK(BM_SrtpAesCm_EcbCounters);

// What the transform does where the CPU has AES-NI (media/aes_ctr.hpp).
void BM_SrtpAesCm_AesNi(benchmark::State& state) {
  if (!AesCtr::supported()) {
    state.SkipWithError("no AES-NI");
    return;
  }
  const std::uint8_t key[16] = {7};
  AesCtr c;
  c.set_key(key);
  std::array<std::byte, 160> data{};
  std::uint8_t iv[16] = {1, 2, 3};
  for (auto _ : state) {
    ++iv[9];
    if (!c.xor_keystream(iv, data.data(), data.size())) state.SkipWithError("bad IV");
    benchmark::DoNotOptimize(data);
  }
}
BENCHMARK(BM_SrtpAesCm_AesNi);

void BM_SrtpAesCm_CtrIvReset(benchmark::State& state) {
  std::uint8_t key[16] = {7};
  std::uint8_t iv[16] = {1};
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), nullptr, key, nullptr);
  std::array<std::uint8_t, 160> data{};
  for (auto _ : state) {
    ++iv[13];
    EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv);
    int len = 0;
    EVP_EncryptUpdate(c, data.data(), &len, data.data(), 160);
    benchmark::DoNotOptimize(data);
  }
  EVP_CIPHER_CTX_free(c);
}
BENCHMARK(BM_SrtpAesCm_CtrIvReset);

// --- AES-256-GCM over one packet (12-byte AAD, 160-byte text) each way we could do it ---------

void BM_SrtpGcm256_AesNi(benchmark::State& state) {
  if (!AesGcm::supported()) {
    state.SkipWithError("no AES-NI");
    return;
  }
  std::uint8_t key[32] = {7};
  AesGcm g;
  g.set_key(key);
  std::array<std::byte, kRtpLen + 16> pkt{};
  std::uint8_t iv[12] = {1, 2, 3};
  for (auto _ : state) {
    ++iv[11];
    const AesGcm::Aad aad[1] = {{pkt.data(), 12}};
    g.seal(iv, aad, pkt.data() + 12, 160, pkt.data() + kRtpLen);
    benchmark::DoNotOptimize(pkt);
  }
}
BENCHMARK(BM_SrtpGcm256_AesNi);

// What the EVP backend does per packet: IV re-init on a keyed context, AAD, text, final, tag.
void BM_SrtpGcm256_EvpIvReinit(benchmark::State& state) {
  std::uint8_t key[32] = {7};
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key, nullptr);
  std::array<std::uint8_t, kRtpLen + 16> pkt{};
  std::uint8_t iv[12] = {1, 2, 3};
  for (auto _ : state) {
    ++iv[11];
    int n = 0;
    EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv);
    EVP_EncryptUpdate(c, nullptr, &n, pkt.data(), 12);
    EVP_EncryptUpdate(c, pkt.data() + 12, &n, pkt.data() + 12, 160);
    EVP_EncryptFinal_ex(c, pkt.data() + kRtpLen, &n);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, pkt.data() + kRtpLen);
    benchmark::DoNotOptimize(pkt);
  }
  EVP_CIPHER_CTX_free(c);
}
BENCHMARK(BM_SrtpGcm256_EvpIvReinit);

}  // namespace
}  // namespace webtrunk::media

#include "media/srtp_libsrtp.hpp"

#include <srtp2/srtp.h>

#include <climits>
#include <cstring>
#include <mutex>

#include <openssl/crypto.h>

namespace webtrunk::media {
namespace {

// libsrtp2 status -> our error, so both engines report (and count) rejections alike.
SrtpError map_status(srtp_err_status_t s) noexcept {
  switch (s) {
    case srtp_err_status_auth_fail: return SrtpError::auth_failed;
    case srtp_err_status_replay_fail: return SrtpError::replayed;
    case srtp_err_status_replay_old: return SrtpError::too_old;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err: return SrtpError::too_short;
    case srtp_err_status_cant_check: return SrtpError::bad_header;
    default: return SrtpError::internal;
  }
}

struct SrtpFree {
  void operator()(srtp_ctx_t* s) const noexcept { srtp_dealloc(s); }
};
using SrtpSession = std::unique_ptr<srtp_ctx_t, SrtpFree>;

class LibSrtp final : public SrtpTransform {
 public:
  explicit LibSrtp(SrtpProfile p) : profile_(p) {}

  bool init(const SrtpKeys& keys) noexcept {
    // libsrtp2 takes the master key and salt as one contiguous buffer.
    unsigned char material[46] = {};
    const std::size_t kl = srtp_key_len(profile_);
    std::memcpy(material, keys.key.data(), kl);
    std::memcpy(material + kl, keys.salt.data(), srtp_salt_len(profile_));
    const bool ok = open(tx_, ssrc_any_outbound, material) && open(rx_, ssrc_any_inbound, material);
    OPENSSL_cleanse(material, sizeof material);
    return ok;
  }

  core::Result<std::size_t> protect_rtp(std::span<std::byte> buf, std::size_t len) override {
    return run(srtp_protect, tx_.get(), buf, len, srtp_rtp_overhead(profile_));
  }
  core::Result<std::size_t> unprotect_rtp(std::span<std::byte> buf, std::size_t len) override {
    return run(srtp_unprotect, rx_.get(), buf, len, 0);
  }
  core::Result<std::size_t> protect_rtcp(std::span<std::byte> buf, std::size_t len) override {
    return run(srtp_protect_rtcp, tx_.get(), buf, len, srtp_rtcp_overhead(profile_));
  }
  core::Result<std::size_t> unprotect_rtcp(std::span<std::byte> buf, std::size_t len) override {
    return run(srtp_unprotect_rtcp, rx_.get(), buf, len, 0);
  }

 private:
  using Fn = srtp_err_status_t (*)(srtp_t, void*, int*);

  // libsrtp2 writes the tag past `len` without knowing the buffer's size: check the tailroom first.
  static core::Result<std::size_t> run(Fn fn, srtp_t s, std::span<std::byte> buf, std::size_t len,
                                       std::size_t grows) noexcept {
    if (len > buf.size() || len > static_cast<std::size_t>(INT_MAX) - 64) return srtp_reject(SrtpError::internal);
    if (buf.size() - len < grows) return srtp_reject(SrtpError::too_short);
    int n = static_cast<int>(len);
    const srtp_err_status_t st = fn(s, buf.data(), &n);
    if (st != srtp_err_status_ok) return srtp_reject(map_status(st));
    return static_cast<std::size_t>(n);
  }

  bool open(SrtpSession& out, srtp_ssrc_type_t type, unsigned char* material) noexcept {
    srtp_policy_t policy;
    std::memset(&policy, 0, sizeof policy);
    switch (profile_) {
      case SrtpProfile::aes_cm_128_hmac_sha1_80:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
        break;
      case SrtpProfile::aead_aes_128_gcm:
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
        break;
      case SrtpProfile::aead_aes_256_gcm:
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
        break;
    }
    policy.ssrc.type = type;
    policy.key = material;
    policy.window_size = 128;
    policy.allow_repeat_tx = 0;
    policy.next = nullptr;
    srtp_t s = nullptr;
    if (srtp_create(&s, &policy) != srtp_err_status_ok) return false;
    out.reset(s);
    return true;
  }

  const SrtpProfile profile_;
  SrtpSession tx_;
  SrtpSession rx_;
};

}  // namespace

core::Result<std::unique_ptr<SrtpTransform>> make_libsrtp(const SrtpKeys& keys) {
  static std::once_flag once;
  static srtp_err_status_t init_status = srtp_err_status_ok;
  std::call_once(once, [] { init_status = srtp_init(); });
  if (init_status != srtp_err_status_ok) return core::Error{static_cast<int>(SrtpError::internal), "srtp_init failed"};
  auto t = std::make_unique<LibSrtp>(keys.profile);
  if (!t->init(keys)) return core::Error{static_cast<int>(SrtpError::internal), "srtp_create failed"};
  return std::unique_ptr<SrtpTransform>(std::move(t));
}

}  // namespace webtrunk::media

// libFuzzer target: arbitrary bytes as WebSocket messages from several browsers and as datagrams
// from the trunk, interleaved with clock steps and WebSocket closes, into one CallController. Nothing may
// crash, hang or leak, whatever arrives in whatever order.
//
// Input: chunks separated by "\n\x00\n". Each chunk's first byte is the operation:
//   bits 0-1: 0 = WebSocket message, 1 = trunk datagram, 2 = advance the clock, 3 = close a flow
//   bits 2-4: which browser flow (0-7)
//   bits 5-7: clock step in 500 ms units (op 2), or ignored
// The rest of the chunk is the message. The first byte of the whole input picks --no-auth (odd) or
// the auth gate (even), so both the challenge path and the call paths are reached. Media sessions
// come from FuzzMedia (fixed local parameters, nothing sent), so an INVITE with a usable offer
// reaches the B2BUA instead of the 503 of a media-less core. Op 3 with bit 7 set ends media session
// 1-8 (bits 2-4) as if consent were lost, instead of closing a flow.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "auth/edge_authenticator.hpp"
#include "core/log.hpp"
#include "edge/auth_gate.hpp"
#include "edge/call_controller.hpp"
#include "media/types.hpp"
#include "fuzz_steps.hpp"

using namespace webtrunk;

namespace {

// A media backend with no sockets: every session gets the same local parameters, up to a limit
// (then create() fails and the call is refused 503, a path worth reaching too).
struct FuzzMedia final : media::MediaSessions {
  media::LocalMedia local_media;
  media::SessionId next = 1;
  std::size_t live = 0;

  FuzzMedia() {
    local_media.ice = {"fuzzufrg", "fuzzpasswordfuzzpassword"};
    local_media.fingerprint =
        "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99";
    local_media.browser_addr = core::SockAddr::ipv4_loopback(40000);
    local_media.trunk_addr = core::SockAddr::ipv4_loopback(20000);
  }
  core::Result<media::SessionId> create() override {
    if (live >= 4) return core::Error{-28, "fuzz media ports used up"};
    ++live;
    return next++;
  }
  const media::LocalMedia* local(media::SessionId id) const override {
    return id != 0 && id < next ? &local_media : nullptr;
  }
  void set_browser_remote(media::SessionId, const media::BrowserRemote&) override {}
  void set_trunk_remote(media::SessionId, const core::SockAddr&, const media::CodecMap&) override {}
  void set_direction(media::SessionId, media::Direction) override {}
  bool send_dtmf(media::SessionId, char, std::uint32_t) override { return true; }
  void release(media::SessionId) override {
    if (live > 0) --live;
  }
  std::optional<media::MediaSessionStats> stats(media::SessionId) const override { return std::nullopt; }
};

std::unique_ptr<edge::CallController> make_core(bool auth_on, FuzzMedia& fuzz_media) {
  edge::CallControllerConfig c;
  c.media = &fuzz_media;
  c.sip_host = "127.0.0.1";
  c.sip_port = 5070;
  auto table = edge::RouteTable::single("udp:127.0.0.1:5080");
  c.routes = std::make_shared<const edge::RouteTable>(std::move(*table));
  const core::Instant base = core::Instant{} + std::chrono::hours(1);
  c.unix_time = [base](core::Instant t) {
    return 1767220000 + std::chrono::duration_cast<std::chrono::seconds>(t - base).count();
  };
  c.id_seed = 7;
  std::unique_ptr<auth::EdgeAuthenticator> a;
  if (auth_on) {
    auth::VerifierOptions vo;
    vo.accept_legacy = true;
    auth::EdgeTokenVerifier v(vo);
    (void)v.set_secrets({auth::Secret{"", "edge-test-secret"}});
    const std::array<std::uint8_t, 32> key{1};
    a = std::make_unique<auth::EdgeAuthenticator>(std::make_shared<auth::NonceKey>(key), std::move(v),
                                                  auth::EdgeAuthOptions{"edge.test", false, ""});
  }
  auto gate = std::make_unique<edge::AuthGate>(edge::AuthGateOptions{auth_on, false, "edge.test"}, std::move(a));
  return std::make_unique<edge::CallController>(std::move(c), std::move(gate));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  core::set_log_level(core::LogLevel::error);
  FuzzMedia fuzz_media;
  auto sip = make_core((data[0] & 1) == 0, fuzz_media);
  core::Instant now = core::Instant{} + std::chrono::hours(1);
  const core::SockAddr trunk = core::SockAddr::ipv4_loopback(5080);
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  fuzz::for_each_step(input, [&](unsigned char op, std::string_view chunk) {
    const core::ConnId flow{((op >> 2) & 7u) + 1, 1};
    switch (op & 3u) {
      case 0: sip->handle_ws_message(now, flow, chunk); break;
      case 1: sip->handle_trunk_datagram(now, trunk, chunk); break;
      case 2:
        now += std::chrono::milliseconds(500) * (((op >> 5) & 7u) + 1);
        fuzz::fire_due(*sip, now);
        break;
      case 3:
        if (op & 0x80u) {
          sip->handle_media_ended(now, ((op >> 2) & 7u) + 1, media::MediaEnd::consent_lost);
        } else {
          sip->handle_flow_closed(now, flow);
        }
        break;
    }
    while (sip->poll_transmit()) {
    }
  });
  // Let every transaction and timer run out: the core must drain to nothing.
  fuzz::run_out(*sip, now);
  return 0;
}

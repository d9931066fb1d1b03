// A recording media::MediaSessions for the simulations: the sims check what CallController asked
// of the media sessions (what SDP each leg gets, when the media state changes).
//
// With use_relay() the real sans-IO media::Relay (media/relay.hpp) stands behind the recording, on
// the sim's virtual clock, as an edge shard's MediaBridge would drive it: sessions, the browser's
// ICE/DTLS credentials, the trunk's address and codec map, hold and SIP INFO DTMF reach it, and a
// test exchanges datagrams with it through deliver(); everything it sends is kept in `sent`.
// Its timers run from Sim::advance() (poll_timeout()/handle_timeout()), and a session it ends by
// itself reaches CallController through on_ended. No sockets.
//
// Lifetimes: `clock` (the sim's `now`) must outlive the relay.
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "media/relay.hpp"
#include "media/types.hpp"

namespace webtrunk::sim {

// The edge's fixed media parameters in the sims (what its SDP must carry).
inline const std::string kEdgeFingerprint =
    "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:5C:2E:1E:4F:7F:9A:33:0C:41:50:3D:11";
inline constexpr std::uint16_t kEdgeBrowserPort = 3478;  // the shard's browser-side media port

// A datagram the relay sent, copied out.
struct RelaySent {
  media::RelayPort from;
  core::SockAddr to;
  std::vector<std::byte> data;
};

struct FakeMedia final : media::MediaSessions {
  struct Session {
    media::LocalMedia local;
    std::vector<media::BrowserRemote> browser;  // every set_browser_remote
    std::optional<core::SockAddr> trunk_rtp;    // the last set_trunk_remote
    media::CodecMap codecs;
    int trunk_remotes = 0;
    std::vector<media::Direction> directions;  // every set_direction
    std::vector<std::pair<char, std::uint32_t>> dtmf;
  };

  std::map<media::SessionId, Session> live;
  std::map<media::SessionId, Session> released;  // kept for assertions after the call
  std::size_t capacity = 16;                     // create() fails beyond (--rtp-ports used up)
  media::SessionId next_id = 1;
  std::string fingerprint = kEdgeFingerprint;  // the relay's certificate's with use_relay()

  std::unique_ptr<media::Relay> relay;
  const core::Instant* clock = nullptr;
  std::vector<RelaySent> sent;  // every datagram the relay sent, in order

  // Puts the real relay behind the recording; `cfg.identity` is the edge's DTLS certificate.
  void use_relay(const core::Instant* now, media::RelayConfig cfg) {
    clock = now;
    fingerprint = cfg.identity->fingerprint_sha256();
    relay = std::make_unique<media::Relay>(std::move(cfg));
  }

  // `bytes` received on `port` from `peer` (with 64 bytes of tailroom, as the shard's buffers have);
  // what the relay sent in answer is appended to `sent` and returned.
  std::vector<RelaySent> deliver(media::RelayPort port, const core::SockAddr& peer, std::span<const std::byte> bytes) {
    constexpr std::size_t kTailroom = 64;
    std::vector<std::byte> buf(bytes.begin(), bytes.end());
    buf.resize(bytes.size() + kTailroom);
    media::RxBuf rx(std::span(buf.data(), bytes.size()), kTailroom);
    relay->handle_datagram(*clock, port, peer, rx);
    return drain(&rx);
  }
  std::optional<core::Instant> poll_timeout() const { return relay ? relay->poll_timeout() : std::nullopt; }
  void handle_timeout(core::Instant now) {
    if (!relay) return;
    relay->handle_timeout(now);
    (void)drain();
    std::vector<std::pair<media::SessionId, media::MediaEnd>> ended;
    while (auto e = relay->poll_event()) ended.push_back(*e);
    for (const auto& [id, why] : ended) {
      if (on_ended) on_ended(id, why);
    }
  }

  core::Result<media::SessionId> create() override {
    if (live.size() >= capacity) return core::Error{EBUSY, "no free RTP port pair in 40000-40031"};
    const media::SessionId id = next_id++;
    Session s;
    s.local.ice = {fmt::format("edge{:04}", id), fmt::format("edgepassword{:012}", id)};
    s.local.fingerprint = fingerprint;
    s.local.browser_addr = core::SockAddr::ipv4_loopback(kEdgeBrowserPort);
    s.local.trunk_addr = core::SockAddr::ipv4_loopback(static_cast<std::uint16_t>(40000 + 2 * id));
    if (relay) relay->add_session(*clock, id, s.local);
    live.emplace(id, std::move(s));
    return id;
  }
  const media::LocalMedia* local(media::SessionId id) const override {
    auto it = live.find(id);
    return it == live.end() ? nullptr : &it->second.local;
  }
  void set_browser_remote(media::SessionId id, const media::BrowserRemote& remote) override {
    if (Session* s = find(id)) s->browser.push_back(remote);
    if (relay) relay->set_browser_remote(id, remote);
  }
  void set_trunk_remote(media::SessionId id, const core::SockAddr& rtp, const media::CodecMap& codecs) override {
    if (Session* s = find(id)) {
      s->trunk_rtp = rtp;
      s->codecs = codecs;
      ++s->trunk_remotes;
    }
    if (relay) relay->set_trunk_remote(*clock, id, rtp, codecs);
  }
  void set_direction(media::SessionId id, media::Direction d) override {
    if (Session* s = find(id)) s->directions.push_back(d);
    if (relay) relay->set_direction(id, d);
  }
  bool send_dtmf(media::SessionId id, char digit, std::uint32_t duration_ms) override {
    Session* s = find(id);
    if (s == nullptr || !s->codecs.trunk_dtmf_pt) return false;
    if (relay) {
      if (!relay->send_dtmf(*clock, id, digit, duration_ms)) return false;
      (void)drain();
    }
    s->dtmf.emplace_back(digit, duration_ms);
    return true;
  }
  void release(media::SessionId id) override {
    auto it = live.find(id);
    if (it == live.end()) {
      ADD_FAILURE() << "release of media session " << id << " that is not live";
      return;
    }
    released.insert(live.extract(it));
    if (relay) relay->remove_session(id);
  }
  std::optional<media::MediaSessionStats> stats(media::SessionId id) const override {
    if (live.find(id) == live.end()) return std::nullopt;
    return relay ? relay->stats(id) : media::MediaSessionStats{};
  }

  // The only session (live or released) of a one-call test.
  Session& only() {
    EXPECT_EQ(live.size() + released.size(), 1u);
    if (!live.empty()) return live.begin()->second;
    return released.begin()->second;
  }

 private:
  std::vector<RelaySent> drain(const media::RxBuf* rx = nullptr) {
    std::vector<RelaySent> out;
    while (auto t = relay->poll_transmit()) {
      if (t->in_place) {
        EXPECT_TRUE(rx != nullptr && rx->contains(t->data)) << "an in-place transmit outside the received buffer";
      }
      out.push_back(RelaySent{t->from, t->to, std::vector<std::byte>(t->data.begin(), t->data.end())});
      sent.push_back(out.back());
    }
    return out;
  }

  Session* find(media::SessionId id) {
    auto it = live.find(id);
    if (it == live.end()) {
      ADD_FAILURE() << "media session " << id << " used but not live";
      return nullptr;
    }
    return &it->second;
  }
};

}  // namespace webtrunk::sim

// A recording media::MediaSessions for the simulations: the call controller's side of issue 4 is
// protocol logic (what SDP each leg gets, when the media state changes), so the sims check what
// CallController asked of the media sessions; media/bridge.hpp is tested on real sockets elsewhere.
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "media/types.hpp"

namespace webtrunk::sim {

// The edge's fixed media parameters in the sims (what its SDP must carry).
inline const std::string kEdgeFingerprint =
    "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:5C:2E:1E:4F:7F:9A:33:0C:41:50:3D:11";
inline constexpr std::uint16_t kEdgeBrowserPort = 3478;  // the shard's browser-side media port

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

  core::Result<media::SessionId> create() override {
    if (live.size() >= capacity) return core::Error{EBUSY, "no free RTP port pair in 40000-40031"};
    const media::SessionId id = next_id++;
    Session s;
    s.local.ice = {fmt::format("edge{:04}", id), fmt::format("edgepassword{:012}", id)};
    s.local.fingerprint = kEdgeFingerprint;
    s.local.browser_addr = core::SockAddr::ipv4_loopback(kEdgeBrowserPort);
    s.local.trunk_addr = core::SockAddr::ipv4_loopback(static_cast<std::uint16_t>(40000 + 2 * id));
    live.emplace(id, std::move(s));
    return id;
  }
  const media::LocalMedia* local(media::SessionId id) const override {
    auto it = live.find(id);
    return it == live.end() ? nullptr : &it->second.local;
  }
  void set_browser_remote(media::SessionId id, const media::BrowserRemote& remote) override {
    if (Session* s = find(id)) s->browser.push_back(remote);
  }
  void set_trunk_remote(media::SessionId id, const core::SockAddr& rtp, const media::CodecMap& codecs) override {
    if (Session* s = find(id)) {
      s->trunk_rtp = rtp;
      s->codecs = codecs;
      ++s->trunk_remotes;
    }
  }
  void set_direction(media::SessionId id, media::Direction d) override {
    if (Session* s = find(id)) s->directions.push_back(d);
  }
  bool send_dtmf(media::SessionId id, char digit, std::uint32_t duration_ms) override {
    Session* s = find(id);
    if (s == nullptr || !s->codecs.trunk_dtmf_pt) return false;
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
  }
  std::optional<media::MediaSessionStats> stats(media::SessionId id) const override {
    if (live.find(id) == live.end()) return std::nullopt;
    return media::MediaSessionStats{};
  }

  // The only session (live or released) of a one-call test.
  Session& only() {
    EXPECT_EQ(live.size() + released.size(), 1u);
    if (!live.empty()) return live.begin()->second;
    return released.begin()->second;
  }

 private:
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

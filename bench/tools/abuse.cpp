// bench_abuse (`webtrunk bench abuse`): what floods cost a real `webtrunk edge` and whether calls in
// progress notice them.
//
// It starts an echo trunk (`webtrunk echo-trunk`) and an edge in front of it (child processes of
// --edge-bin: `webtrunk bench abuse` passes itself), sets up --calls real calls from 127.0.0.2: SIP
// over WebSocket with digest auth on edge tokens as JsSIP sends it, then ICE, DTLS and SRTP with the emulated browsers
// of bench media (media_browser.hpp), 50 packets/s each way, echoed by the trunk. Then it runs the
// floods one after another, each from its own source address (127.0.1.k, so one flood's ban does
// not decide the next one's outcome), each bounded by --seconds and --max-requests:
//   sip-unauth      REGISTERs without credentials on --flood-connections WebSockets, reconnecting
//                   when closed; sent = REGISTERs + connection attempts, rejected = answered
//                   4xx/5xx + connections refused or closed by the edge
//   new-conns       connect + upgrade in batches of 32; rejected = connections the edge refused
//   trunk-garbage   UDP datagrams (random bytes and SIP from a non-trunk) at the trunk SIP port;
//                   rejected = datagrams not answered (all, unless the edge answers one)
//   rtp-garbage     UDP datagrams (random, RTP-, STUN- and DTLS-looking) at the browser media port
//                   and the trunk-side RTP ports; rejected = datagrams sent
//   slow-readers    --flood-connections WebSockets sending OPTIONS and never reading, reconnecting
//                   when closed; sent = OPTIONS + connection attempts, rejected = requests sent on
//                   connections the edge closed + connections refused
//   fragments       WebSockets each leaving a fragmented message unfinished (the edge runs with
//                   --ws-partial-timeout 2); rejected = connections the edge closed
// For each: requests sent, rejected, edge CPU per rejected request (µs, /proc/PID/stat ticks),
// edge RSS before and after, and the calls' loss: packets the browsers sent during the flood that
// did not come back (after a 1 s drain). Exit status 3 if a flood's loss is over 0.1 % or the edge
// died, 1 if the calls could not be set up, 2 for a bad flag.
// Files: this one (flags, the calls with media, the run), abuse_floods.hpp/.cpp (the floods),
// abuse_ws.hpp (random text, loopback sockets, the blocking WebSocket client both use).
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "abuse_floods.hpp"
#include "abuse_ws.hpp"
#include "auth/edge_token.hpp"
#include "auth/secret.hpp"
#include "bench/tools/load.hpp"
#include "bench/tools/media_browser.hpp"
#include "bench/tools/sip_load_edge.hpp"
#include "bench/tools/sip_load_messages.hpp"
#include "bench/tools/tool_flags.hpp"
#include "core/base64.hpp"
#include "core/log.hpp"
#include "core/websocket_frame.hpp"
#include "media/rtp.hpp"
#include "sip/auth_params.hpp"
#include "sip/header_parsers.hpp"
#include "sip/parser.hpp"

namespace wt = webtrunk;
namespace bn = webtrunk::bench;
using namespace std::chrono_literals;

namespace {
using namespace bn::abuse;

std::string usage(std::string_view prog) {
  return fmt::format(
      "usage: {} [flags]\n"
      "  --calls N              calls with media in progress during the floods (default 4)\n"
      "  --seconds S            length of each flood, at most 10 (default 3; six floods)\n"
      "  --max-requests N       at most this many requests, connections or datagrams per flood (default 200000)\n"
      "  --flood-connections N  WebSockets of the sip-unauth and slow-readers floods (default 8)\n"
      "  --fragments N          unfinished fragmented messages, one per connection (default 200)\n"
      "  --only NAME            run only the floods whose name contains NAME\n"
      "  --edge-bin PATH        the webtrunk binary whose `edge` and `echo-trunk` it starts\n"
      "                         (default build/webtrunk; `webtrunk bench abuse`: itself)\n"
      "Floods: sip-unauth, new-conns, trunk-garbage, rtp-garbage, slow-readers, fragments.\n"
      "Exit status: 0 when no flood cost the calls more than 0.1 % of their packets and the edge lived,\n"
      "3 when one did or the edge died, 1 when the calls could not be set up, 2 for a bad flag.\n",
      prog);
}

bool parse(int argc, char** argv, Options& o, bool& help, std::string& err) {
  const bool read = bn::read_flags(argc, argv, {}, help, err, [&o](std::string_view a, std::string_view v) -> std::string {
    const auto num = [&](auto& out) { return bn::parse_number(a, v, out); };
    if (a == "--calls") return num(o.calls);
    if (a == "--seconds") return num(o.seconds);
    if (a == "--max-requests") return num(o.max_requests);
    if (a == "--flood-connections") return num(o.flood_connections);
    if (a == "--fragments") return num(o.fragments);
    if (a == "--only") o.only = v;
    else if (a == "--edge-bin") o.edge_bin = v;
    else return fmt::format("unknown flag {}", a);
    return {};
  });
  if (!read || help) return read;
  if (o.calls == 0 || o.calls > 100) err = "--calls: 1..100";
  else if (o.seconds <= 0 || o.seconds > 10) err = "--seconds: more than 0, at most 10 (the calls' 90 s session interval)";
  else if (o.max_requests == 0) err = "--max-requests: at least 1";
  else if (o.flood_connections == 0 || o.flood_connections > 200) err = "--flood-connections: 1..200";
  else if (o.fragments == 0 || o.fragments > 250) err = "--fragments: 1..250 (one source address: under its cap)";
  return err.empty();
}

// ---------------------------------------------------------------- calls with media

struct Call {
  bn::BrowserIdentity id;
  std::string number, ruri, call_id, from_tag, to_tag;
  Ws ws;
  int udp = -1;
  std::unique_ptr<bn::EmulatedBrowser> em;
  enum class State { ice, dtls, ready, failed } state = State::ice;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  std::uint32_t next_id = 0;
  std::vector<std::int8_t> sent_in;  // by packet id: the flood window it was sent in (-1: between floods)
  std::vector<bool> back;            // by packet id: echoed back
};

std::string sdp_attr(std::string_view sdp, std::string_view name) {
  const std::string key = fmt::format("a={}:", name);
  const auto p = sdp.find(key);
  if (p == std::string_view::npos) return {};
  const auto e = sdp.find("\r\n", p);
  return std::string(sdp.substr(p + key.size(), e - p - key.size()));
}

// Sets up call `i` (blocking): INVITE, 407, INVITE with credentials, 200, ACK. Returns "" or why not.
std::string set_up_call(Call& c, unsigned i, std::uint16_t ws_port, const wt::auth::Secret& secret,
                        bn::BrowserTls& tls, sockaddr_in& media_to) {
  c.id.via_host = rnd(12) + ".invalid";
  c.id.user = fmt::format("abuse{}", i);
  c.id.instance = fmt::format("urn:uuid:{}-{}-4{}-8{}-{}", rnd(8, "0123456789abcdef"), rnd(4, "0123456789abcdef"),
                              rnd(3, "0123456789abcdef"), rnd(3, "0123456789abcdef"), rnd(12, "0123456789abcdef"));
  wt::auth::MintClaims claims;
  claims.account = "bench";
  auto tok = wt::auth::mint_edge_token(secret, wt::core::unix_now() + 3600, c.id.user, claims);
  if (!tok) return "mint_edge_token: " + tok.error().message;
  c.id.token_user = tok->username;
  c.id.token_password = tok->password;
  c.number = fmt::format("{}{:08}", bn::kNumberPrefix, i);
  c.ruri = fmt::format("sip:{}@{}", c.number, bn::kRealm);
  c.call_id = rnd(20);
  c.from_tag = rnd(10);
  if (!c.ws.open("127.0.0.2", ws_port)) return "the WebSocket upgrade failed";

  c.udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in local = loopback("127.0.0.2", 0);
  socklen_t len = sizeof(local);
  if (c.udp < 0 || ::bind(c.udp, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      ::getsockname(c.udp, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    return "no UDP socket";
  }
  const std::string ufrag = rnd(4, "abcdefghijklmnopqrstuvwxyzABCDEF");
  const std::string pwd = rnd(24);
  std::string offer = bn::make_offer(rng()() % 1'000'000'000, ntohs(local.sin_port));
  auto replace_line = [&offer](std::string_view prefix, const std::string& line) {
    const auto p = offer.find(prefix);
    const auto e = offer.find("\r\n", p);
    offer.replace(p, e - p, line);
  };
  replace_line("a=candidate:", fmt::format("a=candidate:1 1 udp 2122260223 127.0.0.2 {} typ host generation 0",
                                           ntohs(local.sin_port)));
  replace_line("a=ice-ufrag:", "a=ice-ufrag:" + ufrag);
  replace_line("a=ice-pwd:", "a=ice-pwd:" + pwd);
  replace_line("a=fingerprint:", "a=fingerprint:sha-256 " + tls.fingerprint());

  auto ids = [&c] { return bn::BrowserCallIds{c.ruri, c.number, c.call_id, c.from_tag, c.to_tag}; };
  std::uint32_t cseq = 1;
  std::string branch = "z9hG4bK" + rnd(10);
  c.ws.send_frame(wt::core::WsOpcode::text, bn::jssip_invite(c.id, ids(), branch, cseq, "", offer));
  auto challenge = c.ws.wait_response([](int code) { return code >= 200; }, 5000);
  if (!challenge) return "no answer to the INVITE";
  wt::sip::MessageView m;
  if (wt::sip::parse_message(*challenge, m).status != wt::sip::ParseStatus::ok) return "unparsable answer";
  if (m.status_code() != 407) return fmt::format("INVITE answered {} instead of 407", m.status_code());
  c.to_tag = std::string(wt::sip::to_tag(m));
  c.ws.send_frame(wt::core::WsOpcode::text, bn::jssip_in_dialog(c.id, ids(), "ACK", c.ruri, branch, cseq));
  c.to_tag.clear();
  wt::sip::AuthParams ap;
  const wt::sip::HeaderField* h = m.find(wt::sip::HeaderId::proxy_authenticate);
  std::optional<std::string_view> nonce;
  if (h == nullptr || !wt::sip::parse_auth(h->value, ap) || !(nonce = ap.get("nonce"))) return "407 without a nonce";
  const std::string auth = bn::jssip_digest(c.id, c.ruri, *nonce, 1, rnd(12));
  ++cseq;
  branch = "z9hG4bK" + rnd(10);
  c.ws.send_frame(wt::core::WsOpcode::text, bn::jssip_invite(c.id, ids(), branch, cseq, auth, offer));
  auto ok = c.ws.wait_response([](int code) { return code >= 200; }, 10000);
  if (!ok) return "no final answer to the INVITE with credentials";
  if (wt::sip::parse_message(*ok, m).status != wt::sip::ParseStatus::ok) return "unparsable 200";
  if (m.status_code() != 200) return fmt::format("INVITE answered {}", m.status_code());
  c.to_tag = std::string(wt::sip::to_tag(m));
  wt::sip::NameAddr contact;
  if (!wt::sip::parse_name_addr(m.value(wt::sip::HeaderId::contact), contact)) return "200 without a Contact";
  c.ws.send_frame(wt::core::WsOpcode::text,
                  bn::jssip_in_dialog(c.id, ids(), "ACK", contact.uri, "z9hG4bK" + rnd(10), cseq));
  const std::string_view sdp = m.body();
  const std::string cand = sdp_attr(sdp, "candidate");
  const wt::media::IceCredentials edge_ice{sdp_attr(sdp, "ice-ufrag"), sdp_attr(sdp, "ice-pwd")};
  std::string fp = sdp_attr(sdp, "fingerprint");
  if (fp.rfind("sha-256 ", 0) == 0) fp.erase(0, 8);
  // "foundation component udp priority IP PORT typ host"
  const auto words = bn::split_words(cand);
  if (words.size() < 6 || edge_ice.ufrag.empty() || fp.empty()) return "the answer has no ICE candidate or fingerprint";
  media_to = loopback(words[4].c_str(), static_cast<std::uint16_t>(std::stoul(words[5])));
  c.em = std::make_unique<bn::EmulatedBrowser>(tls, wt::media::IceCredentials{ufrag, pwd}, edge_ice, fp);
  ::connect(c.udp, reinterpret_cast<const sockaddr*>(&media_to), sizeof(media_to));
  return {};
}

// The calls' media, on its own thread: ICE + DTLS, then 50 packets/s per call with a packet id in
// the payload, each packet's flood window noted; echoes are matched by id.
class Media {
 public:
  explicit Media(std::vector<Call>& calls) : calls_(calls) {}
  void start() { thread_ = std::thread([this] { run(); }); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool wait_ready(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (ready_.load() + failed_.load() == calls_.size()) return failed_.load() == 0;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  void set_window(int w) { window_ = w; }
  void pause_sending(bool p) { paused_ = p; }

 private:
  void run() {
    std::array<std::byte, 1500> buf{};
    auto next_send = std::chrono::steady_clock::now();
    auto next_retx = next_send;
    for (Call& c : calls_) send_check(c);
    while (!stop_) {
      std::vector<pollfd> fds;
      for (const Call& c : calls_) fds.push_back({c.udp, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 5);
      for (std::size_t i = 0; i < calls_.size(); ++i) {
        Call& c = calls_[i];
        for (;;) {
          const ssize_t n = ::recv(c.udp, buf.data(), buf.size(), MSG_DONTWAIT);
          if (n <= 0) break;
          on_datagram(c, std::span(buf.data(), static_cast<std::size_t>(n)));
        }
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_retx) {
        next_retx = now + 200ms;
        for (Call& c : calls_) {  // the calls' WebSockets: answer the edge's pings
          while (c.ws.read_some(0)) {
          }
          while (c.ws.take_text()) {
          }
        }
        for (Call& c : calls_) {
          if (c.state == Call::State::ice) send_check(c);
          if (c.state == Call::State::dtls) {
            c.em->dtls_timeout();
            flush_dtls(c);
          }
        }
      }
      if (now >= next_send) {
        next_send += 20ms;
        if (!paused_) {
          for (Call& c : calls_) {
            if (c.state == Call::State::ready) send_rtp(c, buf);
          }
        }
      }
    }
  }
  void send_check(Call& c) {
    std::array<std::byte, 512> req{};
    const std::size_t n = c.em->make_check(req, true);
    (void)::send(c.udp, req.data(), n, 0);
  }
  void flush_dtls(Call& c) {
    while (auto d = c.em->poll_dtls()) (void)::send(c.udp, d->data(), d->size(), 0);
  }
  void fail(Call& c) {
    if (c.state != Call::State::failed) ++failed_;
    c.state = Call::State::failed;
  }
  void on_datagram(Call& c, std::span<std::byte> p) {
    const auto cls = wt::media::classify(p);
    if (cls == wt::media::PacketClass::stun && c.state == Call::State::ice) {
      if (!c.em->check_answered(p)) return;
      c.state = Call::State::dtls;
      if (!c.em->start_dtls()) return fail(c);
      flush_dtls(c);
    } else if (cls == wt::media::PacketClass::dtls && c.state == Call::State::dtls) {
      c.em->on_dtls(p);
      flush_dtls(c);
      if (!c.em->error().empty()) return fail(c);
      if (c.em->connected()) {
        c.state = Call::State::ready;
        ++ready_;
      }
    } else if (cls == wt::media::PacketClass::rtp && c.state == Call::State::ready) {
      auto r = c.em->rx().unprotect_rtp(p, p.size());
      if (!r || *r < 16) return;
      const std::uint32_t id = wt::core::load_be32(p.data() + 12);
      if (id < c.back.size()) c.back[id] = true;
    }
  }
  void send_rtp(Call& c, std::array<std::byte, 1500>& buf) {
    buf[0] = std::byte{0x80};
    buf[1] = std::byte{0};  // PCMU
    wt::core::store_be16(buf.data() + 2, c.seq++);
    wt::core::store_be32(buf.data() + 4, c.ts);
    wt::core::store_be32(buf.data() + 8, 0x51000u + static_cast<std::uint32_t>(&c - calls_.data()));
    c.ts += 160;
    std::memset(buf.data() + 12, 0xd5, 160);
    const std::uint32_t id = c.next_id++;
    wt::core::store_be32(buf.data() + 12, id);
    auto r = c.em->tx().protect_rtp(buf, 12 + 160);
    if (!r) return;
    c.sent_in.push_back(static_cast<std::int8_t>(window_.load()));
    c.back.push_back(false);
    (void)::send(c.udp, buf.data(), *r, 0);
  }

  std::vector<Call>& calls_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> window_{-1};
  std::atomic<std::size_t> ready_{0};
  std::atomic<std::size_t> failed_{0};
};

}  // namespace

int webtrunk::bench::run_abuse(int argc, char** argv) {
  const char* prog = argc > 0 ? argv[0] : "bench_abuse";
  Options o;
  bool help = false;
  std::string err;
  const bool parsed = parse(argc, argv, o, help, err);
  if (auto rc = flags_outcome(prog, parsed, help, err, usage(prog))) return *rc;
  if (o.edge_bin.empty()) o.edge_bin = bn::default_webtrunk_bin();
  wt::core::set_log_level(wt::core::LogLevel::warn);

  char dir_tmpl[] = "/tmp/webtrunk-abuse-XXXXXX";
  if (::mkdtemp(dir_tmpl) == nullptr) {
    std::fprintf(stderr, "%s: mkdtemp failed\n", prog);
    return 1;
  }
  const std::string dir = dir_tmpl;
  const wt::auth::Secret secret{"b1", rnd(32)};
  const std::string secret_path = dir + "/edge-secrets";
  {
    std::ofstream f(secret_path);
    f << secret.kid << ':' << secret.key << '\n';
  }
  ::chmod(secret_path.c_str(), 0600);

  Target t;
  const std::uint16_t trunk_port = bn::free_udp_port();
  t.ws_port = bn::free_tcp_port();
  t.sip_port = bn::free_udp_port();
  t.rtp_min = 41000;
  t.rtp_max = 41099;
  bn::EdgeProcess trunk;
  bn::EdgeProcess edge;
  const std::vector<std::string> trunk_argv{o.edge_bin, "echo-trunk", "--listen", fmt::format("127.0.0.1:{}", trunk_port),
                                            "--ring-ms", "0", "--log-level", "warn"};
  const std::vector<std::string> edge_argv{o.edge_bin, "edge", "--ws", fmt::format("127.0.0.1:{}", t.ws_port),
                                           "--trunk", fmt::format("udp:127.0.0.1:{}", trunk_port), "--sip-listen",
                                           "127.0.0.1", "--sip-port", std::to_string(t.sip_port), "--edge-secret-file",
                                           secret_path, "--realm", std::string(bn::kRealm), "--shards", "1",
                                           "--rtp-ports", fmt::format("{}-{}", t.rtp_min, t.rtp_max),
                                           "--ws-partial-timeout", "2", "--drain-timeout", "0",
                                           "--log-level", "warn"};
  std::string cmdline;
  for (const auto& a : edge_argv) cmdline += a + " ";
  std::printf("abuse: edge: %s(log %s/edge.log)\n", cmdline.c_str(), dir.c_str());
  std::fflush(stdout);
  auto finish = [&](int rc) {
    edge.stop(3000ms);
    trunk.stop(3000ms);
    if (rc == 0) std::filesystem::remove_all(dir);
    return rc;
  };
  if (trunk_port == 0 || t.ws_port == 0 || t.sip_port == 0 ||
      !trunk.start({}, trunk_argv, {}, dir + "/trunk.log", err) ||
      !edge.start({}, edge_argv, {}, dir + "/edge.log", err) || !edge.wait_ready(t.ws_port, 10s, err)) {
    std::fprintf(stderr, "%s: %s\n", prog, err.empty() ? "no free port" : err.c_str());
    return finish(1);
  }

  auto tls = bn::BrowserTls::make();
  std::vector<Call> calls(o.calls);
  for (unsigned i = 0; i < o.calls; ++i) {
    if (const std::string why = set_up_call(calls[i], i, t.ws_port, secret, *tls, t.media); !why.empty()) {
      std::fprintf(stderr, "%s: call %u: %s\n", prog, i, why.c_str());
      return finish(1);
    }
  }
  Media media(calls);
  media.start();
  if (!media.wait_ready(10s)) {
    media.stop();
    std::fprintf(stderr, "%s: the calls' ICE + DTLS did not complete within 10 s\n", prog);
    return finish(1);
  }
  std::this_thread::sleep_for(500ms);  // media flowing before the first flood
  std::printf("abuse: %u calls up with media (50 packets/s each way each); floods of %.1f s, at most %llu each\n",
              o.calls, o.seconds, static_cast<unsigned long long>(o.max_requests));

  std::vector<sockaddr_in> sip_to{loopback("127.0.0.1", t.sip_port)};
  std::vector<sockaddr_in> rtp_to{t.media};
  for (unsigned p = t.rtp_min; p <= t.rtp_max; ++p) rtp_to.push_back(loopback("127.0.0.1", static_cast<std::uint16_t>(p)));
  struct Flood {
    const char* name;
    const char* from;
    std::function<FloodResult()> run;
  };
  const std::vector<Flood> floods{
      {"sip-unauth", "127.0.1.1", [&] { return sip_unauth(o, t, "127.0.1.1"); }},
      {"new-conns", "127.0.1.2", [&] { return new_conns(o, t, "127.0.1.2"); }},
      {"trunk-garbage", "127.0.1.3", [&] { return udp_garbage(o, "trunk-garbage", "127.0.1.3", sip_to, true); }},
      {"rtp-garbage", "127.0.1.4", [&] { return udp_garbage(o, "rtp-garbage", "127.0.1.4", rtp_to, false); }},
      {"slow-readers", "127.0.1.5", [&] { return slow_readers(o, t, "127.0.1.5"); }},
      {"fragments", "127.0.1.6", [&] { return fragments(o, t, "127.0.1.6"); }},
  };
  std::vector<FloodResult> results;
  bool died = false;
  for (std::size_t k = 0; k < floods.size() && !died; ++k) {
    if (!o.only.empty() && std::string_view(floods[k].name).find(o.only) == std::string_view::npos) continue;
    const long rss0 = bn::process_rss_kib(edge.pid());
    const double cpu0 = bn::process_cpu(edge.pid()).total();
    media.set_window(static_cast<int>(k));
    FloodResult r = floods[k].run();
    media.set_window(-1);
    r.cpu_s = bn::process_cpu(edge.pid()).total() - cpu0;
    r.rss_before_kib = rss0;
    r.rss_after_kib = bn::process_rss_kib(edge.pid());
    died = ::kill(edge.pid(), 0) != 0 || r.rss_after_kib == 0;
    results.push_back(std::move(r));
    std::this_thread::sleep_for(1s);  // the flood's echoes come back; the next starts from quiet
  }
  media.pause_sending(true);
  std::this_thread::sleep_for(1s);
  media.stop();

  bool pass = !died;
  std::printf("%-14s %10s %10s %12s %14s %22s %10s  %s\n", "flood", "sent", "rejected", "edge CPU s",
              "us/rejected", "edge RSS MiB", "calls loss", "detail");
  for (std::size_t i = 0; i < results.size(); ++i) {
    FloodResult& r = results[i];
    int window = -1;
    for (std::size_t k = 0; k < floods.size(); ++k) {
      if (r.name == floods[k].name) window = static_cast<int>(k);
    }
    for (const Call& c : calls) {
      for (std::size_t id = 0; id < c.sent_in.size(); ++id) {
        if (c.sent_in[id] != window) continue;
        ++r.media_sent;
        r.media_back += c.back[id] ? 1 : 0;
      }
    }
    const double loss = r.media_sent ? 100.0 * static_cast<double>(r.media_sent - r.media_back) / static_cast<double>(r.media_sent) : 100.0;
    if (loss > 0.1) pass = false;
    std::printf("%-14s %10llu %10llu %12.2f %14.2f %10.1f -> %-9.1f %9.3f%%  %s; packets %llu/%llu back\n",
                r.name.c_str(), static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.rejected),
                r.cpu_s, r.rejected ? 1e6 * r.cpu_s / static_cast<double>(r.rejected) : 0.0,
                static_cast<double>(r.rss_before_kib) / 1024.0, static_cast<double>(r.rss_after_kib) / 1024.0, loss,
                r.detail.c_str(), static_cast<unsigned long long>(r.media_back),
                static_cast<unsigned long long>(r.media_sent));
  }
  std::printf("abuse: edge %s; %s\n", died ? "DIED" : "alive", pass ? "passed" : "FAILED (loss over 0.1 % or the edge died)");
  const std::string how = edge.stop(5000ms);
  if (how != "exited 0") std::printf("abuse: the edge %s at SIGTERM\n", how.c_str());
  return finish(pass ? 0 : 3);
}

// bench_abuse: the floods (see abuse.cpp's header comment for what each sends and counts).
#include "abuse_floods.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "abuse_ws.hpp"

namespace webtrunk::bench::abuse {
namespace {
using namespace std::chrono_literals;

Clock::time_point flood_end(const Options& o) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
}

// A flood's WebSocket that is gone is opened again (a connection attempt, counted in `sent`); false
// when the edge refused it (counted in `refused`).
bool ensure_open(Ws& w, const char* from, std::uint16_t port, std::uint64_t& sent, std::uint64_t& refused) {
  if (w.fd >= 0) return true;
  w.reset();
  ++sent;
  if (w.open(from, port, 500)) return true;
  ++refused;
  return false;
}

bool in_time(Clock::time_point until, std::uint64_t count, const Options& o) {
  return Clock::now() < until && count < o.max_requests;
}

std::string register_text(std::string_view user) {
  return fmt::format(
      "REGISTER sip:edge.test SIP/2.0\r\nVia: SIP/2.0/WS {}.invalid;branch=z9hG4bK{}\r\nMax-Forwards: 69\r\n"
      "To: <sip:{}@edge.test>\r\nFrom: <sip:{}@edge.test>;tag={}\r\nCall-ID: {}\r\nCSeq: 1 REGISTER\r\n"
      "Contact: <sip:{}@{}.invalid;transport=ws>;expires=600\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n",
      rnd(10), rnd(10), user, user, rnd(8), rnd(16), user, rnd(10));
}

}  // namespace

FloodResult sip_unauth(const Options& o, const Target& t, const char* from) {
  FloodResult r{"sip-unauth", 0, 0, {}, 0, 0, 0, 0, 0};
  std::vector<Ws> conns(o.flood_connections);
  std::uint64_t answered = 0, refused = 0, closed = 0;
  const auto until = flood_end(o);
  const std::string reg = register_text("mallory");
  while (in_time(until, r.sent, o)) {
    for (Ws& w : conns) {
      if (!ensure_open(w, from, t.ws_port, r.sent, refused)) continue;
      for (int k = 0; k < 20 && !w.closed; ++k) {
        if (!w.send_frame(core::WsOpcode::text, reg, true, false)) break;
        ++r.sent;
      }
      while (w.read_some(0)) {
      }
      while (auto m = w.take_text()) {
        if (m->rfind("SIP/2.0 4", 0) == 0 || m->rfind("SIP/2.0 5", 0) == 0) ++answered;
      }
      if (w.closed) {
        ++closed;
        w.close();
      }
    }
  }
  r.rejected = answered + refused + closed;
  r.detail = fmt::format("answered 4xx/5xx {}, connections closed by the edge {}, refused {}", answered, closed, refused);
  return r;
}

FloodResult new_conns(const Options& o, const Target& t, const char* from) {
  FloodResult r{"new-conns", 0, 0, {}, 0, 0, 0, 0, 0};
  std::uint64_t upgraded = 0, refused = 0, silent = 0;
  const auto until = flood_end(o);
  const std::string req = upgrade_request(t.ws_port);
  while (in_time(until, r.sent, o)) {
    // A batch of connections with their upgrades sent, then each one's outcome: 101 or closed.
    std::vector<int> batch;
    for (int k = 0; k < 32 && in_time(until, r.sent, o); ++k) {
      ++r.sent;
      const int fd = connect_from(from, t.ws_port);
      if (fd < 0) {
        ++refused;
        continue;
      }
      (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
      batch.push_back(fd);
    }
    const auto deadline = Clock::now() + 500ms;
    for (const int fd : batch) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{fd, POLLIN, 0};
      char buf[512];
      const ssize_t n = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left))) > 0 ? ::recv(fd, buf, sizeof(buf), 0) : -2;
      if (n >= 12 && std::string_view(buf, 12) == "HTTP/1.1 101") ++upgraded;
      else if (n == -2) ++silent;
      else ++refused;
      ::close(fd);
    }
  }
  r.rejected = refused;
  r.detail = fmt::format("upgraded {}, refused {}, unanswered in 500 ms {}", upgraded, refused, silent);
  return r;
}

// Datagrams to `ports` round robin from `from`: random bytes, and shapes that pass the first-byte
// demux (RFC 7983: STUN, DTLS, RTP) with garbage after.
FloodResult udp_garbage(const Options& o, std::string name, const char* from, const std::vector<sockaddr_in>& to,
                        bool sip) {
  FloodResult r{std::move(name), 0, 0, {}, 0, 0, 0, 0, 0};
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const sockaddr_in local = loopback(from, 0);
  ::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof(local));
  std::vector<std::string> shapes;
  for (int k = 0; k < 16; ++k) {
    std::string g = rnd(40 + (rng()() % 400), std::string_view("\x00\x01\x80\x16\xff abc\r\n:;", 13));
    if (k % 4 == 1) g[0] = '\x00';   // STUN-looking
    if (k % 4 == 2) g[0] = '\x16';   // DTLS-looking
    if (k % 4 == 3) g[0] = '\x80';   // RTP-looking
    shapes.push_back(std::move(g));
  }
  if (sip) {
    shapes.push_back("INVITE sip:15550000000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.1.3:5060;branch=z9hG4bKx\r\n"
                     "From: <sip:x@x>;tag=1\r\nTo: <sip:y@y>\r\nCall-ID: flood\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                     "Content-Length: 0\r\n\r\n");
    shapes.push_back("OPTIONS sip:edge SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.1.3:5060;branch=z9hG4bKy\r\n\r\n");
  }
  const auto until = flood_end(o);
  std::uint64_t answers = 0;
  char buf[2048];
  while (in_time(until, r.sent, o)) {
    for (int k = 0; k < 64; ++k) {
      const std::string& s = shapes[r.sent % shapes.size()];
      const sockaddr_in& dst = to[r.sent % to.size()];
      if (::sendto(fd, s.data(), s.size(), 0, reinterpret_cast<const sockaddr*>(&dst), sizeof(dst)) < 0 &&
          (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 1);
        break;
      }
      ++r.sent;
    }
    while (::recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) ++answers;
  }
  std::this_thread::sleep_for(100ms);
  while (::recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) ++answers;
  ::close(fd);
  r.rejected = r.sent - std::min(r.sent, answers);
  r.detail = fmt::format("answered {}", answers);
  return r;
}

constexpr int kSmallBuf = 4096;  // the slow readers' receive buffer: the edge's queue fills sooner

FloodResult slow_readers(const Options& o, const Target& t, const char* from) {
  FloodResult r{"slow-readers", 0, 0, {}, 0, 0, 0, 0, 0};
  std::vector<Ws> conns(o.flood_connections);
  std::vector<std::uint64_t> sent_on(conns.size(), 0);
  std::uint64_t refused = 0, closed = 0, lost_requests = 0;
  std::string batch;
  const std::string options =
      "OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/WS slow.invalid;branch=z9hG4bKslow\r\nMax-Forwards: 69\r\n"
      "To: <sip:edge.test>\r\nFrom: <sip:slow@edge.test>;tag=s\r\nCall-ID: slow\r\nCSeq: 1 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n";
  const auto until = flood_end(o);
  while (in_time(until, r.sent, o)) {
    bool any = false;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Ws& w = conns[i];
      if (w.fd < 0) {
        if (!ensure_open(w, from, t.ws_port, r.sent, refused)) continue;
        ::setsockopt(w.fd, SOL_SOCKET, SO_RCVBUF, &kSmallBuf, sizeof(kSmallBuf));
        sent_on[i] = 0;
      }
      for (int k = 0; k < 50; ++k) {
        if (!w.send_frame(core::WsOpcode::text, options, true, false)) break;
        ++r.sent;
        ++sent_on[i];
        any = true;
      }
      // Never read: only notice that the edge closed it (its FIN or reset, with data still unread).
      pollfd p{w.fd, POLLRDHUP, 0};
      (void)::poll(&p, 1, 0);
      if (w.closed || (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
        ++closed;
        lost_requests += sent_on[i];
        w.close();
      }
    }
    if (!any) std::this_thread::sleep_for(1ms);
  }
  r.rejected = lost_requests + refused;
  r.detail = fmt::format("connections closed by the edge {} (with {} requests sent on them), refused {}", closed,
                         lost_requests, refused);
  return r;
}
FloodResult fragments(const Options& o, const Target& t, const char* from) {
  FloodResult r{"fragments", 0, 0, {}, 0, 0, 0, 0, 0};
  std::vector<Ws> conns;
  std::uint64_t refused = 0;
  const std::string part(1000, 'x');
  const auto until = flood_end(o);
  for (unsigned i = 0; i < o.fragments && in_time(until, r.sent, o); ++i) {
    Ws w;
    ++r.sent;
    if (!w.open(from, t.ws_port, 500)) {
      ++refused;
      continue;
    }
    w.send_frame(core::WsOpcode::text, part, /*fin=*/false);
    conns.push_back(std::move(w));
  }
  // Hold them to the end of the flood, plus the edge's partial-message deadline (2 s) if longer.
  const auto hold = std::max(until, Clock::now() + 2500ms);
  std::uint64_t closed = 0;
  while (Clock::now() < hold && closed < conns.size()) {
    closed = 0;
    for (Ws& w : conns) {
      if (!w.closed) {
        while (w.read_some(0)) {
        }
        while (w.take_text()) {
        }
      }
      closed += w.closed ? 1 : 0;
    }
    std::this_thread::sleep_for(20ms);
  }
  r.rejected = closed + refused;
  r.detail = fmt::format("closed by the edge {} of {} held, refused {}", closed, conns.size(), refused);
  return r;
}


}  // namespace webtrunk::bench::abuse

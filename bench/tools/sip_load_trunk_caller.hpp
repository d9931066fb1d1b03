// bench_sip_load, part 4b (--inbound): the emulated trunk that calls browsers, a UDP UAC in the
// manner of sipp's call-browser.xml. Its socket is the edge's --trunk address (the edge takes calls
// only from configured trunks). It sends what the generator gives it to the edge's SIP port, hands
// every response it reads to on_response, and answers requests of the edge (OPTIONS pings, a BYE
// the edge sends) with 200, reporting them to on_request. Datagrams are read with recvmmsg.
//
// Lifetimes: the text passed to the callbacks is valid only during the call (it lies in the
// receive buffer); the callbacks must outlive the TrunkCaller. The socket is closed by the destructor.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/socket.hpp"
#include "loopback_udp.hpp"
#include "sip/parser.hpp"
#include "sip_load_messages.hpp"

namespace webtrunk::bench {

class TrunkCaller {
 public:
  std::function<void(const sip::MessageView& response)> on_response;
  std::function<void(const sip::MessageView& request)> on_request;
  // Odd traffic (unparsable datagrams, send errors): counted, fails no call by itself.
  std::map<std::string, std::uint64_t> anomalies;

  TrunkCaller() : bufs_(kBatch * kBufSize) {}
  ~TrunkCaller() {
    if (fd_ >= 0) ::close(fd_);
  }
  TrunkCaller(const TrunkCaller&) = delete;
  TrunkCaller& operator=(const TrunkCaller&) = delete;

  // A non-blocking socket on 127.0.0.1:0 with a deep receive queue.
  bool open(std::string& err) {
    fd_ = open_loopback_udp(err);
    if (fd_ < 0) return false;
    auto local = core::local_address(fd_);
    port_ = local ? local->port() : 0;
    local_ = fmt::format("127.0.0.1:{}", port_);
    return port_ != 0;
  }
  int fd() const noexcept { return fd_; }
  std::uint16_t port() const noexcept { return port_; }
  const std::string& local() const noexcept { return local_; }

  // One datagram to 127.0.0.1:port (the edge's SIP port of a shard).
  void send(std::uint16_t port, std::string_view bytes) {
    const core::SockAddr to = core::SockAddr::ipv4_loopback(port);
    core::DatagramBatch batch;
    batch.add(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size(), &to);
    if (const int r = batch.send(fd_, 0); r <= 0) ++anomalies[fmt::format("trunk send: {}", std::strerror(-r))];
  }

  // Reads what is queued (up to 16 batches, then back to the loop).
  void on_readable() {
    for (int round = 0; round < 16; ++round) {
      for (unsigned i = 0; i < kBatch; ++i) {
        iov_[i] = {bufs_.data() + i * kBufSize, kBufSize};
        msgs_[i].msg_hdr = msghdr{};
        msgs_[i].msg_hdr.msg_iov = &iov_[i];
        msgs_[i].msg_hdr.msg_iovlen = 1;
        msgs_[i].msg_hdr.msg_name = &from_[i];
        msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      }
      const int n = ::recvmmsg(fd_, msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      for (int i = 0; i < n; ++i) handle(static_cast<unsigned>(i));
      if (static_cast<unsigned>(n) < kBatch) break;
    }
  }

 private:
  static constexpr unsigned kBatch = 64;
  static constexpr std::size_t kBufSize = 9000;  // the edge sends up to 8 KiB (its UDP buffers)

  void handle(unsigned i) {
    const std::string_view text(bufs_.data() + i * kBufSize, msgs_[i].msg_len);
    sip::MessageView m;
    if (sip::parse_message(text, m).status != sip::ParseStatus::ok) {
      ++anomalies["unparsable datagram at the trunk"];
      return;
    }
    if (!m.is_request()) return on_response(m);
    on_request(m);
    if (m.method() == sip::Method::ack) return;
    const auto peer =
        core::SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&from_[i]), msgs_[i].msg_hdr.msg_namelen);
    const std::string reply = trunk_response(m, 200, "OK", "trunk", fmt::format("<sip:trunk@{}>", local_));
    core::DatagramBatch batch;
    batch.add(reinterpret_cast<const std::byte*>(reply.data()), reply.size(), &peer);
    if (const int r = batch.send(fd_, 0); r <= 0) ++anomalies[fmt::format("trunk send: {}", std::strerror(-r))];
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string local_;
  std::vector<char> bufs_;
  std::array<mmsghdr, kBatch> msgs_{};
  std::array<iovec, kBatch> iov_{};
  std::array<sockaddr_storage, kBatch> from_{};
};

}  // namespace webtrunk::bench

// bench_sip_load, part 4: the emulated SIP trunk, a UAS in the manner of sipp's uas-trunk.xml, on
// UDP here (or on TCP/TLS: TrunkStreamServer, sip_load_trunk_stream.hpp, hands it its messages). It answers each INVITE with [100 Trying] [180 Ringing] 200 OK + SDP (Via, From,
// To + tag, Call-ID, CSeq and Record-Route copied; Contact = itself), absorbs ACKs, answers BYE
// (and anything else) with 200. It is stateless: a retransmitted INVITE gets the same answer
// again (the To tag is derived from the call index), which is what the edge's transaction expects.
//
// Calls are recognised by the called number (wt::bench::call_index_of_number): the Request-URI
// user of the INVITE, the To URI user of in-dialog requests (the edge's trunk leg keeps it).
// Datagrams are read with recvmmsg, stamped by the kernel (SO_TIMESTAMPNS); the replies of one
// batch leave with one sendmmsg.
//
// Lifetimes: the callbacks must outlive the TrunkEmulator. The socket is closed by the destructor.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/net_tstamp.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/socket.hpp"
#include "loopback_udp.hpp"
#include "sip/parser.hpp"
#include "sip_load_edge.hpp"
#include "sip_load_messages.hpp"

namespace webtrunk::bench {

class TrunkEmulator {
 public:
  struct Options {
    bool trying = false;
    bool ringing = true;
    std::uint64_t calls = 0;  // call indexes at or above this are answered 404
  };
  // A new INVITE (or a retransmission: `first` false) with the loop's receive time and the kernel's.
  std::function<void(std::uint32_t idx, bool first, std::int64_t mono, std::int64_t kernel_real)> on_invite;
  std::function<void(std::uint32_t idx)> on_ack;
  std::function<void(std::uint32_t idx)> on_bye;
  // Odd traffic (unparsable datagrams, send errors): counted, fails no call by itself.
  std::map<std::string, std::uint64_t> anomalies;

  explicit TrunkEmulator(Options o) : o_(o), bufs_(kBatch * kBufSize), seen_(o.calls, false) {}
  ~TrunkEmulator() {
    if (fd_ >= 0) ::close(fd_);
  }
  TrunkEmulator(const TrunkEmulator&) = delete;
  TrunkEmulator& operator=(const TrunkEmulator&) = delete;

  // A non-blocking socket on 127.0.0.1:0 with a deep receive queue and kernel receive stamps.
  bool open(std::string& err) {
    fd_ = open_loopback_udp(err);
    if (fd_ < 0) return false;
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    auto local = core::local_address(fd_);
    port_ = local ? local->port() : 0;
    set_contact(port_, "UDP");
    return port_ != 0;
  }
  // The Contact of the answers: 127.0.0.1:`port` over `transport` (a stream trunk sets its own).
  void set_contact(std::uint16_t port, std::string_view transport) {
    contact_ = fmt::format("<sip:trunk@127.0.0.1:{};transport={}>", port, transport);
  }
  int fd() const noexcept { return fd_; }
  std::uint16_t port() const noexcept { return port_; }

  // Reads what is queued (up to 16 batches, then back to the loop), answers it.
  void on_readable() {
    for (int round = 0; round < 16; ++round) {
      for (unsigned i = 0; i < kBatch; ++i) {
        iov_[i] = {bufs_.data() + i * kBufSize, kBufSize};
        msgs_[i].msg_hdr = msghdr{};
        msgs_[i].msg_hdr.msg_iov = &iov_[i];
        msgs_[i].msg_hdr.msg_iovlen = 1;
        msgs_[i].msg_hdr.msg_name = &from_[i];
        msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        msgs_[i].msg_hdr.msg_control = ctl_[i].data();
        msgs_[i].msg_hdr.msg_controllen = ctl_[i].size();
      }
      const int n = ::recvmmsg(fd_, msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      const std::int64_t now = mono_ns();
      for (int i = 0; i < n; ++i) handle(static_cast<unsigned>(i), now);
      send_replies();
      if (static_cast<unsigned>(n) < kBatch) break;
    }
  }

  // The answers to one message from the edge (received at `now`; `krx`: the kernel's receive stamp,
  // CLOCK_REALTIME, or 0), each a whole SIP message appended to `out`. The UDP socket's datagrams
  // come here, and so do the messages of a stream trunk (TrunkStreamServer).
  void answer(std::string_view text, std::int64_t now, std::int64_t krx, std::vector<std::string>& out) {
    sip::MessageView req;
    if (sip::parse_message(text, req).status != sip::ParseStatus::ok) {
      ++anomalies["unparsable message at the trunk"];
      return;
    }
    if (!req.is_request()) return;  // the trunk sends no requests: nothing to match
    const sip::Method m = req.method();
    const std::int64_t idx = call_index_of_number(
        m == sip::Method::invite ? uri_user_of(req.request_uri()) : name_addr_user(req.value(sip::HeaderId::to)));
    const bool known = idx >= 0 && static_cast<std::uint64_t>(idx) < o_.calls;
    const auto call = static_cast<std::uint32_t>(known ? idx : 0);
    const std::string tag = fmt::format("{}SIPpTag01", call);
    auto reply = [&](std::string bytes) { out.push_back(std::move(bytes)); };
    switch (m) {
      case sip::Method::invite:
        if (!known) return reply(trunk_response(req, 404, "Not Found", tag, contact_));
        if (o_.trying) reply(trunk_response(req, 100, "Trying", tag, contact_));
        if (o_.ringing) reply(trunk_response(req, 180, "Ringing", tag, contact_));
        reply(trunk_response(req, 200, "OK", tag, contact_, kTrunkAnswer));
        on_invite(call, !seen_[call], now, krx);
        seen_[call] = true;
        return;
      case sip::Method::ack:
        if (known) on_ack(call);
        return;
      case sip::Method::bye:
        reply(trunk_response(req, 200, "OK", tag, contact_));
        if (known) on_bye(call);
        return;
      default:
        return reply(trunk_response(req, 200, "OK", tag, contact_));
    }
  }

 private:
  static constexpr unsigned kBatch = 64;
  static constexpr std::size_t kBufSize = 9000;  // the edge sends up to 8 KiB (its UDP buffers)

  void handle(unsigned i, std::int64_t now) {
    std::int64_t krx = 0;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msgs_[i].msg_hdr); cm != nullptr; cm = CMSG_NXTHDR(&msgs_[i].msg_hdr, cm)) {
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
        krx = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
      }
    }
    answer(std::string_view(bufs_.data() + i * kBufSize, msgs_[i].msg_len), now, krx, answers_);
    if (answers_.empty()) return;
    const auto peer =
        core::SockAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&from_[i]), msgs_[i].msg_hdr.msg_namelen);
    for (auto& a : answers_) out_.push_back({std::move(a), peer});
    answers_.clear();
  }

  void send_replies() {
    core::DatagramBatch batch;  // keeps pointers into out_: the strings stay put until cleared
    for (std::size_t k = 0; k < out_.size(); ++k) {
      batch.add(reinterpret_cast<const std::byte*>(out_[k].bytes.data()), out_[k].bytes.size(), &out_[k].to);
      if (!batch.full() && k + 1 < out_.size()) continue;
      for (unsigned first = 0; first < batch.size();) {
        const int r = batch.send(fd_, first);
        if (r <= 0) {
          anomalies[fmt::format("trunk sendmmsg: {}", std::strerror(-r))] += batch.size() - first;
          break;
        }
        first += static_cast<unsigned>(r);
      }
      batch.clear();
    }
    out_.clear();
  }

  struct Reply {
    std::string bytes;
    core::SockAddr to;
  };

  Options o_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string contact_;
  std::vector<char> bufs_;
  std::array<mmsghdr, kBatch> msgs_{};
  std::array<iovec, kBatch> iov_{};
  std::array<sockaddr_storage, kBatch> from_{};
  std::array<std::array<char, CMSG_SPACE(sizeof(timespec))>, kBatch> ctl_{};
  std::vector<Reply> out_;
  std::vector<std::string> answers_;  // of the datagram being handled
  std::vector<bool> seen_;  // by call index: INVITE answered, to tell retransmissions apart
};

}  // namespace webtrunk::bench

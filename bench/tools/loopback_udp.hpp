// The emulated trunks' socket (sip_load_trunk.hpp, sip_load_trunk_caller.hpp): UDP on 127.0.0.1:0,
// non-blocking, with an 8 MiB receive queue (forced past rmem_max where the tool may), so a burst of
// the edge's datagrams waits in the kernel rather than being dropped.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>

#include <string>

#include "core/socket.hpp"

namespace webtrunk::bench {

// The socket's descriptor, or -1 with `err` saying why.
inline int open_loopback_udp(std::string& err) {
  auto sock = core::open_udp_socket(core::SockAddr::ipv4_loopback(0));
  if (!sock) {
    err = "trunk socket: " + sock.error().message;
    return -1;
  }
  const int fd = sock->release();
  const int big = 8 << 20;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace webtrunk::bench

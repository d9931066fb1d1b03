#include "core/mailbox.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace webtrunk::core {

Result<std::unique_ptr<Waker>> Waker::create() {
  // Blocking on purpose: io_uring returns -EAGAIN for a read on an O_NONBLOCK eventfd instead of
  // polling it.
  const int fd = ::eventfd(0, EFD_CLOEXEC);
  if (fd < 0) return Error::from_errno(-errno, "eventfd");
  return std::unique_ptr<Waker>(new Waker(fd));
}

Waker::~Waker() { ::close(fd_); }

void Waker::wake() noexcept {
  if (pending_.exchange(true, std::memory_order_acq_rel)) return;  // a wake is already on its way
  const std::uint64_t one = 1;
  // Cannot block: the counter would have to reach 2^64-2 first. EINTR is retried.
  while (::write(fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

}  // namespace webtrunk::core

#include "core/buffer_ring.hpp"

#include <fmt/format.h>
#include <sys/mman.h>

#include <cerrno>

namespace webtrunk::core {

Result<std::unique_ptr<BufferRing>> BufferRing::create(io_uring& ring, std::uint16_t group, std::uint32_t count,
                                                       std::uint32_t buffer_size, std::uint32_t kept) {
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0) {
    return Error{-EINVAL, fmt::format("buffer ring size {} must be a power of two <= 32768", count)};
  }
  if (buffer_size < 64) return Error{-EINVAL, "buffer ring buffers must be >= 64 bytes"};
  if (kept > 32768) return Error{-EINVAL, fmt::format("{} kept buffers: at most 32768", kept)};
  std::unique_ptr<BufferRing> r(new BufferRing());
  r->ring_ = &ring;
  r->count_ = count;
  r->size_ = buffer_size;
  r->group_ = group;
  r->refs_.assign(std::size_t{count} + kept, 0);

  // liburing 2.3 has no io_uring_setup_buf_ring(): map the ring ourselves (page aligned, as the
  // kernel requires) and register it.
  r->br_bytes_ = std::size_t{count} * sizeof(io_uring_buf);
  void* br = ::mmap(nullptr, r->br_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED) return Error::from_errno(-errno, "mmap buffer ring");
  r->br_ = static_cast<io_uring_buf_ring*>(br);
  r->base_bytes_ = (std::size_t{count} + kept) * buffer_size;
  // Populated up front: a first-touch page fault inside the kernel's copy would land on the data path.
  void* base =
      ::mmap(nullptr, r->base_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
  if (base == MAP_FAILED) return Error::from_errno(-errno, "mmap buffers");
  r->base_ = static_cast<std::byte*>(base);

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(r->br_);
  reg.ring_entries = count;
  reg.bgid = group;
  if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
    return Error::from_errno(rc, "io_uring_register_buf_ring (provided buffer rings need Linux 5.19+)");
  }
  io_uring_buf_ring_init(r->br_);
  for (std::uint32_t i = 0; i < count; ++i) r->give_back(static_cast<std::uint16_t>(i));
  r->publish();
  r->kept_free_.reserve(kept);
  for (std::uint32_t i = count + kept; i > count; --i) r->kept_free_.push_back(static_cast<std::uint16_t>(i - 1));
  return r;
}

BufferRing::~BufferRing() {
  // The group is not unregistered here: the shard tears its ring down first, which drops it.
  if (base_ != nullptr) ::munmap(base_, base_bytes_);
  if (br_ != nullptr) ::munmap(br_, br_bytes_);
}

void BufferRing::give_back(std::uint16_t bid) noexcept {
  io_uring_buf_ring_add(br_, data(bid), size_, bid, io_uring_buf_ring_mask(count_), pending_);
  ++pending_;
  ++in_kernel_;
}

void BufferRing::publish() noexcept {
  if (pending_ == 0) return;
  io_uring_buf_ring_advance(br_, pending_);
  pending_ = 0;
}

std::int32_t SendSlab::alloc() {
  if (!free_.empty()) {
    const std::int32_t i = free_.back();
    free_.pop_back();
    return i;
  }
  if (made_ >= max_) return -1;
  if (made_ % kChunk == 0) chunks_.push_back(std::make_unique<std::byte[]>(std::size_t{kChunk} * block_));
  return static_cast<std::int32_t>(made_++);
}

}  // namespace webtrunk::core

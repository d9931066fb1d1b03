// Provided-buffer rings (io_uring "pbuf rings", kernel 5.19+) and a plain slab for send copies.
//
// A BufferRing is one group of equal buffers the kernel picks from when a multishot receive
// completes; the CQE names the buffer id. Ownership of a buffer goes kernel -> us (take()) ->
// kernel (release() when its last reference goes, visible after publish()). References let a
// received datagram be sent from the buffer it arrived in: the send holds a reference until its
// completion, so the kernel cannot refill the buffer while it is still being transmitted.
//
// A ring may also keep `kept` extra buffers (ids count()..count()+kept-1) out of the kernel's ring,
// for receives the shard makes itself (recvmmsg on a hot socket, see reactor_udp.cpp). They share
// the ids, references and data() of the ring's buffers, so a view into either kind is forwarded the
// same way; the last unref puts a kept buffer back on a LIFO free list (the most recently used,
// cache-hot buffer goes out first), never into the kernel's ring.
//
// Lifetimes: a pointer from data() is valid while the caller holds a reference to that buffer id.
// The ring must be destroyed after the io_uring it is registered with has been torn down (or the
// group unregistered), since the kernel may still write into the buffers until then.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/result.hpp"

namespace webtrunk::core {

class BufferRing {
 public:
  // `count` is a power of two, <= 32768. Registers the ring with `ring` as group `group` and hands
  // those buffers to the kernel; `kept` more (<= 32768) stay with us for take_kept().
  static Result<std::unique_ptr<BufferRing>> create(io_uring& ring, std::uint16_t group, std::uint32_t count,
                                                    std::uint32_t buffer_size, std::uint32_t kept = 0);
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  std::uint16_t group() const noexcept { return group_; }
  std::uint32_t count() const noexcept { return count_; }  // buffers in the kernel's ring
  std::uint32_t buffer_size() const noexcept { return size_; }
  std::byte* data(std::uint16_t bid) noexcept { return base_ + std::size_t{bid} * size_; }

  // A CQE handed us buffer `bid`: we now hold one reference.
  void take(std::uint16_t bid) noexcept {
    refs_[bid] = 1;
    --in_kernel_;
  }
  void ref(std::uint16_t bid) noexcept { ++refs_[bid]; }
  // Drops a reference; the last one queues the buffer for the kernel.
  void unref(std::uint16_t bid) noexcept {
    if (--refs_[bid] != 0) return;
    if (bid >= count_) {
      kept_free_.push_back(bid);  // reserved for all of them at create(): never reallocates
    } else {
      give_back(bid);
    }
  }
  // A kept buffer with one reference, or -1 when all are in use.
  std::int32_t take_kept() noexcept {
    if (kept_free_.empty()) return -1;
    const std::uint16_t bid = kept_free_.back();
    kept_free_.pop_back();
    refs_[bid] = 1;
    return bid;
  }
  std::uint32_t kept_available() const noexcept { return static_cast<std::uint32_t>(kept_free_.size()); }
  // Makes the buffers queued since the last publish visible to the kernel (one release store).
  void publish() noexcept;
  // Buffers the kernel can fill once published (including queued ones).
  std::uint32_t available() const noexcept { return in_kernel_; }

 private:
  BufferRing() = default;
  void give_back(std::uint16_t bid) noexcept;  // a buffer of the kernel's ring

  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  std::size_t br_bytes_ = 0;
  std::byte* base_ = nullptr;
  std::size_t base_bytes_ = 0;
  std::uint32_t count_ = 0;
  std::uint32_t size_ = 0;
  std::uint16_t group_ = 0;
  std::uint16_t pending_ = 0;  // added since the last publish
  std::uint32_t in_kernel_ = 0;
  std::vector<std::uint16_t> refs_;
  std::vector<std::uint16_t> kept_free_;  // LIFO
};

// Fixed-size blocks for data the caller cannot keep alive until a send completes (UDP send_to).
// Grows in chunks on demand up to `max_blocks`; blocks are recycled, never returned to the system.
class SendSlab {
 public:
  SendSlab(std::uint32_t block_size, std::uint32_t max_blocks) : block_(block_size), max_(max_blocks) {}
  std::uint32_t block_size() const noexcept { return block_; }
  // A block index, or -1 when all max_blocks are in use.
  std::int32_t alloc();
  void free(std::int32_t idx) noexcept { free_.push_back(idx); }
  std::byte* data(std::int32_t idx) noexcept {
    const auto i = static_cast<std::uint32_t>(idx);
    return chunks_[i / kChunk].get() + std::size_t{i % kChunk} * block_;
  }

 private:
  static constexpr std::uint32_t kChunk = 256;
  std::uint32_t block_;
  std::uint32_t max_;
  std::uint32_t made_ = 0;
  std::vector<std::unique_ptr<std::byte[]>> chunks_;
  std::vector<std::int32_t> free_;
};

}  // namespace webtrunk::core

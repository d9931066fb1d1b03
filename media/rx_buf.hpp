// RxBuf: one received datagram and the writable tailroom behind it, as the relay sees it.
//
// The relay forwards media without copies (DESIGN.md "Media with no copies"): browser SRTP is
// unprotected in place and sent on from the same buffer; trunk RTP is protected in place, its auth
// tag written into the tailroom. Which bytes may be forwarded in place is a property of this type,
// not a convention: Relay::poll_transmit() marks a transmit `in_place` only when its bytes lie in
// the RxBuf it was handed, and the glue sends every other transmit as a visible copy.
//
// Lifetimes: an RxBuf views memory it does not own (a provided buffer of the shard's ring, or a
// test's array); it and the spans it hands out are valid while that datagram is being delivered.
#pragma once

#include <cstddef>
#include <span>

namespace webtrunk::media {

class RxBuf {
 public:
  // `payload` is the datagram; `tailroom` bytes past its end are writable too.
  RxBuf(std::span<std::byte> payload, std::size_t tailroom) noexcept : data_(payload), tailroom_(tailroom) {}

  [[nodiscard]] std::span<std::byte> payload() const noexcept { return data_; }
  [[nodiscard]] std::size_t tailroom() const noexcept { return tailroom_; }
  // The payload followed by the tailroom: what a protect-in-place may write.
  [[nodiscard]] std::span<std::byte> with_tailroom() const noexcept { return {data_.data(), data_.size() + tailroom_}; }
  // Whether `view` lies inside payload + tailroom (forwarding it needs no copy).
  [[nodiscard]] bool contains(std::span<const std::byte> view) const noexcept {
    const std::byte* b = data_.data();
    return view.data() >= b && view.data() + view.size() <= b + data_.size() + tailroom_;
  }

 private:
  std::span<std::byte> data_;
  std::size_t tailroom_;
};

}  // namespace webtrunk::media

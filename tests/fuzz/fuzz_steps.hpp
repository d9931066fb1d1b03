// Shared by the fuzz targets that drive a sans-IO core (EchoTrunkCore, CallController) step by step: the
// input's framing and the bounded timer loops. Lifetimes: `input` is only read during the call.
#pragma once

#include <algorithm>
#include <string_view>

#include "core/clock.hpp"

namespace webtrunk::fuzz {

// Splits `input` into chunks separated by "\n\x00\n" and calls step(op, rest) for each non-empty
// one, op being its first byte and rest the bytes after it; at most 64 steps.
template <class Step>
void for_each_step(std::string_view input, Step&& step) {
  constexpr std::string_view kSep("\n\0\n", 3);
  int steps = 0;
  while (!input.empty() && steps++ < 64) {
    const auto cut = input.find(kSep);
    std::string_view chunk = input.substr(0, cut);
    input = cut == std::string_view::npos ? std::string_view{} : input.substr(cut + kSep.size());
    if (chunk.empty()) continue;
    const auto op = static_cast<unsigned char>(chunk[0]);
    chunk.remove_prefix(1);
    step(op, chunk);
  }
}

// Fires what is due at `now`, bounded (a timer that re-arms in the past must not loop us).
template <class Core>
void fire_due(Core& core, core::Instant now) {
  for (int i = 0; i < 256; ++i) {
    auto t = core.poll_timeout();
    if (!t || *t > now) break;
    core.handle_timeout(now);
  }
}

// Lets every timer run out, moving `now` along and discarding what the core sends.
template <class Core>
void run_out(Core& core, core::Instant& now) {
  for (int i = 0; i < 4096; ++i) {
    auto t = core.poll_timeout();
    if (!t) break;
    now = std::max(now, *t);
    core.handle_timeout(now);
    while (core.poll_transmit()) {
    }
  }
}

}  // namespace webtrunk::fuzz

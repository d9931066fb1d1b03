// DelayHistogram: a distribution of delays for quantiles (p50/p99) without keeping the samples:
// 1 us buckets below 1 ms, 100 us buckets from there to 200 ms, the last bucket holding everything
// beyond. A quantile is the upper edge of its bucket, so it errs high by at most a bucket. Fixed
// size (~24 KiB), no allocation after construction; one thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace webtrunk::core {

class DelayHistogram {
 public:
  void add(std::int64_t ns) noexcept {
    ns = std::max<std::int64_t>(0, ns);
    std::int64_t b = ns < kFineEndNs ? ns / kFineNs : kFineBuckets + (ns - kFineEndNs) / kCoarseNs;
    ++buckets_[static_cast<std::size_t>(std::min<std::int64_t>(b, kBuckets - 1))];
    ++count_;
    max_ns_ = std::max(max_ns_, ns);
  }
  // The q-quantile in microseconds (upper edge of its bucket); 0 when empty.
  double quantile_us(double q) const noexcept {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen > rank) return static_cast<double>(upper_edge_ns(static_cast<std::int64_t>(i))) / 1000.0;
    }
    return static_cast<double>(upper_edge_ns(kBuckets - 1)) / 1000.0;
  }
  double max_us() const noexcept { return static_cast<double>(max_ns_) / 1000.0; }
  std::uint64_t count() const noexcept { return count_; }
  void clear() noexcept {
    std::fill(buckets_.begin(), buckets_.end(), 0);
    count_ = 0;
    max_ns_ = 0;
  }

 private:
  static constexpr std::int64_t kFineNs = 1'000;
  static constexpr std::int64_t kFineBuckets = 1'000;
  static constexpr std::int64_t kFineEndNs = kFineNs * kFineBuckets;
  static constexpr std::int64_t kCoarseNs = 100'000;
  static constexpr std::int64_t kBuckets = kFineBuckets + (200'000'000 - kFineEndNs) / kCoarseNs;
  static std::int64_t upper_edge_ns(std::int64_t b) noexcept {
    return b < kFineBuckets ? (b + 1) * kFineNs : kFineEndNs + (b - kFineBuckets + 1) * kCoarseNs;
  }
  std::vector<std::uint64_t> buckets_ = std::vector<std::uint64_t>(kBuckets);
  std::uint64_t count_ = 0;
  std::int64_t max_ns_ = 0;
};

}  // namespace webtrunk::core

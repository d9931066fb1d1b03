// Metrics: counters and gauges, one row per shard, summed when /metrics is rendered as Prometheus
// text. A shard writes only its own row (relaxed atomics, no contention); the exporter reads all.
// Declare each metric once at namespace scope:
//   inline const core::Counter kWsBadFrames{"webtrunk_ws_bad_frames_total", "WebSocket frames rejected"};
// and count with kWsBadFrames.inc(). The row is the calling thread's shard (set_current_shard).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace webtrunk::core {

inline constexpr unsigned kMaxShards = 64;
inline constexpr unsigned kMaxMetrics = 512;

// The shard the calling thread runs (0 for the main thread and for tests).
unsigned current_shard() noexcept;
void set_current_shard(unsigned shard) noexcept;

class Metric {
 public:
  enum class Kind { counter, gauge };
  Metric(const char* name, const char* help, Kind kind);
  Metric(const Metric&) = delete;
  Metric& operator=(const Metric&) = delete;

  void add(std::int64_t n = 1) const noexcept;
  std::int64_t total() const noexcept;  // summed over shards
  std::int64_t on_shard(unsigned shard) const noexcept;

 protected:
  unsigned id_;
};

class Counter : public Metric {
 public:
  Counter(const char* name, const char* help) : Metric(name, help, Kind::counter) {}
  void inc(std::int64_t n = 1) const noexcept { add(n); }
};

class Gauge : public Metric {
 public:
  Gauge(const char* name, const char* help) : Metric(name, help, Kind::gauge) {}
  void inc() const noexcept { add(1); }
  void dec() const noexcept { add(-1); }
};

// Prometheus text exposition format 0.0.4, every metric with a per-shard label and a sum.
std::string render_metrics();

}  // namespace webtrunk::core

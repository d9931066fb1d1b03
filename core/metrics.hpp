// Metrics: counters and gauges, one row per shard, summed when /metrics is rendered as Prometheus
// text. A shard writes only its own row (relaxed atomics, no contention); the exporter reads all.
// Declare each metric once at namespace scope:
//   inline const core::Counter kWsBadFrames{"webtrunk_ws_bad_frames_total", "WebSocket frames rejected"};
// and count with kWsBadFrames.inc(). The row is the calling thread's shard (set_current_shard).
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// Labelled counters: a bounded set of label sets (a SeriesSet, e.g. one per route:
// route="+1555",trunk="udp:10.0.0.5:5060") shared by counter families, each of which may add one
// label of its own with a fixed list of values (reason="unreachable_icmp", ...). Rendered as
//   webtrunk_route_calls_failed_total{route="+1555",trunk="udp:10.0.0.5:5060",reason="timeout"} 2
// summed over shards (no per-shard lines: the label sets already multiply the lines). Every label
// set ever interned is rendered, zeros included, until the process ends; past `capacity` sets, new
// ones share the set's overflow labels. Declare at namespace scope like a Counter:
//   inline const core::SeriesSet kRouteSeries{128, {{"route", "other"}, {"trunk", "other"}}};
//   inline const core::CounterFamily kRouteCalls{"webtrunk_route_calls_total", "...", kRouteSeries};
using SeriesId = std::uint32_t;
using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class SeriesSet {
 public:
  // Series 0 is the overflow set (rendered only once counted).
  SeriesSet(std::uint32_t capacity, Labels overflow);
  SeriesSet(const SeriesSet&) = delete;
  SeriesSet& operator=(const SeriesSet&) = delete;

  // The id of these labels (values escaped here), the same id for the same labels every time.
  // Any thread (a mutex: start-up and reloads only, never per call).
  SeriesId intern(Labels labels) const;
  std::uint32_t capacity() const noexcept { return capacity_; }
  // Interned so far (overflow included); ids below this are valid.
  std::uint32_t size() const noexcept { return size_.load(std::memory_order_acquire); }
  // The rendered labels of `id` (`route="+1555",trunk="udp:..."`); valid for the process lifetime.
  const std::string& labels(SeriesId id) const noexcept { return labels_[id]; }

 private:
  std::uint32_t capacity_;
  std::unique_ptr<std::string[]> labels_;  // written once each, before size_ publishes it
  mutable std::atomic<std::uint32_t> size_{0};
  mutable std::mutex mu_;
};

class CounterFamily {
 public:
  // `label` and `values`: the family's own label and its values (none: one counter per series).
  CounterFamily(const char* name, const char* help, const SeriesSet& series, const char* label = nullptr,
                std::initializer_list<const char*> values = {});
  CounterFamily(const CounterFamily&) = delete;
  CounterFamily& operator=(const CounterFamily&) = delete;

  // Counts on the calling thread's shard row; an id out of range counts nothing.
  void inc(SeriesId id, std::uint32_t value = 0, std::int64_t n = 1) const noexcept;
  std::int64_t total(SeriesId id, std::uint32_t value = 0) const noexcept;  // summed over shards
  void render(std::string& out) const;

 private:
  const char* name_;
  const char* help_;
  const SeriesSet& series_;
  const char* label_;
  std::vector<const char*> values_;
  std::uint32_t width_;  // max(1, values_.size())
  std::unique_ptr<std::atomic<std::int64_t>[]> cells_;  // [shard][series][value]
};

// Prometheus text exposition format 0.0.4, every metric with a per-shard label and a sum, then
// the counter families.
std::string render_metrics();

}  // namespace webtrunk::core

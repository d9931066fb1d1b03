#include "core/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>

namespace webtrunk::core {
namespace {

struct Def {
  const char* name;
  const char* help;
  Metric::Kind kind;
};

inline constexpr unsigned kMaxFamilies = 32;

struct Registry {
  std::array<Def, kMaxMetrics> defs{};
  std::atomic<unsigned> count{0};
  std::array<const CounterFamily*, kMaxFamilies> families{};
  std::atomic<unsigned> family_count{0};
  // values[shard][metric]; each shard writes only its own row.
  std::array<std::array<std::atomic<std::int64_t>, kMaxMetrics>, kMaxShards> values{};
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: metrics outlive every thread
  return *r;
}

thread_local unsigned t_shard = 0;

// Prometheus text format: a label value escapes backslash, double quote and line feed.
void append_label(std::string& out, std::string_view name, std::string_view value) {
  if (!out.empty()) out += ',';
  out.append(name);
  out += "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
}

std::string render_labels(Labels labels) {
  std::string out;
  for (const auto& [name, value] : labels) append_label(out, name, value);
  return out;
}

}  // namespace

unsigned current_shard() noexcept { return t_shard; }
void set_current_shard(unsigned shard) noexcept { t_shard = shard < kMaxShards ? shard : 0; }

Metric::Metric(const char* name, const char* help, Kind kind) {
  auto& r = registry();
  id_ = r.count.fetch_add(1);
  if (id_ >= kMaxMetrics) {
    std::fprintf(stderr, "webtrunk: too many metrics (raise kMaxMetrics)\n");
    std::abort();
  }
  r.defs[id_] = Def{name, help, kind};
}

void Metric::add(std::int64_t n) const noexcept {
  auto& cell = registry().values[t_shard][id_];
  cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::int64_t Metric::on_shard(unsigned shard) const noexcept {
  return registry().values[shard][id_].load(std::memory_order_relaxed);
}

std::int64_t Metric::total() const noexcept {
  std::int64_t sum = 0;
  for (unsigned s = 0; s < kMaxShards; ++s) sum += on_shard(s);
  return sum;
}

SeriesSet::SeriesSet(std::uint32_t capacity, Labels overflow)
    : capacity_(capacity < 1 ? 1 : capacity), labels_(std::make_unique<std::string[]>(capacity_)) {
  labels_[0] = render_labels(overflow);
  size_.store(1, std::memory_order_release);
}

SeriesId SeriesSet::intern(Labels labels) const {
  std::string key = render_labels(labels);
  std::lock_guard lock(mu_);
  const std::uint32_t n = size_.load(std::memory_order_relaxed);
  for (std::uint32_t i = 1; i < n; ++i) {
    if (labels_[i] == key) return i;
  }
  if (n >= capacity_) return 0;
  labels_[n] = std::move(key);
  size_.store(n + 1, std::memory_order_release);
  return n;
}

CounterFamily::CounterFamily(const char* name, const char* help, const SeriesSet& series, const char* label,
                             std::initializer_list<const char*> values)
    : name_(name), help_(help), series_(series), label_(label), values_(values),
      width_(values.size() == 0 ? 1 : static_cast<std::uint32_t>(values.size())),
      cells_(std::make_unique<std::atomic<std::int64_t>[]>(std::size_t{kMaxShards} * series.capacity() * width_)) {
  auto& r = registry();
  const unsigned id = r.family_count.fetch_add(1);
  if (id >= kMaxFamilies) {
    std::fprintf(stderr, "webtrunk: too many counter families (raise kMaxFamilies)\n");
    std::abort();
  }
  r.families[id] = this;
}

void CounterFamily::inc(SeriesId id, std::uint32_t value, std::int64_t n) const noexcept {
  if (id >= series_.capacity() || value >= width_) return;
  auto& cell = cells_[(std::size_t{t_shard} * series_.capacity() + id) * width_ + value];
  cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::int64_t CounterFamily::total(SeriesId id, std::uint32_t value) const noexcept {
  if (id >= series_.capacity() || value >= width_) return 0;
  std::int64_t sum = 0;
  for (unsigned s = 0; s < kMaxShards; ++s) {
    sum += cells_[(std::size_t{s} * series_.capacity() + id) * width_ + value].load(std::memory_order_relaxed);
  }
  return sum;
}

void CounterFamily::render(std::string& out) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name_, help_, name_);
  const std::uint32_t n = series_.size();
  for (std::uint32_t id = 0; id < n; ++id) {
    for (std::uint32_t v = 0; v < width_; ++v) {
      const std::int64_t sum = total(id, v);
      if (id == 0 && sum == 0) continue;  // the overflow set, unused
      std::string labels = series_.labels(id);
      if (label_ != nullptr && !values_.empty()) append_label(labels, label_, values_[v]);
      out += fmt::format("{}{{{}}} {}\n", name_, labels, sum);
    }
  }
}

std::string render_metrics() {
  auto& r = registry();
  std::string out;
  unsigned n = r.count.load();
  for (unsigned i = 0; i < n; ++i) {
    const Def& d = r.defs[i];
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", d.name, d.help, d.name,
                       d.kind == Metric::Kind::counter ? "counter" : "gauge");
    std::int64_t sum = 0;
    for (unsigned s = 0; s < kMaxShards; ++s) {
      std::int64_t v = r.values[s][i].load(std::memory_order_relaxed);
      if (v != 0) out += fmt::format("{}{{shard=\"{}\"}} {}\n", d.name, s, v);
      sum += v;
    }
    out += fmt::format("{} {}\n", d.name, sum);
  }
  const unsigned families = std::min<unsigned>(r.family_count.load(), kMaxFamilies);
  for (unsigned i = 0; i < families; ++i) r.families[i]->render(out);
  return out;
}

}  // namespace webtrunk::core

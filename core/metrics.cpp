#include "core/metrics.hpp"

#include <fmt/format.h>

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

struct Registry {
  std::array<Def, kMaxMetrics> defs{};
  std::atomic<unsigned> count{0};
  // values[shard][metric]; each shard writes only its own row.
  std::array<std::array<std::atomic<std::int64_t>, kMaxMetrics>, kMaxShards> values{};
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: metrics outlive every thread
  return *r;
}

thread_local unsigned t_shard = 0;

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
  return out;
}

}  // namespace webtrunk::core

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The Guard check with a warm cache on 1,000,000 subjects, against the raw
// baseline the design holds it to: an absl::flat_hash_map from subject id to
// a consent bitmask, plus a per-category allowed mask, in the same binary.
// Target: BM_Guard_CheckWarmCache within 1.5x of BM_Baseline_RawMapCheck.
//
//   build/bench/guard_benchmark --benchmark_min_time=1

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "benchmark/benchmark.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"

namespace consentry {
namespace {

constexpr int kSubjects = 1'000'000;

struct World {
  World() {
    auto p = LoadAndCompilePolicy(std::string(CONSENTRY_SOURCE_DIR) +
                                  "/policies/default.textproto");
    if (!p.ok()) std::abort();
    policy = *p;
    ids.reserve(kSubjects);
    for (int i = 0; i < kSubjects; ++i) {
      ids.push_back("m" + std::to_string(10'000'000 + i));
    }
    const PurposeIndex stats = *policy->FindPurpose("statistics.measurement");
    const CategoryIndex measurement = *policy->FindCategory("measurement");
    purpose_bit = std::uint64_t{1} << stats;
    category_mask = policy->allowed_for(measurement).bits();
    // Every third subject refused; the rest consented.
    for (int i = 0; i < kSubjects; ++i) {
      const bool given = i % 3 != 0;
      v1::ConsentChange c;
      c.set_subject_id(ids[static_cast<std::size_t>(i)]);
      c.mutable_purpose_consent()->set_purpose("statistics.measurement");
      c.mutable_purpose_consent()->set_state(given ? v1::CONSENT_STATE_GIVEN
                                                   : v1::CONSENT_STATE_REFUSED);
      if (!store.Apply(c).ok()) std::abort();
      raw.emplace(ids[static_cast<std::size_t>(i)], given ? purpose_bit : 0);
    }
    GuardOptions unaudited;
    unaudited.unaudited_for_benchmarks_only = true;
    auto g = Guard::Create(policy, &store, /*audit=*/nullptr, unaudited);
    if (!g.ok()) std::abort();
    guard = *std::move(g);
    if (!guard->WarmCache().ok()) std::abort();
    ctx = std::make_unique<AccessContext>(
        *guard->Context("statistics-job", "statistics.measurement"));
    category = std::make_unique<CategoryRef>(*guard->Category("measurement"));
    // The same pseudo-random visiting order for every benchmark.
    std::mt19937_64 rng(42);
    order.resize(1 << 20);
    for (auto& o : order) {
      o = static_cast<std::uint32_t>(rng() % kSubjects);
    }
  }

  std::shared_ptr<const CompiledPolicy> policy;
  std::vector<std::string> ids;
  std::vector<std::uint32_t> order;
  InMemoryConsentStore store;
  absl::flat_hash_map<std::string, std::uint64_t> raw;
  std::uint64_t purpose_bit = 0;
  std::uint64_t category_mask = 0;
  std::unique_ptr<Guard> guard;
  std::unique_ptr<AccessContext> ctx;
  std::unique_ptr<CategoryRef> category;
};

World& GetWorld() {
  static World* w = new World();
  return *w;
}

// state.range(0): number of distinct subjects visited (1M: every lookup
// misses the CPU caches; 4096: the hot set fits in them).
std::size_t Mask(const benchmark::State& state) {
  return state.range(0) == kSubjects
             ? (std::size_t{1} << 20) - 1
             : static_cast<std::size_t>(state.range(0)) - 1;
}

void BM_Baseline_RawMapCheck(benchmark::State& state) {
  World& w = GetWorld();
  const std::size_t mask = Mask(state);
  std::size_t i = 0;
  std::int64_t allowed = 0;
  for (auto _ : state) {
    const std::string& id = w.ids[w.order[i++ & mask]];
    auto it = w.raw.find(absl::string_view(id));
    const bool ok = it != w.raw.end() &&
                    (it->second & w.category_mask & w.purpose_bit) != 0;
    allowed += ok;
    benchmark::DoNotOptimize(ok);
  }
  state.counters["allowed_share"] =
      static_cast<double>(allowed) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Baseline_RawMapCheck)->Arg(kSubjects)->Arg(4096);

void BM_Guard_CheckWarmCache(benchmark::State& state) {
  World& w = GetWorld();
  const std::size_t mask = Mask(state);
  std::size_t i = 0;
  std::int64_t allowed = 0;
  for (auto _ : state) {
    const std::string& id = w.ids[w.order[i++ & mask]];
    absl::StatusOr<Decision> d = w.guard->Check(*w.ctx, id, *w.category);
    allowed += d.ok() && d->allowed();
    benchmark::DoNotOptimize(d);
  }
  state.counters["allowed_share"] =
      static_cast<double>(allowed) / static_cast<double>(state.iterations());
  state.counters["cached_subjects"] =
      static_cast<double>(w.guard->cached_subjects());
}
BENCHMARK(BM_Guard_CheckWarmCache)->Arg(kSubjects)->Arg(4096);

// Baseline for a guarded read: a plain read of the value by index.
void BM_Baseline_PlainRead(benchmark::State& state) {
  World& w = GetWorld();
  std::vector<double> values(4096, 61.5);
  std::size_t i = 0;
  double sum = 0;
  for (auto _ : state) {
    const std::string& id = w.ids[w.order[i & (w.order.size() - 1)]];
    auto it = w.raw.find(absl::string_view(id));
    if (it != w.raw.end() && (it->second & w.purpose_bit)) {
      sum += values[i & 4095];
    }
    ++i;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Baseline_PlainRead);

// Authorize (check + grant) and Read through Protected<T>, auditing off.
void BM_Guard_AuthorizeAndRead(benchmark::State& state) {
  World& w = GetWorld();
  std::vector<Protected<double>> records;
  records.reserve(4096);
  for (std::size_t k = 0; k < 4096; ++k) {
    auto tags = w.guard->Tag(w.ids[w.order[k]], "measurement",
                             {"statistics.measurement"});
    if (!tags.ok()) std::abort();
    records.emplace_back(*std::move(tags), 61.5);
  }
  std::size_t i = 0;
  double sum = 0;
  for (auto _ : state) {
    const Protected<double>& r = records[i++ & 4095];
    absl::StatusOr<AccessGrant> g = w.guard->Authorize(*w.ctx, r);
    if (g.ok()) {
      absl::StatusOr<const double*> v = r.Read(*g);
      if (v.ok()) sum += **v;
    }
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Guard_AuthorizeAndRead);

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The bounded consent cache (`GuardOptions::cache_budget_bytes`):
//
//   BM_Bounded_HitVsFullCache/N  a hit with a budget against the full
//       cache, interleaved in batches over the same N hot subjects
//       (counters full_ns, bounded_ns, ratio).
//   BM_Bounded_MissVsStoreGet/S  a check that misses (store S: 0 in
//       memory, 1 SQLite) against the store's own `Get` of the same
//       subjects, interleaved (store_get_ns, miss_ns).
//   BM_Bounded_Zipf/B  checks drawn from Zipf(0.99) over 1,000,000
//       subjects with a budget of B subjects (40 bytes each), against the
//       in-memory store: hit_rate and ns per check.
//
// Times are the benchmark thread's CPU time (the counters), so that other
// processes on a shared machine do not inflate them.
//
//   build/bench/bounded_cache_benchmark --benchmark_repetitions=3

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/proto_io.h"
#include "consentry/sqlite_store.h"
#include "src/core/consent_cache.h"

namespace consentry {
namespace {

constexpr int kSubjects = 1'000'000;
constexpr std::size_t kBatch = 4096;
// What the budget charges a subject with an id of up to 16 bytes.
constexpr std::size_t kPerSubject =
    internal::ConsentCache::kBoundedBytesPerSubject;

std::string Id(int i) { return "m" + std::to_string(10'000'000 + i); }

v1::ConsentChange Change(int i) {
  v1::ConsentChange c;
  c.set_subject_id(Id(i));
  c.mutable_purpose_consent()->set_purpose("statistics.measurement");
  // Every third subject refused; every tenth never recorded.
  c.mutable_purpose_consent()->set_state(i % 3 == 0 ? v1::CONSENT_STATE_REFUSED
                                                    : v1::CONSENT_STATE_GIVEN);
  return c;
}

std::shared_ptr<const CompiledPolicy> Policy() {
  auto p = LoadAndCompilePolicy(std::string(CONSENTRY_SOURCE_DIR) +
                                "/policies/default.textproto");
  if (!p.ok()) std::abort();
  return *p;
}

std::unique_ptr<Guard> MakeGuard(std::shared_ptr<const CompiledPolicy> policy,
                                 ConsentStore* store, std::size_t budget) {
  GuardOptions o;
  o.unaudited_for_benchmarks_only = true;
  o.cache_budget_bytes = budget;
  auto g = Guard::Create(std::move(policy), store, nullptr, o);
  if (!g.ok()) std::abort();
  return *std::move(g);
}

// Subjects 0..kSubjects-1 in an in-memory store (every tenth not
// recorded), and lazily a SQLite store with the same records.
struct World {
  World() : policy(Policy()) {
    ids.reserve(kSubjects);
    for (int i = 0; i < kSubjects; ++i) {
      ids.push_back(Id(i));
      if (i % 10 != 9 && !memory.Apply(Change(i)).ok()) std::abort();
    }
  }

  ConsentStore& Sqlite() {
    if (sqlite != nullptr) return *sqlite;
    dir = std::filesystem::temp_directory_path() /
          ("consentry-bounded-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto s = SqliteConsentStore::Open((dir / "consent.db").string());
    if (!s.ok()) std::abort();
    sqlite = *std::move(s);
    std::vector<v1::ConsentChange> batch;
    for (int i = 0; i < kSubjects; ++i) {
      if (i % 10 == 9) continue;
      batch.push_back(Change(i));
      if (batch.size() == 10'000 || i == kSubjects - 1) {
        if (!sqlite->ApplyBatch(batch).ok()) std::abort();
        batch.clear();
      }
    }
    return *sqlite;
  }
  ~World() {
    sqlite.reset();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }

  std::shared_ptr<const CompiledPolicy> policy;
  std::vector<std::string> ids;
  InMemoryConsentStore memory;
  std::unique_ptr<SqliteConsentStore> sqlite;
  std::filesystem::path dir;
};

World& GetWorld() {
  static World* w = new World();
  return *w;
}

struct Checker {
  explicit Checker(Guard& g)
      : guard(g),
        ctx(*g.Context("statistics-job", "statistics.measurement")),
        category(*g.Category("measurement")) {}
  bool Check(const std::string& id) {
    absl::StatusOr<Decision> d = guard.Check(ctx, id, category);
    return d.ok() && d->allowed();
  }
  Guard& guard;
  AccessContext ctx;
  CategoryRef category;
};

// The calling thread's CPU time: the machine may be shared, and wall time
// would count the time other processes ran.
struct Clock {
  static std::chrono::nanoseconds now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) +
           std::chrono::nanoseconds(ts.tv_nsec);
  }
};

// Times `fn(from)` for a batch of kBatch queries starting at `from`.
template <typename Fn>
std::chrono::nanoseconds Time(Fn&& fn, std::size_t from, int* sink) {
  const auto start = Clock::now();
  *sink += fn(from);
  return Clock::now() - start;
}

void BM_Bounded_HitVsFullCache(benchmark::State& state) {
  World& w = GetWorld();
  const auto hot = static_cast<std::size_t>(state.range(0));
  std::unique_ptr<Guard> full = MakeGuard(w.policy, &w.memory, 0);
  if (!full->WarmCache().ok()) std::abort();
  // Room for the hot set and then some: every check hits once warm.
  std::unique_ptr<Guard> bounded =
      MakeGuard(w.policy, &w.memory, hot * 2 * kPerSubject);
  Checker f(*full), b(*bounded);
  std::mt19937_64 rng(42);
  std::vector<std::uint32_t> order(1 << 20);
  for (auto& o : order) o = static_cast<std::uint32_t>(rng() % hot);
  for (std::size_t i = 0; i < hot; ++i) b.Check(w.ids[i]);
  const auto run = [&w, &order](Checker& c) {
    return [&w, &order, &c](std::size_t from) {
      int allowed = 0;
      for (std::size_t i = 0; i < kBatch; ++i) {
        allowed += c.Check(w.ids[order[(from + i) & (order.size() - 1)]]);
      }
      return allowed;
    };
  };
  std::chrono::nanoseconds full_t{0}, bounded_t{0};
  int sink = 0;
  std::size_t from = 0;
  for (auto _ : state) {
    // Alternate which goes first, so neither always runs on a warmer CPU.
    if ((from / kBatch) % 2 == 0) {
      full_t += Time(run(f), from, &sink);
      bounded_t += Time(run(b), from, &sink);
    } else {
      bounded_t += Time(run(b), from, &sink);
      full_t += Time(run(f), from, &sink);
    }
    from += kBatch;
  }
  benchmark::DoNotOptimize(sink);
  const double n = static_cast<double>(state.iterations()) * kBatch;
  state.counters["full_ns"] = static_cast<double>(full_t.count()) / n;
  state.counters["bounded_ns"] = static_cast<double>(bounded_t.count()) / n;
  state.counters["ratio"] = static_cast<double>(bounded_t.count()) /
                            static_cast<double>(full_t.count());
  const GuardCacheStats s = bounded->cache_stats();
  state.counters["misses"] = static_cast<double>(s.misses);
}
BENCHMARK(BM_Bounded_HitVsFullCache)->Arg(4096)->Arg(100'000);

void BM_Bounded_MissVsStoreGet(benchmark::State& state) {
  World& w = GetWorld();
  ConsentStore& store =
      state.range(0) == 0 ? static_cast<ConsentStore&>(w.memory) : w.Sqlite();
  // The smallest budget: 12 subjects; walking 1M subjects in order, every
  // check misses and evicts.
  std::unique_ptr<Guard> bounded = MakeGuard(w.policy, &store, 1024);
  Checker b(*bounded);
  std::chrono::nanoseconds get_t{0}, miss_t{0};
  int sink = 0;
  std::size_t from = 0;
  const auto miss = [&](std::size_t at) {
    int allowed = 0;
    for (std::size_t i = 0; i < kBatch; ++i) {
      allowed += b.Check(w.ids[(at + i) % kSubjects]);
    }
    return allowed;
  };
  const auto get = [&](std::size_t at) {
    int found = 0;
    for (std::size_t i = 0; i < kBatch; ++i) {
      found += store.Get(w.ids[(at + i + kSubjects / 2) % kSubjects]).ok();
    }
    return found;
  };
  for (auto _ : state) {
    get_t += Time(get, from, &sink);
    miss_t += Time(miss, from, &sink);
    from += kBatch;
  }
  benchmark::DoNotOptimize(sink);
  const double n = static_cast<double>(state.iterations()) * kBatch;
  state.counters["store_get_ns"] = static_cast<double>(get_t.count()) / n;
  state.counters["miss_ns"] = static_cast<double>(miss_t.count()) / n;
  const GuardCacheStats s = bounded->cache_stats();
  state.counters["hit_rate"] =
      static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses);
}
BENCHMARK(BM_Bounded_MissVsStoreGet)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond);

// Ranks drawn from Zipf(0.99) over kSubjects, mapped to subjects by a
// random permutation (the hot subjects are not neighbours).
const std::vector<std::uint32_t>& ZipfDraws() {
  static const std::vector<std::uint32_t>* draws = [] {
    std::vector<double> cdf(kSubjects);
    double sum = 0;
    for (int k = 0; k < kSubjects; ++k) {
      sum += 1.0 / std::pow(static_cast<double>(k + 1), 0.99);
      cdf[static_cast<std::size_t>(k)] = sum;
    }
    std::vector<std::uint32_t> perm(kSubjects);
    for (std::size_t i = 0; i < perm.size(); ++i) {
      perm[i] = static_cast<std::uint32_t>(i);
    }
    std::mt19937_64 rng(7);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::uniform_real_distribution<double> u(0, sum);
    auto* out = new std::vector<std::uint32_t>(1 << 22);
    for (auto& d : *out) {
      const auto rank = static_cast<std::size_t>(
          std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
      d = perm[std::min(rank, perm.size() - 1)];
    }
    return out;
  }();
  return *draws;
}

void BM_Bounded_Zipf(benchmark::State& state) {
  World& w = GetWorld();
  const std::vector<std::uint32_t>& draws = ZipfDraws();
  const auto budget_subjects = static_cast<std::size_t>(state.range(0));
  std::unique_ptr<Guard> bounded =
      MakeGuard(w.policy, &w.memory, budget_subjects * kPerSubject);
  Checker b(*bounded);
  // Warm up over the first million draws.
  for (std::size_t i = 0; i < 1'000'000; ++i) b.Check(w.ids[draws[i]]);
  const GuardCacheStats before = bounded->cache_stats();
  std::size_t at = 1'000'000;
  int sink = 0;
  const auto start = Clock::now();
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      sink += b.Check(w.ids[draws[at]]);
      at = at + 1 == draws.size() ? 1'000'000 : at + 1;
    }
  }
  const std::chrono::nanoseconds elapsed = Clock::now() - start;
  benchmark::DoNotOptimize(sink);
  const GuardCacheStats after = bounded->cache_stats();
  const double hits = static_cast<double>(after.hits - before.hits);
  const double misses = static_cast<double>(after.misses - before.misses);
  state.counters["hit_rate"] = hits / (hits + misses);
  state.counters["ns_per_check"] =
      static_cast<double>(elapsed.count()) /
      (static_cast<double>(state.iterations()) * kBatch);
  state.counters["cached"] = static_cast<double>(after.cached_subjects);
}
BENCHMARK(BM_Bounded_Zipf)->Arg(10'000)->Arg(100'000);

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A bounded consent cache (`GuardOptions::cache_budget_bytes`) in front of
// 10 million subjects, with checks drawn from Zipf(0.99) over the subjects
// (rank k checked with probability proportional to 1/k^0.99; ranks mapped
// to subjects by a fixed bijection, so hot subjects are not neighbours).
// Store S: 0 a SQLite file, 1 a PostgreSQL primary, 2 the same primary
// with a local hot standby for reads (`PostgresServers`). Budget B in MiB
// (16, 64, 256: 419,430, 1,677,721 and 6,710,886 subjects at 40 bytes each,
// `ConsentCache::kBoundedBytesPerSubject`).
//
//   BM_Scale_Zipf/S/B  one thread. Each check is timed on the wall clock
//       (a miss waits for the server) and classed as a hit or a miss by
//       the Guard's miss counter, read outside the timed span. Counters:
//       hit_rate, ideal_hit_rate (the share of the Zipf mass in the
//       budget's most frequent subjects: what a cache that knew the
//       frequencies would hit), miss_p50_us / miss_p99_us / miss_p999_us
//       (wall: the server's work and any preemption count),
//       miss_cpu_p50_us / miss_cpu_p99_us (the thread's CPU time in the
//       miss, a syscall clock read included), rss_mb (the process's
//       VmRSS) and guard_rss_mb (VmRSS grown while the Guard was made and
//       warmed: its cache, the store's connections and page cache).
//   BM_Scale_Zipf/S/B/threads:2  two threads checking the same Guard.
//       checks_per_s: the sum over both threads of checks / wall time spent
//       checking (drawing the next batch is not counted); cpu_ns_per_check:
//       the threads' CPU time per check (what the checks cost when the
//       shared machine runs other work too).
//   BM_Scale_HitVsFullCache/B  (SQLite) the cost of a hit against the full
//       cache's check (a Guard without a budget, all 10 million subjects
//       loaded by `WarmCache`), interleaved: each batch of Zipf draws is
//       first checked once by the bounded Guard (misses are filled and
//       dropped from the batch), then the hits once more by each Guard
//       (untimed: the misses' store reads evict the bounded Guard's lines
//       from the CPU caches), then the hits are timed on both, in
//       alternating order, on the thread's CPU clock. Each repetition
//       draws anew.
//       Counters bounded_ns, full_ns, ratio (bounded / full),
//       full_guard_rss_mb (VmRSS grown while the full cache loaded).
//   BM_Scale_MissVsStoreGet/S  (budget 16 MiB) each check that missed,
//       followed by the store's own `Get` of another drawn subject, both
//       on the wall clock: miss_p50_us .. miss_p999_us against get_p50_us
//       .. get_p999_us, so a tail that is the store's (or the machine's)
//       shows in both.
//   BM_Scale_PgConnections  the connections one process's store (primary
//       and a standby) and bounded Guard hold on each server once it has
//       checked, missed and followed the feed: primary_conns,
//       standby_conns (pg_stat_activity before and after); the tables'
//       size with indexes: records_bytes_per_subject (consent_records / N),
//       history_bytes_per_change (consent_history / N).
//   BM_Scale_FeedLagViaStandby  a change applied on the primary (one
//       writer) until a Guard whose store reads the standby decides on it,
//       checking a cached subject (every 100 us) without a demanded
//       revision: lag_p50_ms,
//       lag_p99_ms; apply_p50_us, apply_p99_us (the write);
//       wal_bytes_per_change (what each change streams to a standby).
//
// Each Guard is made and warmed once per (store, budget) and shared by the
// benchmarks and repetitions that use it: warm-up draws until the cache
// holds 99 % of what its budget pays for, then as many draws again as that
// (at least 1,000,000), so the cache is full and CLOCK in its steady state
// before anything is measured.
//
// The stores. SQLite: filled once with `SqliteConsentStore::ApplyBatch`
// (the library's bulk path) into <build>/bench_cache/scale-s<N>-v1/
// consent.db and reused by later runs (a directory without its COMPLETE
// marker is filled anew). PostgreSQL: CONSENTRY_PG_CONNINFO (the primary)
// and CONSENTRY_PG_STANDBY_CONNINFO (a hot standby of it); without them
// the PostgreSQL benchmarks skip. `BulkImportSubjects` fills schema
// scale_s<N> once through the store's `BulkImport` (one COPY per 100,000
// subjects; the store's `Apply`, a transaction per change, would take hours
// for 10 million); a filled schema is reused.
//
// CONSENTRY_SCALE_SUBJECTS overrides the 10,000,000 subjects (a quick run:
// 200000). Run (figures in docs/benchmarks.md, the model in
// docs/design/scale.md):
//
//   tests/pg/start.sh --fresh /tmp/pgz
//   (fill: a first run with CONSENTRY_PG_CONNINFO and
//   --benchmark_filter=Zipf/1/16/ --benchmark_min_time=0.1, then)
//   tests/pg/start-standby.sh --fresh /tmp/pgz /tmp/pgzs
//   CONSENTRY_PG_CONNINFO="$(cat /tmp/pgz/conninfo)"
//   CONSENTRY_PG_STANDBY_CONNINFO="$(cat /tmp/pgzs/conninfo)"
//   build/bench/scale_benchmark --benchmark_repetitions=3
//   --benchmark_filter='-Zipf/1/(64|256)/'
//   (one command line; the filter leaves out the primary alone at 64 and
//   256 MiB, whose warm-up takes about 20 minutes and whose hit rates are
//   the other stores'). The full run took about 30 minutes at load 5-8.
//   The fill, a first run only: SQLite about 5 minutes, PostgreSQL about 6.

#include <libpq-fe.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "bench/zipf.h"
#include "benchmark/benchmark.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/postgres_store.h"
#include "consentry/proto_io.h"
#include "consentry/sqlite_store.h"
#include "src/core/consent_cache.h"

namespace consentry {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kBatch = 4096;
constexpr std::size_t kIdLen = 10;  // "s" and 9 digits: inline in a slot
constexpr double kZipfS = 0.99;

std::uint32_t Subjects() {
  static const std::uint32_t n = [] {
    const char* e = std::getenv("CONSENTRY_SCALE_SUBJECTS");
    const long v = e != nullptr ? std::atol(e) : 10'000'000;
    if (v < 1000 || v > 999'999'999) std::abort();
    return static_cast<std::uint32_t>(v);
  }();
  return n;
}

void WriteId(std::uint32_t i, char* out) {
  out[0] = 's';
  for (std::size_t d = kIdLen - 1; d >= 1; --d) {
    out[d] = static_cast<char>('0' + i % 10);
    i /= 10;
  }
}

std::string Id(std::uint32_t i) {
  std::string s(kIdLen, ' ');
  WriteId(i, s.data());
  return s;
}

// Two of three subjects gave consent to the statistics purpose, one
// refused.
v1::ConsentChange Change(std::uint32_t i) {
  v1::ConsentChange c;
  c.set_subject_id(Id(i));
  c.mutable_purpose_consent()->set_purpose("statistics.measurement");
  c.mutable_purpose_consent()->set_state(i % 3 == 0 ? v1::CONSENT_STATE_REFUSED
                                                    : v1::CONSENT_STATE_GIVEN);
  return c;
}

// Rank (1..n) to subject (0..n-1): multiplication by a constant coprime to
// n, modulo n.
std::uint32_t SubjectOfRank(std::uint32_t rank) {
  static const std::uint64_t mult = [] {
    std::uint64_t m = 2'654'435'761ULL % Subjects();
    while (std::gcd(m, static_cast<std::uint64_t>(Subjects())) != 1) ++m;
    return m;
  }();
  return static_cast<std::uint32_t>(
      (static_cast<std::uint64_t>(rank - 1) * mult) % Subjects());
}

// The share of the Zipf mass in ranks 1..k.
double ZipfMassOfTop(std::uint64_t k) {
  static std::mutex mu;
  static auto* memo = new std::map<std::uint64_t, double>();
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = memo->find(k); it != memo->end()) return it->second;
  double top = 0, all = 0;
  for (std::uint64_t r = 1; r <= Subjects(); ++r) {
    const double w = std::pow(static_cast<double>(r), -kZipfS);
    all += w;
    if (r <= k) top += w;
  }
  return (*memo)[k] = top / all;
}

// A batch of drawn subject ids, laid out back to back.
struct Draws {
  explicit Draws(std::uint64_t seed) : zipf(Subjects(), kZipfS, seed) {}
  void Refill(std::size_t n) {
    buf.resize(n * kIdLen);
    for (std::size_t i = 0; i < n; ++i) {
      WriteId(SubjectOfRank(zipf.Next()), buf.data() + i * kIdLen);
    }
  }
  std::size_t size() const { return buf.size() / kIdLen; }
  absl::string_view operator[](std::size_t i) const {
    return absl::string_view(buf.data() + i * kIdLen, kIdLen);
  }
  Zipf zipf;
  std::string buf;
};

double RssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::atof(line.c_str() + 6) / 1024.0;  // kB
    }
  }
  return 0;
}

std::chrono::nanoseconds ThreadCpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

std::shared_ptr<const CompiledPolicy> Policy() {
  static const auto* p = [] {
    auto c = LoadAndCompilePolicy(std::string(CONSENTRY_SOURCE_DIR) +
                                  "/policies/default.textproto");
    if (!c.ok()) std::abort();
    return new std::shared_ptr<const CompiledPolicy>(*c);
  }();
  return *p;
}

// --- SQLite -------------------------------------------------------------

SqliteConsentStore* SqliteStore() {
  static SqliteConsentStore* store = [] {
    const std::string dir = absl::StrCat(
        CONSENTRY_BINARY_DIR, "/bench_cache/scale-s", Subjects(), "-v1");
    const std::string path = dir + "/consent.db";
    if (!fs::exists(dir + "/COMPLETE")) {
      fs::remove_all(dir);
      fs::create_directories(dir);
      std::fprintf(stderr, "scale_benchmark: filling %s (%u subjects)\n",
                   path.c_str(), Subjects());
      auto s = SqliteConsentStore::Open(path);
      if (!s.ok()) std::abort();
      std::vector<v1::ConsentChange> batch;
      for (std::uint32_t i = 0; i < Subjects(); ++i) {
        batch.push_back(Change(i));
        if (batch.size() == 10'000 || i + 1 == Subjects()) {
          if (!(*s)->ApplyBatch(batch).ok()) std::abort();
          batch.clear();
        }
      }
      s->reset();
      std::ofstream(dir + "/COMPLETE") << "ok\n";
    } else {
      std::fprintf(stderr, "scale_benchmark: reusing %s\n", path.c_str());
    }
    auto s = SqliteConsentStore::Open(path);
    if (!s.ok()) std::abort();
    return s->release();
  }();
  return store;
}

// --- PostgreSQL ---------------------------------------------------------

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string PgSchema() { return absl::StrCat("scale_s", Subjects()); }

// Fills the primary's store with subjects 0..N-1 through the store's own
// bulk import (`PostgresConsentStore::BulkImport`, one COPY per batch of
// 100,000, as its manual advises). Subject i gets revision i + 1.
bool BulkImportSubjects(PostgresConsentStore& store) {
  constexpr std::uint32_t kImportBatch = 100'000;
  std::vector<v1::ConsentChange> batch;
  for (std::uint32_t i = 0; i < Subjects();) {
    batch.clear();
    for (; batch.size() < kImportBatch && i < Subjects(); ++i) {
      batch.push_back(Change(i));
    }
    absl::StatusOr<std::vector<Revision>> revisions = store.BulkImport(batch);
    if (!revisions.ok()) {
      std::fprintf(stderr, "scale_benchmark: bulk import: %s\n",
                   std::string(revisions.status().message()).c_str());
      return false;
    }
  }
  return true;
}

PostgresStoreOptions PgOptions() {
  PostgresStoreOptions o;
  o.schema = PgSchema();
  return o;
}

// The primary's store, filled on first use; nullptr without a server.
PostgresConsentStore* PgPrimary() {
  static PostgresConsentStore* store = []() -> PostgresConsentStore* {
    const std::string conninfo = Env("CONSENTRY_PG_CONNINFO");
    if (conninfo.empty()) return nullptr;
    auto s = PostgresConsentStore::Open(conninfo, PgOptions());
    if (!s.ok()) std::abort();
    absl::StatusOr<Revision> latest = (*s)->LatestRevision();
    if (!latest.ok()) std::abort();
    // A schema holding fewer revisions than subjects is a fill that was
    // cut short (each batch commits on its own): drop it and run again.
    // More is a full fill that BM_Scale_FeedLagViaStandby has added to.
    if (*latest == 0) {
      std::fprintf(stderr, "scale_benchmark: filling schema %s by BulkImport\n",
                   PgSchema().c_str());
      if (!BulkImportSubjects(**s)) std::abort();
    } else if (*latest < static_cast<Revision>(Subjects())) {
      std::fprintf(stderr,
                   "scale_benchmark: schema %s holds %lld revisions for %u "
                   "subjects, a cut-short fill: DROP SCHEMA %s CASCADE\n",
                   PgSchema().c_str(), static_cast<long long>(*latest),
                   Subjects(), PgSchema().c_str());
      std::abort();
    }
    return s->release();
  }();
  return store;
}

// Primary for writes, the standby for reads; nullptr without both.
PostgresConsentStore* PgWithStandby() {
  static PostgresConsentStore* store = []() -> PostgresConsentStore* {
    PostgresServers servers;
    servers.primary = Env("CONSENTRY_PG_CONNINFO");
    const std::string standby = Env("CONSENTRY_PG_STANDBY_CONNINFO");
    if (servers.primary.empty() || standby.empty()) return nullptr;
    if (PgPrimary() == nullptr) return nullptr;
    servers.standbys = {standby};
    auto s = PostgresConsentStore::Open(servers, PgOptions());
    if (!s.ok()) std::abort();
    return s->release();
  }();
  return store;
}

ConsentStore* StoreOf(int s) {
  switch (s) {
    case 0:
      return SqliteStore();
    case 1:
      return PgPrimary();
    default:
      return PgWithStandby();
  }
}

// --- Guards -------------------------------------------------------------

struct Checker {
  explicit Checker(Guard& g)
      : guard(g),
        ctx(*g.Context("statistics-job", "statistics.measurement")),
        category(*g.Category("measurement")) {}
  bool Check(absl::string_view id) {
    absl::StatusOr<Decision> d = guard.Check(ctx, id, category);
    if (!d.ok()) std::abort();  // a store error: the figures would lie
    return d->allowed();
  }
  Guard& guard;
  AccessContext ctx;
  CategoryRef category;
};

struct Warmed {
  std::unique_ptr<Guard> guard;
  double guard_rss_mb = 0;
};

// Subjects a budget holds (ids inline in a slot).
std::size_t BudgetSubjects(int mib) {
  return (static_cast<std::size_t>(mib) << 20) /
         internal::ConsentCache::kBoundedBytesPerSubject;
}

// The Guard for (store, budget), made and warmed on first use.
Warmed* WarmedGuard(int store_index, int budget_mib) {
  static std::mutex mu;
  static auto* guards = new std::map<std::pair<int, int>, Warmed>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = guards->find({store_index, budget_mib});
  if (it != guards->end()) return &it->second;
  ConsentStore* store = StoreOf(store_index);
  if (store == nullptr) return nullptr;
  const double rss_before = RssMiB();
  GuardOptions o;
  o.unaudited_for_benchmarks_only = true;
  o.cache_budget_bytes = static_cast<std::size_t>(budget_mib) << 20;
  auto g = Guard::Create(Policy(), store, nullptr, o);
  if (!g.ok()) std::abort();
  Warmed w;
  w.guard = *std::move(g);
  Checker c(*w.guard);
  // Until the budget is full (10 million draws hold only about 2.2 million
  // distinct subjects), then as many draws again as the budget holds
  // subjects, at least 1,000,000: CLOCK has evicted and settled.
  const std::size_t hold =
      std::min<std::size_t>(BudgetSubjects(budget_mib), Subjects());
  Draws d(static_cast<std::uint64_t>(store_index * 1000 + budget_mib));
  int sink = 0;
  std::size_t done = 0;
  while (w.guard->cache_stats().cached_subjects < hold * 99 / 100 &&
         done < 5 * static_cast<std::size_t>(Subjects())) {
    d.Refill(kBatch);
    for (std::size_t i = 0; i < d.size(); ++i) sink += c.Check(d[i]);
    done += kBatch;
  }
  const std::size_t settle = std::max<std::size_t>(1'000'000, hold);
  for (std::size_t more = 0; more < settle; more += kBatch) {
    d.Refill(kBatch);
    for (std::size_t i = 0; i < d.size(); ++i) sink += c.Check(d[i]);
  }
  std::fprintf(stderr,
               "scale_benchmark: store %d, %d MiB: warmed by %zu draws\n",
               store_index, budget_mib, done + settle);
  benchmark::DoNotOptimize(sink);
  w.guard_rss_mb = RssMiB() - rss_before;
  return &guards->emplace(std::make_pair(store_index, budget_mib), std::move(w))
              .first->second;
}

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const auto at =
      static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(at),
                   v.end());
  return v[at];
}

void ZipfOneThread(benchmark::State& state, Warmed& w) {
  Checker c(*w.guard);
  Draws d(static_cast<std::uint64_t>(state.range(0) * 7919 + state.range(1)) +
          static_cast<std::uint64_t>(std::random_device{}()));
  std::vector<double> miss_us, miss_cpu_us;
  std::uint64_t hits = 0;
  int sink = 0;
  for (auto _ : state) {
    d.Refill(kBatch);
    for (std::size_t i = 0; i < d.size(); ++i) {
      const std::uint64_t misses = w.guard->cache_stats().misses;
      const auto t0 = std::chrono::steady_clock::now();
      const auto c0 = ThreadCpu();
      sink += c.Check(d[i]);
      const auto c1 = ThreadCpu();
      const auto t1 = std::chrono::steady_clock::now();
      if (w.guard->cache_stats().misses != misses) {
        miss_us.push_back(
            std::chrono::duration<double, std::micro>(t1 - t0).count());
        miss_cpu_us.push_back(
            std::chrono::duration<double, std::micro>(c1 - c0).count());
      } else {
        ++hits;
      }
    }
  }
  benchmark::DoNotOptimize(sink);
  const double n = static_cast<double>(hits + miss_us.size());
  state.counters["hit_rate"] = static_cast<double>(hits) / n;
  state.counters["misses"] = static_cast<double>(miss_us.size());
  state.counters["miss_p50_us"] = Percentile(miss_us, 0.50);
  state.counters["miss_p99_us"] = Percentile(miss_us, 0.99);
  state.counters["miss_p999_us"] = Percentile(miss_us, 0.999);
  state.counters["miss_cpu_p50_us"] = Percentile(miss_cpu_us, 0.50);
  state.counters["miss_cpu_p99_us"] = Percentile(miss_cpu_us, 0.99);
}

void ZipfThreads(benchmark::State& state, Warmed& w) {
  Checker c(*w.guard);
  Draws d(static_cast<std::uint64_t>(state.thread_index() + 1) * 104729 +
          static_cast<std::uint64_t>(std::random_device{}()));
  std::chrono::nanoseconds wall{0}, cpu{0};
  std::uint64_t checks = 0;
  int sink = 0;
  for (auto _ : state) {
    d.Refill(kBatch);
    const auto t0 = std::chrono::steady_clock::now();
    const auto c0 = ThreadCpu();
    for (std::size_t i = 0; i < d.size(); ++i) sink += c.Check(d[i]);
    cpu += ThreadCpu() - c0;
    wall += std::chrono::steady_clock::now() - t0;
    checks += d.size();
  }
  benchmark::DoNotOptimize(sink);
  // Summed over the threads: the Guard's throughput.
  state.counters["checks_per_s"] =
      static_cast<double>(checks) / std::chrono::duration<double>(wall).count();
  state.counters["cpu_ns_per_check"] = benchmark::Counter(
      static_cast<double>(cpu.count()) / static_cast<double>(checks),
      benchmark::Counter::kAvgThreads);
}

void BM_Scale_Zipf(benchmark::State& state) {
  const int s = static_cast<int>(state.range(0));
  const int mib = static_cast<int>(state.range(1));
  Warmed* w = WarmedGuard(s, mib);
  if (w == nullptr) {
    state.SkipWithError(
        "needs CONSENTRY_PG_CONNINFO (and CONSENTRY_PG_STANDBY_CONNINFO for "
        "store 2); see the file comment");
    return;
  }
  if (state.threads() == 1) {
    ZipfOneThread(state, *w);
  } else {
    ZipfThreads(state, *w);
  }
  if (state.thread_index() == 0) {
    // Set by one thread: the sum over threads is this value.
    const GuardCacheStats st = w->guard->cache_stats();
    state.counters["ideal_hit_rate"] =
        ZipfMassOfTop(std::min<std::size_t>(BudgetSubjects(mib), Subjects()));
    state.counters["cached"] = static_cast<double>(st.cached_subjects);
    state.counters["rss_mb"] = RssMiB();
    state.counters["guard_rss_mb"] = w->guard_rss_mb;
    if (s == 0) {
      state.counters["sqlite_bytes_per_subject"] =
          static_cast<double>(fs::file_size(SqliteStore()->path())) /
          Subjects();
    }
  }
}

void ZipfArgs(benchmark::internal::Benchmark* b) {
  for (int s : {0, 1, 2}) {
    for (int mib : {16, 64, 256}) b->Args({s, mib});
  }
}
BENCHMARK(BM_Scale_Zipf)->Apply(ZipfArgs)->MinTime(2.0);
BENCHMARK(BM_Scale_Zipf)->Apply(ZipfArgs)->Threads(2)->MinTime(2.0);

// A miss against the store's own read, interleaved: after each check that
// missed, the store's `Get` of another drawn subject (what the miss
// costs beyond the store's read, and whether the tail is the store's).
void BM_Scale_MissVsStoreGet(benchmark::State& state) {
  const int s = static_cast<int>(state.range(0));
  Warmed* w = WarmedGuard(s, 16);
  if (w == nullptr) {
    state.SkipWithError(
        "needs CONSENTRY_PG_CONNINFO (and "
        "CONSENTRY_PG_STANDBY_CONNINFO for store 2)");
    return;
  }
  ConsentStore* store = StoreOf(s);
  Checker c(*w->guard);
  // Fresh draws each repetition: the same ones again would all hit.
  const auto seed = static_cast<std::uint64_t>(std::random_device{}());
  Draws d(seed * 613 + 11);
  Draws other(seed * 617 + 13);
  std::vector<double> miss_us, get_us;
  int sink = 0;
  for (auto _ : state) {
    d.Refill(kBatch);
    other.Refill(kBatch);
    for (std::size_t i = 0; i < d.size(); ++i) {
      const std::uint64_t misses = w->guard->cache_stats().misses;
      const auto t0 = std::chrono::steady_clock::now();
      sink += c.Check(d[i]);
      const auto t1 = std::chrono::steady_clock::now();
      if (w->guard->cache_stats().misses == misses) continue;
      miss_us.push_back(
          std::chrono::duration<double, std::micro>(t1 - t0).count());
      const auto g0 = std::chrono::steady_clock::now();
      sink += store->Get(other[i]).ok();
      const auto g1 = std::chrono::steady_clock::now();
      get_us.push_back(
          std::chrono::duration<double, std::micro>(g1 - g0).count());
    }
  }
  benchmark::DoNotOptimize(sink);
  state.counters["miss_p50_us"] = Percentile(miss_us, 0.50);
  state.counters["miss_p99_us"] = Percentile(miss_us, 0.99);
  state.counters["miss_p999_us"] = Percentile(miss_us, 0.999);
  state.counters["get_p50_us"] = Percentile(get_us, 0.50);
  state.counters["get_p99_us"] = Percentile(get_us, 0.99);
  state.counters["get_p999_us"] = Percentile(get_us, 0.999);
}
BENCHMARK(BM_Scale_MissVsStoreGet)->Arg(0)->Arg(1)->Arg(2)->MinTime(2.0);

double full_guard_rss_mb = 0;

Guard* FullGuard() {
  static Guard* full = [] {
    SqliteStore();
    const double before = RssMiB();
    GuardOptions o;
    o.unaudited_for_benchmarks_only = true;
    auto g = Guard::Create(Policy(), SqliteStore(), nullptr, o);
    if (!g.ok() || !(*g)->WarmCache().ok()) std::abort();
    full_guard_rss_mb = RssMiB() - before;
    return g->release();
  }();
  return full;
}

void BM_Scale_HitVsFullCache(benchmark::State& state) {
  const int mib = static_cast<int>(state.range(0));
  Warmed* w = WarmedGuard(0, mib);
  Checker b(*w->guard), f(*FullGuard());
  // Fresh draws each repetition: the same ones again would all hit, and
  // later repetitions would time hits after fewer misses than the first.
  static std::uint64_t repetition = 0;
  Draws d(static_cast<std::uint64_t>(mib) * 31 + 5 + 7919 * repetition++);
  std::vector<std::size_t> hit;
  std::chrono::nanoseconds bounded_t{0}, full_t{0};
  std::uint64_t timed = 0, round = 0;
  int sink = 0;
  for (auto _ : state) {
    d.Refill(kBatch);
    hit.clear();
    for (std::size_t i = 0; i < d.size(); ++i) {
      const std::uint64_t misses = w->guard->cache_stats().misses;
      sink += b.Check(d[i]);
      if (w->guard->cache_stats().misses == misses) hit.push_back(i);
    }
    // One untimed pass of each side over the hits, so that both are timed
    // on warm caches: the first pass's misses read the store, which evicts
    // the bounded Guard's lines from the CPU caches, and the hits' cost is
    // the subject here, not that.
    for (const std::size_t i : hit) sink += b.Check(d[i]);
    for (const std::size_t i : hit) sink += f.Check(d[i]);
    const auto run = [&](Checker& c) {
      const auto t0 = ThreadCpu();
      for (const std::size_t i : hit) sink += c.Check(d[i]);
      return ThreadCpu() - t0;
    };
    // Alternate which goes first, so neither always runs on a warmer CPU.
    if (++round % 2 == 0) {
      bounded_t += run(b);
      full_t += run(f);
    } else {
      full_t += run(f);
      bounded_t += run(b);
    }
    timed += hit.size();
  }
  benchmark::DoNotOptimize(sink);
  const double n = static_cast<double>(timed);
  state.counters["bounded_ns"] = static_cast<double>(bounded_t.count()) / n;
  state.counters["full_ns"] = static_cast<double>(full_t.count()) / n;
  state.counters["ratio"] = static_cast<double>(bounded_t.count()) /
                            static_cast<double>(full_t.count());
  // VmRSS grown while the full cache loaded every subject.
  state.counters["full_guard_rss_mb"] = full_guard_rss_mb;
}
BENCHMARK(BM_Scale_HitVsFullCache)->Arg(16)->Arg(64)->Arg(256)->MinTime(2.0);

// Client backends on the server of `conninfo`, the asking one excluded.
int ClientBackends(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  int n = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r =
        PQexec(c,
               "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
               "'client backend' AND pid <> pg_backend_pid()");
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
      n = std::atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  PQfinish(c);
  return n;
}

void BM_Scale_PgConnections(benchmark::State& state) {
  const std::string primary = Env("CONSENTRY_PG_CONNINFO");
  const std::string standby = Env("CONSENTRY_PG_STANDBY_CONNINFO");
  if (primary.empty() || standby.empty() || PgPrimary() == nullptr) {
    state.SkipWithError(
        "needs CONSENTRY_PG_CONNINFO and "
        "CONSENTRY_PG_STANDBY_CONNINFO");
    return;
  }
  int on_primary = 0, on_standby = 0;
  for (auto _ : state) {
    const int p0 = ClientBackends(primary), s0 = ClientBackends(standby);
    {
      PostgresServers servers;
      servers.primary = primary;
      servers.standbys = {standby};
      auto store = PostgresConsentStore::Open(servers, PgOptions());
      if (!store.ok()) std::abort();
      GuardOptions o;
      o.unaudited_for_benchmarks_only = true;
      o.cache_budget_bytes = std::size_t{16} << 20;
      auto g = Guard::Create(Policy(), store->get(), nullptr, o);
      if (!g.ok()) std::abort();
      Checker c(**g);
      Draws d(99);
      d.Refill(kBatch);
      int sink = 0;
      for (std::size_t i = 0; i < d.size(); ++i) sink += c.Check(d[i]);
      benchmark::DoNotOptimize(sink);
      absl::SleepFor(absl::Milliseconds(500));  // the feed has polled
      on_primary = ClientBackends(primary) - p0;
      on_standby = ClientBackends(standby) - s0;
    }
  }
  state.counters["primary_conns"] = on_primary;
  state.counters["standby_conns"] = on_standby;
  // The store's tables with their indexes, per subject.
  PGconn* c = PQconnectdb(primary.c_str());
  PGresult* r =
      PQexec(c, absl::StrCat("SELECT pg_total_relation_size('", PgSchema(),
                             ".consent_records'), pg_total_relation_size('",
                             PgSchema(), ".consent_history')")
                    .c_str());
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    const double n = Subjects();
    state.counters["records_bytes_per_subject"] =
        std::atof(PQgetvalue(r, 0, 0)) / n;
    state.counters["history_bytes_per_change"] =
        std::atof(PQgetvalue(r, 0, 1)) / n;
  }
  PQclear(r);
  PQfinish(c);
}
BENCHMARK(BM_Scale_PgConnections)->Iterations(1)->Unit(benchmark::kMillisecond);

std::int64_t WalLsn(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  std::int64_t lsn = -1;
  PGresult* r =
      PQexec(c, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint");
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    lsn = std::atoll(PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  PQfinish(c);
  return lsn;
}

void BM_Scale_FeedLagViaStandby(benchmark::State& state) {
  Warmed* w = WarmedGuard(2, 16);
  if (w == nullptr) {
    state.SkipWithError(
        "needs CONSENTRY_PG_CONNINFO and "
        "CONSENTRY_PG_STANDBY_CONNINFO");
    return;
  }
  // A separate store object writes, as another process would.
  auto writer =
      PostgresConsentStore::Open(Env("CONSENTRY_PG_CONNINFO"), PgOptions());
  if (!writer.ok()) std::abort();
  Checker c(*w->guard);
  std::vector<double> lag_ms, apply_us;
  std::uint32_t next = 0;
  const std::int64_t lsn0 = WalLsn(Env("CONSENTRY_PG_CONNINFO"));
  for (auto _ : state) {
    // A hot subject (cached after its first check).
    const std::string id = Id(SubjectOfRank(1 + next++ % 1000));
    c.Check(id);
    v1::ConsentChange change = Change(next);
    change.set_subject_id(id);
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<Revision> rev = (*writer)->Apply(change);
    const auto t1 = std::chrono::steady_clock::now();
    if (!rev.ok()) std::abort();
    for (;;) {
      absl::StatusOr<Decision> d = w->guard->Check(c.ctx, id, c.category);
      if (d.ok() && d->revision() >= *rev) break;
      // Not a busy loop: the feed thread and the servers need the CPUs.
      absl::SleepFor(absl::Microseconds(100));
      if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(10)) {
        state.SkipWithError("the change did not arrive within 10 s");
        return;
      }
    }
    const auto t2 = std::chrono::steady_clock::now();
    apply_us.push_back(
        std::chrono::duration<double, std::micro>(t1 - t0).count());
    lag_ms.push_back(
        std::chrono::duration<double, std::milli>(t2 - t0).count());
  }
  const std::int64_t lsn1 = WalLsn(Env("CONSENTRY_PG_CONNINFO"));
  state.counters["wal_bytes_per_change"] =
      static_cast<double>(lsn1 - lsn0) / static_cast<double>(lag_ms.size());
  state.counters["lag_p50_ms"] = Percentile(lag_ms, 0.5);
  state.counters["lag_p99_ms"] = Percentile(lag_ms, 0.99);
  state.counters["apply_p50_us"] = Percentile(apply_us, 0.5);
  state.counters["apply_p99_us"] = Percentile(apply_us, 0.99);
}
BENCHMARK(BM_Scale_FeedLagViaStandby)
    ->Iterations(500)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The check against the raw lookups it is held to, as ratios taken inside
// one benchmark: each iteration times a batch of the baseline and a batch of
// the subject over the same queries, in alternating order, so the ratio
// holds when the machine's speed drifts between (or during) benchmarks.
//
// Workload: N subjects (4,096, 100,000, 1,000,000), the default policy's 8
// leaf purposes of use and 5 categories; each query is a random subject and
// a random (purpose, category) pair the policy allows. Each subject's
// consent is drawn at random (given, refused or nothing per purpose). Every
// decision of both sides is compared with the generator's, untimed, and a
// mismatch aborts the run.
//
//   BM_Ratio_CheckVsStringMap/N   Guard::Check (auditing off) against an
//       absl::flat_hash_map<std::string, uint64_t> lookup plus a bitmask
//       test. Target: ratio <= 1.3 at 100,000 and 1,000,000.
//   BM_Ratio_SubjectRefVsIntMap/N Guard::Check on a pre-resolved
//       `SubjectRef` against an absl::flat_hash_map<uint64_t, uint64_t>
//       lookup plus the same test. Target: ratio <= 2. Both sides take
//       their key from the query stream, read in order: the map side the
//       query's integer subject (`Query::subject`), the check side the
//       query's own ref (`World::query_refs`, a `SubjectRef` per query
//       beside `queries`), as a caller that keeps the ref with its data
//       has it in hand. Neither side pays a load of a random key.
//   BM_Ratio_SubjectRefRandomVsIntMap/N  the same, with the check side
//       loading its ref from an array of one ref per subject, indexed by
//       the query's subject (a random 32-byte element of N, a cache miss
//       at 100,000 and 1,000,000 that the map side does not pay): a
//       caller that looks refs up by subject number. Not held to a target.
//   BM_Ratio_AuthorizeReadVsCheck/N  Guard::Authorize on a tagged record
//       plus Protected<T>::Read against Guard::Check. Target: ratio <= 1.5.
//   BM_AuditBurst/N  bursts of 8,192 checks by a Guard auditing into the
//       durable AuditLog (its writer running, caught up between bursts,
//       untimed) against the same burst by a Guard without auditing over
//       the same store. Counter `added_ns` (the caller's CPU time; also
//       `added_wall_ns`). Target: < 40 ns.
//   BM_AuditBurstDependent/N  the same, each query chosen by the one
//       before and its decision, so that no check begins before the one
//       before it has decided (as when the caller acts on each decision).
//       Shows the audit's own cost, without the overlap of independent
//       checks' cache misses (docs/benchmarks.md).
//
//   build/bench/check_ratio_benchmark --benchmark_min_time=0.5
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   (one command line)

#include <stdlib.h>
#include <time.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "consentry/audit_log.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"
#include "consentry/v1/consent.pb.h"

namespace consentry {
namespace {

constexpr std::size_t kQueries = std::size_t{1} << 20;  // a power of two
// Queries per timed batch; each batch is timed on the thread's CPU clock,
// so time the thread spends preempted by other work does not count.
constexpr int kBatch = 1024;

// The leaf purposes of use (with the accessor that declares each) and the
// categories of the workload.
constexpr std::array<std::array<const char*, 2>, 8> kContexts = {{
    {"support-desk", "support"},
    {"billing-service", "billing.calculation"},
    {"billing-service", "billing.invoicing"},
    {"marketing-analytics", "marketing.research"},
    {"marketing-analytics", "marketing.promotion"},
    {"statistics-job", "statistics.measurement"},
    {"app-backend", "service.operation"},
    {"web-analytics", "web.usage_analysis"},
}};
constexpr std::array<const char*, 5> kCategories = {
    "identity", "contact", "measurement", "billing", "web_usage"};

// The calling thread's CPU time: unlike a wall clock, it stops while the
// thread is preempted, so a batch that another process interrupts is not
// charged for it.
std::chrono::nanoseconds ThreadCpuNow() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// One (purpose, category) pair the policy allows, with the raw test that
// decides it: allowed when `always`, else when the subject's raw word has
// a bit of `mask`.
struct Pair {
  int context;
  int category;
  bool always;
  std::uint64_t mask;
};

struct Query {
  std::uint32_t subject;
  std::uint32_t pair;
};

// A store with a change feed, as the SQLite and PostgreSQL stores have:
// the world's in-memory store behind a feed heartbeat that a thread stamps
// every 20 ms (SQLite's poll interval), so that a Guard with the default
// staleness bound tests it on each check. With `word`, the heartbeat is
// named as a word (`SetFeedHeartbeatWord`), as the durable stores name
// theirs; without, a Guard calls `FeedHeartbeat`, as for an embedder's
// store.
class FeedStore final : public ConsentStore {
 public:
  FeedStore(ConsentStore* inner, bool word) : inner_(inner) {
    if (word) SetFeedHeartbeatWord(&heartbeat_ns_);
    Beat();
    ticker_ = std::thread([this] {
      while (!stop_.load(std::memory_order_acquire)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        Beat();
      }
    });
  }
  ~FeedStore() override {
    stop_.store(true, std::memory_order_release);
    ticker_.join();
  }

  absl::StatusOr<v1::ConsentRecord> Get(absl::string_view s) override {
    return inner_->Get(s);
  }
  absl::StatusOr<Revision> Apply(const v1::ConsentChange& c) override {
    return inner_->Apply(c);
  }
  absl::StatusOr<std::vector<v1::ConsentRecord>> ChangesSince(
      Revision after, int limit) override {
    return inner_->ChangesSince(after, limit);
  }
  absl::StatusOr<Revision> LatestRevision() override {
    return inner_->LatestRevision();
  }
  std::unique_ptr<Subscription> Watch(ConsentListener listener) override {
    return inner_->Watch(std::move(listener));
  }
  absl::Time FeedHeartbeat() override {
    return absl::FromUnixNanos(heartbeat_ns_.load(std::memory_order_acquire));
  }

 private:
  void Beat() {
    heartbeat_ns_.store(absl::GetCurrentTimeNanos(), std::memory_order_release);
  }

  ConsentStore* const inner_;
  std::atomic<std::int64_t> heartbeat_ns_{0};
  std::atomic<bool> stop_{false};
  std::thread ticker_;
};

struct World {
  explicit World(int n) {
    auto p = LoadAndCompilePolicy(std::string(CONSENTRY_SOURCE_DIR) +
                                  "/policies/default.textproto");
    if (!p.ok()) std::abort();
    policy = *p;
    BuildPairs();
    std::mt19937_64 rng(7);
    ids.reserve(static_cast<std::size_t>(n));
    raw_words.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      ids.push_back("m" + std::to_string(10'000'000 + i));
      raw_words.push_back(Generate(ids.back(), rng));
      string_map.emplace(ids.back(), raw_words.back());
      int_map.emplace(static_cast<std::uint64_t>(i), raw_words.back());
    }
    GuardOptions unaudited;
    unaudited.unaudited_for_benchmarks_only = true;
    unaudited.expected_subjects = static_cast<std::size_t>(n);
    auto g = Guard::Create(policy, &store, /*audit=*/nullptr, unaudited);
    if (!g.ok()) std::abort();
    guard = *std::move(g);
    if (!guard->WarmCache().ok()) std::abort();
    for (const auto& c : kContexts) {
      contexts.push_back(*guard->Context(c[0], c[1]));
    }
    for (const char* c : kCategories) categories.push_back(*guard->Category(c));
    queries.resize(kQueries);
    for (Query& q : queries) {
      q.subject = static_cast<std::uint32_t>(rng() % static_cast<unsigned>(n));
      q.pair = static_cast<std::uint32_t>(rng() % pairs.size());
    }
  }

  // The pairs the policy allows, and the raw test of each. The raw word of
  // a subject: bit p when consent to purpose p counts (given, for opt-in),
  // bit 32 + p when it is not refused (for opt-out).
  void BuildPairs() {
    for (std::size_t c = 0; c < kContexts.size(); ++c) {
      const PurposeIndex purpose = *policy->FindPurpose(kContexts[c][1]);
      purposes.push_back(purpose);
      for (std::size_t k = 0; k < kCategories.size(); ++k) {
        const Basis b =
            policy->basis(*policy->FindCategory(kCategories[k]), purpose);
        if (b == Basis::kNotAllowed) continue;
        const std::uint64_t bit = std::uint64_t{1} << purpose;
        pairs.push_back(Pair{static_cast<int>(c), static_cast<int>(k),
                             b == Basis::kNecessary,
                             b == Basis::kOptIn ? bit : bit << 32});
      }
    }
  }

  // Draws `subject`'s consent, writes it to the store and returns its raw
  // word.
  std::uint64_t Generate(const std::string& subject, std::mt19937_64& rng) {
    std::uint64_t word = 0;
    for (PurposeIndex p : purposes) word |= (std::uint64_t{1} << p) << 32;
    for (std::size_t c = 0; c < kContexts.size(); ++c) {
      const unsigned draw = static_cast<unsigned>(rng() % 4);
      if (draw >= 2) continue;  // nothing recorded for this purpose
      const bool given = draw == 0;
      v1::ConsentChange change;
      change.set_subject_id(subject);
      v1::PurposeConsent* pc = change.mutable_purpose_consent();
      pc->set_purpose(kContexts[c][1]);
      pc->set_state(given ? v1::CONSENT_STATE_GIVEN
                          : v1::CONSENT_STATE_REFUSED);
      pc->set_policy_version(policy->version());
      if (!store.Apply(change).ok()) std::abort();
      const std::uint64_t bit = std::uint64_t{1} << purposes[c];
      if (given) {
        word |= bit;
      } else {
        word &= ~(bit << 32);
      }
    }
    return word;
  }

  // An unaudited Guard over the world's store behind a `FeedStore` (the
  // default staleness bound), made and warmed on first use with its store
  // (`feed_stores[word]`, which `BM_AuditBurstFeed`'s audited Guard reads
  // too).
  Guard& FeedGuard(bool word) {
    const std::size_t i = word ? 1 : 0;
    std::unique_ptr<Guard>& g = feed_guards[i];
    if (g == nullptr) {
      feed_stores[i] = std::make_unique<FeedStore>(&store, word);
      GuardOptions unaudited;
      unaudited.unaudited_for_benchmarks_only = true;
      unaudited.expected_subjects = ids.size();
      auto made = Guard::Create(policy, feed_stores[i].get(),
                                /*audit=*/nullptr, unaudited);
      if (!made.ok() || !(*made)->WarmCache().ok()) std::abort();
      g = *std::move(made);
    }
    return *g;
  }

  bool Expected(const Query& q) const {
    const Pair& pair = pairs[q.pair];
    return pair.always || (raw_words[q.subject] & pair.mask) != 0;
  }

  const AccessContext& ContextOf(const Query& q) const {
    return contexts[static_cast<std::size_t>(pairs[q.pair].context)];
  }
  const CategoryRef& CategoryOf(const Query& q) const {
    return categories[static_cast<std::size_t>(pairs[q.pair].category)];
  }

  std::shared_ptr<const CompiledPolicy> policy;
  std::vector<PurposeIndex> purposes;
  std::vector<Pair> pairs;
  std::vector<std::string> ids;
  std::vector<std::uint64_t> raw_words;
  absl::flat_hash_map<std::string, std::uint64_t> string_map;
  absl::flat_hash_map<std::uint64_t, std::uint64_t> int_map;
  InMemoryConsentStore store;
  std::unique_ptr<Guard> guard;
  std::vector<AccessContext> contexts;
  std::vector<CategoryRef> categories;
  std::vector<Query> queries;
  std::array<std::unique_ptr<FeedStore>, 2> feed_stores;
  std::array<std::unique_ptr<Guard>, 2> feed_guards;  // destroyed first
};

World& GetWorld(std::int64_t n) {
  static auto* worlds = new std::map<std::int64_t, std::unique_ptr<World>>();
  std::unique_ptr<World>& w = (*worlds)[n];
  if (w == nullptr) w = std::make_unique<World>(static_cast<int>(n));
  return *w;
}

// Compares both sides' decisions of one batch with the generator's.
void CrossCheck(const World& w, std::size_t from, std::size_t mask,
                const bool* base, const bool* subject) {
  for (int k = 0; k < kBatch; ++k) {
    const Query& q = w.queries[(from + static_cast<std::size_t>(k)) & mask];
    const bool want = w.Expected(q);
    if (base[k] != want || subject[k] != want) {
      // The Guard's reason, for the report.
      absl::StatusOr<Decision> d =
          w.guard->Check(w.ContextOf(q), w.ids[q.subject], w.CategoryOf(q));
      std::fprintf(stderr,
                   "decision mismatch for %s, %s on %s: want %d, got %d/%d "
                   "(%s)\n",
                   w.ids[q.subject].c_str(),
                   std::string(w.ContextOf(q).purpose()).c_str(),
                   std::string(w.CategoryOf(q).id()).c_str(), want, base[k],
                   subject[k],
                   d.ok() ? std::string(ReasonName(d->reason())).c_str()
                          : d.status().ToString().c_str());
      std::abort();
    }
  }
}

// Decides the kBatch queries from `from` (modulo `mask` + 1) with
// `decide(query, index)` into `out`.
template <typename Decide>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Batch(const World& w, std::size_t from,
                                               std::size_t mask, bool* out,
                                               Decide decide) {
  for (int k = 0; k < kBatch; ++k) {
    const std::size_t i = (from + static_cast<std::size_t>(k)) & mask;
    const bool decided = decide(w.queries[i], i);
    benchmark::DoNotOptimize(decided);
    out[k] = decided;
  }
}

// The raw test of `q` on the word a map lookup found (`word` null: none).
inline bool RawDecision(const World& w, const Query& q,
                        const std::uint64_t* word) {
  const Pair& pair = w.pairs[q.pair];
  return word != nullptr && (pair.always || (*word & pair.mask) != 0);
}

// Runs the interleaved ratio loop: `base(from, out)` and `subject(from,
// out)` each decide kBatch queries from `from` (modulo `mask` + 1) into
// `out`.
template <typename Base, typename Subject>
void Interleave(benchmark::State& state, const World& w, std::size_t mask,
                Base base, Subject subject, const char* base_name,
                const char* subject_name) {
  std::array<bool, kBatch> base_out{}, subject_out{};
  std::chrono::nanoseconds base_time{0}, subject_time{0};
  std::size_t from = 0;
  std::uint64_t round = 0;
  for (auto _ : state) {
    const bool subject_first = (++round & 1) != 0;
    for (int side = 0; side < 2; ++side) {
      const bool run_subject = (side == 0) == subject_first;
      const auto t0 = ThreadCpuNow();
      if (run_subject) {
        subject(from, subject_out.data());
      } else {
        base(from, base_out.data());
      }
      const auto t1 = ThreadCpuNow();
      (run_subject ? subject_time : base_time) += t1 - t0;
    }
    state.PauseTiming();
    CrossCheck(w, from, mask, base_out.data(), subject_out.data());
    state.ResumeTiming();
    from += kBatch;
  }
  const double n = static_cast<double>(state.iterations()) * kBatch;
  state.counters[base_name] = static_cast<double>(base_time.count()) / n;
  state.counters[subject_name] = static_cast<double>(subject_time.count()) / n;
  state.counters["ratio"] = static_cast<double>(subject_time.count()) /
                            static_cast<double>(base_time.count());
}

// `guard`'s check by id against the string-keyed map.
void CheckVsStringMap(benchmark::State& state, const World& w, Guard& guard) {
  Interleave(
      state, w, kQueries - 1,
      [&w](std::size_t from, bool* out) {
        Batch(w, from, kQueries - 1, out, [&w](const Query& q, std::size_t) {
          auto it = w.string_map.find(absl::string_view(w.ids[q.subject]));
          return RawDecision(w, q,
                             it != w.string_map.end() ? &it->second : nullptr);
        });
      },
      [&w, &guard](std::size_t from, bool* out) {
        Batch(w, from, kQueries - 1, out,
              [&w, &guard](const Query& q, std::size_t) {
                absl::StatusOr<Decision> d = guard.Check(
                    w.ContextOf(q), w.ids[q.subject], w.CategoryOf(q));
                return d.ok() && d->allowed();
              });
      },
      "raw_ns", "check_ns");
}

void BM_Ratio_CheckVsStringMap(benchmark::State& state) {
  World& w = GetWorld(state.range(0));
  CheckVsStringMap(state, w, *w.guard);
}
BENCHMARK(BM_Ratio_CheckVsStringMap)->Arg(4096)->Arg(100'000)->Arg(1'000'000);

// The baseline of the `SubjectRef` ratios: an integer-keyed map lookup of
// the query's subject number plus the bitmask test.
auto IntMapSide(const World& w) {
  return [&w](std::size_t from, bool* out) {
    Batch(w, from, kQueries - 1, out, [&w](const Query& q, std::size_t) {
      auto it = w.int_map.find(std::uint64_t{q.subject});
      return RawDecision(w, q, it != w.int_map.end() ? &it->second : nullptr);
    });
  };
}

// Subjects resolved once (`guard.Subject`), checked against an integer-
// keyed map: what a loop over pre-resolved subjects costs. Each query
// carries its subject's ref (`query_refs[i]`, read in order as the map
// side reads `queries[i].subject`).
void SubjectRefVsIntMap(benchmark::State& state, const World& w, Guard& guard) {
  std::vector<SubjectRef> by_subject;
  by_subject.reserve(w.ids.size());
  for (const std::string& id : w.ids) by_subject.push_back(guard.Subject(id));
  std::vector<SubjectRef> query_refs;
  query_refs.reserve(w.queries.size());
  for (const Query& q : w.queries) query_refs.push_back(by_subject[q.subject]);
  by_subject.clear();
  Interleave(
      state, w, kQueries - 1, IntMapSide(w),
      [&w, &guard, &query_refs](std::size_t from, bool* out) {
        Batch(w, from, kQueries - 1, out,
              [&w, &guard, &query_refs](const Query& q, std::size_t i) {
                absl::StatusOr<Decision> d =
                    guard.Check(w.ContextOf(q), query_refs[i], w.CategoryOf(q));
                return d.ok() && d->allowed();
              });
      },
      "int_map_ns", "subject_ref_ns");
}

void BM_Ratio_SubjectRefVsIntMap(benchmark::State& state) {
  World& w = GetWorld(state.range(0));
  SubjectRefVsIntMap(state, w, *w.guard);
}
BENCHMARK(BM_Ratio_SubjectRefVsIntMap)->Arg(4096)->Arg(100'000)->Arg(1'000'000);

// The two ratios above for a Guard whose store has a change feed and the
// default staleness bound (`FeedStore`): each check of a consent basis
// also tests the feed's heartbeat against the clock. Second argument: 1
// when the store names its heartbeat word (as SQLite and PostgreSQL do),
// 0 when the Guard calls `FeedHeartbeat`.
void BM_Ratio_FeedCheckVsStringMap(benchmark::State& state) {
  World& w = GetWorld(state.range(0));
  CheckVsStringMap(state, w, w.FeedGuard(state.range(1) != 0));
}
BENCHMARK(BM_Ratio_FeedCheckVsStringMap)
    ->ArgsProduct({{4096, 100'000, 1'000'000}, {1, 0}});

void BM_Ratio_FeedSubjectRefVsIntMap(benchmark::State& state) {
  World& w = GetWorld(state.range(0));
  SubjectRefVsIntMap(state, w, w.FeedGuard(state.range(1) != 0));
}
BENCHMARK(BM_Ratio_FeedSubjectRefVsIntMap)
    ->ArgsProduct({{4096, 100'000, 1'000'000}, {1, 0}});

// The same with the refs in an array by subject number, loaded at the
// query's subject: a random element per check.
void BM_Ratio_SubjectRefRandomVsIntMap(benchmark::State& state) {
  World& w = GetWorld(state.range(0));
  std::vector<SubjectRef> refs;
  refs.reserve(w.ids.size());
  for (const std::string& id : w.ids) refs.push_back(w.guard->Subject(id));
  Interleave(
      state, w, kQueries - 1, IntMapSide(w),
      [&w, &refs](std::size_t from, bool* out) {
        Batch(w, from, kQueries - 1, out,
              [&w, &refs](const Query& q, std::size_t) {
                absl::StatusOr<Decision> d = w.guard->Check(
                    w.ContextOf(q), refs[q.subject], w.CategoryOf(q));
                return d.ok() && d->allowed();
              });
      },
      "int_map_ns", "subject_ref_ns");
}
BENCHMARK(BM_Ratio_SubjectRefRandomVsIntMap)
    ->Arg(4096)
    ->Arg(100'000)
    ->Arg(1'000'000);

// Protected<T> records, one per query subject and pair, tagged as collected
// for the pair's purpose.
void BM_Ratio_AuthorizeReadVsCheck(benchmark::State& state) {
  World& w = GetWorld(state.range(0));
  // Records for the first kRecords queries; the loop walks them.
  constexpr std::size_t kRecords = std::size_t{1} << 16;
  std::vector<Protected<double>> records;
  records.reserve(kRecords);
  for (std::size_t i = 0; i < kRecords; ++i) {
    const Query& q = w.queries[i];
    auto tags = w.guard->Tag(w.ids[q.subject], w.CategoryOf(q).id(),
                             {w.ContextOf(q).purpose()});
    if (!tags.ok()) std::abort();
    records.emplace_back(*std::move(tags), 61.5);
  }
  Interleave(
      state, w, kRecords - 1,
      [&w](std::size_t from, bool* out) {
        Batch(w, from, kRecords - 1, out, [&w](const Query& q, std::size_t) {
          absl::StatusOr<Decision> d =
              w.guard->Check(w.ContextOf(q), w.ids[q.subject], w.CategoryOf(q));
          return d.ok() && d->allowed();
        });
      },
      [&w, &records](std::size_t from, bool* out) {
        Batch(w, from, kRecords - 1, out,
              [&w, &records](const Query& q, std::size_t i) {
                const Protected<double>& r = records[i];
                absl::StatusOr<AccessGrant> g =
                    w.guard->Authorize(w.ContextOf(q), r);
                if (!g.ok()) return false;
                absl::StatusOr<const double*> v = r.Read(*g);
                return v.ok() && **v == 61.5;
              });
      },
      "check_ns", "authorize_read_ns");
}
BENCHMARK(BM_Ratio_AuthorizeReadVsCheck)
    ->Arg(4096)
    ->Arg(100'000)
    ->Arg(1'000'000);

// Bursts of checks as an audited service meets them: a burst of kBurst
// checks into the durable log with its writer running, then an untimed
// wait until the writer has caught up (every event synced), against the
// same burst by an unaudited Guard over the same store and cache state.
// Odd rounds run the audited burst first. When `dependent`, each query's
// index adds the number of checks allowed so far in the burst: the next
// check's loads wait for this one's decision, on both sides alike (their
// decisions are the same, so both run the same queries).
void AuditBurst(benchmark::State& state, bool dependent, bool feed = false) {
  constexpr std::size_t kBurst = 8192;
  World& w = GetWorld(state.range(0));
  // With `feed`, both Guards read the store through a `FeedStore` that
  // names its heartbeat word (the durable stores' case).
  Guard& unaudited = feed ? w.FeedGuard(true) : *w.guard;
  ConsentStore* store =
      feed ? static_cast<ConsentStore*>(w.feed_stores[1].get()) : &w.store;
  const std::string dir = TempDir("consentry_audit_burst");
  AuditLogOptions o;
  o.directory = dir;
  auto log = AuditLog::Open(o);
  if (!log.ok()) std::abort();
  {
    GuardOptions go;
    go.expected_subjects = w.ids.size();
    auto audited = Guard::Create(w.policy, store, log->get(), go);
    if (!audited.ok() || !(*audited)->WarmCache().ok()) std::abort();
    std::vector<AccessContext> contexts;
    std::vector<CategoryRef> categories;
    for (const auto& c : kContexts) {
      contexts.push_back(*(*audited)->Context(c[0], c[1]));
    }
    for (const char* c : kCategories) {
      categories.push_back(*(*audited)->Category(c));
    }
    std::int64_t allowed_on = 0, allowed_off = 0;
    auto burst = [&](std::size_t from, bool audited_side) {
      std::int64_t allowed = 0;
      const std::size_t mask = kQueries - 1;
      for (std::size_t k = from; k < from + kBurst; ++k) {
        const Query& q =
            w.queries[(k +
                       (dependent ? static_cast<std::size_t>(allowed) : 0)) &
                      mask];
        const Pair& pair = w.pairs[q.pair];
        absl::StatusOr<Decision> d =
            audited_side
                ? (*audited)->Check(
                      contexts[static_cast<std::size_t>(pair.context)],
                      w.ids[q.subject],
                      categories[static_cast<std::size_t>(pair.category)])
                : unaudited.Check(w.ContextOf(q), w.ids[q.subject],
                                  w.CategoryOf(q));
        if (!d.ok()) std::abort();
        allowed += d->allowed();
        benchmark::DoNotOptimize(d);
      }
      (audited_side ? allowed_on : allowed_off) += allowed;
    };
    std::chrono::nanoseconds off{0}, on{0}, off_wall{0}, on_wall{0};
    std::size_t from = 0;
    std::uint64_t round = 0;
    for (auto _ : state) {
      const bool audited_first = (++round & 1) != 0;
      for (int side = 0; side < 2; ++side) {
        const bool audited_side = (side == 0) == audited_first;
        const auto t0 = ThreadCpuNow();
        const auto w0 = std::chrono::steady_clock::now();
        burst(from, audited_side);
        const auto w1 = std::chrono::steady_clock::now();
        const auto t1 = ThreadCpuNow();
        (audited_side ? on : off) += t1 - t0;
        (audited_side ? on_wall : off_wall) += w1 - w0;
        state.PauseTiming();
        if (audited_side && !(*log)->Flush().ok()) std::abort();
        state.ResumeTiming();
      }
      from += kBurst;
    }
    if (allowed_on != allowed_off) std::abort();
    const double n =
        static_cast<double>(state.iterations()) * static_cast<double>(kBurst);
    state.counters["off_ns"] = static_cast<double>(off.count()) / n;
    state.counters["on_ns"] = static_cast<double>(on.count()) / n;
    state.counters["added_ns"] = static_cast<double>((on - off).count()) / n;
    // The same on the wall clock: also counts waits (a full queue) and
    // preemption by other processes.
    state.counters["added_wall_ns"] =
        static_cast<double>((on_wall - off_wall).count()) / n;
    state.counters["events_per_check"] =
        static_cast<double>((*log)->counters().enqueued) / n;
  }
  if (!(*log)->Close().ok()) std::abort();
  std::filesystem::remove_all(dir);
}
void BM_AuditBurst(benchmark::State& state) { AuditBurst(state, false); }
BENCHMARK(BM_AuditBurst)->Arg(4096)->Arg(100'000)->Arg(1'000'000);

void BM_AuditBurstDependent(benchmark::State& state) {
  AuditBurst(state, true);
}
BENCHMARK(BM_AuditBurstDependent)->Arg(4096)->Arg(100'000)->Arg(1'000'000);

// `BM_AuditBurst` for Guards whose store has a change feed and the default
// staleness bound: both sides test the feed on each check of a consent
// basis.
void BM_AuditBurstFeed(benchmark::State& state) {
  AuditBurst(state, false, true);
}
BENCHMARK(BM_AuditBurstFeed)->Arg(4096)->Arg(100'000)->Arg(1'000'000);

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();

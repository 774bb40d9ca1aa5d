// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The bounded consent cache alone (no store, no Guard): its hit rate for
// checks drawn from Zipf(0.99) over a population of subjects, at a byte
// budget. A miss stores the subject (as a Guard's refill would), which may
// evict others. Quick to run at 10 million subjects, for tuning the slot
// sizing and the eviction policy; the figures a Guard reaches against a
// real store come from scale_benchmark.
//
//   BM_CachePolicy_Zipf/N/B  N subjects, a budget of B MiB: hit_rate,
//       ideal_hit_rate (the share of the Zipf mass in the most frequent
//       subjects that many bytes hold at the cache's bytes per subject),
//       subjects_held (cached once warm), bytes_per_subject (the slot
//       array and key chunks over the subjects held).
//
//   BM_CachePolicy_HitCost/N/B  the cache alone, a hit with a budget of B
//       MiB (warmed as above) against a hit in a cache holding all N
//       subjects (loaded in id order, as `WarmCache` loads a store), over
//       the same Zipf draws that hit the bounded one, interleaved in
//       batches of 4,096 on the thread's CPU clock: bounded_ns, full_ns,
//       ratio; the slots a hit probes in each (bounded_probe, full_probe:
//       weighted by the draws), and the share of hits that found the
//       reference bit clear while the bounded cache evicted
//       (hits_bit_clear: those set it with an atomic OR).
//
//   build/bench/cache_policy_benchmark --benchmark_filter=10000000

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/zipf.h"
#include "benchmark/benchmark.h"
#include "src/core/consent_cache.h"
#include "src/core/subject_state.h"
#include "src/util/read_section.h"

namespace consentry::internal {
namespace {

constexpr double kZipfS = 0.99;

double ZipfMassOfTop(std::uint64_t n, std::uint64_t k) {
  double top = 0, all = 0;
  for (std::uint64_t r = 1; r <= n; ++r) {
    const double w = std::pow(static_cast<double>(r), -kZipfS);
    all += w;
    if (r <= k) top += w;
  }
  return top / all;
}

// Rank to a 10-byte id ("s" and 9 digits), scattered over the ids.
std::string IdOfRank(std::uint32_t rank, std::uint32_t n) {
  const std::uint64_t subject =
      (static_cast<std::uint64_t>(rank - 1) * 2'654'435'761ULL) % n;
  std::string id = absl::StrCat(1'000'000'000 + subject);
  id[0] = 's';
  return id;
}

void BM_CachePolicy_Zipf(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  const std::size_t budget = static_cast<std::size_t>(state.range(1)) << 20;
  for (auto _ : state) {
    ConsentCache cache(0, ConsentCache::kMaxProfiles, budget);
    Zipf zipf(n, kZipfS, 42);
    SubjectState s;
    s.revision = 1;
    s.profile.given = 1;
    const auto draw = [&]() {
      const std::string id = IdOfRank(zipf.Next(), n);
      ReadSection section;
      const SubjectProfile* p = nullptr;
      std::int64_t revision = 0;
      if (cache.Lookup(id, ConsentCache::Hash(id), &p, &revision)) return true;
      cache.Upsert(id, s, false);
      return false;
    };
    // Warm: until full, then as many draws again as held (at least 4 n).
    std::size_t warm = 0;
    while (!cache.full() && warm < 20 * std::size_t{n}) {
      draw();
      ++warm;
    }
    for (std::size_t i = 0; i < std::max<std::size_t>(4 * n, cache.size());
         ++i) {
      draw();
    }
    const std::size_t measured = 4 * std::size_t{n};
    std::size_t hits = 0;
    for (std::size_t i = 0; i < measured; ++i) hits += draw();
    state.counters["hit_rate"] =
        static_cast<double>(hits) / static_cast<double>(measured);
    state.counters["subjects_held"] = static_cast<double>(cache.size());
    state.counters["bytes_per_subject"] =
        static_cast<double>(budget) / static_cast<double>(cache.size());
    state.counters["ideal_hit_rate"] = ZipfMassOfTop(n, cache.size());
  }
}
BENCHMARK(BM_CachePolicy_Zipf)
    ->Args({1'000'000, 16})
    ->Args({10'000'000, 16})
    ->Args({10'000'000, 64})
    ->Args({10'000'000, 256})
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

std::chrono::nanoseconds ThreadCpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// A bounded cache warmed by Zipf draws as a Guard's checks make them (a
// lookup, and a fill on a miss), and the share of hits of its last n
// draws that found the reference bit clear. Made once per (n, budget) and
// kept: the benchmark's runs and repetitions share it.
struct WarmBounded {
  std::unique_ptr<ConsentCache> cache;
  double bit_clear = 0;
};
WarmBounded& WarmBoundedCache(std::uint32_t n, std::size_t budget) {
  static auto* made =
      new std::map<std::pair<std::uint32_t, std::size_t>, WarmBounded>();
  WarmBounded& w = (*made)[{n, budget}];
  if (w.cache != nullptr) return w;
  w.cache =
      std::make_unique<ConsentCache>(0, ConsentCache::kMaxProfiles, budget);
  ConsentCache& bounded = *w.cache;
  SubjectState s;
  s.revision = 1;
  s.profile.given = 1;
  Zipf zipf(n, kZipfS, 42);
  std::size_t hits = 0, clear = 0;
  const auto draw = [&]() {
    const std::string id = IdOfRank(zipf.Next(), n);
    ReadSection section;
    bool referenced = false;
    const bool held = bounded.ProbeLength(id, &referenced) != 0;
    const SubjectProfile* p = nullptr;
    std::int64_t revision = 0;
    if (bounded.Lookup(id, ConsentCache::Hash(id), &p, &revision)) {
      ++hits;
      clear += held && !referenced;
      return;
    }
    bounded.Upsert(id, s, false);
  };
  // Until full (at most 6 n draws: at 256 MiB the budget outlasts the
  // subjects the trace touches), then 2 n draws more.
  std::size_t warm = 0;
  while (!bounded.full() && warm < 6 * std::size_t{n}) {
    draw();
    ++warm;
  }
  for (std::size_t i = 0; i < std::max<std::size_t>(2 * n, bounded.size());
       ++i) {
    draw();
  }
  hits = clear = 0;
  for (std::size_t i = 0; i < n; ++i) draw();
  w.bit_clear = static_cast<double>(clear) / static_cast<double>(hits);
  return w;
}

// All n subjects, loaded in id order; made once per n.
ConsentCache& FullCache(std::uint32_t n) {
  static auto* made =
      new std::map<std::uint32_t, std::unique_ptr<ConsentCache>>();
  std::unique_ptr<ConsentCache>& full = (*made)[n];
  if (full != nullptr) return *full;
  full = std::make_unique<ConsentCache>(n);
  SubjectState s;
  s.revision = 1;
  s.profile.given = 1;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string id = absl::StrCat(1'000'000'000 + i);
    id[0] = 's';
    full->Upsert(id, s, false);
  }
  return *full;
}

void BM_CachePolicy_HitCost(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  const std::size_t budget = static_cast<std::size_t>(state.range(1)) << 20;
  const WarmBounded& w = WarmBoundedCache(n, budget);
  const ConsentCache& bounded = *w.cache;
  const ConsentCache& full = FullCache(n);
  Zipf zipf(n, kZipfS, 7);
  constexpr std::size_t kBatch = 4096;
  std::vector<std::string> batch;
  double bounded_probe = 0, full_probe = 0;
  std::size_t probed = 0;
  const auto run = [&batch](const ConsentCache& c) {
    int sink = 0;
    const auto t0 = ThreadCpu();
    for (const std::string& id : batch) {
      ReadSection section;
      const SubjectProfile* p = nullptr;
      std::int64_t revision = 0;
      sink += c.Lookup(id, ConsentCache::Hash(id), &p, &revision);
    }
    benchmark::DoNotOptimize(sink);
    return ThreadCpu() - t0;
  };
  std::chrono::nanoseconds bounded_t{0}, full_t{0};
  std::size_t timed = 0, round = 0;
  for (auto _ : state) {
    batch.clear();
    while (batch.size() < kBatch) {
      std::string id = IdOfRank(zipf.Next(), n);
      ReadSection section;
      bool referenced = false;
      const std::size_t b = bounded.ProbeLength(id, &referenced);
      if (b == 0) continue;
      bounded_probe += static_cast<double>(b);
      full_probe += static_cast<double>(full.ProbeLength(id, &referenced));
      ++probed;
      batch.push_back(std::move(id));
    }
    run(bounded);
    run(full);
    // Alternate which goes first, so neither always runs on a warmer CPU.
    if (++round % 2 == 0) {
      bounded_t += run(bounded);
      full_t += run(full);
    } else {
      full_t += run(full);
      bounded_t += run(bounded);
    }
    timed += batch.size();
  }
  const double t = static_cast<double>(timed);
  state.counters["bounded_ns"] = static_cast<double>(bounded_t.count()) / t;
  state.counters["full_ns"] = static_cast<double>(full_t.count()) / t;
  state.counters["ratio"] = static_cast<double>(bounded_t.count()) /
                            static_cast<double>(full_t.count());
  state.counters["bounded_probe"] = bounded_probe / static_cast<double>(probed);
  state.counters["full_probe"] = full_probe / static_cast<double>(probed);
  state.counters["hits_bit_clear"] = w.bit_clear;
}
BENCHMARK(BM_CachePolicy_HitCost)
    ->Args({10'000'000, 16})
    ->Args({10'000'000, 64})
    ->Args({10'000'000, 256})
    ->MinTime(2.0);

// Eviction policies alone, over subject numbers (no slots, no bytes): the
// hit rate with `entries` cached, for the same Zipf trace.
//   0 CLOCK (one reference bit; FIFO with reinsertion, as the cache's).
//   1 S3-FIFO (Yang et al., SOSP 2023): new subjects enter a small FIFO
//     (1/10 of the entries); one referenced there moves to the main CLOCK,
//     else it is dropped and its number kept in a ghost FIFO (as many as
//     main holds); a miss found in the ghost enters main directly.
//   2 the oracle: the `entries` most frequent subjects.
class PolicyModel {
 public:
  PolicyModel(int policy, std::size_t entries, std::uint32_t n)
      : policy_(policy),
        entries_(entries),
        small_cap_(entries / 10),
        where_(n, kAbsent),
        ref_(n, 0),
        ghost_count_(n, 0) {}

  bool Access(std::uint32_t x) {
    if (where_[x] != kAbsent) {
      ref_[x] = 1;
      return true;
    }
    if (size_ >= entries_) Evict();
    if (policy_ == 1 && ghost_count_[x] == 0) {
      small_.push_back(x);
      where_[x] = kSmall;
    } else {
      main_.push_back(x);
      where_[x] = kMain;
    }
    ref_[x] = 0;
    ++size_;
    return false;
  }

 private:
  static constexpr std::uint8_t kAbsent = 0, kSmall = 1, kMain = 2;
  void Evict() {
    while (policy_ == 1 && (small_.size() >= small_cap_ || main_.empty()) &&
           !small_.empty()) {
      const std::uint32_t x = small_.front();
      small_.pop_front();
      if (ref_[x] != 0) {
        ref_[x] = 0;
        main_.push_back(x);
        where_[x] = kMain;
        continue;
      }
      where_[x] = kAbsent;
      --size_;
      ++ghost_count_[x];
      ghost_.push_back(x);
      while (ghost_.size() > entries_ - small_cap_) {
        --ghost_count_[ghost_.front()];
        ghost_.pop_front();
      }
      return;
    }
    for (;;) {
      const std::uint32_t x = main_.front();
      main_.pop_front();
      if (ref_[x] != 0) {
        ref_[x] = 0;
        main_.push_back(x);
        continue;
      }
      where_[x] = kAbsent;
      --size_;
      return;
    }
  }
  const int policy_;
  const std::size_t entries_;
  const std::size_t small_cap_;
  std::size_t size_ = 0;
  std::vector<std::uint8_t> where_;
  std::vector<std::uint8_t> ref_;
  std::vector<std::uint8_t> ghost_count_;
  std::deque<std::uint32_t> small_, main_, ghost_;
};

// Policy P with the entries a budget of B MiB holds at C bytes each:
// BM_CachePolicy_Model/P/N/B/C.
void BM_CachePolicy_Model(benchmark::State& state) {
  const int policy = static_cast<int>(state.range(0));
  const auto n = static_cast<std::uint32_t>(state.range(1));
  const std::size_t entries = std::min<std::size_t>(
      n, (static_cast<std::size_t>(state.range(2)) << 20) /
             static_cast<std::size_t>(state.range(3)));
  for (auto _ : state) {
    Zipf zipf(n, kZipfS, 42);
    double rate = ZipfMassOfTop(n, entries);
    if (policy != 2) {
      PolicyModel m(policy, entries, n);
      for (std::size_t i = 0; i < 8 * std::size_t{n}; ++i)
        m.Access(zipf.Next() - 1);
      std::size_t hits = 0;
      const std::size_t measured = 4 * std::size_t{n};
      for (std::size_t i = 0; i < measured; ++i)
        hits += m.Access(zipf.Next() - 1);
      rate = static_cast<double>(hits) / static_cast<double>(measured);
    }
    state.counters["hit_rate"] = rate;
    state.counters["entries"] = static_cast<double>(entries);
  }
}
BENCHMARK(BM_CachePolicy_Model)
    ->ArgsProduct({{0, 1, 2}, {10'000'000}, {16, 64, 256}, {40, 45}})
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace consentry::internal

BENCHMARK_MAIN();

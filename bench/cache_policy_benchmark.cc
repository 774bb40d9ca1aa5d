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
//   build/bench/cache_policy_benchmark --benchmark_filter=10000000

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
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

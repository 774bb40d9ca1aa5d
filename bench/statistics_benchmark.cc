// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Rows per second through the statistics view (batch decision, pseudonym
// per row) against a plain loop over the same rows in the same binary.
//
//   build/bench/statistics_benchmark

#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/protected.h"
#include "consentry/proto_io.h"
#include "consentry/statistics.h"

namespace consentry {
namespace {

constexpr int kRows = 100'000;

struct World {
  World() {
    auto p = LoadAndCompilePolicy(std::string(CONSENTRY_SOURCE_DIR) +
                                  "/policies/default.textproto");
    if (!p.ok()) std::abort();
    for (int i = 0; i < kRows / 2; ++i) {
      v1::ConsentChange c;
      c.set_subject_id("m" + std::to_string(i));
      c.mutable_purpose_consent()->set_purpose("statistics.measurement");
      c.mutable_purpose_consent()->set_state(
          i % 4 == 0 ? v1::CONSENT_STATE_REFUSED : v1::CONSENT_STATE_GIVEN);
      if (!store.Apply(c).ok()) std::abort();
    }
    GuardOptions unaudited;
    unaudited.unaudited_for_benchmarks_only = true;
    auto g = Guard::Create(*p, &store, /*audit=*/nullptr, unaudited);
    if (!g.ok()) std::abort();
    guard = *std::move(g);
    if (!guard->WarmCache().ok()) std::abort();
    for (int i = 0; i < kRows; ++i) {
      auto tags = guard->Tag("m" + std::to_string(i / 2), "measurement",
                             {"statistics.measurement"});
      if (!tags.ok()) std::abort();
      records.emplace_back(*std::move(tags), 60.0 + i % 20);
      plain.push_back(60.0 + i % 20);
      plain_ids.push_back("m" + std::to_string(i / 2));
    }
    auto ps = Pseudonymizer::Create(std::string(32, 'k'), absl::Hours(720));
    if (!ps.ok()) std::abort();
    view = std::make_unique<StatisticsView>(
        *StatisticsView::Create(*guard, "statistics-job", *std::move(ps)));
  }
  InMemoryConsentStore store;
  std::unique_ptr<Guard> guard;
  std::vector<Protected<double>> records;
  std::vector<double> plain;
  std::vector<std::string> plain_ids;
  std::unique_ptr<StatisticsView> view;
};

World& GetWorld() {
  static World* w = new World();
  return *w;
}

// Baseline: sum the values, every third skipped (as if by consent).
void BM_Baseline_PlainLoop(benchmark::State& state) {
  World& w = GetWorld();
  for (auto _ : state) {
    double sum = 0;
    for (std::size_t i = 0; i < w.plain.size(); ++i) {
      if (i % 4 != 0) sum += w.plain[i];
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}
BENCHMARK(BM_Baseline_PlainLoop)->Unit(benchmark::kMillisecond);

void BM_StatisticsView_Select(benchmark::State& state) {
  World& w = GetWorld();
  const absl::Time at = absl::Now();
  for (auto _ : state) {
    auto b = w.view->Select<double>(w.records, at);
    if (!b.ok()) std::abort();
    double sum = 0;
    for (const auto& row : b->rows()) sum += *row.value;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}
BENCHMARK(BM_StatisticsView_Select)->Unit(benchmark::kMillisecond);

// The pseudonym (HMAC-SHA256) alone, per row.
void BM_Pseudonymizer_For(benchmark::State& state) {
  World& w = GetWorld();
  auto ps = Pseudonymizer::Create(std::string(32, 'k'), absl::Hours(720));
  const absl::Time at = absl::Now();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ps->For(w.plain_ids[i++ % w.plain_ids.size()], at));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Pseudonymizer_For);

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();

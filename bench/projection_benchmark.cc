// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Projection of a realistic health measurement (examples/proto/health.proto:
// 10 fields, a timestamp, three segment readings, a map, device and contact
// sub-messages; 4 categories) against the baseline the issue holds it to: a
// plain `CopyFrom` of the same message into a reused message, in the same
// binary. Target: BM_Projector_* within 2x of BM_Baseline_CopyFrom.
//
// Each projection makes one `Guard::Check` per category present (4 for
// support, which sees every field; 4 for statistics, which sees the
// measurement fields only). Auditing is measured off (sink nullptr) and on
// with a counting sink; `InMemoryAuditSink` copies every event's strings
// under a mutex and would measure the sink, not the projection. The
// BM_Baseline_CopyFromPlusChecks* benchmarks are the floor of each
// projection benchmark: the same copy and the same four checks, without
// the walk over the record or the clearing. BM_Ratio_* interleave batches
// of copies and projections and report the ratio directly (counter
// `ratio`), which holds when the machine's speed drifts between
// benchmarks.
//
//   build/bench/projection_benchmark --benchmark_min_time=0.5
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   (one command line)

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/guard.h"
#include "consentry/projection.h"
#include "consentry/proto_io.h"
#include "health.pb.h"

namespace consentry {
namespace {

using examples::HealthMeasurement;

// Counts events and keeps nothing: the cheapest sink that still makes the
// Guard build and hand over every event.
class CountingAuditSink final : public AuditSink {
 public:
  absl::Status Record(const AuditEvent& event) override {
    benchmark::DoNotOptimize(event.subject.data());
    count_.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }
  long count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<long> count_{0};
};

HealthMeasurement Realistic() {
  HealthMeasurement m;
  m.set_member_id("member-0001");
  m.set_member_name("Sato Hanako");
  m.mutable_measured_at()->set_seconds(1'790'000'000);
  m.set_weight_kg(58.4);
  m.set_body_fat_percent(27.1);
  for (const char* segment : {"trunk", "left_arm", "right_leg"}) {
    examples::SegmentReading* s = m.add_segments();
    s->set_segment(segment);
    s->set_fat_percent(24.6);
    s->set_muscle_kg(7.3);
  }
  (*m.mutable_extra_metrics())["bmi"] = 22.4;
  m.mutable_device()->set_device_id("scale-7f3a");
  m.mutable_device()->set_firmware("4.2.1");
  m.mutable_contact()->set_email("member-0001@example.jp");
  m.mutable_contact()->set_phone("03-1234-5678");
  m.set_plan_code("family-premium");
  return m;
}

struct World {
  explicit World(bool audited) {
    auto p = LoadAndCompilePolicy(std::string(CONSENTRY_SOURCE_DIR) +
                                  "/policies/default.textproto");
    if (!p.ok()) std::abort();
    v1::ConsentChange c;
    c.set_subject_id("member-0001");
    c.mutable_purpose_consent()->set_purpose("statistics.measurement");
    c.mutable_purpose_consent()->set_state(v1::CONSENT_STATE_GIVEN);
    if (!store.Apply(c).ok()) std::abort();
    GuardOptions options;
    options.unaudited_for_benchmarks_only = !audited;
    auto g = Guard::Create(*p, &store, audited ? &sink : nullptr, options);
    if (!g.ok()) std::abort();
    guard = *std::move(g);
    if (!guard->WarmCache().ok()) std::abort();
    projector = std::make_unique<Projector>(*guard);
    if (!projector->Prepare(HealthMeasurement::descriptor()).ok()) std::abort();
    support = std::make_unique<AccessContext>(
        *guard->Context("support-desk", "support"));
    statistics = std::make_unique<AccessContext>(
        *guard->Context("statistics-job", "statistics.measurement"));
    record = Realistic();
  }

  InMemoryConsentStore store;
  CountingAuditSink sink;
  std::unique_ptr<Guard> guard;
  std::unique_ptr<Projector> projector;
  std::unique_ptr<AccessContext> support;
  std::unique_ptr<AccessContext> statistics;
  HealthMeasurement record;
};

World& GetWorld(bool audited) {
  static World* plain = new World(false);
  static World* with_audit = new World(true);
  return audited ? *with_audit : *plain;
}

void BM_Baseline_CopyFrom(benchmark::State& state) {
  const HealthMeasurement record = Realistic();
  HealthMeasurement out;
  for (auto _ : state) {
    out.CopyFrom(record);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_Baseline_CopyFrom);

// The floor of this design: the copy plus the four checks a projection
// makes (identity, measurement, contact, billing), without the walks.
void CopyPlusChecks(benchmark::State& state, bool audited, bool statistics) {
  World& w = GetWorld(audited);
  const AccessContext& ctx = statistics ? *w.statistics : *w.support;
  const CategoryRef categories[] = {
      *w.guard->Category("identity"), *w.guard->Category("measurement"),
      *w.guard->Category("contact"), *w.guard->Category("billing")};
  HealthMeasurement out;
  for (auto _ : state) {
    for (const CategoryRef& c : categories) {
      absl::StatusOr<Decision> d = w.guard->Check(ctx, w.record.member_id(), c);
      benchmark::DoNotOptimize(d);
    }
    out.CopyFrom(w.record);
    benchmark::DoNotOptimize(out);
  }
}

void BM_Baseline_CopyFromPlusChecks(benchmark::State& state) {
  CopyPlusChecks(state, false, false);
}
BENCHMARK(BM_Baseline_CopyFromPlusChecks);

// Attribution: the same floors for the other three projection benchmarks.
void BM_Baseline_CopyFromPlusChecksStatistics(benchmark::State& state) {
  CopyPlusChecks(state, false, true);
}
BENCHMARK(BM_Baseline_CopyFromPlusChecksStatistics);

void BM_Baseline_CopyFromPlusChecksAudited(benchmark::State& state) {
  CopyPlusChecks(state, true, false);
}
BENCHMARK(BM_Baseline_CopyFromPlusChecksAudited);

void BM_Baseline_CopyFromPlusChecksStatisticsAudited(benchmark::State& state) {
  CopyPlusChecks(state, true, true);
}
BENCHMARK(BM_Baseline_CopyFromPlusChecksStatisticsAudited);

void Project(benchmark::State& state, bool audited, bool statistics) {
  World& w = GetWorld(audited);
  const AccessContext& ctx = statistics ? *w.statistics : *w.support;
  HealthMeasurement out;
  for (auto _ : state) {
    absl::Status s = w.projector->ProjectInto(ctx, w.record, &out);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  state.counters["fields_kept"] = static_cast<double>(out.ByteSizeLong()) /
                                  static_cast<double>(w.record.ByteSizeLong());
}

// Support sees every field: the copy plus the checks and a walk.
void BM_Projector_SupportAllFields(benchmark::State& state) {
  Project(state, false, false);
}
BENCHMARK(BM_Projector_SupportAllFields);

// Statistics sees the measurement fields only: identity, contact and
// billing fields are cleared.
void BM_Projector_StatisticsMeasurementsOnly(benchmark::State& state) {
  Project(state, false, true);
}
BENCHMARK(BM_Projector_StatisticsMeasurementsOnly);

void BM_Projector_SupportAllFieldsAudited(benchmark::State& state) {
  Project(state, true, false);
}
BENCHMARK(BM_Projector_SupportAllFieldsAudited);

void BM_Projector_StatisticsMeasurementsOnlyAudited(benchmark::State& state) {
  Project(state, true, true);
}
BENCHMARK(BM_Projector_StatisticsMeasurementsOnlyAudited);

// The ratio itself, robust to the machine's speed drifting between
// benchmarks: each iteration times a batch of plain copies and a batch of
// projections back to back (steady_clock around each batch), and the
// counters give both per-message times and their ratio over the whole run.
void Ratio(benchmark::State& state, bool audited, bool statistics) {
  World& w = GetWorld(audited);
  const AccessContext& ctx = statistics ? *w.statistics : *w.support;
  constexpr int kBatch = 64;
  HealthMeasurement copied, projected;
  std::chrono::nanoseconds copy_time{0}, project_time{0};
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kBatch; ++i) {
      copied.CopyFrom(w.record);
      benchmark::DoNotOptimize(copied);
    }
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < kBatch; ++i) {
      absl::Status s = w.projector->ProjectInto(ctx, w.record, &projected);
      if (!s.ok()) std::abort();
      benchmark::DoNotOptimize(projected);
    }
    const auto t2 = std::chrono::steady_clock::now();
    copy_time += t1 - t0;
    project_time += t2 - t1;
  }
  const double n = static_cast<double>(state.iterations()) * kBatch;
  state.counters["copy_ns"] = static_cast<double>(copy_time.count()) / n;
  state.counters["projection_ns"] =
      static_cast<double>(project_time.count()) / n;
  state.counters["ratio"] = static_cast<double>(project_time.count()) /
                            static_cast<double>(copy_time.count());
}

void BM_Ratio_Support(benchmark::State& state) { Ratio(state, false, false); }
BENCHMARK(BM_Ratio_Support);
void BM_Ratio_Statistics(benchmark::State& state) { Ratio(state, false, true); }
BENCHMARK(BM_Ratio_Statistics);
void BM_Ratio_SupportAudited(benchmark::State& state) {
  Ratio(state, true, false);
}
BENCHMARK(BM_Ratio_SupportAudited);
void BM_Ratio_StatisticsAudited(benchmark::State& state) {
  Ratio(state, true, true);
}
BENCHMARK(BM_Ratio_StatisticsAudited);

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();

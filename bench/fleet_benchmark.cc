// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// One person's events from the access logs of a fleet: --logs logs (default
// 10), one per service, totalling --events events (default 10,000,000)
// over --subjects subjects (default events / 100, so the person has about
// 100 events across the fleet), 50 accessors per service, in 64 MiB
// segments sealed with their indexes. Generated once into
// <build>/bench_cache/fleet-l<logs>-e<events>-s<subjects>-v<format>/ (each
// log its own directory; a COMPLETE marker per log) and reused.
//
//   BM_FleetSubjectEvents  what a disclosure across the fleet does per
//       request: `AuditLogSetAccessEventSource::EventsFor` (open the set,
//       query every log by its index, merge by time). Target: under 100 ms.
//       Counters: the person's events, segments answered from an index,
//       scanned in full.
//   BM_FleetAccessorHour  one accessor's events in one hour across the
//       fleet (`ForAccessor` with a time range), on an open set.
//
// Run (medians of 3 runs):
//   build/bench/fleet_benchmark --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true            (one line)
// Smaller: --events=1000000 before the benchmark flags.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "consentry/audit_log.h"
#include "consentry/audit_log_set.h"
#include "consentry/disclosure_sources.h"

namespace consentry {
namespace {

namespace fs = std::filesystem;

struct Params {
  std::int64_t logs = 10;
  std::int64_t events = 10'000'000;
  std::int64_t subjects = 0;  // 0: events / 100
};

Params& P() {
  static Params p;
  return p;
}

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;
constexpr char kPerson[] = "m-42";
// Bump when the log format changes, so that a cache of the old format is
// not measured.
constexpr int kFormat = 3;

std::string Root() {
  const Params& p = P();
  return absl::StrCat(CONSENTRY_BINARY_DIR, "/bench_cache/fleet-l", p.logs,
                      "-e", p.events, "-s", p.subjects, "-v", kFormat);
}

void Check(const absl::Status& s) {
  if (s.ok()) return;
  std::fprintf(stderr, "fleet_benchmark: %s\n", s.ToString().c_str());
  std::abort();
}

// Writes log `n` of the fleet into `dir`, unless a complete one is there:
// events n, n + logs, n + 2 * logs, ... of one time line (10 events a
// second across the fleet), so the logs interleave in time.
void EnsureLog(const std::string& dir, std::int64_t n) {
  const std::string marker = dir + "/COMPLETE";
  if (fs::exists(marker)) return;
  fs::remove_all(dir);
  fs::create_directories(dir);
  AuditLogOptions o;
  o.directory = dir;
  o.segment_bytes = std::uint64_t{64} << 20;
  // A finished history: every segment sealed and indexed, none scanned.
  o.seal_on_close = true;
  o.sync = AuditSyncPolicy::kInterval;
  o.sync_interval = absl::Seconds(1);
  o.queue_capacity = 1 << 17;
  o.max_batch_events = 1 << 16;
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(o);
  Check(log.status());
  std::vector<std::string> accessors;
  for (int a = 0; a < 50; ++a) {
    accessors.push_back(absl::StrCat("svc", n, "-", a));
  }
  // xorshift64, seeded per log: the same fleet every time.
  std::uint64_t x = 88172645463325252ull + static_cast<std::uint64_t>(n);
  const std::int64_t per_log = P().events / P().logs;
  for (std::int64_t k = 0; k < per_log; ++k) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const std::string subject =
        absl::StrCat("m-", x % static_cast<std::uint64_t>(P().subjects));
    const std::int64_t i = k * P().logs + n;
    AuditEvent e;
    e.time_unix_nanos = kT0 + i * 100'000'000;
    e.accessor = accessors[(x >> 32) % accessors.size()];
    e.subject = subject;
    e.category = "measurement";
    e.purpose = "statistics.measurement";
    e.policy_version = "2026-11-01";
    e.reason = Reason::kAllowedConsent;
    e.revision = i;
    Check((*log)->Record(e));
  }
  Check((*log)->Close());
  std::ofstream(marker) << per_log << " events\n";
}

std::vector<std::string> EnsureFleet() {
  std::vector<std::string> dirs;
  const absl::Time start = absl::Now();
  bool generated = false;
  for (std::int64_t n = 0; n < P().logs; ++n) {
    const std::string dir = absl::StrCat(Root(), "/service-", n);
    if (!fs::exists(dir + "/COMPLETE")) {
      if (!generated) {
        std::fprintf(stderr,
                     "fleet_benchmark: generating %lld events in %lld logs "
                     "under %s (once; reused by later runs)\n",
                     static_cast<long long>(P().events),
                     static_cast<long long>(P().logs), Root().c_str());
      }
      generated = true;
      EnsureLog(dir, n);
    }
    dirs.push_back(dir);
  }
  if (generated) {
    std::fprintf(stderr, "fleet_benchmark: generated in %.1f s\n",
                 absl::ToDoubleSeconds(absl::Now() - start));
  }
  return dirs;
}

void BM_FleetSubjectEvents(benchmark::State& state) {
  const std::vector<std::string> dirs = EnsureFleet();
  AuditLogSetAccessEventSource source(dirs);
  std::size_t found = 0;
  for (auto _ : state) {
    absl::StatusOr<std::vector<OwnedAuditEvent>> events =
        source.EventsFor(kPerson);
    Check(events.status());
    found = events->size();
    benchmark::DoNotOptimize(events->data());
  }
  absl::StatusOr<std::unique_ptr<AuditLogSet>> set = AuditLogSet::Open(dirs);
  Check(set.status());
  Check((*set)->ForSubject(kPerson).status());
  state.counters["events"] = static_cast<double>(found);
  state.counters["segments_indexed"] =
      static_cast<double>((*set)->last_stats().segments_indexed);
  state.counters["segments_scanned"] =
      static_cast<double>((*set)->last_stats().segments_scanned);
}
BENCHMARK(BM_FleetSubjectEvents)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FleetAccessorHour(benchmark::State& state) {
  const std::vector<std::string> dirs = EnsureFleet();
  absl::StatusOr<std::unique_ptr<AuditLogSet>> set = AuditLogSet::Open(dirs);
  Check(set.status());
  // An hour in the middle of the time line.
  const absl::Time from =
      absl::FromUnixNanos(kT0 + P().events / 2 * 100'000'000);
  std::size_t found = 0;
  for (auto _ : state) {
    absl::StatusOr<AuditLogSet::Events> got =
        (*set)->ForAccessor("svc3-7", from, from + absl::Hours(1));
    Check(got.status());
    found = got->events.size();
  }
  state.counters["events"] = static_cast<double>(found);
}
BENCHMARK(BM_FleetAccessorHour)->Unit(benchmark::kMillisecond)->UseRealTime();

// --logs=N, --events=N and --subjects=N before Google Benchmark's flags.
void ParseOwnFlags(int* argc, char** argv) {
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const char* a = argv[i];
    std::int64_t* target = nullptr;
    const char* value = nullptr;
    for (auto [name, field] :
         {std::pair{"--logs=", &P().logs}, std::pair{"--events=", &P().events},
          std::pair{"--subjects=", &P().subjects}}) {
      if (std::strncmp(a, name, std::strlen(name)) == 0) {
        target = field;
        value = a + std::strlen(name);
      }
    }
    if (target == nullptr) {
      argv[out++] = argv[i];
      continue;
    }
    if (!absl::SimpleAtoi(value, target) || *target <= 0) {
      std::fprintf(stderr, "fleet_benchmark: bad value in %s\n", a);
      std::exit(2);
    }
  }
  *argc = out;
  if (P().subjects == 0)
    P().subjects = std::max<std::int64_t>(1, P().events / 100);
}

}  // namespace
}  // namespace consentry

int main(int argc, char** argv) {
  consentry::ParseOwnFlags(&argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

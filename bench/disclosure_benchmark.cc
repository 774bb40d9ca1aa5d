// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Building one person's disclosure package (APPI Art. 33) from a large
// durable audit log and a large provision record store, through the
// library's own sources (consentry/disclosure_sources.h) and `RequestDesk`.
//
// The log: --events events (default 10,000,000) over --subjects subjects
// (default events / 100, so the person has about 100 events), 50 accessors,
// in 64 MiB segments, each sealed with its index. Generating it takes a
// while, so it is generated once into a cache directory under the build
// tree, named by the generator's parameters
// (<build>/bench_cache/disclosure-e<events>-s<subjects>-seg<MiB>-v2; v2:
// the blocked index, "CNSIDX02" sealed by "CNSSEAL3"), and
// reused by every later run with the same parameters; a directory without
// its COMPLETE marker (an interrupted generation) is generated anew. The log
// is opened read-only: no run changes it. The provision records: --provisions
// records (default 1,000,000), each naming one subject, twice: in an
// `InMemoryProvisionRecordStore`, rebuilt in memory on each run, and in a
// `SqliteProvisionRecordStore` file (--sqlite-provisions records, default
// the same), which is built once into the cache
// (<build>/bench_cache/disclosure-provisions-p<records>-s<subjects>-v1/
// records.db, with its own COMPLETE marker) and reused. Both hold the same
// records; the person is in every 10,000th.
//
// Run (medians of 3 runs):
//   build/bench/disclosure_benchmark --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true            (one line)
// Smaller: --events=1000000 --provisions=100000 before the benchmark flags.
// The SQLite store alone (the log is still generated or reused):
//   build/bench/disclosure_benchmark --benchmark_filter=Provisions
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// Counters: segments answered from their index, scanned, skipped by the
// index (`AuditLogReader::Stats` of the last query), the person's events
// and provision entries in the package.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "consentry/audit_log.h"
#include "consentry/consent.h"
#include "consentry/disclosure_sources.h"
#include "consentry/proto_io.h"
#include "consentry/receipt.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "consentry/sqlite_records.h"

namespace consentry {
namespace {

namespace fs = std::filesystem;

struct Params {
  std::int64_t events = 10'000'000;
  std::int64_t subjects = 0;  // 0: events / 100
  std::int64_t provisions = 1'000'000;
  std::int64_t sqlite_provisions = 0;  // 0: provisions
  std::uint64_t segment_mib = 64;
};

Params& P() {
  static Params p;
  return p;
}

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;
constexpr char kPerson[] = "m-42";

std::string SubjectName(std::int64_t i) { return absl::StrCat("m-", i); }

std::string CacheDir() {
  const Params& p = P();
  return absl::StrCat(CONSENTRY_BINARY_DIR, "/bench_cache/disclosure-e",
                      p.events, "-s", p.subjects, "-seg", p.segment_mib, "-v2");
}

// Writes the log into `dir`, unless a complete one is there already.
void EnsureLog(const std::string& dir) {
  const std::string marker = dir + "/COMPLETE";
  if (fs::exists(marker)) {
    std::fprintf(stderr, "disclosure_benchmark: reusing the cached log %s\n",
                 dir.c_str());
    return;
  }
  fs::remove_all(dir);
  fs::create_directories(dir + "/log");
  std::fprintf(stderr,
               "disclosure_benchmark: generating %lld events for %lld "
               "subjects into %s (once; reused by later runs)\n",
               static_cast<long long>(P().events),
               static_cast<long long>(P().subjects), dir.c_str());
  const absl::Time start = absl::Now();
  AuditLogOptions o;
  o.directory = dir + "/log";
  o.segment_bytes = P().segment_mib << 20;
  // A finished history: every segment sealed and indexed, none scanned.
  o.seal_on_close = true;
  o.sync = AuditSyncPolicy::kInterval;
  o.sync_interval = absl::Seconds(1);
  o.queue_capacity = 1 << 17;
  o.max_batch_events = 1 << 16;
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(o);
  if (!log.ok()) {
    std::fprintf(stderr, "%s\n", log.status().ToString().c_str());
    std::abort();
  }
  std::vector<std::string> accessors;
  for (int a = 0; a < 50; ++a) accessors.push_back(absl::StrCat("svc-", a));
  std::uint64_t x = 88172645463325252ull;  // xorshift64: the same log always
  for (std::int64_t i = 0; i < P().events; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const std::string subject = SubjectName(static_cast<std::int64_t>(
        x % static_cast<std::uint64_t>(P().subjects)));
    AuditEvent e;
    e.time_unix_nanos = kT0 + i * 100'000'000;  // 10 events a second
    e.accessor = accessors[(x >> 32) % accessors.size()];
    e.subject = subject;
    e.category = "measurement";
    e.purpose = "statistics.measurement";
    e.policy_version = "2026-11-01";
    e.reason = Reason::kAllowedConsent;
    e.revision = i;
    if (absl::Status s = (*log)->Record(e); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      std::abort();
    }
  }
  if (absl::Status s = (*log)->Close(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::abort();
  }
  std::ofstream(marker) << P().events << " events\n";
  std::fprintf(stderr, "disclosure_benchmark: generated in %.1f s\n",
               absl::ToDoubleSeconds(absl::Now() - start));
}

// The i-th provision record of the benchmark (the same in both stores).
v1::ProvisionRecord ProvisionRecordAt(std::int64_t i) {
  v1::ProvisionRecord r;
  r.mutable_provision_time()->set_seconds(1'790'000'000 + i);
  r.set_recipient_id("univ-lab");
  r.set_purpose("occasion.joint_study");
  r.add_categories("measurement");
  // The person is in every 10,000th record.
  r.add_subjects(i % 10'000 == 42 ? std::string(kPerson)
                                  : SubjectName(i % P().subjects));
  return r;
}

// The SQLite provision record store's file: built once (every record
// through `AddProvision`, as a service adds them) and reused.
std::string EnsureSqliteProvisions() {
  const std::string dir =
      absl::StrCat(CONSENTRY_BINARY_DIR, "/bench_cache/disclosure-provisions-p",
                   P().sqlite_provisions, "-s", P().subjects, "-v1");
  const std::string path = dir + "/records.db";
  if (fs::exists(dir + "/COMPLETE")) {
    std::fprintf(stderr, "disclosure_benchmark: reusing the cached store %s\n",
                 path.c_str());
    return path;
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::fprintf(stderr,
               "disclosure_benchmark: adding %lld provision records to %s "
               "(once; reused by later runs)\n",
               static_cast<long long>(P().sqlite_provisions), path.c_str());
  const absl::Time start = absl::Now();
  {
    absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>> store =
        SqliteProvisionRecordStore::Open(path);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      std::abort();
    }
    for (std::int64_t i = 0; i < P().sqlite_provisions; ++i) {
      absl::StatusOr<std::string> id =
          (*store)->AddProvision(ProvisionRecordAt(i));
      if (!id.ok()) {
        std::fprintf(stderr, "%s\n", id.status().ToString().c_str());
        std::abort();
      }
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::ofstream(dir + "/COMPLETE")
      << P().sqlite_provisions << " records in " << seconds << " s\n";
  std::fprintf(stderr, "disclosure_benchmark: built in %.1f s\n", seconds);
  return path;
}

// Everything a package is built from, set up once per process.
struct World {
  World() {
    EnsureLog(CacheDir());
    events = std::make_unique<AuditLogAccessEventSource>(CacheDir() + "/log",
                                                         nullptr);
    absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
        LoadAndCompilePolicy(CONSENTRY_SOURCE_DIR
                             "/policies/default.textproto");
    if (!p.ok()) std::abort();
    policy = *p;
    for (v1::ConsentState st :
         {v1::CONSENT_STATE_GIVEN, v1::CONSENT_STATE_WITHDRAWN,
          v1::CONSENT_STATE_GIVEN}) {
      v1::ConsentChange c;
      c.set_subject_id(kPerson);
      c.set_subject_kind(v1::SUBJECT_KIND_CUSTOMER);
      c.mutable_purpose_consent()->set_purpose("statistics.measurement");
      c.mutable_purpose_consent()->set_state(st);
      c.mutable_purpose_consent()->set_policy_version("2026-11-01");
      c.mutable_purpose_consent()->set_method(v1::COLLECTION_METHOD_MOBILE_APP);
      if (!consent.Apply(c).ok()) std::abort();
    }
    for (std::int64_t i = 0; i < P().provisions; ++i) {
      if (!provision_store.AddProvision(ProvisionRecordAt(i)).ok()) {
        std::abort();
      }
    }
    absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>> sq =
        SqliteProvisionRecordStore::Open(EnsureSqliteProvisions());
    if (!sq.ok()) std::abort();
    sqlite_store = *std::move(sq);
    sqlite_provisions =
        std::make_unique<ProvisionStoreSource>(sqlite_store.get());
    absl::StatusOr<std::unique_ptr<FileKeyProvider>> k = FileKeyProvider::Open(
        {.paths = {CONSENTRY_SOURCE_DIR "/tests/testdata/receipt_keys"},
         .signing_key_file =
             CONSENTRY_SOURCE_DIR "/tests/testdata/receipt_keys/2026.pem"});
    if (!k.ok()) std::abort();
    keys = *std::move(k);
    RequestDeskOptions options;
    options.receipt_keys = keys.get();
    options.access_events = events.get();
    options.consent_history = &history;
    options.provisions = &provisions;
    absl::StatusOr<std::unique_ptr<RequestDesk>> d = RequestDesk::Create(
        policy, &consent, &requests, &audit, std::move(options));
    if (!d.ok()) std::abort();
    desk = *std::move(d);
  }

  // A disclosure request of the person, ready to execute.
  std::string Ready() {
    v1::SubjectRequest intake;
    intake.set_kind(v1::REQUEST_KIND_DISCLOSURE);
    intake.set_subject_id(kPerson);
    intake.mutable_requester()->set_name("Yamada Hanako");
    absl::StatusOr<v1::SubjectRequest> r = desk->Receive(intake, "window");
    if (!r.ok()) std::abort();
    const std::string id = r->id();
    if (!desk->SendForm(id, "w").ok() ||
        !desk->RecordFormReturned(id, "w").ok() ||
        !desk->RecordFeePaid(id, "w", "t").ok() ||
        !desk->VerifyIdentity(id, "w", {kPerson, "licence"}).ok() ||
        !desk->StartProcessing(id, "w").ok()) {
      std::abort();
    }
    return id;
  }

  std::unique_ptr<AuditLogAccessEventSource> events;
  std::unique_ptr<FileKeyProvider> keys;
  std::shared_ptr<const CompiledPolicy> policy;
  InMemoryConsentStore consent;
  InMemoryProvisionRecordStore provision_store;
  ConsentStoreHistorySource history{&consent};
  ProvisionStoreSource provisions{&provision_store};
  std::unique_ptr<SqliteProvisionRecordStore> sqlite_store;
  std::unique_ptr<ProvisionStoreSource> sqlite_provisions;
  InMemoryRequestStore requests;
  InMemoryAuditSink audit;
  std::unique_ptr<RequestDesk> desk;
};

World& W() {
  static World* w = new World();
  return *w;
}

void AddStats(benchmark::State& state) {
  const AuditLogReader::Stats s = W().events->last_stats();
  state.counters["seg_indexed"] = static_cast<double>(s.segments_indexed);
  state.counters["seg_scanned"] = static_cast<double>(s.segments_scanned);
  state.counters["seg_skipped"] = static_cast<double>(s.segments_skipped);
  state.counters["idx_rejected"] = static_cast<double>(s.indexes_rejected);
  state.counters["frames_read"] = static_cast<double>(s.frames_read);
  state.counters["idx_blocks"] = static_cast<double>(s.index_blocks_read);
  state.counters["idx_bytes"] = static_cast<double>(s.index_bytes_read);
}

// The whole package: `Execute` of a disclosure request, every section from
// the library's sources.
void BM_DisclosurePackage(benchmark::State& state) {
  World& w = W();
  std::size_t events = 0, provisions = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string id = w.Ready();
    state.ResumeTiming();
    absl::StatusOr<RequestOutcome> out = w.desk->Execute(id, "officer");
    if (!out.ok()) {
      state.SkipWithError(out.status().ToString().c_str());
      return;
    }
    if (!out->package.omitted_sections().empty()) {
      state.SkipWithError("a section is omitted");
      return;
    }
    events = static_cast<std::size_t>(out->package.access_events_size());
    provisions = static_cast<std::size_t>(out->package.provisions_size());
  }
  AddStats(state);
  state.counters["events"] = static_cast<double>(events);
  state.counters["provisions"] = static_cast<double>(provisions);
}
BENCHMARK(BM_DisclosurePackage)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Its parts: the access events alone (the audit log through the index)...
void BM_AccessEventsOnly(benchmark::State& state) {
  World& w = W();
  std::size_t n = 0;
  for (auto _ : state) {
    absl::StatusOr<std::vector<OwnedAuditEvent>> e =
        w.events->EventsFor(kPerson);
    if (!e.ok()) {
      state.SkipWithError(e.status().ToString().c_str());
      return;
    }
    n = e->size();
  }
  AddStats(state);
  state.counters["events"] = static_cast<double>(n);
}
BENCHMARK(BM_AccessEventsOnly)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// ...and the provision records alone: the in-memory store's query (a scan
// of every record)...
void ProvisionsOnly(benchmark::State& state, ProvisionStoreSource& source) {
  std::size_t n = 0;
  for (auto _ : state) {
    absl::StatusOr<std::vector<v1::ProvisionEntry>> p =
        source.ProvisionsFor(kPerson);
    if (!p.ok()) {
      state.SkipWithError(p.status().ToString().c_str());
      return;
    }
    n = p->size();
  }
  state.counters["provisions"] = static_cast<double>(n);
}
void BM_ProvisionsOnly(benchmark::State& state) {
  ProvisionsOnly(state, W().provisions);
}
BENCHMARK(BM_ProvisionsOnly)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// ...and the SQLite store's (through its subject index).
void BM_ProvisionsOnlySqlite(benchmark::State& state) {
  ProvisionsOnly(state, *W().sqlite_provisions);
}
BENCHMARK(BM_ProvisionsOnlySqlite)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Takes --events=, --subjects=, --provisions=, --sqlite-provisions=,
// --segment-mib= out of argv.
void ParseOwnFlags(int& argc, char** argv) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto take = [&](const char* name, auto& value) {
      const std::string prefix = std::string("--") + name + "=";
      if (a.rfind(prefix, 0) != 0) return false;
      if (!absl::SimpleAtoi(a.substr(prefix.size()), &value) || value < 1) {
        std::fprintf(stderr, "bad %s\n", a.c_str());
        std::exit(2);
      }
      return true;
    };
    if (take("events", P().events) || take("subjects", P().subjects) ||
        take("provisions", P().provisions) ||
        take("sqlite-provisions", P().sqlite_provisions) ||
        take("segment-mib", P().segment_mib)) {
      continue;
    }
    argv[out++] = argv[i];
  }
  argc = out;
  if (P().subjects == 0)
    P().subjects = std::max<std::int64_t>(P().events / 100, 100);
  if (P().sqlite_provisions == 0) P().sqlite_provisions = P().provisions;
}

}  // namespace
}  // namespace consentry

int main(int argc, char** argv) {
  consentry::ParseOwnFlags(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  consentry::W();  // generates or reuses the log before any timing
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

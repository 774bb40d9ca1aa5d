// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Consent store benchmarks.
//
//   BM_SqliteStore_BulkLoad/1000000      records/s through ApplyBatch, vs.
//   BM_Baseline_RawSqliteInsert/1000000  raw prepared INSERTs of the same
//                                        record bytes, same batches, same
//                                        pragmas (WAL, synchronous=FULL).
//   BM_ConsentCache_MemoryPerSubject/1000000   bytes per cached subject
//                                        (target < 64; and with a
//                                        `SubjectRef` resolved for each,
//                                        `bytes_per_subject_all_refs`), vs.
//   BM_Baseline_HashMapMemoryPerSubject  an absl::flat_hash_map<string,
//                                        SubjectState> of the same subjects.
//   BM_PostgresStore_WithdrawalToEnforcement  withdrawal written in this
//                                        process, enforced by a Guard in a
//                                        child process; p50/p99 over 1,000
//                                        withdrawals (target p99 < 50 ms),
//                                        vs.
//   BM_Baseline_PostgresNotifyRoundTrip  a bare NOTIFY from this process
//                                        heard by LISTEN in the child.
//   The PostgreSQL pair needs CONSENTRY_PG_CONNINFO (see docs/benchmarks.md).

#include <libpq-fe.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "consentry/guard.h"
#include "consentry/postgres_store.h"
#include "consentry/proto_io.h"
#include "consentry/sqlite_store.h"
#include "src/core/consent_cache.h"
#include "src/core/subject_state.h"

namespace {

constexpr int kBatch = 10000;

consentry::v1::ConsentChange Change(std::int64_t i) {
  consentry::v1::ConsentChange c;
  c.set_subject_id(absl::StrCat("member-", i));
  c.set_subject_kind(consentry::v1::SUBJECT_KIND_CUSTOMER);
  auto* pc = c.mutable_purpose_consent();
  pc->set_purpose(i % 3 == 0 ? "marketing.promotion"
                             : "statistics.measurement");
  pc->set_state(i % 5 == 0 ? consentry::v1::CONSENT_STATE_WITHDRAWN
                           : consentry::v1::CONSENT_STATE_GIVEN);
  pc->set_policy_version("2026-11-01");
  pc->set_method(consentry::v1::COLLECTION_METHOD_MOBILE_APP);
  return c;
}

std::string BenchPath(const char* name) {
  return absl::StrCat(std::filesystem::temp_directory_path().string(), "/",
                      name, ".", getpid(), ".db");
}

void RemoveDb(const std::string& p) {
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(p + s);
}

void BM_SqliteStore_BulkLoad(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::vector<consentry::v1::ConsentChange> changes;
  changes.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) changes.push_back(Change(i));
  for (auto _ : state) {
    state.PauseTiming();
    const std::string path = BenchPath("bulk_load");
    RemoveDb(path);
    auto store = consentry::SqliteConsentStore::Open(path);
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      return;
    }
    state.ResumeTiming();
    for (std::size_t off = 0; off < changes.size(); off += kBatch) {
      const std::size_t len =
          std::min<std::size_t>(kBatch, changes.size() - off);
      auto r =
          (*store)->ApplyBatch(absl::MakeConstSpan(changes.data() + off, len));
      if (!r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        return;
      }
    }
    state.PauseTiming();
    store->reset();
    RemoveDb(path);
    state.ResumeTiming();
  }
  state.counters["records_per_s"] = benchmark::Counter(
      static_cast<double>(n) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SqliteStore_BulkLoad)
    ->Arg(1'000'000)
    ->Arg(10'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->UseRealTime();

void BM_Baseline_RawSqliteInsert(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  // The same bytes the store writes: the record (as state and as current
  // record) and the change, with the same indexed columns.
  std::vector<std::pair<std::string, std::string>> rows;
  const absl::Time now = absl::Now();
  for (std::int64_t i = 0; i < n; ++i) {
    consentry::v1::ConsentChange c = Change(i);
    consentry::v1::ConsentRecord r;
    // A purpose consent change always merges.
    (void)consentry::MergeConsentChange(c, i + 1, now, r);
    rows.emplace_back(c.SerializeAsString(), r.SerializeAsString());
  }
  for (auto _ : state) {
    state.PauseTiming();
    const std::string path = BenchPath("raw_insert");
    RemoveDb(path);
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE r(subject_id TEXT PRIMARY KEY, revision "
                 "INTEGER, record BLOB);"
                 "CREATE INDEX r_rev ON r(revision);"
                 "CREATE TABLE h(revision INTEGER PRIMARY KEY, subject_id "
                 "TEXT, t INTEGER,"
                 " change BLOB, state BLOB);"
                 "CREATE INDEX h_subject ON h(subject_id, revision);",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt* ins_r = nullptr;
    sqlite3_stmt* ins_h = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO r VALUES(?1, ?2, ?3)", -1, &ins_r,
                       nullptr);
    sqlite3_prepare_v2(db, "INSERT INTO h VALUES(?1, ?2, ?3, ?4, ?5)", -1,
                       &ins_h, nullptr);
    state.ResumeTiming();
    for (std::int64_t off = 0; off < n; off += kBatch) {
      sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      for (std::int64_t i = off; i < std::min<std::int64_t>(n, off + kBatch);
           ++i) {
        const auto& [change, record] = rows[static_cast<std::size_t>(i)];
        const std::string subject = absl::StrCat("member-", i);
        sqlite3_bind_int64(ins_h, 1, i + 1);
        sqlite3_bind_text(ins_h, 2, subject.data(),
                          static_cast<int>(subject.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins_h, 3, i);
        sqlite3_bind_blob(ins_h, 4, change.data(),
                          static_cast<int>(change.size()), SQLITE_TRANSIENT);
        sqlite3_bind_blob(ins_h, 5, record.data(),
                          static_cast<int>(record.size()), SQLITE_TRANSIENT);
        sqlite3_step(ins_h);
        sqlite3_reset(ins_h);
        sqlite3_bind_text(ins_r, 1, subject.data(),
                          static_cast<int>(subject.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins_r, 2, i + 1);
        sqlite3_bind_blob(ins_r, 3, record.data(),
                          static_cast<int>(record.size()), SQLITE_TRANSIENT);
        sqlite3_step(ins_r);
        sqlite3_reset(ins_r);
      }
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
    state.PauseTiming();
    sqlite3_finalize(ins_r);
    sqlite3_finalize(ins_h);
    sqlite3_close(db);
    RemoveDb(path);
    state.ResumeTiming();
  }
  state.counters["records_per_s"] = benchmark::Counter(
      static_cast<double>(n) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Baseline_RawSqliteInsert)
    ->Arg(1'000'000)
    ->Arg(10'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->UseRealTime();

std::shared_ptr<const consentry::CompiledPolicy> Policy() {
  auto p = consentry::LoadAndCompilePolicy(std::string(CONSENTRY_SOURCE_DIR) +
                                           "/policies/default.textproto");
  return p.ok() ? *p : nullptr;
}

// A few distinct consent profiles, as real populations have.
std::vector<consentry::internal::SubjectState> Profiles(
    const consentry::CompiledPolicy& policy) {
  std::vector<consentry::internal::SubjectState> out;
  for (int i = 0; i < 16; ++i) {
    consentry::v1::ConsentRecord r;
    // Purpose consent changes always merge.
    (void)consentry::MergeConsentChange(Change(i), i + 1, absl::Now(), r);
    if (i % 2 == 1) {
      (void)consentry::MergeConsentChange(Change(i + 1), i + 2, absl::Now(), r);
    }
    out.push_back(
        consentry::internal::CompileSubjectState(policy, r, absl::Now()));
  }
  return out;
}

void BM_ConsentCache_MemoryPerSubject(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  auto policy = Policy();
  const auto profiles = Profiles(*policy);
  double per_subject = 0, with_refs = 0;
  for (auto _ : state) {
    consentry::internal::ConsentCache cache(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      consentry::internal::SubjectState s =
          profiles[static_cast<std::size_t>(i) % profiles.size()];
      s.revision = i + 1;
      cache.Upsert(absl::StrCat("member-", i), s, false);
    }
    per_subject =
        static_cast<double>(cache.MemoryBytes()) / static_cast<double>(n);
    // Then a `SubjectRef` resolved for every subject: each subject's state
    // copied for refs.
    for (std::int64_t i = 0; i < n; ++i) {
      const std::string id = absl::StrCat("member-", i);
      if (cache.RefFor(id, consentry::internal::ConsentCache::Hash(id)) == 0) {
        state.SkipWithError("a cached subject got no ref word");
        return;
      }
    }
    with_refs =
        static_cast<double>(cache.MemoryBytes()) / static_cast<double>(n);
  }
  state.counters["bytes_per_subject"] = per_subject;
  state.counters["bytes_per_subject_all_refs"] = with_refs;
}
BENCHMARK(BM_ConsentCache_MemoryPerSubject)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

void BM_Baseline_HashMapMemoryPerSubject(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  auto policy = Policy();
  const auto profiles = Profiles(*policy);
  double per_subject = 0;
  for (auto _ : state) {
    absl::flat_hash_map<std::string, consentry::internal::SubjectState> map;
    map.reserve(static_cast<std::size_t>(n));
    std::size_t heap = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      consentry::internal::SubjectState s =
          profiles[static_cast<std::size_t>(i) % profiles.size()];
      s.revision = i + 1;
      std::string key = absl::StrCat("member-", i);
      if (key.size() > 15) heap += key.capacity() + 1;  // beyond SSO
      map.emplace(std::move(key), s);
    }
    const std::size_t slots =
        map.capacity() *
        (sizeof(
             std::pair<const std::string, consentry::internal::SubjectState>) +
         1);
    per_subject = static_cast<double>(slots + heap) / static_cast<double>(n);
  }
  state.counters["bytes_per_subject"] = per_subject;
}
BENCHMARK(BM_Baseline_HashMapMemoryPerSubject)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

// --- Withdrawal to enforcement through PostgreSQL ---------------------------

const char* PgConnInfo() {
  const char* c = std::getenv("CONSENTRY_PG_CONNINFO");
  return c != nullptr && *c != '\0' ? c : nullptr;
}

constexpr char kSchema[] = "bench_latency";

// The child: a billing-like service with a Guard on the shared store. For
// each withdrawal its feed delivers, it checks that the Guard now denies and
// prints "<index> <unix nanos when enforced>".
int RunEnforcer(const std::string& conninfo, bool raw) {
  if (raw) {
    PGconn* c = PQconnectdb(conninfo.c_str());
    if (PQstatus(c) != CONNECTION_OK) return 1;
    PQclear(PQexec(c, "LISTEN bench_raw"));
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) {
      pollfd p{PQsocket(c), POLLIN, 0};
      poll(&p, 1, 1000);
      if (PQconsumeInput(c) == 0) return 1;
      while (PGnotify* n = PQnotifies(c)) {
        std::printf("%s %lld\n", n->extra,
                    static_cast<long long>(absl::GetCurrentTimeNanos()));
        std::fflush(stdout);
        const bool last = std::strcmp(n->extra, "end") == 0;
        PQfreemem(n);
        if (last) return 0;
      }
    }
  }
  consentry::PostgresStoreOptions o;
  o.schema = kSchema;
  auto store = consentry::PostgresConsentStore::Open(conninfo, o);
  if (!store.ok()) return 1;
  consentry::GuardOptions unaudited;
  unaudited.unaudited_for_benchmarks_only = true;
  auto guard =
      consentry::Guard::Create(Policy(), store->get(), nullptr, unaudited);
  if (!guard.ok()) return 1;
  auto ctx = (*guard)->Context("statistics-job", "statistics.measurement");
  auto cat = (*guard)->Category("measurement");
  if (!ctx.ok() || !cat.ok()) return 1;
  if (!(*guard)->WarmCache().ok()) return 1;
  std::atomic<bool> done{false};
  // Registered after the Guard's own listener, so it runs after the cache
  // was updated.
  auto sub = (*store)->Watch([&](const consentry::v1::ConsentRecord& r) {
    if (r.subject_id() == "end") {
      done.store(true);
      return;
    }
    if (r.purposes_size() == 0 ||
        r.purposes(0).state() != consentry::v1::CONSENT_STATE_WITHDRAWN) {
      return;
    }
    absl::StatusOr<consentry::Decision> d =
        (*guard)->Check(*ctx, r.subject_id(), *cat);
    if (d.ok() && d->reason() == consentry::Reason::kConsentWithdrawn) {
      std::printf("%s %lld\n", r.purposes(0).evidence_ref().c_str(),
                  static_cast<long long>(absl::GetCurrentTimeNanos()));
      std::fflush(stdout);
    }
  });
  std::printf("ready\n");
  std::fflush(stdout);
  while (!done.load()) absl::SleepFor(absl::Milliseconds(5));
  sub.reset();
  guard->reset();
  return 0;
}

// Runs the enforcer child; `write(i)` performs withdrawal i and returns its
// start time. Fills p50/p99 (ms) of enforced-time minus start-time.
void RunLatency(benchmark::State& state, bool raw) {
  const char* conninfo = PgConnInfo();
  if (conninfo == nullptr) {
    state.SkipWithError(
        "set CONSENTRY_PG_CONNINFO (tests/pg/start.sh starts a server)");
    return;
  }
  const int n = static_cast<int>(state.range(0));
  consentry::PostgresStoreOptions o;
  o.schema = kSchema;
  auto store = consentry::PostgresConsentStore::Open(conninfo, o);
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  for (int i = 0; i < n; ++i) {
    consentry::v1::ConsentChange c;
    c.set_subject_id(absl::StrCat("lat-", i));
    c.mutable_purpose_consent()->set_purpose("statistics.measurement");
    c.mutable_purpose_consent()->set_state(consentry::v1::CONSENT_STATE_GIVEN);
    if (!(*store)->Apply(c).ok()) {
      state.SkipWithError("seeding failed");
      return;
    }
  }
  PGconn* raw_conn = raw ? PQconnectdb(conninfo) : nullptr;
  std::vector<double> ms;
  for (auto _ : state) {
    int fds[2];
    if (pipe(fds) != 0) return;
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::string self = "/proc/self/exe";
      std::string mode = raw ? "--enforcer-raw" : "--enforcer";
      std::string conn = conninfo;
      char* argv[] = {self.data(), mode.data(), conn.data(), nullptr};
      execv(self.c_str(), argv);
      _exit(127);
    }
    close(fds[1]);
    FILE* in = fdopen(fds[0], "r");
    char line[128];
    if (std::fgets(line, sizeof(line), in) == nullptr) {
      state.SkipWithError("enforcer did not start");
      return;
    }
    std::vector<std::int64_t> started(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      started[static_cast<std::size_t>(i)] = absl::GetCurrentTimeNanos();
      if (raw) {
        const std::string sql = absl::StrCat("NOTIFY bench_raw, '", i, "'");
        PQclear(PQexec(raw_conn, sql.c_str()));
      } else {
        consentry::v1::ConsentChange c;
        c.set_subject_id(absl::StrCat("lat-", i));
        c.mutable_purpose_consent()->set_purpose("statistics.measurement");
        c.mutable_purpose_consent()->set_state(
            consentry::v1::CONSENT_STATE_WITHDRAWN);
        c.mutable_purpose_consent()->set_evidence_ref(absl::StrCat(i));
        (void)(*store)->Apply(c);
      }
      // One withdrawal at a time: wait until it is enforced.
      int index = -1;
      long long at = 0;
      while (index < i) {
        if (std::fscanf(in, "%d %lld", &index, &at) != 2) break;
      }
      if (index != i) {
        state.SkipWithError("the enforcer stopped reporting");
        break;
      }
      ms.push_back(
          static_cast<double>(at - started[static_cast<std::size_t>(i)]) / 1e6);
    }
    if (raw) {
      PQclear(PQexec(raw_conn, "NOTIFY bench_raw, 'end'"));
    } else {
      consentry::v1::ConsentChange end;
      end.set_subject_id("end");
      end.mutable_restrictions();
      (void)(*store)->Apply(end);
    }
    std::fclose(in);
    waitpid(pid, nullptr, 0);
  }
  if (raw_conn != nullptr) PQfinish(raw_conn);
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    state.counters["p50_ms"] = ms[ms.size() / 2];
    state.counters["p99_ms"] =
        ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
    state.counters["max_ms"] = ms.back();
    state.counters["samples"] = static_cast<double>(ms.size());
  }
}

void BM_PostgresStore_WithdrawalToEnforcement(benchmark::State& state) {
  RunLatency(state, false);
}
BENCHMARK(BM_PostgresStore_WithdrawalToEnforcement)
    ->Arg(1000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Baseline_PostgresNotifyRoundTrip(benchmark::State& state) {
  RunLatency(state, true);
}
BENCHMARK(BM_Baseline_PostgresNotifyRoundTrip)
    ->Arg(1000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// --- Subject reads from a hot standby vs the primary ------------------------

// One subject read (`Get`) from a store that reads a streaming standby
// (PostgresServers: primary + standby; CONSENTRY_PG_STANDBY_CONNINFO)
// against one from a store on the primary alone, interleaved read by read
// on the same subjects. Reports p50/p99 of each in microseconds.
void BM_PostgresStore_StandbyVsPrimaryGet(benchmark::State& state) {
  const char* primary = PgConnInfo();
  const char* standby = std::getenv("CONSENTRY_PG_STANDBY_CONNINFO");
  if (primary == nullptr || standby == nullptr || *standby == '\0') {
    state.SkipWithError(
        "set CONSENTRY_PG_CONNINFO and CONSENTRY_PG_STANDBY_CONNINFO");
    return;
  }
  consentry::PostgresStoreOptions o;
  o.schema = "bench_standby";
  auto on_primary = consentry::PostgresConsentStore::Open(primary, o);
  consentry::PostgresServers servers{primary, {standby}};
  o.standby_wait = absl::Seconds(30);
  auto on_standby = consentry::PostgresConsentStore::Open(servers, o);
  if (!on_primary.ok() || !on_standby.ok()) {
    state.SkipWithError("cannot open the stores");
    return;
  }
  constexpr int kSubjects = 1000;
  consentry::Revision last = 0;
  for (int i = 0; i < kSubjects; ++i) {
    consentry::v1::ConsentChange c;
    c.set_subject_id(absl::StrCat("sb-", i));
    c.mutable_purpose_consent()->set_purpose("marketing");
    c.mutable_purpose_consent()->set_state(consentry::v1::CONSENT_STATE_GIVEN);
    auto r = (*on_primary)->Apply(c);
    if (!r.ok()) {
      state.SkipWithError("write failed");
      return;
    }
    last = *r;
  }
  // The standby has replayed every write before the measurement.
  if (!(*on_standby)->GetAtLeast("sb-0", last).ok()) {
    state.SkipWithError("the standby did not replay the writes");
    return;
  }
  std::vector<double> p_us, s_us;
  int i = 0;
  for (auto _ : state) {
    const std::string subject = absl::StrCat("sb-", i++ % kSubjects);
    std::int64_t t0 = absl::GetCurrentTimeNanos();
    auto a = (*on_primary)->Get(subject);
    std::int64_t t1 = absl::GetCurrentTimeNanos();
    auto b = (*on_standby)->Get(subject);
    std::int64_t t2 = absl::GetCurrentTimeNanos();
    if (!a.ok() || !b.ok() || a->revision() != b->revision()) {
      state.SkipWithError("reads disagree or failed");
      return;
    }
    p_us.push_back(static_cast<double>(t1 - t0) / 1e3);
    s_us.push_back(static_cast<double>(t2 - t1) / 1e3);
  }
  std::sort(p_us.begin(), p_us.end());
  std::sort(s_us.begin(), s_us.end());
  auto at = [](const std::vector<double>& v, std::size_t pct) {
    return v[std::min(v.size() - 1, v.size() * pct / 100)];
  };
  if (!p_us.empty()) {
    state.counters["primary_p50_us"] = at(p_us, 50);
    state.counters["primary_p99_us"] = at(p_us, 99);
    state.counters["standby_p50_us"] = at(s_us, 50);
    state.counters["standby_p99_us"] = at(s_us, 99);
  }
}
BENCHMARK(BM_PostgresStore_StandbyVsPrimaryGet)
    ->Iterations(20000)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--enforcer") == 0) {
    return RunEnforcer(argv[2], false);
  }
  if (argc == 3 && std::strcmp(argv[1], "--enforcer-raw") == 0) {
    return RunEnforcer(argv[2], true);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

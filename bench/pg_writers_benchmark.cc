// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Consent writes to PostgreSQL from several writer processes, and bulk
// import, each against raw SQL writing the same rows on the same server,
// as ratios taken inside one benchmark: each iteration times the store and
// the baseline in alternating order (wall clock: the server's work
// counts), so the ratio holds when the machine's speed drifts.
//
//   BM_Ratio_WritersApplyVsRawInsert/W  W writer PROCESSES (fork() of this
//       binary; each opens its own store, so its own connection) each
//       applying kPhase changes through `PostgresConsentStore::Apply`
//       (subjects of its own, one new for every four updates, alternating
//       consent to "marketing"), against the same W processes each running
//       kPhase raw statements that insert the same two rows a change writes
//       (a history row and the upserted record row, tables of the same
//       columns and indexes, revision chosen by the client; one
//       autocommitted statement per change: no subject lock, no counter, no
//       notification, no read). Counters `store_per_s`, `raw_per_s`
//       (changes per second of all W writers) and `ratio` (store time / raw
//       time). Target: store_per_s >= 20,000 with W = 4.
//   BM_Ratio_BulkImportVsRawCopy/N  `PostgresConsentStore::BulkImport` of N
//       new subjects against a raw COPY (binary) of the same history and
//       record rows (bytes prepared before the clock starts) into tables of
//       the same columns and indexes, in one transaction. Counters
//       `store_per_s`, `raw_per_s` (records per second) and `ratio`.
//       Target: store_per_s >= 100,000 with N = 100,000.
//
// Needs a server: CONSENTRY_PG_CONNINFO (a libpq connection string); each
// benchmark skips with a message saying so when it is unset. The figures in
// docs/benchmarks.md were taken on the throwaway server of
// tests/pg/start.sh (PostgreSQL 15, unix socket, fsync=off,
// full_page_writes=off, other settings default: shared_buffers 128MB,
// synchronous_commit on) and on a copy with fsync=on and full_page_writes=on
// (see docs/design/pg-writers.md):
//
//   tests/pg/start.sh --fresh /tmp/pgbench
//   CONSENTRY_PG_CONNINFO="$(cat /tmp/pgbench/conninfo)"
//       build/bench/pg_writers_benchmark --benchmark_repetitions=3
//   (one command line)

#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "consentry/postgres_store.h"

namespace consentry {
namespace {

using Clock = std::chrono::steady_clock;

// Changes per writer per timed phase.
constexpr int kPhase = 200;

// One raw connection.
class Raw {
 public:
  explicit Raw(const std::string& conninfo)
      : conn_(PQconnectdb(conninfo.c_str())) {}
  ~Raw() { PQfinish(conn_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  PGconn* conn() { return conn_; }
  bool Exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  }
  bool Prepare(const std::string& sql) {
    PGresult* r = PQprepare(conn_, "raw", sql.c_str(), 0, nullptr);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
  }
  bool Run(const std::vector<std::string>& params, unsigned binary_mask) {
    std::vector<const char*> v;
    std::vector<int> len, fmt;
    for (std::size_t i = 0; i < params.size(); ++i) {
      v.push_back(params[i].data());
      len.push_back(static_cast<int>(params[i].size()));
      fmt.push_back((binary_mask >> i) & 1u ? 1 : 0);
    }
    PGresult* r = PQexecPrepared(conn_, "raw", static_cast<int>(v.size()),
                                 v.data(), len.data(), fmt.data(), 1);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
  }
  bool Copy(const std::string& sql, const std::string& data) {
    PGresult* r = PQexec(conn_, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    ok = ok &&
         PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) == 1;
    ok = PQputCopyEnd(conn_, ok ? nullptr : "failed") == 1 && ok;
    while (PGresult* e = PQgetResult(conn_)) {
      ok = ok && PQresultStatus(e) == PGRES_COMMAND_OK;
      PQclear(e);
    }
    return ok;
  }

 private:
  PGconn* conn_;
};

// The raw tables: the columns and indexes of the store's.
std::string RawTables(const std::string& schema) {
  return absl::StrCat(
      "CREATE TABLE ", schema,
      ".raw_history(revision bigint PRIMARY KEY, subject_id text NOT NULL, "
      "commit_time timestamptz NOT NULL DEFAULT now(), commit_time_ns bigint "
      "NOT NULL, change bytea NOT NULL, state bytea NOT NULL); CREATE INDEX "
      "ON ",
      schema, ".raw_history(subject_id, revision); CREATE TABLE ", schema,
      ".raw_records(subject_id text PRIMARY KEY, revision bigint NOT NULL, "
      "record bytea NOT NULL); CREATE INDEX ON ",
      schema, ".raw_records(revision)");
}

v1::ConsentChange Change(const std::string& subject, std::int64_t n) {
  v1::ConsentChange c;
  c.set_subject_id(subject);
  c.set_subject_kind(v1::SUBJECT_KIND_CUSTOMER);
  v1::PurposeConsent* pc = c.mutable_purpose_consent();
  pc->set_purpose("marketing");
  pc->set_state(n % 2 == 0 ? v1::CONSENT_STATE_GIVEN
                           : v1::CONSENT_STATE_WITHDRAWN);
  pc->set_policy_version("2026-11-01");
  pc->set_method(v1::COLLECTION_METHOD_MOBILE_APP);
  return c;
}

// The record a change produces (what the raw baseline writes as bytes).
std::string StateOf(const v1::ConsentChange& c, std::int64_t revision) {
  v1::ConsentRecord r;
  if (!MergeConsentChange(c, revision, absl::Now(), r).ok()) std::abort();
  return r.SerializeAsString();
}

// A writer process: opens its own store and raw connection, then serves
// commands from `in` ('S': kPhase changes through the store, 'R': kPhase
// raw statements, 'Q': exit), answering each with one byte on `out`.
[[noreturn]] void Writer(const std::string& conninfo, const std::string& schema,
                         int w, int writers, int in, int out) {
  PostgresStoreOptions o;
  o.schema = schema;
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> store =
      PostgresConsentStore::Open(conninfo, o);
  Raw raw(conninfo);
  const bool ok =
      store.ok() && raw.ok() &&
      raw.Prepare(absl::StrCat(
          "WITH h AS (INSERT INTO ", schema,
          ".raw_history(revision, subject_id, commit_time_ns, change, state) "
          "VALUES ($1, $2, $3, $4, $5)) INSERT INTO ",
          schema,
          ".raw_records(subject_id, revision, record) VALUES ($2, $1, $5) ON "
          "CONFLICT (subject_id) DO UPDATE SET revision = excluded.revision, "
          "record = excluded.record"));
  std::int64_t n_store = 0, n_raw = 0;
  char cmd = 0;
  while (ok && read(in, &cmd, 1) == 1 && cmd != 'Q') {
    bool done = true;
    for (int i = 0; i < kPhase && done; ++i) {
      std::int64_t& n = cmd == 'S' ? n_store : n_raw;
      // One new subject for every four changes to subjects written before.
      const std::int64_t k = n % 5 == 0 ? n / 5 : (n * 7919) % (n / 5 + 1);
      const std::string subject = absl::StrCat("w", w, "-", k);
      const v1::ConsentChange c = Change(subject, n);
      if (cmd == 'S') {
        done = (*store)->Apply(c).ok();
      } else {
        const std::int64_t rev = n * writers + w + 1;
        done = raw.Run({absl::StrCat(rev), subject, absl::StrCat(n),
                        c.SerializeAsString(), StateOf(c, rev)},
                       0b11000);
      }
      ++n;
    }
    const char reply = done ? 'k' : 'x';
    if (write(out, &reply, 1) != 1) break;
  }
  _exit(ok ? 0 : 1);
}

void BM_Ratio_WritersApplyVsRawInsert(benchmark::State& state) {
  const char* conninfo = PgConnInfoOrSkip(state);
  if (conninfo == nullptr) return;
  const int writers = static_cast<int>(state.range(0));
  const std::string schema = absl::StrCat("benchw_", getpid(), "_", writers);
  {
    PostgresStoreOptions o;
    o.schema = schema;
    Raw raw(conninfo);
    if (!PostgresConsentStore::Open(conninfo, o).ok() ||
        !raw.Exec(RawTables(schema))) {
      state.SkipWithError("cannot set up the schema");
      return;
    }
  }
  struct Child {
    pid_t pid;
    int to, from;
  };
  std::vector<Child> children;
  for (int w = 0; w < writers; ++w) {
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) std::abort();
    const pid_t pid = fork();
    if (pid == 0) Writer(conninfo, schema, w, writers, down[0], up[1]);
    close(down[0]);
    close(up[1]);
    children.push_back({pid, down[1], up[0]});
  }
  // Runs one phase in every writer; false when one failed.
  auto phase = [&](char cmd) {
    for (const Child& c : children) {
      if (write(c.to, &cmd, 1) != 1) return false;
    }
    bool ok = true;
    for (const Child& c : children) {
      char r = 0;
      ok = read(c.from, &r, 1) == 1 && r == 'k' && ok;
    }
    return ok;
  };
  Clock::duration store_time{0}, raw_time{0};
  std::int64_t rounds = 0;
  bool failed = false;
  for (auto _ : state) {
    const bool store_first = (rounds++ & 1) == 0;
    for (int side = 0; side < 2 && !failed; ++side) {
      const bool run_store = (side == 0) == store_first;
      const auto t0 = Clock::now();
      failed = !phase(run_store ? 'S' : 'R');
      (run_store ? store_time : raw_time) += Clock::now() - t0;
    }
    if (failed) {
      state.SkipWithError("a writer failed");
      break;
    }
  }
  for (const Child& c : children) {
    const char q = 'Q';
    (void)!write(c.to, &q, 1);
    close(c.to);
    close(c.from);
    waitpid(c.pid, nullptr, 0);
  }
  Raw(conninfo).Exec(absl::StrCat("DROP SCHEMA ", schema, " CASCADE"));
  const double changes = static_cast<double>(rounds * writers * kPhase);
  const auto secs = [](Clock::duration d) {
    return std::chrono::duration<double>(d).count();
  };
  state.counters["store_per_s"] = changes / secs(store_time);
  state.counters["raw_per_s"] = changes / secs(raw_time);
  state.counters["ratio"] = secs(store_time) / secs(raw_time);
}
BENCHMARK(BM_Ratio_WritersApplyVsRawInsert)
    ->Arg(1)
    ->Arg(4)
    ->UseRealTime()
    ->MinTime(2);

void PutBigEndian(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}
void PutField(std::string& out, const std::string& bytes) {
  PutBigEndian(out, bytes.size(), 4);
  out += bytes;
}
std::string CopyHeader() {
  std::string h("PGCOPY\n\xff\r\n\0", 11);
  PutBigEndian(h, 0, 8);
  return h;
}

void BM_Ratio_BulkImportVsRawCopy(benchmark::State& state) {
  const char* conninfo = PgConnInfoOrSkip(state);
  if (conninfo == nullptr) return;
  const int n = static_cast<int>(state.range(0));
  PostgresStoreOptions o;
  o.schema = absl::StrCat("benchi_", getpid(), "_", n);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> store =
      PostgresConsentStore::Open(conninfo, o);
  Raw raw(conninfo);
  if (!store.ok() || !raw.ok() || !raw.Exec(RawTables(o.schema))) {
    state.SkipWithError("cannot set up the schema");
    return;
  }
  Clock::duration store_time{0}, raw_time{0};
  std::int64_t rounds = 0;
  std::int64_t revision = 0;
  for (auto _ : state) {
    std::vector<v1::ConsentChange> batch;
    batch.reserve(static_cast<std::size_t>(n));
    // The raw rows: the same subjects, changes and resulting records.
    std::string history = CopyHeader(), records = CopyHeader();
    for (int i = 0; i < n; ++i) {
      batch.push_back(Change(absl::StrCat("r", rounds, "-", i), i));
      const std::int64_t rev = ++revision;
      const std::string state_bytes = StateOf(batch.back(), rev);
      PutBigEndian(history, 5, 2);
      PutBigEndian(history, 8, 4);
      PutBigEndian(history, static_cast<std::uint64_t>(rev), 8);
      PutField(history, batch.back().subject_id());
      PutBigEndian(history, 8, 4);
      PutBigEndian(history, static_cast<std::uint64_t>(rev), 8);
      PutField(history, batch.back().SerializeAsString());
      PutField(history, state_bytes);
      PutBigEndian(records, 3, 2);
      PutField(records, batch.back().subject_id());
      PutBigEndian(records, 8, 4);
      PutBigEndian(records, static_cast<std::uint64_t>(rev), 8);
      PutField(records, state_bytes);
    }
    PutBigEndian(history, 0xffff, 2);
    PutBigEndian(records, 0xffff, 2);
    const bool store_first = (rounds++ & 1) == 0;
    bool ok = true;
    for (int side = 0; side < 2; ++side) {
      const bool run_store = (side == 0) == store_first;
      const auto t0 = Clock::now();
      if (run_store) {
        ok = (*store)->BulkImport(batch).ok() && ok;
      } else {
        ok = raw.Exec("BEGIN") &&
             raw.Copy(absl::StrCat("COPY ", o.schema,
                                   ".raw_history(revision, subject_id, "
                                   "commit_time_ns, change, state) FROM STDIN "
                                   "(FORMAT binary)"),
                      history) &&
             raw.Copy(absl::StrCat("COPY ", o.schema,
                                   ".raw_records FROM STDIN (FORMAT binary)"),
                      records) &&
             raw.Exec("COMMIT") && ok;
      }
      (run_store ? store_time : raw_time) += Clock::now() - t0;
    }
    if (!ok) {
      state.SkipWithError("an import failed");
      break;
    }
  }
  raw.Exec(absl::StrCat("DROP SCHEMA ", o.schema, " CASCADE"));
  const double rows = static_cast<double>(rounds * n);
  const auto secs = [](Clock::duration d) {
    return std::chrono::duration<double>(d).count();
  };
  state.counters["store_per_s"] = rows / secs(store_time);
  state.counters["raw_per_s"] = rows / secs(raw_time);
  state.counters["ratio"] = secs(store_time) / secs(raw_time);
}
BENCHMARK(BM_Ratio_BulkImportVsRawCopy)
    ->Arg(10'000)
    ->Arg(100'000)
    ->UseRealTime()
    ->MinTime(2);

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();

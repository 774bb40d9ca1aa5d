// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Provision records written to PostgreSQL by `PostgresProvisionRecordStore`
// against raw INSERTs of the same serialized bytes into a table of one
// bytea column, on the same server through the same connection string, as
// a ratio taken inside one benchmark: each iteration times a batch of each
// (wall clock: the server's work counts) in alternating order, so the ratio
// holds when the machine's speed drifts.
//
//   BM_Ratio_AddProvisionVsRawInsert/S  records naming S subjects (1, 10,
//       100) without a series: one statement per record. Counters
//       `store_per_s`, `raw_per_s` and `ratio` (store time / raw time).
//       Target: ratio <= 2.
//   BM_Ratio_AddInSeriesVsRawInsert/S  records of one collective series: a
//       transaction per record (series lock, last of the series, insert,
//       the series' retention moved).
//
// Needs a server: CONSENTRY_PG_CONNINFO (a libpq connection string); each
// benchmark skips with a message saying so when it is unset. A throwaway
// server: tests/pg/start.sh --fresh /tmp/pgbench (prints the string).
//
//   CONSENTRY_PG_CONNINFO="$(cat /tmp/pgbench/conninfo)"
//       build/bench/pg_records_benchmark --benchmark_min_time=2
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//   (one command line)

#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "consentry/postgres_records.h"

namespace consentry {
namespace {

constexpr int kBatch = 32;

// One raw connection with the bench table; drops the schema at the end.
class Raw {
 public:
  Raw(const std::string& conninfo, std::string schema)
      : schema_(std::move(schema)), conn_(PQconnectdb(conninfo.c_str())) {}
  ~Raw() {
    Exec(absl::StrCat("DROP SCHEMA IF EXISTS ", schema_, " CASCADE"));
    PQfinish(conn_);
  }
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  bool Exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
  }
  bool Insert(const std::string& bytes) {
    const char* values[] = {bytes.data()};
    const int lengths[] = {static_cast<int>(bytes.size())};
    const int formats[] = {1};
    PGresult* r = PQexecParams(
        conn_,
        absl::StrCat("INSERT INTO ", schema_, ".raw(record) VALUES ($1)")
            .c_str(),
        1, nullptr, values, lengths, formats, 1);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
  }

 private:
  std::string schema_;
  PGconn* conn_;
};

v1::ProvisionRecord Record(int subjects, std::int64_t n, bool series) {
  v1::ProvisionRecord p;
  p.set_recipient_id("callcenter-tokyo");
  p.set_recipient_name("Tokyo Call Center K.K.");
  p.set_recipient_kind(v1::RECIPIENT_KIND_CONTRACTOR);
  p.set_accessor("support-desk");
  p.set_purpose("support");
  p.mutable_provision_time()->set_seconds(1'780'000'000 + n);
  for (int i = 0; i < subjects; ++i) {
    p.add_subjects(absl::StrCat("member-", (n * 7 + i) % 100'000));
  }
  p.add_categories("contact");
  p.add_categories("purchase_history");
  p.set_basis("contractor");
  p.set_policy_version("2026-04");
  if (series) {
    p.set_record_method(v1::RECORD_METHOD_COLLECTIVE);
    p.set_series_id("provision:callcenter-tokyo:RECORD_METHOD_COLLECTIVE");
  } else {
    p.set_record_method(v1::RECORD_METHOD_PER_PROVISION);
  }
  return p;
}

void Ratio(benchmark::State& state, bool series) {
  const char* conninfo = PgConnInfoOrSkip(state);
  if (conninfo == nullptr) return;
  const int subjects = static_cast<int>(state.range(0));
  PostgresStoreOptions o;
  o.schema = absl::StrCat("bench_", getpid(), "_", subjects, series ? "s" : "");
  Raw raw(conninfo, o.schema);
  absl::StatusOr<std::unique_ptr<PostgresProvisionRecordStore>> store =
      PostgresProvisionRecordStore::Open(conninfo, o);
  if (!raw.ok() || !store.ok() ||
      !raw.Exec(absl::StrCat("CREATE TABLE ", o.schema,
                             ".raw(id bigserial PRIMARY KEY, record bytea)"))) {
    state.SkipWithError(
        absl::StrCat("cannot set up: ", store.status().ToString()).c_str());
    return;
  }
  using Clock = std::chrono::steady_clock;
  Clock::duration store_time{0}, raw_time{0};
  std::int64_t n = 0;
  std::uint64_t round = 0;
  for (auto _ : state) {
    const bool store_first = (++round & 1) != 0;
    for (int side = 0; side < 2; ++side) {
      const bool run_store = (side == 0) == store_first;
      const auto t0 = Clock::now();
      for (int i = 0; i < kBatch; ++i) {
        v1::ProvisionRecord p = Record(subjects, n + i, series);
        if (run_store) {
          if (!(*store)->AddProvision(std::move(p)).ok()) std::abort();
        } else if (!raw.Insert(p.SerializeAsString())) {
          std::abort();
        }
      }
      (run_store ? store_time : raw_time) += Clock::now() - t0;
    }
    n += kBatch;
  }
  const double records = static_cast<double>(n);
  const auto secs = [](Clock::duration d) {
    return std::chrono::duration<double>(d).count();
  };
  state.counters["store_per_s"] = records / secs(store_time);
  state.counters["raw_per_s"] = records / secs(raw_time);
  state.counters["ratio"] = secs(store_time) / secs(raw_time);
}

void BM_Ratio_AddProvisionVsRawInsert(benchmark::State& state) {
  Ratio(state, false);
}
BENCHMARK(BM_Ratio_AddProvisionVsRawInsert)
    ->Arg(1)
    ->Arg(10)
    ->Arg(100)
    ->UseRealTime();

void BM_Ratio_AddInSeriesVsRawInsert(benchmark::State& state) {
  Ratio(state, true);
}
BENCHMARK(BM_Ratio_AddInSeriesVsRawInsert)->Arg(1)->Arg(10)->UseRealTime();

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Provision records written to SQLite against raw SQLite inserts of the
// same serialized bytes, as a ratio taken inside one benchmark: each
// iteration writes a batch with each side, in alternating order, so the
// ratio holds when the disk's speed drifts.
//
//   BM_Ratio_ProvisionAddVsRawInsert/S  SqliteProvisionRecordStore::
//       AddProvision of records naming S subjects, all of one collective
//       series (the subject index and the series kept), against one
//       autocommit INSERT per record of the record's bytes into a
//       (id TEXT PRIMARY KEY, record BLOB) table, on a file opened the
//       same way (WAL, synchronous=FULL): both sides sync once per record.
//       Counters: raw_us and store_us per record (wall time: the syncs are
//       the cost), records_per_s of the store, ratio. Target: ratio <= 2.
//
//   build/bench/records_benchmark --benchmark_min_time=2
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//   (one command line)

#include <sqlite3.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "consentry/sqlite_records.h"

namespace consentry {
namespace {

constexpr int kBatch = 16;

// A raw table on its own file, opened as the store opens its file.
class RawTable {
 public:
  explicit RawTable(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) std::abort();
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=FULL");
    Exec("CREATE TABLE raw(id TEXT PRIMARY KEY, record BLOB NOT NULL)");
    if (sqlite3_prepare_v2(db_, "INSERT INTO raw VALUES(?1, ?2)", -1, &insert_,
                           nullptr) != SQLITE_OK) {
      std::abort();
    }
  }
  ~RawTable() {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }

  void Insert(const std::string& id, const std::string& bytes) {
    sqlite3_bind_text(insert_, 1, id.data(), static_cast<int>(id.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(insert_, 2, bytes.data(), static_cast<int>(bytes.size()),
                      SQLITE_STATIC);
    if (sqlite3_step(insert_) != SQLITE_DONE) std::abort();
    sqlite3_reset(insert_);
  }

 private:
  void Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      std::abort();
    }
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
};

v1::ProvisionRecord Record(std::int64_t n, int subjects) {
  v1::ProvisionRecord r;
  r.set_id(absl::StrCat("prov-", n));
  r.mutable_provision_time()->set_seconds(1'800'000'000 + n);
  r.set_recipient_id("callcenter-tokyo");
  r.set_recipient_name("Call Center Tokyo K.K.");
  r.set_recipient_kind(v1::RECIPIENT_KIND_CONTRACTOR);
  r.set_accessor("crm");
  r.set_purpose("support");
  for (int s = 0; s < subjects; ++s) {
    const std::string subject = absl::StrCat("m", 10'000'000 + (n * 7 + s));
    r.add_subjects(subject);
    (*r.mutable_consent_revisions())[subject] = n;
  }
  r.add_categories("identity");
  r.add_categories("contact");
  r.set_basis("contractor");
  r.set_policy_version("2026-04");
  r.set_record_method(v1::RECORD_METHOD_COLLECTIVE);
  r.set_series_id("callcenter-tokyo:collective");
  return r;
}

void BM_Ratio_ProvisionAddVsRawInsert(benchmark::State& state) {
  const int subjects = static_cast<int>(state.range(0));
  const std::string dir = TempDir("consentry_records_bench");
  {
    auto store = SqliteProvisionRecordStore::Open(dir + "/store.db");
    if (!store.ok()) std::abort();
    RawTable raw(dir + "/raw.db");
    std::chrono::nanoseconds raw_time{0}, store_time{0};
    std::int64_t next = 0;
    std::uint64_t round = 0;
    std::array<v1::ProvisionRecord, kBatch> batch;
    std::array<std::string, kBatch> bytes;
    for (auto _ : state) {
      state.PauseTiming();
      for (int k = 0; k < kBatch; ++k) {
        batch[static_cast<std::size_t>(k)] = Record(next + k, subjects);
        bytes[static_cast<std::size_t>(k)] =
            batch[static_cast<std::size_t>(k)].SerializeAsString();
      }
      state.ResumeTiming();
      const bool store_first = (++round & 1) != 0;
      for (int side = 0; side < 2; ++side) {
        const bool run_store = (side == 0) == store_first;
        const auto t0 = std::chrono::steady_clock::now();
        for (int k = 0; k < kBatch; ++k) {
          const auto i = static_cast<std::size_t>(k);
          if (run_store) {
            if (!(*store)->AddProvision(batch[i]).ok()) std::abort();
          } else {
            raw.Insert(batch[i].id(), bytes[i]);
          }
        }
        const auto t1 = std::chrono::steady_clock::now();
        (run_store ? store_time : raw_time) += t1 - t0;
      }
      next += kBatch;
    }
    const double n = static_cast<double>(state.iterations()) * kBatch;
    state.counters["raw_us"] = static_cast<double>(raw_time.count()) / n / 1e3;
    state.counters["store_us"] =
        static_cast<double>(store_time.count()) / n / 1e3;
    state.counters["records_per_s"] =
        n / (static_cast<double>(store_time.count()) / 1e9);
    state.counters["ratio"] = static_cast<double>(store_time.count()) /
                              static_cast<double>(raw_time.count());
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Ratio_ProvisionAddVsRawInsert)->Arg(1)->Arg(16)->UseRealTime();

}  // namespace
}  // namespace consentry

BENCHMARK_MAIN();

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Power loss under the SQLite record stores: a test VFS drops every byte
// not synced when the power is cut (tests/testing/crash_vfs.h), at a
// random point among request steps and provision/receipt records written
// to one file. After the restart every acknowledged write is there, each
// request is at its last acknowledged step or the one after, and no record
// is half visible (in its table but not its subject index, or out of step
// with its series).

#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/sqlite_records.h"
#include "gtest/gtest.h"
#include "tests/testing/crash_vfs.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

using ::consentry::testing::CrashVfs;

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
      SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) {
      absl::StrAppend(
          &out, reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    }
    sqlite3_finalize(st);
  } else {
    out = sqlite3_errmsg(db);
  }
  sqlite3_close(db);
  return out;
}

struct Acked {
  std::map<std::string, std::int64_t> requests;  // id -> version
  std::set<std::string> provisions;
  std::set<std::string> receipts;
};

// Writes until the power is cut or the writes end; returns what was
// acknowledged.
Acked Write(std::mt19937& rng, SqliteRequestStore& requests,
            SqliteProvisionRecordStore& records) {
  Acked acked;
  std::vector<v1::SubjectRequest> live;
  for (int i = 0; i < 40 && !CrashVfs::crashed(); ++i) {
    const int what = std::uniform_int_distribution<int>(0, 3)(rng);
    const std::string subject =
        absl::StrCat("s", std::uniform_int_distribution<int>(0, 4)(rng));
    if (what == 0 || live.empty()) {
      v1::SubjectRequest r;
      r.set_kind(v1::REQUEST_KIND_DISCLOSURE);
      r.set_subject_id(subject);
      r.set_verified_subject_id(subject);
      r.set_state(v1::REQUEST_STATE_RECEIVED);
      r.add_transitions()->set_step("received");
      absl::StatusOr<v1::SubjectRequest> c = requests.Create(r);
      if (!c.ok()) continue;
      acked.requests[c->id()] = c->version();
      live.push_back(*c);
    } else if (what == 1) {
      v1::SubjectRequest& r = live[std::uniform_int_distribution<std::size_t>(
          0, live.size() - 1)(rng)];
      v1::SubjectRequest next = r;
      next.add_transitions()->set_step(absl::StrCat("step-", i));
      absl::StatusOr<v1::SubjectRequest> u = requests.Update(next);
      if (!u.ok()) continue;
      acked.requests[u->id()] = u->version();
      r = *u;
    } else if (what == 2) {
      v1::ProvisionRecord p;
      p.set_recipient_id("partner");
      p.add_subjects(subject);
      p.add_subjects("shared");
      p.mutable_provision_time()->set_seconds(1'800'000'000 + i * 1000);
      p.set_record_method(v1::RECORD_METHOD_COLLECTIVE);
      p.set_series_id("series-1");
      absl::StatusOr<std::string> id = records.AddProvision(p);
      if (id.ok()) acked.provisions.insert(*id);
    } else {
      v1::ReceiptRecord r;
      r.set_provider_name("provider");
      r.add_subjects(subject);
      r.mutable_receipt_time()->set_seconds(1'800'000'000 + i * 1000);
      r.set_record_method(v1::RECORD_METHOD_PER_PROVISION);
      absl::StatusOr<std::string> id = records.AddReceipt(r);
      if (id.ok()) acked.receipts.insert(*id);
    }
  }
  return acked;
}

void Check(const std::string& path, const Acked& acked) {
  EXPECT_EQ(IntegrityCheck(path), "ok");
  absl::StatusOr<std::unique_ptr<SqliteRequestStore>> requests =
      SqliteRequestStore::Open(path);
  ASSERT_OK(requests);
  absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>> records =
      SqliteProvisionRecordStore::Open(path);
  ASSERT_OK(records);
  for (const auto& [id, version] : acked.requests) {
    absl::StatusOr<v1::SubjectRequest> r = (*requests)->Get(id);
    ASSERT_OK(r) << "acknowledged request " << id << " lost";
    EXPECT_GE(r->version(), version) << id;
    EXPECT_LE(r->version(), version + 1) << id;
    EXPECT_EQ(r->transitions_size(), r->version()) << id;
  }
  absl::StatusOr<v1::ProvisionHistory> all = (*records)->Query(RecordFilter{});
  ASSERT_OK(all);
  std::set<std::string> provisions, receipts;
  for (const auto& p : all->provisions()) provisions.insert(p.id());
  for (const auto& r : all->receipts()) receipts.insert(r.id());
  for (const std::string& id : acked.provisions) {
    EXPECT_TRUE(provisions.count(id)) << "acknowledged provision lost: " << id;
  }
  for (const std::string& id : acked.receipts) {
    EXPECT_TRUE(receipts.count(id)) << "acknowledged receipt lost: " << id;
  }
  // Whole records only: each is found through its subject index, and the
  // series' keeping period runs from its last record present.
  RecordFilter shared;
  shared.subject = "shared";
  absl::StatusOr<v1::ProvisionHistory> via_index = (*records)->Query(shared);
  ASSERT_OK(via_index);
  EXPECT_EQ(via_index->provisions_size(), all->provisions_size());
  if (all->provisions_size() > 0) {
    const auto& last = all->provisions(all->provisions_size() - 1);
    const absl::Time t = absl::FromUnixSeconds(last.provision_time().seconds());
    const absl::Time end = RetentionEnd(v1::RECORD_METHOD_COLLECTIVE, t, t);
    for (const auto& p : all->provisions()) {
      EXPECT_EQ(absl::FromUnixSeconds(p.retain_until().seconds()), end)
          << p.id();
    }
  }
}

// One trial; returns whether the power was cut mid-writes.
bool RunTrial(std::uint32_t seed) {
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937 rng(seed);
  const std::string path =
      testing::TempPath(testing::UniqueName("consentry_records_power") + ".db");
  CrashVfs::Register();
  CrashVfs::Reset();
  SqliteStoreOptions options;
  options.vfs = CrashVfs::kName;
  absl::StatusOr<std::unique_ptr<SqliteRequestStore>> requests =
      SqliteRequestStore::Open(path, options);
  absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>> records =
      SqliteProvisionRecordStore::Open(path, options);
  EXPECT_TRUE(requests.ok() && records.ok())
      << requests.status() << records.status();
  if (!requests.ok() || !records.ok()) return false;
  if (std::uniform_int_distribution<int>(0, 3)(rng) != 0) {
    CrashVfs::CrashAfter(std::uniform_int_distribution<int>(1, 150)(rng));
  }
  const Acked acked = Write(rng, **requests, **records);
  const bool mid_flight = CrashVfs::crashed();
  EXPECT_GT(CrashVfs::syncs(), 0);
  CrashVfs::Crash();
  requests->reset();  // nothing they do now reaches the disk
  records->reset();
  CrashVfs::RestoreAfterCrash();
  Check(path, acked);
  for (const char* s : {"", "-wal", "-shm"}) {
    std::filesystem::remove(path + s);
  }
  return mid_flight;
}

TEST(SqliteRecordsPowerLossTest, AcknowledgedWritesSurviveWholeAfterPowerCut) {
  int mid_flight = 0;
  constexpr int kTrials = 20;
  for (std::uint32_t seed = 1; seed <= kTrials; ++seed) {
    if (RunTrial(seed)) ++mid_flight;
    if (HasFailure()) return;
  }
  EXPECT_GT(mid_flight, 0);
  EXPECT_LT(mid_flight, kTrials);
}

}  // namespace
}  // namespace consentry

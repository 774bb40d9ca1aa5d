// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Power loss for the SQLite store: writes go through a VFS that drops every
// byte not synced when the power is cut (tests/testing/crash_vfs.h), at a
// random point (mid-write or after an acknowledged one). After recovery
// with the default VFS: every acknowledged change is there with its
// content, nothing unacknowledged is half there (a batch is all or
// nothing, each record matches its history), and the file verifies.

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/sqlite_store.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/crash_vfs.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

using ::consentry::testing::CrashVfs;
using ::consentry::testing::PurposeChange;

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

// One crash trial: writes until the power is cut (after `crash_after`
// durable-state operations, or after the last write), then checks.
// Returns whether the power was cut in the middle of the writes (rather
// than after the last one).
bool RunTrial(std::uint32_t seed) {
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937 rng(seed);
  const std::string path =
      testing::TempPath(testing::UniqueName("consentry_power") + ".db");
  CrashVfs::Register();
  CrashVfs::Reset();
  SqliteStoreOptions options;
  options.vfs = CrashVfs::kName;
  absl::StatusOr<std::unique_ptr<SqliteConsentStore>> store =
      SqliteConsentStore::Open(path, options);
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return false;
  // The crash point: somewhere within the writes below, or none (then the
  // power is cut after the last acknowledged write).
  if (std::uniform_int_distribution<int>(0, 3)(rng) != 0) {
    CrashVfs::CrashAfter(std::uniform_int_distribution<int>(1, 150)(rng));
  }

  // evidence_ref -> the change, for every change attempted.
  std::map<std::string, v1::ConsentChange> attempted;
  // Acknowledged: evidence_ref -> revision.
  std::map<std::string, Revision> acked;
  // Batches: their evidence refs, all or nothing.
  std::vector<std::vector<std::string>> batches;
  const char* const kStates[] = {"given", "withdrawn", "refused"};
  for (int i = 0; i < 40 && !CrashVfs::crashed(); ++i) {
    const int n = std::uniform_int_distribution<int>(0, 3)(rng) == 0 ? 3 : 1;
    std::vector<v1::ConsentChange> changes;
    for (int k = 0; k < n; ++k) {
      const int st = std::uniform_int_distribution<int>(0, 2)(rng);
      v1::ConsentChange c = PurposeChange(
          absl::StrCat("s", std::uniform_int_distribution<int>(0, 5)(rng)),
          std::uniform_int_distribution<int>(0, 1)(rng) ? "marketing"
                                                        : "statistics",
          st == 0   ? v1::CONSENT_STATE_GIVEN
          : st == 1 ? v1::CONSENT_STATE_WITHDRAWN
                    : v1::CONSENT_STATE_REFUSED);
      c.mutable_purpose_consent()->set_evidence_ref(
          absl::StrCat("e", i, ".", k, "-", kStates[st]));
      attempted[c.purpose_consent().evidence_ref()] = c;
      changes.push_back(std::move(c));
    }
    if (n == 1) {
      absl::StatusOr<Revision> r = (*store)->Apply(changes[0]);
      if (r.ok()) acked[changes[0].purpose_consent().evidence_ref()] = *r;
    } else {
      std::vector<std::string> refs;
      for (const auto& c : changes) {
        refs.push_back(c.purpose_consent().evidence_ref());
      }
      batches.push_back(refs);
      absl::StatusOr<std::vector<Revision>> r = (*store)->ApplyBatch(changes);
      if (r.ok()) {
        for (std::size_t k = 0; k < refs.size(); ++k) acked[refs[k]] = (*r)[k];
      }
    }
  }
  const bool mid_flight = CrashVfs::crashed();
  EXPECT_GT(CrashVfs::syncs(), 0);
  CrashVfs::Crash();
  store->reset();  // nothing it does now reaches the disk
  CrashVfs::RestoreAfterCrash();

  EXPECT_EQ(IntegrityCheck(path), "ok");
  absl::StatusOr<std::unique_ptr<SqliteConsentStore>> after =
      SqliteConsentStore::Open(path);
  EXPECT_TRUE(after.ok()) << after.status();
  if (!after.ok()) return mid_flight;
  absl::StatusOr<Revision> latest = (*after)->LatestRevision();
  EXPECT_TRUE(latest.ok()) << latest.status();
  if (!latest.ok()) return mid_flight;
  // Every history entry, by evidence ref; revisions 1..latest, no gaps.
  std::map<std::string, Revision> present;
  std::set<Revision> revisions;
  for (int s = 0; s <= 5; ++s) {
    const std::string subject = absl::StrCat("s", s);
    absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> h =
        (*after)->History(subject);
    absl::StatusOr<v1::ConsentRecord> record = (*after)->Get(subject);
    EXPECT_TRUE(h.ok() && record.ok()) << h.status() << record.status();
    if (!h.ok() || !record.ok()) return mid_flight;
    for (const v1::ConsentHistoryEntry& e : *h) {
      const std::string& ref = e.change().purpose_consent().evidence_ref();
      auto it = attempted.find(ref);
      EXPECT_NE(it, attempted.end()) << "a change nobody wrote: " << ref;
      if (it == attempted.end()) continue;
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          e.change(), it->second))
          << ref;
      present[ref] = e.revision();
      revisions.insert(e.revision());
    }
    // The current record is the state of the subject's last change.
    if (h->empty()) {
      EXPECT_EQ(record->revision(), 0);
    } else {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          *record, h->back().state()))
          << subject;
    }
  }
  EXPECT_EQ(static_cast<Revision>(revisions.size()), *latest);
  if (!revisions.empty()) {
    EXPECT_EQ(*revisions.begin(), 1);
    EXPECT_EQ(*revisions.rbegin(), *latest);
  }
  // Every acknowledged change survived, at its revision.
  for (const auto& [ref, rev] : acked) {
    auto it = present.find(ref);
    EXPECT_NE(it, present.end())
        << "acknowledged change lost: " << ref << " at revision " << rev;
    if (it != present.end()) {
      EXPECT_EQ(it->second, rev) << ref;
    }
  }
  // A batch is all or nothing.
  for (const std::vector<std::string>& b : batches) {
    const std::size_t n =
        present.count(b[0]) + present.count(b[1]) + present.count(b[2]);
    EXPECT_TRUE(n == 0 || n == 3) << b[0] << ": " << n << " of 3 present";
  }
  after->reset();
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return mid_flight;
}

TEST(SqlitePowerLossTest, AcknowledgedWritesSurviveAndNothingIsHalfVisible) {
  int mid_flight = 0;
  constexpr int kTrials = 24;
  for (std::uint32_t seed = 1; seed <= kTrials; ++seed) {
    if (RunTrial(seed)) ++mid_flight;
    if (HasFailure()) return;
  }
  // Both kinds of crash point were exercised.
  EXPECT_GT(mid_flight, 0);
  EXPECT_LT(mid_flight, kTrials);
}

// The VFS itself: a write that was never synced is gone after the crash.
TEST(SqlitePowerLossTest, UnsyncedBytesAreDroppedAtTheCrash) {
  const std::string path =
      testing::TempPath(testing::UniqueName("consentry_power_raw") + ".db");
  CrashVfs::Register();
  CrashVfs::Reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            CrashVfs::kName),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL; "
                         "CREATE TABLE t(x); INSERT INTO t VALUES(1);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  CrashVfs::Crash();
  sqlite3_close(db);
  CrashVfs::RestoreAfterCrash();
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  // Nothing was synced: not even the table exists.
  EXPECT_NE(sqlite3_exec(db, "SELECT * FROM t", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
}

}  // namespace
}  // namespace consentry

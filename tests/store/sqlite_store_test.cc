// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// SQLite-specific behaviour: file formats, schema versions and faults. The
// shared contract is in store_conformance_test.cc.

#include "consentry/sqlite_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

class SqliteConsentStoreTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_ + suffix);
    }
  }
  // Runs `sql` on the file directly, as a tamperer or another version would.
  void RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err != nullptr ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  std::string path_ =
      testing::TempPath(testing::UniqueName("sqlite_store_test") + ".db");
};

TEST_F(SqliteConsentStoreTest, OpensInWalModeWithSchemaVersion) {
  ASSERT_OK(SqliteConsentStore::Open(path_));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
               "wal");
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT version FROM consentry_schema", -1,
                               &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), SqliteConsentStore::kSchemaVersion);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SqliteConsentStoreTest, MissingFileIsNotFoundWhenCreationIsOff) {
  SqliteStoreOptions o;
  o.create_if_missing = false;
  EXPECT_THAT(SqliteConsentStore::Open(path_, o),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(path_)));
}

TEST_F(SqliteConsentStoreTest, FileThatIsNotADatabaseIsRefusedByName) {
  {
    std::ofstream out(path_, std::ios::binary);
    for (int i = 0; i < 512; ++i) out << "this is not a database ";
  }
  EXPECT_THAT(SqliteConsentStore::Open(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(path_), HasSubstr("not a"))));
}

TEST_F(SqliteConsentStoreTest, CorruptPagesAreDataLossOrRefused) {
  {
    absl::StatusOr<std::unique_ptr<SqliteConsentStore>> s =
        SqliteConsentStore::Open(path_);
    ASSERT_OK(s);
    for (int i = 0; i < 200; ++i) {
      ASSERT_OK((*s)->Apply(PurposeChange("s-" + std::to_string(i), "marketing",
                                          v1::CONSENT_STATE_GIVEN)));
    }
  }
  RawExec("PRAGMA wal_checkpoint(TRUNCATE)");
  // Overwrite every page after the header page with garbage.
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    const std::string junk(4096 * 4, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  absl::StatusOr<std::unique_ptr<SqliteConsentStore>> s =
      SqliteConsentStore::Open(path_);
  if (!s.ok()) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path_)));
    return;
  }
  // Opened (the schema page survived): reads must fail cleanly.
  absl::StatusOr<std::vector<v1::ConsentRecord>> all =
      (*s)->ChangesSince(0, 1000);
  EXPECT_THAT(all, StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path_)));
}

TEST_F(SqliteConsentStoreTest, NewerSchemaVersionIsRefusedNamingBothVersions) {
  ASSERT_OK(SqliteConsentStore::Open(path_));
  RawExec("UPDATE consentry_schema SET version = 99");
  EXPECT_THAT(SqliteConsentStore::Open(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(path_), HasSubstr("schema version 99"),
                             HasSubstr("supports (1)"))));
}

TEST_F(SqliteConsentStoreTest, AnotherApplicationsDatabaseIsRefused) {
  RawExec("CREATE TABLE invoices(id INTEGER)");
  EXPECT_THAT(
      SqliteConsentStore::Open(path_),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr(path_), HasSubstr("another application"))));
}

TEST_F(SqliteConsentStoreTest, UnparsableRowIsDataLossNamingTheSubject) {
  {
    absl::StatusOr<std::unique_ptr<SqliteConsentStore>> s =
        SqliteConsentStore::Open(path_);
    ASSERT_OK(s);
    ASSERT_OK((*s)->Apply(
        PurposeChange("victim", "marketing", v1::CONSENT_STATE_GIVEN)));
    ASSERT_OK((*s)->Apply(
        PurposeChange("fine", "marketing", v1::CONSENT_STATE_GIVEN)));
  }
  RawExec(
      "UPDATE consent_records SET record = x'ffffffff0f' WHERE subject_id = "
      "'victim'");
  absl::StatusOr<std::unique_ptr<SqliteConsentStore>> s =
      SqliteConsentStore::Open(path_);
  ASSERT_OK(s);
  EXPECT_THAT((*s)->Get("victim"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("'victim'"), HasSubstr(path_))));
  EXPECT_OK((*s)->Get("fine"));
  // With its history copy damaged as well, a write to the subject fails
  // too, rather than overwrite it. (With a readable history copy it builds
  // on that:
  // SharedConsentStoreTest.CorruptRecordIsQuarantinedUntilTheNextWrite.)
  RawExec(
      "UPDATE consent_history SET state = x'ffffffff0f' WHERE subject_id = "
      "'victim'");
  EXPECT_THAT((*s)->Apply(PurposeChange("victim", "marketing",
                                        v1::CONSENT_STATE_WITHDRAWN)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("'victim'")));
}

TEST_F(SqliteConsentStoreTest, ApplyBatchIsAllOrNothing) {
  absl::StatusOr<std::unique_ptr<SqliteConsentStore>> s =
      SqliteConsentStore::Open(path_);
  ASSERT_OK(s);
  std::vector<v1::ConsentChange> batch = {
      PurposeChange("a", "marketing", v1::CONSENT_STATE_GIVEN),
      PurposeChange("b", "marketing", v1::CONSENT_STATE_GIVEN)};
  absl::StatusOr<std::vector<Revision>> revs = (*s)->ApplyBatch(batch);
  ASSERT_OK(revs);
  ASSERT_EQ(revs->size(), 2u);
  EXPECT_LT((*revs)[0], (*revs)[1]);
  batch.push_back(PurposeChange("c", "marketing", v1::CONSENT_STATE_GIVEN));
  batch.back().set_expected_revision(12345);
  EXPECT_THAT((*s)->ApplyBatch(batch),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("subject 'c'")));
  EXPECT_THAT((*s)->LatestRevision(), testing::IsOkAndHolds((*revs)[1]));
}

}  // namespace
}  // namespace consentry

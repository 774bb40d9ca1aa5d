// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// SqliteRequestStore and SqliteProvisionRecordStore: the conformance
// suites, one file shared with a consent store, the opening checks,
// per-component schema versions, index use, and corrupt rows.

#include "consentry/sqlite_records.h"

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consentry/sqlite_store.h"
#include "tests/store/provision_store_conformance.h"
#include "tests/store/request_store_conformance.h"
#include "tests/testing/store_factories.h"

namespace consentry::testing {
namespace {

using ::testing::HasSubstr;

// A fresh file per test (and its -wal, -shm), removed at exit.
class TempFile {
 public:
  TempFile() : path_(TempPath(UniqueName("consentry_records") + ".db")) {}
  ~TempFile() {
    for (const char* s : {"", "-wal", "-shm"}) {
      std::error_code ec;
      std::filesystem::remove_all(path_ + s, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The file of the current conformance test: `open` makes a new one,
// `reopen` opens it again.
std::shared_ptr<TempFile>& CurrentFile() {
  static auto* file = new std::shared_ptr<TempFile>();
  return *file;
}

// Removes the last test's file at the end.
class RemoveLastFile : public ::testing::Environment {
 public:
  void TearDown() override { CurrentFile().reset(); }
};
[[maybe_unused]] ::testing::Environment* const kRemoveLastFile =
    ::testing::AddGlobalTestEnvironment(new RemoveLastFile);

RequestStoreFactory SqliteRequests() {
  return {"Sqlite",
          []() -> absl::StatusOr<std::unique_ptr<RequestStore>> {
            CurrentFile() = std::make_shared<TempFile>();
            return SqliteRequestStore::Open(CurrentFile()->path());
          },
          []() -> absl::StatusOr<std::unique_ptr<RequestStore>> {
            return SqliteRequestStore::Open(CurrentFile()->path());
          }};
}

ProvisionStoreFactory SqliteProvisions() {
  return {"Sqlite",
          []() -> absl::StatusOr<std::unique_ptr<ProvisionRecordStore>> {
            CurrentFile() = std::make_shared<TempFile>();
            return SqliteProvisionRecordStore::Open(CurrentFile()->path());
          },
          []() -> absl::StatusOr<std::unique_ptr<ProvisionRecordStore>> {
            return SqliteProvisionRecordStore::Open(CurrentFile()->path());
          }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, RequestStoreConformanceTest,
                         ::testing::Values(SqliteRequests()),
                         RequestStoreFactoryName);
INSTANTIATE_TEST_SUITE_P(Sqlite, ProvisionStoreConformanceTest,
                         ::testing::Values(SqliteProvisions()),
                         ProvisionStoreFactoryName);

// Runs `sql` on the file with a plain connection (what someone with write
// access to the file could do); returns the first column of each row.
std::vector<std::string> RawSql(const std::string& path,
                                const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> out;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  int rc = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const int n = sqlite3_column_count(st);
    std::string row;
    for (int i = 0; i < n; ++i) {
      const unsigned char* t = sqlite3_column_text(st, i);
      absl::StrAppend(&row, i ? "|" : "",
                      t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    out.push_back(row);
  }
  EXPECT_EQ(rc, SQLITE_DONE) << sqlite3_errmsg(db);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

TEST(SqliteRecordsTest, ConsentAndRecordStoresShareOneFile) {
  for (bool consent_first : {true, false}) {
    SCOPED_TRACE(consent_first ? "consent store first" : "records first");
    TempFile f;
    std::unique_ptr<SqliteConsentStore> consent;
    if (consent_first) {
      absl::StatusOr<std::unique_ptr<SqliteConsentStore>> c =
          SqliteConsentStore::Open(f.path());
      ASSERT_OK(c);
      consent = *std::move(c);
    }
    absl::StatusOr<std::unique_ptr<SqliteRequestStore>> requests =
        SqliteRequestStore::Open(f.path());
    ASSERT_OK(requests);
    absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>> records =
        SqliteProvisionRecordStore::Open(f.path());
    ASSERT_OK(records);
    if (!consent_first) {
      absl::StatusOr<std::unique_ptr<SqliteConsentStore>> c =
          SqliteConsentStore::Open(f.path());
      ASSERT_OK(c);
      consent = *std::move(c);
    }
    v1::ConsentChange change;
    change.set_subject_id("s1");
    change.mutable_purpose_consent()->set_purpose("marketing");
    change.mutable_purpose_consent()->set_state(v1::CONSENT_STATE_GIVEN);
    ASSERT_OK(consent->Apply(change));
    absl::StatusOr<v1::SubjectRequest> r =
        (*requests)->Create(FullRequest("s1"));
    ASSERT_OK(r);
    ASSERT_OK((*records)->AddProvision(
        ProvisionAt(JstDay(2026, 1, 1), "partner", {"s1"})));

    // Each keeps its own schema version.
    EXPECT_THAT(RawSql(f.path(),
                       "SELECT component, version FROM consentry_components "
                       "ORDER BY component"),
                ::testing::ElementsAre("provision_records|1", "requests|1"));
    EXPECT_THAT(RawSql(f.path(), "SELECT version FROM consentry_schema"),
                ::testing::ElementsAre("1"));

    // All three reopen on the file and see each other's data.
    consent.reset();
    requests->reset();
    records->reset();
    absl::StatusOr<std::unique_ptr<SqliteConsentStore>> c2 =
        SqliteConsentStore::Open(f.path());
    ASSERT_OK(c2);
    EXPECT_EQ((*c2)->Get("s1")->revision(), 1);
    absl::StatusOr<std::unique_ptr<SqliteRequestStore>> r2 =
        SqliteRequestStore::Open(f.path());
    ASSERT_OK(r2);
    EXPECT_OK((*r2)->Get(r->id()));
    absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>> p2 =
        SqliteProvisionRecordStore::Open(f.path());
    ASSERT_OK(p2);
    EXPECT_EQ((*p2)->Query(Filter("s1"))->provisions_size(), 1);
  }
}

TEST(SqliteRecordsTest, RefusesLinksDirectoriesAndForeignFiles) {
  TempFile dir;
  std::filesystem::create_directory(dir.path());
  EXPECT_THAT(SqliteRequestStore::Open(dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is a directory")));
  EXPECT_THAT(
      SqliteConsentStore::Open(dir.path()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(dir.path())));

  TempFile target;
  ASSERT_OK(SqliteProvisionRecordStore::Open(target.path()));
  TempFile link;
  std::filesystem::create_symlink(target.path(), link.path());
  EXPECT_THAT(SqliteProvisionRecordStore::Open(link.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("symbolic link")));
  EXPECT_THAT(SqliteConsentStore::Open(link.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("symbolic link")));

  // A -wal file that is a link would redirect the writes.
  TempFile walled;
  TempFile elsewhere;
  std::filesystem::create_symlink(elsewhere.path(), walled.path() + "-wal");
  EXPECT_THAT(SqliteRequestStore::Open(walled.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(walled.path() + "-wal")));
  std::filesystem::remove(walled.path() + "-wal");

  EXPECT_THAT(SqliteRequestStore::Open(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  SqliteStoreOptions no_create;
  no_create.create_if_missing = false;
  TempFile missing;
  EXPECT_THAT(SqliteRequestStore::Open(missing.path(), no_create),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(missing.path())));

  TempFile foreign;
  RawSql(foreign.path(), "CREATE TABLE invoices(id INTEGER)");
  EXPECT_THAT(SqliteProvisionRecordStore::Open(foreign.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("another application")));
}

TEST(SqliteRecordsTest, NewerComponentVersionIsRefusedOthersStillOpen) {
  TempFile f;
  ASSERT_OK(SqliteRequestStore::Open(f.path()));
  ASSERT_OK(SqliteProvisionRecordStore::Open(f.path()));
  RawSql(f.path(),
         "UPDATE consentry_components SET version = 9 "
         "WHERE component = 'requests'");
  EXPECT_THAT(SqliteRequestStore::Open(f.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("schema version 9")));
  EXPECT_OK(SqliteProvisionRecordStore::Open(f.path()));
  EXPECT_OK(SqliteConsentStore::Open(f.path()));
}

// A subject's requests and records are found by index, never by scanning
// the table.
TEST(SqliteRecordsTest, SubjectLookupsUseIndexes) {
  TempFile f;
  ASSERT_OK(SqliteRequestStore::Open(f.path()));
  ASSERT_OK(SqliteProvisionRecordStore::Open(f.path()));
  auto plan = [&](const std::string& sql) {
    std::string all;
    for (const std::string& row :
         RawSql(f.path(), "EXPLAIN QUERY PLAN " + sql)) {
      absl::StrAppend(&all, row, "\n");
    }
    return all;
  };
  const std::string by_subject = plan(
      "SELECT seq, id, version, record FROM request_records"
      " WHERE verified_subject_id = 's1' AND verified_subject_id <> ''"
      " ORDER BY seq");
  EXPECT_THAT(by_subject, HasSubstr("request_records_by_subject"));
  EXPECT_THAT(by_subject, ::testing::Not(HasSubstr("SCAN")));
  const std::string open = plan(
      "SELECT seq, id, version, record FROM request_records"
      " WHERE open = 1 ORDER BY seq");
  EXPECT_THAT(open, HasSubstr("request_records_open"));
  const std::string records = plan(
      "SELECT r.seq FROM provision_subjects x JOIN provision_records r"
      " ON r.seq = x.seq LEFT JOIN provision_series s ON r.series_id <> ''"
      " AND s.kind = r.kind AND s.series_id = r.series_id"
      " WHERE 1 AND x.subject_id = 's1'"
      " ORDER BY r.kind, r.time_s, r.time_ns, r.seq");
  EXPECT_THAT(records, ::testing::Not(HasSubstr("SCAN r")));
  EXPECT_THAT(records, ::testing::Not(HasSubstr("SCAN x")));
  EXPECT_THAT(records, HasSubstr("SEARCH x"));
  const std::string by_party = plan(
      "SELECT r.seq FROM provision_records r LEFT JOIN provision_series s"
      " ON r.series_id <> '' AND s.kind = r.kind AND s.series_id ="
      " r.series_id WHERE 1 AND r.party = 'a'"
      " ORDER BY r.kind, r.time_s, r.time_ns, r.seq");
  EXPECT_THAT(by_party, HasSubstr("provision_records_by_party"));
  EXPECT_THAT(by_party, ::testing::Not(HasSubstr("SCAN r")));
}

TEST(SqliteRecordsTest, CorruptRequestRowIsDataLossForThatRequestOnly) {
  TempFile f;
  absl::StatusOr<std::unique_ptr<SqliteRequestStore>> store =
      SqliteRequestStore::Open(f.path());
  ASSERT_OK(store);
  absl::StatusOr<v1::SubjectRequest> victim =
      (*store)->Create(FullRequest("s1"));
  absl::StatusOr<v1::SubjectRequest> other =
      (*store)->Create(FullRequest("s2"));
  ASSERT_OK(victim);
  ASSERT_OK(other);
  RawSql(f.path(), absl::StrCat("UPDATE request_records SET record = "
                                "x'0aff01' WHERE id = '",
                                victim->id(), "'"));
  EXPECT_THAT(
      (*store)->Get(victim->id()),
      StatusIs(absl::StatusCode::kDataLoss,
               ::testing::AllOf(HasSubstr(victim->id()), HasSubstr("row"),
                                HasSubstr(f.path()))));
  EXPECT_THAT((*store)->ListBySubject("s1"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(victim->id())));
  EXPECT_OK((*store)->Get(other->id()));
  EXPECT_THAT((*store)->ListBySubject("s2"),
              IsOkAndHolds(::testing::SizeIs(1)));
  // Listings name the unreadable request and list the others.
  for (absl::StatusOr<RequestListing> listing :
       {(*store)->ListOpen(), (*store)->ListAll()}) {
    ASSERT_OK(listing);
    ASSERT_EQ(listing->requests.size(), 1u);
    EXPECT_EQ(listing->requests[0].id(), other->id());
    ASSERT_EQ(listing->unreadable.size(), 1u);
    EXPECT_EQ(listing->unreadable[0].id, victim->id());
    EXPECT_THAT(listing->unreadable[0].status,
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(victim->id())));
  }
  absl::StatusOr<RequestListing> overdue =
      OverdueRequests(**store, absl::InfiniteFuture());
  ASSERT_OK(overdue);
  EXPECT_EQ(overdue->requests.size(), 1u);
  ASSERT_EQ(overdue->unreadable.size(), 1u);
  EXPECT_EQ(overdue->unreadable[0].id, victim->id());
  // A row whose bytes name another request is as unreadable.
  RawSql(f.path(),
         absl::StrCat("UPDATE request_records SET record = "
                      "(SELECT record FROM request_records WHERE "
                      "id = '",
                      other->id(), "') WHERE id = '", victim->id(), "'"));
  EXPECT_THAT((*store)->Get(victim->id()),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(other->id())));
  // The other request still moves on.
  v1::SubjectRequest next = *other;
  next.set_state(v1::REQUEST_STATE_ANSWERED);
  EXPECT_OK((*store)->Update(next));
}

TEST(SqliteRecordsTest, CorruptRecordRowIsDataLossForItsSubjectsOnly) {
  TempFile f;
  absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>> store =
      SqliteProvisionRecordStore::Open(f.path());
  ASSERT_OK(store);
  absl::StatusOr<std::string> victim =
      (*store)->AddProvision(ProvisionAt(JstDay(2020, 1, 1), "a", {"s1"}));
  ASSERT_OK(victim);
  ASSERT_OK(
      (*store)->AddProvision(ProvisionAt(JstDay(2026, 1, 1), "a", {"s2"})));
  RawSql(f.path(), absl::StrCat("UPDATE provision_records SET record = "
                                "x'ffffffff' WHERE id = '",
                                *victim, "'"));
  EXPECT_THAT((*store)->Query(Filter("s1")),
              StatusIs(absl::StatusCode::kDataLoss,
                       ::testing::AllOf(HasSubstr(*victim), HasSubstr("row"),
                                        HasSubstr(f.path()))));
  absl::StatusOr<v1::ProvisionHistory> s2 = (*store)->Query(Filter("s2"));
  ASSERT_OK(s2);
  EXPECT_EQ(s2->provisions_size(), 1);
  // The purge reads columns only: the unreadable record still goes when
  // due.
  absl::StatusOr<PurgeResult> p = (*store)->PurgeDue(JstDay(2024, 1, 1));
  ASSERT_OK(p);
  EXPECT_THAT(p->provision_ids, ::testing::ElementsAre(*victim));
  EXPECT_OK((*store)->Query(Filter("s1")));
}

}  // namespace
}  // namespace consentry::testing

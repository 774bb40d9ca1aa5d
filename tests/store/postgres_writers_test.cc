// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// PostgreSQL writers in parallel and bulk import: revisions stay dense and
// become visible in order while several stores (each its own connection)
// write and import at once and readers follow; `BulkImport` is all or
// nothing and refuses bad batches; the migration from the sequence of
// schema version 1 to the counter continues the revisions. Runs on the
// fixture's server (tests/pg/start.sh).

#include <libpq-fe.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/postgres_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/util/mutex.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// One raw connection for reading and changing the store's tables behind
// its back.
class Raw {
 public:
  explicit Raw(const std::string& conninfo)
      : conn_(PQconnectdb(conninfo.c_str())) {}
  ~Raw() { PQfinish(conn_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  // The first column of every row, as text; an empty vector and `error`
  // set on failure.
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> out;
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      error = PQresultErrorMessage(r);
    } else if (st == PGRES_TUPLES_OK) {
      for (int i = 0; i < PQntuples(r); ++i) {
        out.emplace_back(PQgetvalue(r, i, 0));
      }
    }
    PQclear(r);
    return out;
  }
  std::string error;

 private:
  PGconn* conn_;
};

class PostgresWritersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> c = testing::PgConnInfo();
    ASSERT_OK(c);
    conninfo_ = *c;
    options_.schema = testing::UniqueName("pgw");
    options_.heartbeat_interval = absl::Milliseconds(10);
  }
  std::unique_ptr<PostgresConsentStore> Open() {
    absl::StatusOr<std::unique_ptr<PostgresConsentStore>> s =
        PostgresConsentStore::Open(conninfo_, options_);
    EXPECT_OK(s);
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::string Table(const std::string& t) const {
    return absl::StrCat(options_.schema, ".", t);
  }
  std::string conninfo_;
  PostgresStoreOptions options_;
};

std::vector<v1::ConsentChange> ImportBatch(const std::string& prefix, int n) {
  std::vector<v1::ConsentChange> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(PurposeChange(
        absl::StrCat(prefix, i), "marketing",
        i % 2 == 0 ? v1::CONSENT_STATE_GIVEN : v1::CONSENT_STATE_WITHDRAWN));
  }
  return out;
}

// Follows the history table as a feed does: each poll reads the revisions
// above the last one seen. Every poll must continue exactly where the last
// ended (last + 1, last + 2, ...): a revision that became visible after a
// higher one (committed late) shows as a gap and is counted.
struct HistoryFollower {
  explicit HistoryFollower(const std::string& conninfo, std::string table)
      : raw(conninfo), history(std::move(table)) {}
  void Poll() {
    for (const std::string& v : raw.Column(
             absl::StrCat("SELECT revision FROM ", history,
                          " WHERE revision > ", last, " ORDER BY revision"))) {
      const std::int64_t r = std::stoll(v);
      if (r != last + 1) {
        ++gaps;
        if (first_gap.empty()) {
          first_gap = absl::StrCat("saw ", r, " right after ", last);
        }
      }
      last = r;
      ++seen;
    }
  }
  Raw raw;
  std::string history;
  std::int64_t last = 0;
  std::int64_t seen = 0;
  int gaps = 0;
  std::string first_gap;
};

// Four stores (four connections) write at once, a fifth imports batches,
// while one reader follows the history by revision and another store's
// change feed delivers to a listener. No reader may see a revision before
// a lower one; in the end the revisions are 1..N without a hole, every
// acknowledged write is there, and the feed's last record of each subject
// is the store's.
TEST_F(PostgresWritersTest,
       ConcurrentWritersAndImportKeepRevisionsDenseAndInOrder) {
  std::unique_ptr<PostgresConsentStore> watcher = Open();
  ASSERT_NE(watcher, nullptr);
  internal::Mutex mu;
  std::map<std::string, Revision> feed_last;
  int feed_out_of_order = 0;
  auto sub = watcher->Watch([&](const v1::ConsentRecord& r) {
    internal::MutexLock l(&mu);
    Revision& last = feed_last[r.subject_id()];
    if (r.revision() < last) ++feed_out_of_order;
    last = std::max(last, r.revision());
  });

  constexpr int kWriters = 4;
  constexpr int kChanges = 100;
  constexpr int kImports = 5;
  constexpr int kImportSize = 50;
  std::vector<std::unique_ptr<PostgresConsentStore>> stores;
  for (int w = 0; w <= kWriters; ++w) stores.push_back(Open());
  for (const auto& s : stores) ASSERT_NE(s, nullptr);

  std::atomic<int> running{kWriters + 1};
  std::vector<std::vector<Revision>> acked(kWriters + 1);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kChanges; ++i) {
        // A third of the changes go to five shared subjects (writers wait
        // for each other's subject lock), the rest to new subjects.
        const std::string subject = i % 3 == 0 ? absl::StrCat("shared-", i % 5)
                                               : absl::StrCat("w", w, "-", i);
        absl::StatusOr<Revision> r = stores[static_cast<std::size_t>(w)]->Apply(
            PurposeChange(subject, "marketing",
                          i % 2 == 0 ? v1::CONSENT_STATE_GIVEN
                                     : v1::CONSENT_STATE_WITHDRAWN));
        EXPECT_OK(r);
        if (r.ok()) acked[static_cast<std::size_t>(w)].push_back(*r);
      }
      --running;
    });
  }
  threads.emplace_back([&] {
    for (int k = 0; k < kImports; ++k) {
      absl::StatusOr<std::vector<Revision>> r = stores[kWriters]->BulkImport(
          ImportBatch(absl::StrCat("imp-", k, "-"), kImportSize));
      EXPECT_OK(r);
      if (r.ok()) {
        acked[kWriters].insert(acked[kWriters].end(), r->begin(), r->end());
      }
    }
    --running;
  });

  HistoryFollower follower(conninfo_, Table("consent_history"));
  ASSERT_TRUE(follower.raw.ok());
  while (running.load() > 0) follower.Poll();
  for (std::thread& t : threads) t.join();
  follower.Poll();
  EXPECT_EQ(follower.gaps, 0) << follower.first_gap;
  EXPECT_THAT(follower.raw.error, IsEmpty());

  const std::int64_t total = kWriters * kChanges + kImports * kImportSize;
  EXPECT_EQ(follower.seen, total);
  EXPECT_EQ(follower.last, total);
  std::set<Revision> all;
  for (const auto& a : acked) all.insert(a.begin(), a.end());
  EXPECT_EQ(static_cast<std::int64_t>(all.size()), total);
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), total);

  // The feed has caught up with the store: each subject's last delivered
  // record is the store's current one.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::vector<std::string> subjects = follower.raw.Column(
      absl::StrCat("SELECT subject_id FROM ", Table("consent_records")));
  for (const std::string& subject : subjects) {
    absl::StatusOr<v1::ConsentRecord> rec = watcher->Get(subject);
    ASSERT_OK(rec);
    for (;;) {
      {
        internal::MutexLock l(&mu);
        if (feed_last[subject] == rec->revision()) break;
      }
      ASSERT_LT(absl::Now(), deadline) << subject;
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  internal::MutexLock l(&mu);
  EXPECT_EQ(feed_out_of_order, 0);
}

TEST_F(PostgresWritersTest, BulkImportCreatesRecordsWithDenseRevisions) {
  std::unique_ptr<PostgresConsentStore> s = Open();
  std::unique_ptr<PostgresConsentStore> other = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_NE(other, nullptr);
  internal::Mutex mu;
  std::vector<Revision> heard;
  auto sub = other->Watch([&](const v1::ConsentRecord& r) {
    internal::MutexLock l(&mu);
    heard.push_back(r.revision());
  });
  ASSERT_OK(
      s->Apply(PurposeChange("before", "marketing", v1::CONSENT_STATE_GIVEN)));
  absl::StatusOr<std::vector<Revision>> revs =
      s->BulkImport(ImportBatch("bulk-", 1000));
  ASSERT_OK(revs);
  ASSERT_EQ(revs->size(), 1000u);
  for (std::size_t i = 0; i < revs->size(); ++i) {
    EXPECT_EQ((*revs)[i], static_cast<Revision>(i) + 2);
  }
  absl::StatusOr<v1::ConsentRecord> r = other->Get("bulk-7");
  ASSERT_OK(r);
  EXPECT_EQ(r->revision(), 9);
  ASSERT_EQ(r->purposes_size(), 1);
  EXPECT_EQ(r->purposes(0).state(), v1::CONSENT_STATE_WITHDRAWN);
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> h =
      other->History("bulk-7");
  ASSERT_OK(h);
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].revision(), 9);
  EXPECT_EQ((*h)[0].state().revision(), 9);
  // The other store's feed delivers the import (its own writer's records
  // through the same path as any other change). A feed hands over each
  // changed subject's current record, so the test waits for the import to
  // be heard before it changes bulk-7 again: later, the feed would give
  // bulk-7 once, at its new revision.
  auto wait_for = [&](Revision revision) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (;;) {
      {
        internal::MutexLock l(&mu);
        if (!heard.empty() && heard.back() >= revision) return;
      }
      ASSERT_LT(absl::Now(), deadline) << revision;
      absl::SleepFor(absl::Milliseconds(5));
    }
  };
  wait_for(1001);
  // An imported record is an ordinary one: it can be changed.
  EXPECT_THAT(
      s->Apply(PurposeChange("bulk-7", "marketing", v1::CONSENT_STATE_GIVEN)),
      ::consentry::testing::IsOkAndHolds(1002));
  EXPECT_THAT(other->LatestRevision(),
              ::consentry::testing::IsOkAndHolds(1002));
  wait_for(1002);
  internal::MutexLock l(&mu);
  // 1, the import's 2..1001, then 1002, each once and in order.
  ASSERT_EQ(heard.size(), 1002u);
  for (std::size_t i = 0; i < heard.size(); ++i) {
    EXPECT_EQ(heard[i], static_cast<Revision>(i) + 1);
  }
}

TEST_F(PostgresWritersTest, BulkImportOfNothingWritesNothing) {
  std::unique_ptr<PostgresConsentStore> s = Open();
  ASSERT_NE(s, nullptr);
  absl::StatusOr<std::vector<Revision>> revs = s->BulkImport({});
  ASSERT_OK(revs);
  EXPECT_THAT(*revs, IsEmpty());
  EXPECT_THAT(s->LatestRevision(), ::consentry::testing::IsOkAndHolds(0));
}

TEST_F(PostgresWritersTest, BulkImportRefusesAnInvalidChangeAndWritesNothing) {
  std::unique_ptr<PostgresConsentStore> s = Open();
  ASSERT_NE(s, nullptr);
  std::vector<v1::ConsentChange> batch = ImportBatch("x-", 5);
  batch[3].set_subject_id("bad\xff");
  EXPECT_THAT(s->BulkImport(batch),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bulk import, change 3")));
  batch = ImportBatch("x-", 5);
  batch[2].clear_purpose_consent();  // no change at all
  EXPECT_THAT(s->BulkImport(batch), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("change 2")));
  batch = ImportBatch("x-", 5);
  batch[4].set_expected_revision(3);
  EXPECT_THAT(s->BulkImport(batch),
              StatusIs(absl::StatusCode::kAborted,
                       AllOf(HasSubstr("change 4"), HasSubstr("x-4"))));
  EXPECT_THAT(s->LatestRevision(), ::consentry::testing::IsOkAndHolds(0));
  absl::StatusOr<v1::ConsentRecord> r = s->Get("x-0");
  ASSERT_OK(r);
  EXPECT_EQ(r->revision(), 0);
  // expected_revision 0 ("no record yet") is what an import creates.
  batch = ImportBatch("x-", 5);
  batch[4].set_expected_revision(0);
  EXPECT_OK(s->BulkImport(batch));
}

TEST_F(PostgresWritersTest, BulkImportRefusesASubjectTwiceInTheBatch) {
  std::unique_ptr<PostgresConsentStore> s = Open();
  ASSERT_NE(s, nullptr);
  std::vector<v1::ConsentChange> batch = ImportBatch("d-", 6);
  batch[5].set_subject_id("d-1");
  EXPECT_THAT(s->BulkImport(batch),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'d-1'"), HasSubstr("appears twice"),
                             HasSubstr("changes 1 and 5"))));
  EXPECT_THAT(s->LatestRevision(), ::consentry::testing::IsOkAndHolds(0));
}

TEST_F(PostgresWritersTest, BulkImportRefusesASubjectAlreadyInTheStore) {
  std::unique_ptr<PostgresConsentStore> s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_OK(
      s->Apply(PurposeChange("p-3", "marketing", v1::CONSENT_STATE_GIVEN)));
  const std::string odd = "p-\"{7},\\";
  ASSERT_OK(s->Apply(PurposeChange(odd, "marketing", v1::CONSENT_STATE_GIVEN)));
  std::vector<v1::ConsentChange> batch = ImportBatch("p-", 10);
  batch.push_back(PurposeChange(odd, "marketing", v1::CONSENT_STATE_GIVEN));
  EXPECT_THAT(s->BulkImport(batch),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       AllOf(HasSubstr("'p-3'"), HasSubstr("{7}"),
                             HasSubstr("nothing"))));
  EXPECT_THAT(s->LatestRevision(), ::consentry::testing::IsOkAndHolds(2));
  absl::StatusOr<v1::ConsentRecord> r = s->Get("p-4");
  ASSERT_OK(r);
  EXPECT_EQ(r->revision(), 0);
  // The store's connection is usable after the refused import.
  EXPECT_THAT(s->BulkImport(ImportBatch("q-", 3)),
              ::consentry::testing::IsOkAndHolds(ElementsAre(3, 4, 5)));
}

// A subject created by another transaction between a write's read ("no
// record") and its insert (as a bulk import can: it takes no subject
// locks) makes the insert fail; the write is tried again and builds on the
// record that appeared, losing neither.
TEST_F(PostgresWritersTest, WriteRacingTheCreationOfItsSubjectBuildsOnIt) {
  std::unique_ptr<PostgresConsentStore> s = Open();
  ASSERT_NE(s, nullptr);
  Raw holder(conninfo_);
  Raw watch(conninfo_);
  ASSERT_TRUE(holder.ok() && watch.ok());
  // Another transaction takes the next revision and so holds the counter.
  const std::vector<std::string> rev =
      holder.Column(absl::StrCat("BEGIN; UPDATE ", Table("revision_counter"),
                                 " SET last = last + 1 RETURNING last"));
  ASSERT_THAT(rev, ElementsAre("1")) << holder.error;
  absl::StatusOr<Revision> applied;
  std::thread writer([&] {
    applied =
        s->Apply(PurposeChange("racer", "marketing", v1::CONSENT_STATE_GIVEN));
  });
  // The write has read "no record" and waits for the counter.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (watch.Column("SELECT 1 FROM pg_locks WHERE NOT granted").empty() &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  // The other transaction creates the subject at its revision and commits.
  v1::ConsentRecord created;
  ASSERT_OK(MergeConsentChange(
      PurposeChange("racer", "analytics", v1::CONSENT_STATE_GIVEN), 1,
      absl::Now(), created));
  std::string hex;
  for (char c : created.SerializeAsString()) {
    absl::StrAppend(&hex,
                    absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
  }
  holder.Column(absl::StrCat(
      "INSERT INTO ", Table("consent_records"), " VALUES ('racer', 1, '\\x",
      hex, "'); INSERT INTO ", Table("consent_history"),
      "(revision, subject_id, commit_time_ns, change, state) VALUES (1, "
      "'racer', 0, '', '\\x",
      hex, "'); COMMIT"));
  ASSERT_THAT(holder.error, IsEmpty());
  writer.join();
  ASSERT_THAT(applied, ::consentry::testing::IsOkAndHolds(2));
  absl::StatusOr<v1::ConsentRecord> r = s->Get("racer");
  ASSERT_OK(r);
  EXPECT_EQ(r->revision(), 2);
  EXPECT_EQ(r->purposes_size(), 2);  // analytics (created) and marketing
  EXPECT_THAT(s->LatestRevision(), ::consentry::testing::IsOkAndHolds(2));
}

// The revision is appended to the record's bytes by SQL (a protobuf
// varint): every length of it must read back.
TEST_F(PostgresWritersTest, RevisionsOfEveryVarintLengthReadBack) {
  std::unique_ptr<PostgresConsentStore> s = Open();
  ASSERT_NE(s, nullptr);
  Raw raw(conninfo_);
  ASSERT_TRUE(raw.ok());
  for (int bits : {7, 14, 21, 28, 35, 42, 49, 56, 62}) {
    const std::int64_t before = (std::int64_t{1} << bits) - 1;
    raw.Column(absl::StrCat("UPDATE ", Table("revision_counter"),
                            " SET last = ", before));
    ASSERT_THAT(raw.error, IsEmpty());
    const std::string subject = absl::StrCat("v", bits);
    ASSERT_THAT(
        s->Apply(PurposeChange(subject, "marketing", v1::CONSENT_STATE_GIVEN)),
        ::consentry::testing::IsOkAndHolds(before + 1));
    absl::StatusOr<v1::ConsentRecord> r = s->Get(subject);
    ASSERT_OK(r);
    EXPECT_EQ(r->revision(), before + 1) << bits;
    raw.Column(absl::StrCat("UPDATE ", Table("revision_counter"),
                            " SET last = ", before + 10));
    absl::StatusOr<std::vector<Revision>> imp =
        s->BulkImport(ImportBatch(absl::StrCat("b", bits, "-"), 2));
    ASSERT_OK(imp);
    EXPECT_THAT(*imp, ElementsAre(before + 11, before + 12));
    r = s->Get(absl::StrCat("b", bits, "-1"));
    ASSERT_OK(r);
    EXPECT_EQ(r->revision(), before + 12) << bits;
  }
}

// A schema of version 1 (revisions from a sequence) moves to the counter:
// the next revision follows the highest one written, and the sequence is
// gone, so a writer of the old version cannot assign revisions beside the
// counter.
TEST_F(PostgresWritersTest, MigrationFromTheSequenceContinuesTheRevisions) {
  {
    std::unique_ptr<PostgresConsentStore> s = Open();
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK(s->Apply(PurposeChange(absl::StrCat("m", i), "marketing",
                                       v1::CONSENT_STATE_GIVEN)));
    }
  }
  Raw raw(conninfo_);
  ASSERT_TRUE(raw.ok());
  // Back to version 1 as that library left it (its sequence ahead of the
  // history after a rolled-back write).
  raw.Column(absl::StrCat(
      "DROP TABLE ", Table("revision_counter"), "; CREATE SEQUENCE ",
      Table("revision_seq"), "; SELECT setval('", Table("revision_seq"),
      "', 5); UPDATE ", Table("consentry_schema"), " SET version = 1"));
  ASSERT_THAT(raw.error, IsEmpty());
  std::unique_ptr<PostgresConsentStore> s = Open();
  ASSERT_NE(s, nullptr);
  EXPECT_THAT(
      s->Apply(PurposeChange("m9", "marketing", v1::CONSENT_STATE_GIVEN)),
      ::consentry::testing::IsOkAndHolds(4));
  EXPECT_THAT(raw.Column(absl::StrCat("SELECT version FROM ",
                                      Table("consentry_schema"))),
              ElementsAre(absl::StrCat(PostgresConsentStore::kSchemaVersion)));
  EXPECT_THAT(raw.Column(absl::StrCat("SELECT to_regclass('",
                                      Table("revision_seq"), "') IS NULL")),
              ElementsAre("t"));
}

}  // namespace
}  // namespace consentry

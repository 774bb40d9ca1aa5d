// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The PostgreSQL request and provision record stores beyond the shared
// contract (the conformance suites): schema versions per component,
// concurrent migration, compare-and-set of request steps across handles
// and processes, a writer killed mid-transaction, unparsable rows, an
// unreachable or restarted server, and the indexes that find one subject's
// rows. Runs on the fixture's server; the restart test starts its own.

#include "consentry/postgres_records.h"

#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/pg_scripts.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

using ::consentry::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Runs SQL on the server directly; returns the first field of the first
// row of the last result (empty when there is none).
std::string Raw(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, sql.c_str());
  EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK ||
              PQresultStatus(r) == PGRES_TUPLES_OK)
      << sql << ": " << PQresultErrorMessage(r);
  std::string out;
  for (int i = 0; i < PQntuples(r); ++i) {
    if (i > 0) out += "\n";
    out += PQgetvalue(r, i, 0);
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

v1::SubjectRequest Intake(const std::string& subject) {
  v1::SubjectRequest r;
  r.set_kind(v1::REQUEST_KIND_DISCLOSURE);
  r.set_subject_id(subject);
  r.set_verified_subject_id(subject);
  r.set_state(v1::REQUEST_STATE_RECEIVED);
  return r;
}

v1::ProvisionRecord Provision(const std::string& id,
                              std::vector<std::string> subjects,
                              std::int64_t seconds = 1'780'000'000) {
  v1::ProvisionRecord p;
  p.set_id(id);
  p.set_recipient_id("callcenter-tokyo");
  p.mutable_provision_time()->set_seconds(seconds);
  for (const std::string& s : subjects) p.add_subjects(s);
  p.add_categories("contact");
  p.set_record_method(v1::RECORD_METHOD_PER_PROVISION);
  return p;
}

std::vector<std::string> Ids(const v1::ProvisionHistory& h) {
  std::vector<std::string> out;
  for (const v1::ProvisionRecord& p : h.provisions()) out.push_back(p.id());
  for (const v1::ReceiptRecord& r : h.receipts()) out.push_back(r.id());
  return out;
}

class PostgresRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> c = testing::PgConnInfo();
    ASSERT_OK(c);
    conninfo_ = *c;
    options_.schema = testing::UniqueName("pgr");
    // Loads the retention time zone before any test starts threads: absl
    // loads a zone once behind a lock ThreadSanitizer cannot see in the
    // system's uninstrumented absl, and would report the first concurrent
    // loads as a race.
    (void)RetentionEnd(v1::RECORD_METHOD_COLLECTIVE, absl::UnixEpoch(),
                       absl::UnixEpoch());
  }
  std::unique_ptr<PostgresRequestStore> Requests() {
    absl::StatusOr<std::unique_ptr<PostgresRequestStore>> s =
        PostgresRequestStore::Open(conninfo_, options_);
    EXPECT_OK(s);
    return s.ok() ? *std::move(s) : nullptr;
  }
  std::unique_ptr<PostgresProvisionRecordStore> Records() {
    absl::StatusOr<std::unique_ptr<PostgresProvisionRecordStore>> s =
        PostgresProvisionRecordStore::Open(conninfo_, options_);
    EXPECT_OK(s);
    return s.ok() ? *std::move(s) : nullptr;
  }
  std::string Table(const std::string& name) const {
    return absl::StrCat(options_.schema, ".", name);
  }
  std::string conninfo_;
  PostgresStoreOptions options_;
};

// ---------------------------------------------------------------------------
// Schema

TEST_F(PostgresRecordsTest,
       ComponentsKeepTheirOwnVersionNextToTheConsentStore) {
  ASSERT_OK(PostgresConsentStore::Open(conninfo_, options_));
  ASSERT_NE(Requests(), nullptr);
  ASSERT_NE(Records(), nullptr);
  EXPECT_EQ(Raw(conninfo_, absl::StrCat("SELECT version FROM ",
                                        Table("consentry_schema"))),
            absl::StrCat(PostgresConsentStore::kSchemaVersion));
  EXPECT_EQ(Raw(conninfo_, absl::StrCat("SELECT component || '=' || version "
                                        "FROM ",
                                        Table("consentry_components"),
                                        " ORDER BY component")),
            "provisions=2\nrequests=1");
  // Reopening migrates nothing and keeps the data.
  absl::StatusOr<v1::SubjectRequest> r = Requests()->Create(Intake("a"));
  ASSERT_OK(r);
  EXPECT_OK(Requests()->Get(r->id()));
}

// A schema at provisions version 1 (a row per subject and record in
// `provision_subjects`) migrates to version 2 (the GIN index on
// `subjects`) when a store of this version opens it; the records written
// under version 1 are found by subject afterwards.
TEST_F(PostgresRecordsTest, ProvisionsVersionOneMigratesToTheSubjectIndex) {
  std::unique_ptr<PostgresProvisionRecordStore> old = Records();
  ASSERT_NE(old, nullptr);
  absl::StatusOr<std::string> p1 = old->AddProvision(Provision("", {"x", "y"}));
  ASSERT_OK(p1);
  old.reset();
  // The version 1 layout, as that version left it.
  Raw(conninfo_,
      absl::StrCat("DROP INDEX ", Table("provision_records_by_subject"), ";",
                   "CREATE TABLE ", Table("provision_subjects"),
                   "(subject_id text NOT NULL, kind smallint NOT NULL, id "
                   "text NOT NULL, PRIMARY KEY (subject_id, kind, id));",
                   "INSERT INTO ", Table("provision_subjects"),
                   " SELECT DISTINCT s, kind, id FROM ",
                   Table("provision_records"), ", unnest(subjects) AS s;",
                   "UPDATE ", Table("consentry_components"),
                   " SET version = 1 WHERE component = 'provisions'"));
  std::unique_ptr<PostgresProvisionRecordStore> migrated = Records();
  ASSERT_NE(migrated, nullptr);
  EXPECT_EQ(Raw(conninfo_, absl::StrCat("SELECT version FROM ",
                                        Table("consentry_components"),
                                        " WHERE component = 'provisions'")),
            "2");
  EXPECT_EQ(
      Raw(conninfo_, absl::StrCat("SELECT to_regclass('",
                                  Table("provision_subjects"), "') IS NULL")),
      "t");
  absl::StatusOr<std::string> p2 =
      migrated->AddProvision(Provision("", {"y"}, 1'780'000'001));
  ASSERT_OK(p2);
  RecordFilter f;
  f.subject = "y";
  absl::StatusOr<v1::ProvisionHistory> y = migrated->Query(f);
  ASSERT_OK(y);
  EXPECT_THAT(Ids(*y), ::testing::ElementsAre(*p1, *p2));
  f.subject = "x";
  absl::StatusOr<v1::ProvisionHistory> x = migrated->Query(f);
  ASSERT_OK(x);
  EXPECT_THAT(Ids(*x), ::testing::ElementsAre(*p1));
}

TEST_F(PostgresRecordsTest, NewerComponentVersionIsRefusedNamingBoth) {
  ASSERT_NE(Requests(), nullptr);
  ASSERT_NE(Records(), nullptr);
  Raw(conninfo_, absl::StrCat("UPDATE ", Table("consentry_components"),
                              " SET version = 7 WHERE component = "
                              "'requests'"));
  EXPECT_THAT(
      PostgresRequestStore::Open(conninfo_, options_),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr("'requests'"), HasSubstr("schema version 7"),
                     HasSubstr("(1)"), HasSubstr(options_.schema))));
  // The other component is unaffected.
  EXPECT_OK(PostgresProvisionRecordStore::Open(conninfo_, options_));
}

TEST_F(PostgresRecordsTest, ServicesStartingAtOnceMigrateOnce) {
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (i % 2 == 0) {
        results[static_cast<std::size_t>(i)] =
            PostgresRequestStore::Open(conninfo_, options_).status();
      } else {
        results[static_cast<std::size_t>(i)] =
            PostgresProvisionRecordStore::Open(conninfo_, options_).status();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_OK(s);
  EXPECT_EQ(Raw(conninfo_, absl::StrCat("SELECT count(*) FROM ",
                                        Table("consentry_components"))),
            "2");
}

TEST_F(PostgresRecordsTest, BadSchemaNameIsInvalidArgument) {
  PostgresStoreOptions o = options_;
  o.schema = "x; DROP TABLE y";
  EXPECT_THAT(
      PostgresRequestStore::Open(conninfo_, o),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("schema")));
  EXPECT_THAT(
      PostgresProvisionRecordStore::Open(conninfo_, o),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("schema")));
}

// ---------------------------------------------------------------------------
// Requests

TEST_F(PostgresRecordsTest, IdsAreUniqueAcrossHandlesAndVisibleToEach) {
  std::unique_ptr<PostgresRequestStore> a = Requests();
  std::unique_ptr<PostgresRequestStore> b = Requests();
  absl::StatusOr<v1::SubjectRequest> ra = a->Create(Intake("s1"));
  absl::StatusOr<v1::SubjectRequest> rb = b->Create(Intake("s1"));
  ASSERT_OK(ra);
  ASSERT_OK(rb);
  EXPECT_NE(ra->id(), rb->id());
  EXPECT_EQ(ra->version(), 1);
  absl::StatusOr<v1::SubjectRequest> got = b->Get(ra->id());
  ASSERT_OK(got);
  EXPECT_EQ(got->SerializeAsString(), ra->SerializeAsString());
  absl::StatusOr<std::vector<v1::SubjectRequest>> list = a->ListBySubject("s1");
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id(), ra->id());
  EXPECT_EQ((*list)[1].id(), rb->id());
}

TEST_F(PostgresRecordsTest, StaleVersionIsAbortedAndWritesNothing) {
  std::unique_ptr<PostgresRequestStore> a = Requests();
  std::unique_ptr<PostgresRequestStore> b = Requests();
  absl::StatusOr<v1::SubjectRequest> r = a->Create(Intake("s1"));
  ASSERT_OK(r);
  v1::SubjectRequest first = *r;
  first.set_state(v1::REQUEST_STATE_FORM_SENT);
  ASSERT_OK(a->Update(first));
  v1::SubjectRequest stale = *r;  // still at version 1
  stale.set_state(v1::REQUEST_STATE_REFUSED);
  EXPECT_THAT(b->Update(stale),
              StatusIs(absl::StatusCode::kAborted,
                       AllOf(HasSubstr(r->id()), HasSubstr("version 2"))));
  absl::StatusOr<v1::SubjectRequest> now = b->Get(r->id());
  ASSERT_OK(now);
  EXPECT_EQ(now->version(), 2);
  EXPECT_EQ(now->state(), v1::REQUEST_STATE_FORM_SENT);
  absl::StatusOr<RequestListing> open = b->ListOpen();
  ASSERT_OK(open);
  EXPECT_EQ(open->requests.size(), 1u);
  v1::SubjectRequest unknown = *now;
  unknown.set_id("req-999999");
  EXPECT_THAT(a->Update(unknown),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(a->Get("req-999999"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST_F(PostgresRecordsTest, ConcurrentStepsFromTwoHandlesAreNeverLost) {
  std::unique_ptr<PostgresRequestStore> setup = Requests();
  absl::StatusOr<v1::SubjectRequest> r = setup->Create(Intake("s1"));
  ASSERT_OK(r);
  constexpr int kSteps = 25;
  std::vector<std::thread> threads;
  std::vector<int> aborted(2, 0);
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      std::unique_ptr<PostgresRequestStore> s = Requests();
      if (s == nullptr) return;
      for (int i = 0; i < kSteps; ++i) {
        while (true) {
          absl::StatusOr<v1::SubjectRequest> cur = s->Get(r->id());
          ASSERT_OK(cur);
          cur->add_transitions()->set_actor(absl::StrCat(w, "-", i));
          absl::StatusOr<v1::SubjectRequest> u = s->Update(*cur);
          if (u.ok()) break;
          ASSERT_THAT(u, StatusIs(absl::StatusCode::kAborted, ::testing::_));
          ++aborted[static_cast<std::size_t>(w)];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::StatusOr<v1::SubjectRequest> end = setup->Get(r->id());
  ASSERT_OK(end);
  EXPECT_EQ(end->version(), 1 + 2 * kSteps);
  std::set<std::string> actors;
  for (const v1::Transition& t : end->transitions()) actors.insert(t.actor());
  EXPECT_EQ(actors.size(), static_cast<std::size_t>(2 * kSteps));
}

TEST_F(PostgresRecordsTest, CorruptRequestRowIsDataLossForItsSubjectOnly) {
  std::unique_ptr<PostgresRequestStore> s = Requests();
  absl::StatusOr<v1::SubjectRequest> victim = s->Create(Intake("victim"));
  absl::StatusOr<v1::SubjectRequest> other = s->Create(Intake("other"));
  ASSERT_OK(victim);
  ASSERT_OK(other);
  Raw(conninfo_, absl::StrCat("UPDATE ", Table("subject_requests"),
                              " SET request = '\\xffffffff0f'::bytea WHERE "
                              "id = '",
                              victim->id(), "'"));
  EXPECT_THAT(s->Get(victim->id()),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(victim->id()), HasSubstr("parse"))));
  EXPECT_THAT(s->ListBySubject("victim"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(victim->id())));
  EXPECT_OK(s->Get(other->id()));
  absl::StatusOr<std::vector<v1::SubjectRequest>> list =
      s->ListBySubject("other");
  ASSERT_OK(list);
  EXPECT_EQ(list->size(), 1u);
  // Listings name the unreadable request and list the others.
  for (absl::StatusOr<RequestListing> listing : {s->ListOpen(), s->ListAll()}) {
    ASSERT_OK(listing);
    ASSERT_EQ(listing->requests.size(), 1u);
    EXPECT_EQ(listing->requests[0].id(), other->id());
    ASSERT_EQ(listing->unreadable.size(), 1u);
    EXPECT_EQ(listing->unreadable[0].id, victim->id());
    EXPECT_THAT(listing->unreadable[0].status,
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(victim->id())));
  }
  absl::StatusOr<RequestListing> overdue =
      OverdueRequests(*s, absl::InfiniteFuture());
  ASSERT_OK(overdue);
  EXPECT_EQ(overdue->requests.size(), 1u);
  ASSERT_EQ(overdue->unreadable.size(), 1u);
  EXPECT_EQ(overdue->unreadable[0].id, victim->id());
  // Bytes that parse but name another request are data loss too.
  Raw(conninfo_,
      absl::StrCat("UPDATE ", Table("subject_requests"),
                   " SET request = (SELECT request FROM ",
                   Table("subject_requests"), " WHERE id = '", other->id(),
                   "') WHERE id = '", victim->id(), "'"));
  EXPECT_THAT(s->Get(victim->id()),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(victim->id()), HasSubstr(other->id()))));
}

TEST_F(PostgresRecordsTest, TextColumnsRefuseWhatTheyCannotHold) {
  std::unique_ptr<PostgresRequestStore> s = Requests();
  EXPECT_THAT(s->Create(Intake(std::string("a\0b", 3))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("verified_subject_id")));
  EXPECT_THAT(s->Get(std::string("a\0b", 3)),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  std::unique_ptr<PostgresProvisionRecordStore> p = Records();
  EXPECT_THAT(
      p->AddProvision(Provision("", {"ok", std::string("a\0b", 3)})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("subjects[1]")));
  RecordFilter f;
  f.subject = std::string("a\0b", 3);
  absl::StatusOr<v1::ProvisionHistory> h = p->Query(f);
  ASSERT_OK(h);
  EXPECT_EQ(h->provisions_size(), 0);
  EXPECT_EQ(Raw(conninfo_, absl::StrCat("SELECT count(*) FROM ",
                                        Table("provision_records"))),
            "0");
}

// ---------------------------------------------------------------------------
// Provision records

TEST_F(PostgresRecordsTest, SubjectIndexFindsEveryRecordNamingTheSubject) {
  std::unique_ptr<PostgresProvisionRecordStore> a = Records();
  std::unique_ptr<PostgresProvisionRecordStore> b = Records();
  absl::StatusOr<std::string> p1 = a->AddProvision(Provision("", {"x", "y"}));
  absl::StatusOr<std::string> p2 = b->AddProvision(Provision("", {"y", "y"}));
  ASSERT_OK(p1);
  ASSERT_OK(p2);
  EXPECT_NE(*p1, *p2);
  EXPECT_THAT(*p1, HasSubstr("prov-"));
  v1::ReceiptRecord rc;
  rc.set_provider_name("Acme");
  rc.mutable_receipt_time()->set_seconds(1'780'000'100);
  rc.add_subjects("x");
  absl::StatusOr<std::string> r1 = b->AddReceipt(rc);
  ASSERT_OK(r1);
  EXPECT_THAT(*r1, HasSubstr("rcpt-"));
  RecordFilter f;
  f.subject = "y";
  absl::StatusOr<v1::ProvisionHistory> y = a->Query(f);
  ASSERT_OK(y);
  EXPECT_THAT(Ids(*y), ::testing::ElementsAre(*p1, *p2));
  f.subject = "x";
  absl::StatusOr<v1::ProvisionHistory> x = a->Query(f);
  ASSERT_OK(x);
  EXPECT_THAT(Ids(*x), ::testing::ElementsAre(*p1, *r1));
  EXPECT_EQ(x->receipts(0).provider_name(), "Acme");
  // A duplicate id writes nothing, not even subject rows.
  EXPECT_THAT(a->AddProvision(Provision(*p1, {"z"})),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(*p1)));
  f.subject = "z";
  absl::StatusOr<v1::ProvisionHistory> z = a->Query(f);
  ASSERT_OK(z);
  EXPECT_EQ(z->provisions_size(), 0);
  // Deleting removes the record from its subjects' answers.
  ASSERT_OK(b->Delete({*p1}, {*r1}));
  f.subject = "x";
  x = a->Query(f);
  ASSERT_OK(x);
  EXPECT_EQ(x->provisions_size() + x->receipts_size(), 0);
  f.subject = "y";
  y = a->Query(f);
  ASSERT_OK(y);
  EXPECT_THAT(Ids(*y), ::testing::ElementsAre(*p2));
  // Subject ids an array literal would quote, or that look like one, are
  // matched exactly and only themselves.
  const std::vector<std::string> awkward = {"a\"b", "c\\d", "{e}",
                                            "f,g",  "NULL", " h "};
  absl::StatusOr<std::string> p3 = a->AddProvision(Provision("", awkward));
  ASSERT_OK(p3);
  for (const std::string& subject : awkward) {
    f.subject = subject;
    absl::StatusOr<v1::ProvisionHistory> got = b->Query(f);
    ASSERT_OK(got);
    EXPECT_THAT(Ids(*got), ::testing::ElementsAre(*p3)) << subject;
  }
  for (const std::string subject : {"a", "f", "e", "h", "{e}x"}) {
    f.subject = subject;
    absl::StatusOr<v1::ProvisionHistory> got = b->Query(f);
    ASSERT_OK(got);
    EXPECT_EQ(got->provisions_size(), 0) << subject;
  }
}

TEST_F(PostgresRecordsTest, TimeFilterMatchesTheInMemoryStoreAtTheEdges) {
  std::unique_ptr<PostgresProvisionRecordStore> s = Records();
  InMemoryProvisionRecordStore mem;
  const std::vector<std::pair<std::int64_t, std::int32_t>> times = {
      {-62'135'596'800, 0},
      {-1, 999'999'999},
      {0, 0},
      {1'780'000'000, 5},
      {253'000'000'000, 999'999'999}};
  for (std::size_t i = 0; i < times.size(); ++i) {
    v1::ProvisionRecord p = Provision(absl::StrCat("t", i), {"s"});
    p.mutable_provision_time()->set_seconds(times[i].first);
    p.mutable_provision_time()->set_nanos(times[i].second);
    ASSERT_OK(s->AddProvision(p));
    ASSERT_OK(mem.AddProvision(p));
  }
  const std::vector<absl::Time> bounds = {
      absl::InfinitePast(),
      absl::FromUnixSeconds(-62'135'596'800),
      absl::FromUnixNanos(-1),
      absl::UnixEpoch(),
      absl::FromUnixSeconds(1'780'000'000) + absl::Nanoseconds(5),
      absl::FromUnixSeconds(1'780'000'000) + absl::Nanoseconds(6),
      absl::InfiniteFuture()};
  for (absl::Time from : bounds) {
    for (absl::Time to : bounds) {
      RecordFilter f;
      f.from = from;
      f.to = to;
      absl::StatusOr<v1::ProvisionHistory> got = s->Query(f);
      absl::StatusOr<v1::ProvisionHistory> want = mem.Query(f);
      ASSERT_OK(got);
      ASSERT_OK(want);
      EXPECT_EQ(Ids(*got), Ids(*want)) << from << " .. " << to;
    }
  }
}

TEST_F(PostgresRecordsTest, CorruptRecordRowIsDataLossForQueriesThatReachIt) {
  std::unique_ptr<PostgresProvisionRecordStore> s = Records();
  ASSERT_OK(s->AddProvision(Provision("bad", {"victim"})));
  ASSERT_OK(s->AddProvision(Provision("good", {"other"})));
  Raw(conninfo_, absl::StrCat("UPDATE ", Table("provision_records"),
                              " SET record = '\\xffffffff0f'::bytea WHERE "
                              "id = 'bad'"));
  RecordFilter f;
  f.subject = "victim";
  EXPECT_THAT(s->Query(f), StatusIs(absl::StatusCode::kDataLoss,
                                    AllOf(HasSubstr("provision record 'bad'"),
                                          HasSubstr("parse"))));
  f.subject = "other";
  absl::StatusOr<v1::ProvisionHistory> other = s->Query(f);
  ASSERT_OK(other);
  EXPECT_THAT(Ids(*other), ::testing::ElementsAre("good"));
  // The damaged record can still be deleted.
  ASSERT_OK(s->Delete({"bad"}, {}));
  EXPECT_OK(s->Query(RecordFilter{}));
}

// The subjects live in their own column: one that is not a flat array of
// text values (a NULL element, two dimensions) is data loss for the record
// that holds it, and the other records are read as before.
TEST_F(PostgresRecordsTest, MalformedSubjectsColumnIsDataLossForThatRecord) {
  std::unique_ptr<PostgresProvisionRecordStore> s = Records();
  ASSERT_OK(s->AddProvision(Provision("bad", {"victim"}, 1'780'000'000)));
  ASSERT_OK(s->AddProvision(Provision("good", {"other"}, 1'780'000'001)));
  for (const char* value :
       {"ARRAY['victim', NULL]::text[]", "ARRAY[['victim', 'x']]::text[]"}) {
    Raw(conninfo_,
        absl::StrCat("UPDATE ", Table("provision_records"),
                     " SET subjects = ", value, " WHERE id = 'bad'"));
    EXPECT_THAT(s->Query(RecordFilter{}),
                StatusIs(absl::StatusCode::kDataLoss,
                         AllOf(HasSubstr("provision record 'bad'"),
                               HasSubstr("subjects"))))
        << value;
    RecordFilter f;
    f.subject = "other";
    absl::StatusOr<v1::ProvisionHistory> other = s->Query(f);
    ASSERT_OK(other);
    ASSERT_EQ(other->provisions_size(), 1);
    EXPECT_THAT(other->provisions(0).subjects(),
                ::testing::ElementsAre("other"));
  }
}

// The stored bytes leave the subjects out (they are in their column); a row
// written when the bytes carried them too reads them once.
TEST_F(PostgresRecordsTest, SubjectsAreStoredOnceAndReadBackInOrder) {
  std::unique_ptr<PostgresProvisionRecordStore> s = Records();
  ASSERT_OK(s->AddProvision(Provision("new", {"b", "a", "b"})));
  v1::ProvisionRecord old = Provision("", {"c", "d"}, 1'780'000'001);
  ASSERT_OK(s->AddProvision(Provision("old", {"c", "d"}, 1'780'000'001)));
  Raw(conninfo_,
      absl::StrCat("UPDATE ", Table("provision_records"), " SET record = '\\x",
                   absl::BytesToHexString(old.SerializeAsString()),
                   "'::bytea WHERE id = 'old'"));
  v1::ProvisionRecord bytes_only;
  ASSERT_TRUE(bytes_only.ParseFromString(absl::HexStringToBytes(
      Raw(conninfo_,
          absl::StrCat("SELECT encode(record, 'hex') FROM ",
                       Table("provision_records"), " WHERE id = 'new'")))));
  EXPECT_EQ(bytes_only.subjects_size(), 0);
  absl::StatusOr<v1::ProvisionHistory> all = s->Query(RecordFilter{});
  ASSERT_OK(all);
  ASSERT_EQ(all->provisions_size(), 2);
  EXPECT_THAT(all->provisions(0).subjects(),
              ::testing::ElementsAre("b", "a", "b"));
  EXPECT_THAT(all->provisions(1).subjects(), ::testing::ElementsAre("c", "d"));
}

// What the approval of a purge sees is what is deleted: a writer of
// another service that adds a record due at once waits until the purge
// committed, and its record stays.
TEST_F(PostgresRecordsTest, PurgeKeepsWritersOutUntilItCommits) {
  std::unique_ptr<PostgresProvisionRecordStore> a = Records();
  std::unique_ptr<PostgresProvisionRecordStore> b = Records();
  ASSERT_OK(a->AddProvision(Provision("old", {"s1"}, 1'500'000'000)));
  std::atomic<bool> added{false};
  std::thread writer;
  absl::StatusOr<PurgeResult> out = a->PurgeDue(
      absl::FromUnixSeconds(1'700'000'000), [&](const PurgeResult& due) {
        EXPECT_THAT(due.provision_ids, ::testing::ElementsAre("old"));
        writer = std::thread([&] {
          EXPECT_OK(b->AddProvision(Provision("late", {"s1"}, 1'500'000'000)));
          added.store(true);
        });
        absl::SleepFor(absl::Milliseconds(300));
        EXPECT_FALSE(added.load()) << "a writer got past the purge's lock";
        return absl::OkStatus();
      });
  ASSERT_OK(out);
  writer.join();
  EXPECT_TRUE(added.load());
  EXPECT_THAT(out->provision_ids, ::testing::ElementsAre("old"));
  absl::StatusOr<v1::ProvisionHistory> h = a->Query(RecordFilter{});
  ASSERT_OK(h);
  EXPECT_THAT(Ids(*h), ::testing::ElementsAre("late"));
}

// Writers on separate connections extending one series, with their
// records' times interleaved, leave every record of it with the end
// counted from the series' latest record, whichever commits last.
TEST_F(PostgresRecordsTest, SeriesWritersOnTwoConnectionsAgreeOnTheEnd) {
  constexpr int kWriters = 3;
  constexpr int kPerWriter = 20;
  const std::int64_t base = 1'750'000'000;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::unique_ptr<PostgresProvisionRecordStore> s = Records();
      if (s == nullptr) return;
      for (int i = 0; i < kPerWriter; ++i) {
        // Writer w's records fall on days i * kWriters + w, in an order
        // that makes a later commit often carry an earlier time.
        const int day = (kPerWriter - 1 - i) * kWriters + w;
        v1::ProvisionRecord p =
            Provision(absl::StrCat("w", w, "-", i), {"s"}, base + day * 86'400);
        p.set_record_method(i % 2 == 0 ? v1::RECORD_METHOD_COLLECTIVE
                                       : v1::RECORD_METHOD_CONTRACT_DOCUMENT);
        p.set_series_id("shared");
        EXPECT_OK(s->AddProvision(p));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const absl::Time last = absl::FromUnixSeconds(
      base + ((kPerWriter - 1) * kWriters + kWriters - 1) * 86'400);
  absl::StatusOr<v1::ProvisionHistory> h = Records()->Query(RecordFilter{});
  ASSERT_OK(h);
  ASSERT_EQ(h->provisions_size(), kWriters * kPerWriter);
  for (const v1::ProvisionRecord& r : h->provisions()) {
    EXPECT_EQ(absl::FromUnixSeconds(r.retain_until().seconds()),
              RetentionEnd(r.record_method(), last, last))
        << r.id();
  }
}

// A series' retention end never moves earlier: deleting its last record
// leaves the others' end where the last record put it (keeping a record
// too long is recoverable, purging it too early is not); a series purged
// whole starts afresh.
TEST_F(PostgresRecordsTest, SeriesEndIsNotShortenedByDelete) {
  std::unique_ptr<PostgresProvisionRecordStore> s = Records();
  auto in_series = [](const std::string& id, std::int64_t t) {
    v1::ProvisionRecord p = Provision(id, {"s1"}, t);
    p.set_record_method(v1::RECORD_METHOD_COLLECTIVE);
    p.set_series_id("k");
    return p;
  };
  ASSERT_OK(s->AddProvision(in_series("first", 1'700'000'000)));
  ASSERT_OK(s->AddProvision(in_series("last", 1'760'000'000)));
  const absl::Time end = RetentionEnd(v1::RECORD_METHOD_COLLECTIVE,
                                      absl::FromUnixSeconds(1'760'000'000),
                                      absl::FromUnixSeconds(1'760'000'000));
  ASSERT_OK(s->Delete({"last"}, {}));
  absl::StatusOr<v1::ProvisionHistory> h = s->Query(RecordFilter{});
  ASSERT_OK(h);
  ASSERT_EQ(h->provisions_size(), 1);
  EXPECT_EQ(absl::FromUnixSeconds(h->provisions(0).retain_until().seconds()),
            end);
  absl::StatusOr<PurgeResult> out = s->PurgeDue(end);
  ASSERT_OK(out);
  EXPECT_THAT(out->provision_ids, ::testing::ElementsAre("first"));
  EXPECT_EQ(Raw(conninfo_, absl::StrCat("SELECT count(*) FROM ",
                                        Table("provision_series"))),
            "0");
  ASSERT_OK(s->AddProvision(in_series("again", 1'600'000'000)));
  h = s->Query(RecordFilter{});
  ASSERT_OK(h);
  ASSERT_EQ(h->provisions_size(), 1);
  EXPECT_EQ(absl::FromUnixSeconds(h->provisions(0).retain_until().seconds()),
            RetentionEnd(v1::RECORD_METHOD_COLLECTIVE,
                         absl::FromUnixSeconds(1'600'000'000),
                         absl::FromUnixSeconds(1'600'000'000)));
}

// One subject's rows are found by index, never by a scan of every row: the
// plans of the stores' subject queries over 20,000 rows (the SQL as the
// stores send it).
TEST_F(PostgresRecordsTest, SubjectQueriesUseIndexes) {
  ASSERT_NE(Requests(), nullptr);
  ASSERT_NE(Records(), nullptr);
  Raw(conninfo_,
      absl::StrCat("INSERT INTO ", Table("subject_requests"),
                   " SELECT g, 'req-' || g, 1, 'subj-' || (g % 5000), "
                   "g % 3 = 0, '\\x'::bytea FROM generate_series(1, 20000) g;"
                   "INSERT INTO ",
                   Table("provision_records"),
                   " (kind, id, party, time_s, time_n, record_method, "
                   "retain_s, retain_n, subjects, record) SELECT 1, 'p' || g, "
                   "'r' || (g % 10), g, 0, 1, g, 0, ARRAY['subj-' || (g % "
                   "5000), 'subj-' || ((g * 2) % 5000), 'subj-' || ((g * 3) % "
                   "5000)], '\\x'::bytea FROM generate_series(1, 20000) g;"
                   "ANALYZE ",
                   Table("subject_requests")));
  // What autovacuum does after a burst of inserts: the GIN index's pending
  // list is merged into the index (until then a query reads the list too).
  Raw(conninfo_, absl::StrCat("VACUUM ANALYZE ", Table("provision_records"),
                              ", ", Table("provision_series")));
  const std::string requests =
      Raw(conninfo_,
          absl::StrCat("EXPLAIN SELECT id, version, request FROM ",
                       Table("subject_requests"),
                       " WHERE verified_subject_id = 'subj-7' ORDER BY seq"));
  EXPECT_THAT(requests, AllOf(HasSubstr("subject_requests_by_subject"),
                              Not(HasSubstr("Seq Scan"))));
  // The store's subject filter (`Query` with a subject) goes through the
  // GIN index on the subjects array.
  const std::string records =
      Raw(conninfo_,
          absl::StrCat("EXPLAIN SELECT r.kind::integer, r.id, COALESCE(CASE "
                       "r.record_method WHEN 3 THEN x.contract_s WHEN 2 THEN "
                       "x.collective_s END, r.retain_s), COALESCE(CASE "
                       "r.record_method WHEN 3 THEN x.contract_n WHEN 2 THEN "
                       "x.collective_n END, r.retain_n), r.record FROM ",
                       Table("provision_records"), " AS r LEFT JOIN ",
                       Table("provision_series"),
                       " AS x ON x.kind = r.kind AND x.series_id = r.series_id "
                       "WHERE r.subjects @> ARRAY['subj-7']::text[] ORDER BY "
                       "r.kind, r.time_s, r.time_n, r.seq"));
  // (The series table of this test is empty, so a scan of it is fine.)
  EXPECT_THAT(records, AllOf(HasSubstr("provision_records_by_subject"),
                             Not(HasSubstr("Seq Scan on provision_records"))));
  std::printf("%s\n\n%s\n", requests.c_str(), records.c_str());
}

// ---------------------------------------------------------------------------
// Outages

TEST_F(PostgresRecordsTest, UnreachableServerIsUnavailableWithoutPassword) {
  const std::string dir = testing::TempPath(testing::UniqueName("nopg"));
  PostgresStoreOptions o = options_;
  o.connect_timeout = absl::Seconds(1);
  const std::string conninfo =
      absl::StrCat("host=", dir, " dbname=app user=app password=hunter2");
  absl::Status r = PostgresRequestStore::Open(conninfo, o).status();
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable,
                          AllOf(HasSubstr(dir), HasSubstr("dbname=app"),
                                HasSubstr("request store"),
                                Not(HasSubstr("hunter2")))));
  absl::Status p = PostgresProvisionRecordStore::Open(conninfo, o).status();
  EXPECT_THAT(p, StatusIs(absl::StatusCode::kUnavailable,
                          AllOf(HasSubstr(dir), Not(HasSubstr("hunter2")))));
  EXPECT_THAT(
      PostgresRequestStore::Open("host=/tmp password=hunter2 'unterminated", o),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("connection"), Not(HasSubstr("hunter2")))));
}

TEST_F(PostgresRecordsTest, RestartedServerFailsCallsThenRecoversByItself) {
  const std::string state = testing::TempPath(testing::UniqueName("pgrrst"));
  ASSERT_EQ(testing::RunPgScript("start.sh", "--fresh " + state), 0);
  std::string conninfo;
  {
    std::ifstream in(state + "/conninfo");
    std::getline(in, conninfo);
  }
  absl::StatusOr<std::unique_ptr<PostgresRequestStore>> req =
      PostgresRequestStore::Open(conninfo, options_);
  absl::StatusOr<std::unique_ptr<PostgresProvisionRecordStore>> rec =
      PostgresProvisionRecordStore::Open(conninfo, options_);
  ASSERT_OK(req);
  ASSERT_OK(rec);
  absl::StatusOr<v1::SubjectRequest> r = (*req)->Create(Intake("s1"));
  ASSERT_OK(r);
  ASSERT_OK((*rec)->AddProvision(Provision("before", {"s1"})));

  ASSERT_EQ(testing::RunPgScript("stop.sh", state), 0);
  EXPECT_THAT((*req)->Get(r->id()),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(state)));
  v1::SubjectRequest step = *r;
  step.set_state(v1::REQUEST_STATE_FORM_SENT);
  EXPECT_THAT((*req)->Update(step),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(state)));
  EXPECT_THAT((*rec)->AddProvision(Provision("during", {"s1"})),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr(state), HasSubstr("provision"))));

  ASSERT_EQ(testing::RunPgScript("start.sh", state), 0);
  absl::StatusOr<v1::SubjectRequest> got = (*req)->Get(r->id());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!got.ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    got = (*req)->Get(r->id());
  }
  ASSERT_OK(got);
  // What failed while the server was down was not written.
  EXPECT_EQ(got->version(), 1);
  EXPECT_EQ(got->state(), v1::REQUEST_STATE_RECEIVED);
  ASSERT_OK((*req)->Update(step));
  RecordFilter f;
  f.subject = "s1";
  absl::StatusOr<v1::ProvisionHistory> h = (*rec)->Query(f);
  while (!h.ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    h = (*rec)->Query(f);
  }
  ASSERT_OK(h);
  EXPECT_THAT(Ids(*h), ::testing::ElementsAre("before"));
  ASSERT_OK((*rec)->AddProvision(Provision("after", {"s1"})));
  req->reset();
  rec->reset();
  EXPECT_EQ(testing::RunPgScript("stop.sh", "--cleanup " + state), 0);
}

// ---------------------------------------------------------------------------
// Writer processes

struct Acks {
  std::map<std::string, std::vector<std::string>> steps;  // request -> steps
  std::vector<std::string> provisions;
  int count = 0;
};

// Starts pg_records_writer with `args`; returns its pid and a stream of its
// output.
pid_t StartWriter(const std::vector<std::string>& args, FILE** out) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string prog = CONSENTRY_RECORDS_WRITER;
    std::vector<std::string> copy = args;
    std::vector<char*> argv = {prog.data()};
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(prog.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  *out = fdopen(fds[0], "r");
  return pid;
}

// Reads acknowledgements until EOF; kills the writer with SIGKILL once
// `kill_after` arrived (0: never).
void ReadAcks(FILE* in, pid_t pid, int kill_after, Acks& acks) {
  char line[512];
  while (std::fgets(line, sizeof line, in) != nullptr) {
    std::vector<std::string> f =
        absl::StrSplit(absl::StripAsciiWhitespace(line), ' ');
    if (f.size() == 3 && f[0] == "step") acks.steps[f[1]].push_back(f[2]);
    if (f.size() == 2 && f[0] == "prov") acks.provisions.push_back(f[1]);
    if (++acks.count == kill_after) kill(pid, SIGKILL);
  }
  std::fclose(in);
}

class PostgresRecordsWriterTest : public PostgresRecordsTest {
 protected:
  // Creates the requests the writers share and returns the writer's
  // arguments up to the tag.
  std::vector<std::string> CreateShared(std::vector<std::string>& ids) {
    std::unique_ptr<PostgresRequestStore> s = Requests();
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<v1::SubjectRequest> r = s->Create(Intake("w"));
      EXPECT_OK(r);
      if (r.ok()) ids.push_back(r->id());
    }
    EXPECT_NE(Records(), nullptr);
    return {conninfo_, options_.schema};
  }

  // Every acknowledged step is in its request, each exactly once, and the
  // version counts the steps; every acknowledged record is there with both
  // its subject rows (no record half written).
  void Verify(const std::vector<std::string>& ids, const Acks& acks) {
    std::unique_ptr<PostgresRequestStore> s = Requests();
    std::size_t steps = 0;
    for (const std::string& id : ids) {
      absl::StatusOr<v1::SubjectRequest> r = s->Get(id);
      ASSERT_OK(r);
      std::multiset<std::string> actors;
      for (const v1::Transition& t : r->transitions()) actors.insert(t.actor());
      EXPECT_EQ(r->version(), 1 + r->transitions_size());
      for (const std::string& a : actors) {
        EXPECT_EQ(actors.count(a), 1u) << a << " applied twice to " << id;
      }
      auto it = acks.steps.find(id);
      if (it == acks.steps.end()) continue;
      for (const std::string& step : it->second) {
        EXPECT_EQ(actors.count(step), 1u)
            << "acknowledged step " << step << " of " << id << " lost";
      }
      steps += it->second.size();
    }
    std::unique_ptr<PostgresProvisionRecordStore> p = Records();
    RecordFilter f;
    f.subject = "shared";
    absl::StatusOr<v1::ProvisionHistory> shared = p->Query(f);
    absl::StatusOr<v1::ProvisionHistory> all = p->Query(RecordFilter{});
    ASSERT_OK(shared);
    ASSERT_OK(all);
    EXPECT_EQ(Ids(*shared), Ids(*all));
    const std::vector<std::string> stored = Ids(*all);
    const std::set<std::string> have(stored.begin(), stored.end());
    for (const std::string& id : acks.provisions) {
      EXPECT_EQ(have.count(id), 1u) << "acknowledged record " << id << " lost";
    }
    EXPECT_EQ(
        Raw(conninfo_, absl::StrCat("SELECT sum(cardinality(subjects)) FROM ",
                                    Table("provision_records"))),
        absl::StrCat(2 * stored.size()));
    EXPECT_GT(steps, 0u);
  }
};

TEST_F(PostgresRecordsWriterTest, TwoWriterProcessesLoseNoStepOrRecord) {
  std::vector<std::string> ids;
  std::vector<std::string> base = CreateShared(ids);
  std::vector<FILE*> outs(2);
  std::vector<pid_t> pids;
  for (int w = 0; w < 2; ++w) {
    std::vector<std::string> args = base;
    args.push_back(absl::StrCat("w", w));
    args.push_back("60");
    args.insert(args.end(), ids.begin(), ids.end());
    pids.push_back(StartWriter(args, &outs[static_cast<std::size_t>(w)]));
  }
  Acks acks;
  std::thread other([&] { ReadAcks(outs[1], pids[1], 0, acks); });
  Acks first;
  ReadAcks(outs[0], pids[0], 0, first);
  other.join();
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  for (const auto& [id, steps] : first.steps) {
    acks.steps[id].insert(acks.steps[id].end(), steps.begin(), steps.end());
  }
  acks.provisions.insert(acks.provisions.end(), first.provisions.begin(),
                         first.provisions.end());
  EXPECT_EQ(acks.provisions.size(), 120u);
  Verify(ids, acks);
}

TEST_F(PostgresRecordsWriterTest, SigkilledWriterLeavesEveryAcknowledgedWrite) {
  std::vector<std::string> ids;
  std::vector<std::string> args = CreateShared(ids);
  args.push_back("k");
  args.push_back("1000000");
  args.insert(args.end(), ids.begin(), ids.end());
  FILE* out = nullptr;
  const pid_t pid = StartWriter(args, &out);
  Acks acks;
  ReadAcks(out, pid, 301, acks);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  Verify(ids, acks);
}

}  // namespace
}  // namespace consentry

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// PostgreSQL-specific behaviour: an unreachable server, a server restarted
// under a running store, schema versions and unparsable rows. The shared
// contract is in store_conformance_test.cc. Runs on the fixture's server;
// the restart test starts a private server of its own, so that stopping it
// disturbs no other test.

#include "consentry/postgres_store.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/pg_scripts.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

using ::consentry::testing::IsOkAndHolds;
using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Runs SQL on the server directly.
void RawExec(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, sql.c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
}

class PostgresConsentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> c = testing::PgConnInfo();
    ASSERT_OK(c);
    conninfo_ = *c;
    options_.schema = testing::UniqueName("pgt");
    options_.heartbeat_interval = absl::Milliseconds(10);
  }
  std::string conninfo_;
  PostgresStoreOptions options_;
};

TEST_F(PostgresConsentStoreTest,
       ServerDownAtStartIsUnavailableNamingTheTarget) {
  const std::string dir = testing::TempPath(testing::UniqueName("nopg"));
  PostgresStoreOptions o = options_;
  o.connect_timeout = absl::Seconds(1);
  EXPECT_THAT(
      PostgresConsentStore::Open(absl::StrCat("host=", dir, " dbname=app"), o),
      StatusIs(absl::StatusCode::kUnavailable,
               AllOf(HasSubstr(dir), HasSubstr("dbname=app"),
                     HasSubstr("unreachable"))));
}

TEST_F(PostgresConsentStoreTest, MalformedConnectionStringIsInvalidArgument) {
  EXPECT_THAT(
      PostgresConsentStore::Open("host=/tmp 'unterminated", options_),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("connection")));
}

TEST_F(PostgresConsentStoreTest, BadSchemaNameIsInvalidArgument) {
  PostgresStoreOptions o = options_;
  o.schema = "x; DROP TABLE y";
  EXPECT_THAT(
      PostgresConsentStore::Open(conninfo_, o),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("schema")));
}

TEST_F(PostgresConsentStoreTest,
       NewerSchemaVersionIsRefusedNamingBothVersions) {
  ASSERT_OK(PostgresConsentStore::Open(conninfo_, options_));
  RawExec(conninfo_, absl::StrCat("UPDATE ", options_.schema,
                                  ".consentry_schema SET version = 42"));
  EXPECT_THAT(
      PostgresConsentStore::Open(conninfo_, options_),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr(options_.schema), HasSubstr("schema version 42"),
                     HasSubstr(absl::StrCat(
                         "(", PostgresConsentStore::kSchemaVersion, ")")))));
}

TEST_F(PostgresConsentStoreTest, UnparsableRowIsDataLossNamingTheSubject) {
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> s =
      PostgresConsentStore::Open(conninfo_, options_);
  ASSERT_OK(s);
  ASSERT_OK((*s)->Apply(
      PurposeChange("victim", "marketing", v1::CONSENT_STATE_GIVEN)));
  RawExec(conninfo_,
          absl::StrCat("UPDATE ", options_.schema,
                       ".consent_records SET record = '\\xffffffff0f'"
                       "::bytea WHERE subject_id = 'victim'"));
  EXPECT_THAT((*s)->Get("victim"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("'victim'")));
  // With its history copy damaged as well, a write to the subject fails
  // too, rather than overwrite it. (With a readable history copy it builds
  // on that:
  // SharedConsentStoreTest.CorruptRecordIsQuarantinedUntilTheNextWrite.)
  RawExec(conninfo_, absl::StrCat("UPDATE ", options_.schema,
                                  ".consent_history SET state = '\\xffffffff0f'"
                                  "::bytea WHERE subject_id = 'victim'"));
  EXPECT_THAT((*s)->Apply(PurposeChange("victim", "marketing",
                                        v1::CONSENT_STATE_WITHDRAWN)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("'victim'")));
}

TEST_F(PostgresConsentStoreTest, LostNotificationsAreCaughtUpByRevision) {
  // A change committed without NOTIFY (as when a notification is lost)
  // still reaches the listener through the heartbeat catch-up.
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> s =
      PostgresConsentStore::Open(conninfo_, options_);
  ASSERT_OK(s);
  std::atomic<Revision> seen{0};
  std::unique_ptr<Subscription> sub =
      (*s)->Watch([&](const v1::ConsentRecord& r) {
        if (r.subject_id() == "silent") seen.store(r.revision());
      });
  v1::ConsentRecord rec;
  rec.set_subject_id("silent");
  rec.set_revision(1000);
  std::string bytes = rec.SerializeAsString();
  std::string hex;
  for (char ch : bytes) {
    absl::StrAppend(&hex,
                    absl::Hex(static_cast<unsigned char>(ch), absl::kZeroPad2));
  }
  RawExec(conninfo_,
          absl::StrCat("INSERT INTO ", options_.schema,
                       ".consent_records VALUES ('silent', 1000, '\\x", hex,
                       "'::bytea)"));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (seen.load() != 1000 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_EQ(seen.load(), 1000);
}

TEST_F(PostgresConsentStoreTest,
       RestartedServerFailsCallsThenRecoversByItself) {
  const std::string state = testing::TempPath(testing::UniqueName("pgrestart"));
  ASSERT_EQ(testing::RunPgScript("start.sh", "--fresh " + state), 0);
  std::string conninfo;
  {
    std::ifstream in(state + "/conninfo");
    std::getline(in, conninfo);
  }
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> s =
      PostgresConsentStore::Open(conninfo, options_);
  ASSERT_OK(s);
  std::atomic<Revision> seen{0};
  std::unique_ptr<Subscription> sub =
      (*s)->Watch([&](const v1::ConsentRecord& r) {
        if (r.subject_id() == "other-writer") seen.store(r.revision());
      });
  absl::StatusOr<Revision> before =
      (*s)->Apply(PurposeChange("a", "marketing", v1::CONSENT_STATE_GIVEN));
  ASSERT_OK(before);

  ASSERT_EQ(testing::RunPgScript("stop.sh", state), 0);
  EXPECT_THAT((*s)->Get("a"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(state)));
  EXPECT_THAT(
      (*s)->Apply(PurposeChange("a", "marketing", v1::CONSENT_STATE_WITHDRAWN)),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unreachable")));
  // The feed stops proving itself alive.
  const absl::Time down = absl::Now();
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_LT((*s)->FeedHeartbeat(), down + absl::Milliseconds(50));

  ASSERT_EQ(testing::RunPgScript("start.sh", state), 0);
  // Calls recover without reopening the store.
  absl::StatusOr<v1::ConsentRecord> a = (*s)->Get("a");
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!a.ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    a = (*s)->Get("a");
  }
  ASSERT_OK(a);
  EXPECT_EQ(a->revision(), *before);
  // The feed reconnects and delivers a change made by another writer.
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> other =
      PostgresConsentStore::Open(conninfo, options_);
  ASSERT_OK(other);
  absl::StatusOr<Revision> r = (*other)->Apply(
      PurposeChange("other-writer", "marketing", v1::CONSENT_STATE_WITHDRAWN));
  ASSERT_OK(r);
  while (seen.load() != *r && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_EQ(seen.load(), *r);
  EXPECT_GT((*s)->FeedHeartbeat(), down);
  sub.reset();
  other->reset();
  s->reset();
  EXPECT_EQ(testing::RunPgScript("stop.sh", "--cleanup " + state), 0);
}

}  // namespace
}  // namespace consentry

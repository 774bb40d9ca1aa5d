// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Reads from PostgreSQL hot standbys (docs/design/standby.md), on the
// fixture's primary and its streaming standby (tests/pg/start-standby.sh).
// A paused replay (pg_wal_replay_pause) makes the standby hold an older
// state than the primary, so a read that returns the older state was served
// by the standby, and one that returns the newer state while replay is
// paused was served by the primary. Every wait is a bounded poll of a
// condition.

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consentry/decision.h"
#include "consentry/guard.h"
#include "consentry/postgres_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/util/mutex.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/pg_scripts.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Generous bounds for a loaded 2-core machine; a passing run is far faster.
constexpr absl::Duration kPatience = absl::Seconds(8);

std::string ConnInfoOf(const std::string& state) {
  std::ifstream in(state + "/conninfo");
  std::string line;
  std::getline(in, line);
  return line;
}

// Runs `sql` on `conninfo`; returns the first value of the first row ("" for
// none).
std::string Query(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  EXPECT_TRUE(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
      << sql << ": " << PQresultErrorMessage(r);
  std::string out;
  if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
  PQclear(r);
  PQfinish(c);
  return out;
}

// Polls `cond` until it holds or `kPatience` passes.
template <typename F>
bool Eventually(F cond) {
  const absl::Time deadline = absl::Now() + kPatience;
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

class PostgresStandbyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> c = testing::PgConnInfo();
    ASSERT_OK(c);
    primary_ = *c;
    standby_ = ConnInfoOf(CONSENTRY_PG_STANDBY_STATE);
    ASSERT_FALSE(standby_.empty()) << "the standby fixture did not run";
    options_.schema = testing::UniqueName("sb");
    options_.heartbeat_interval = absl::Milliseconds(10);
    // The writer creates the schema; wait until the standby has it.
    absl::StatusOr<std::unique_ptr<PostgresConsentStore>> w =
        PostgresConsentStore::Open(primary_, options_);
    ASSERT_OK(w);
    writer_ = std::move(*w);
    ASSERT_TRUE(Eventually([&] {
      return Query(standby_,
                   absl::StrCat("SELECT to_regclass('", options_.schema,
                                ".consent_history') IS NOT NULL")) == "t";
    }));
  }

  void TearDown() override {
    // Whatever a test did to the standby, leave it replaying.
    if (paused_) Resume();
  }

  void Pause() {
    Query(standby_, "SELECT pg_wal_replay_pause()");
    paused_ = true;
  }
  void Resume() {
    Query(standby_, "SELECT pg_wal_replay_resume()");
    paused_ = false;
  }

  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> Open(
      bool with_primary, PostgresStoreOptions o) {
    PostgresServers servers;
    if (with_primary) servers.primary = primary_;
    servers.standbys = {standby_};
    return PostgresConsentStore::Open(servers, o);
  }

  Revision Write(const std::string& subject, v1::ConsentState state) {
    absl::StatusOr<Revision> r =
        writer_->Apply(PurposeChange(subject, "marketing", state));
    EXPECT_OK(r);
    return r.ok() ? *r : 0;
  }

  std::string primary_;
  std::string standby_;
  PostgresStoreOptions options_;
  std::unique_ptr<PostgresConsentStore> writer_;
  bool paused_ = false;
};

TEST_F(PostgresStandbyTest, ReadsAreServedByTheStandby) {
  PostgresStoreOptions o = options_;
  o.max_standby_lag = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> reader = Open(true, o);
  ASSERT_OK(reader);
  const Revision first = Write("s", v1::CONSENT_STATE_GIVEN);
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::ConsentRecord> r = (*reader)->Get("s");
    return r.ok() && r->revision() == first;
  }));
  Pause();
  const Revision second = Write("s", v1::CONSENT_STATE_WITHDRAWN);
  // The primary has `second`; the paused standby, still fresh by the
  // (long) bound, answers with `first`: the read went to the standby.
  absl::StatusOr<v1::ConsentRecord> r = (*reader)->Get("s");
  ASSERT_OK(r);
  EXPECT_EQ(r->revision(), first);
  // The standby's session is visible there, not on the primary's side.
  EXPECT_EQ(Query(standby_,
                  absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE "
                               "pid <> pg_backend_pid() AND query LIKE '%",
                               options_.schema, ".consent_records%'")),
            "1");
  Resume();
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::ConsentRecord> now = (*reader)->Get("s");
    return now.ok() && now->revision() == second;
  }));
}

TEST_F(PostgresStandbyTest, MinRevisionFallsBackToThePrimaryPastTheWait) {
  PostgresStoreOptions o = options_;
  o.max_standby_lag = absl::Seconds(60);
  o.standby_wait = absl::Milliseconds(100);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> reader = Open(true, o);
  ASSERT_OK(reader);
  ASSERT_OK((*reader)->Get("m"));  // the standby is known fresh
  Pause();
  const Revision r = Write("m", v1::CONSENT_STATE_WITHDRAWN);
  // Without a demand the fresh standby answers with its (older) state ...
  absl::StatusOr<v1::ConsentRecord> old = (*reader)->Get("m");
  ASSERT_OK(old);
  EXPECT_EQ(old->revision(), 0);
  // ... with one it waits for replay, then reads the primary.
  absl::StatusOr<v1::ConsentRecord> got = (*reader)->GetAtLeast("m", r);
  ASSERT_OK(got);
  EXPECT_EQ(got->revision(), r);
}

TEST_F(PostgresStandbyTest, MinRevisionWaitsForReplayOnAStandbyOnlyStore) {
  PostgresStoreOptions o = options_;
  o.max_standby_lag = absl::Seconds(60);
  o.standby_wait = absl::Milliseconds(100);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> short_wait =
      Open(false, o);
  ASSERT_OK(short_wait);
  o.standby_wait = kPatience;
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> long_wait =
      Open(false, o);
  ASSERT_OK(long_wait);
  ASSERT_OK((*short_wait)->Get("w"));
  ASSERT_OK((*long_wait)->Get("w"));
  Pause();
  const Revision r = Write("w", v1::CONSENT_STATE_GIVEN);
  // No primary to fall back on: fail closed rather than serve revision 0.
  EXPECT_THAT((*short_wait)->GetAtLeast("w", r),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("needs revision"),
                             HasSubstr("no primary is configured"))));
  // A read that may wait long enough gets the revision once replay
  // resumes (it can only have come from the standby).
  absl::StatusOr<v1::ConsentRecord> got;
  std::thread t([&] { got = (*long_wait)->GetAtLeast("w", r); });
  Resume();
  t.join();
  ASSERT_OK(got);
  EXPECT_EQ(got->revision(), r);
}

TEST_F(PostgresStandbyTest, LaggingStandbyIsLeftForThePrimaryOrFailsClosed) {
  PostgresStoreOptions o = options_;
  o.max_standby_lag = absl::Milliseconds(200);
  o.standby_wait = absl::Milliseconds(20);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> both = Open(true, o);
  ASSERT_OK(both);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> only = Open(false, o);
  ASSERT_OK(only);
  ASSERT_OK((*both)->Get("l"));
  ASSERT_OK((*only)->Get("l"));
  Pause();
  const Revision r = Write("l", v1::CONSENT_STATE_GIVEN);
  // The standby received WAL it does not replay: past the bound, reads
  // move to the primary (which alone has `r`) ...
  EXPECT_TRUE(Eventually([&] {
    absl::StatusOr<v1::ConsentRecord> g = (*both)->Get("l");
    return g.ok() && g->revision() == r;
  }));
  // ... or, with no primary, fail closed naming the lag.
  absl::StatusOr<v1::ConsentRecord> g;
  EXPECT_TRUE(Eventually([&] {
    g = (*only)->Get("l");
    EXPECT_TRUE(g.ok() || absl::IsUnavailable(g.status())) << g.status();
    if (g.ok()) {
      EXPECT_EQ(g->revision(), 0);
    }
    return !g.ok();
  }));
  EXPECT_THAT(
      g, StatusIs(absl::StatusCode::kUnavailable,
                  AllOf(HasSubstr("lags"), HasSubstr(standby_.substr(
                                               5, standby_.find(' ') - 5)))));
  Resume();
  EXPECT_TRUE(Eventually([&] {
    absl::StatusOr<v1::ConsentRecord> back = (*only)->Get("l");
    return back.ok() && back->revision() == r;
  }));
}

TEST_F(PostgresStandbyTest, FeedFollowingAStandbyDeliversEveryChangeInOrder) {
  PostgresStoreOptions o = options_;
  o.max_standby_lag = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> only = Open(false, o);
  ASSERT_OK(only);
  internal::Mutex mu;
  std::vector<Revision> seen;
  std::unique_ptr<Subscription> sub =
      (*only)->Watch([&](const v1::ConsentRecord& rec) {
        internal::MutexLock lock(&mu);
        seen.push_back(rec.revision());
      });
  const Revision first = Write("f0", v1::CONSENT_STATE_GIVEN);
  ASSERT_TRUE(Eventually([&] {
    internal::MutexLock lock(&mu);
    return !seen.empty() && seen.back() == first;
  }));
  Pause();
  std::vector<Revision> written = {first};
  for (int i = 1; i <= 20; ++i) {
    written.push_back(
        Write(absl::StrCat("f", i), i % 2 == 0 ? v1::CONSENT_STATE_GIVEN
                                               : v1::CONSENT_STATE_WITHDRAWN));
  }
  Resume();
  ASSERT_TRUE(Eventually([&] {
    internal::MutexLock lock(&mu);
    return !seen.empty() && seen.back() == written.back();
  }));
  internal::MutexLock lock(&mu);
  EXPECT_EQ(seen, written);
}

TEST_F(PostgresStandbyTest, FeedHeartbeatStopsWhileTheStandbyLags) {
  PostgresStoreOptions o = options_;
  o.max_standby_lag = absl::Milliseconds(200);
  o.standby_wait = absl::Milliseconds(20);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> only = Open(false, o);
  ASSERT_OK(only);
  std::unique_ptr<Subscription> sub =
      (*only)->Watch([](const v1::ConsentRecord&) {});
  ASSERT_TRUE(Eventually([&] {
    return absl::Now() - (*only)->FeedHeartbeat() < absl::Milliseconds(100);
  }));
  Pause();
  Write("h", v1::CONSENT_STATE_GIVEN);
  // A Guard whose staleness bound is below this lag denies consent-based
  // purposes.
  EXPECT_TRUE(Eventually([&] {
    return absl::Now() - (*only)->FeedHeartbeat() > absl::Seconds(1);
  }));
  Resume();
  EXPECT_TRUE(Eventually([&] {
    return absl::Now() - (*only)->FeedHeartbeat() < absl::Milliseconds(500);
  }));
}

TEST_F(PostgresStandbyTest, StoppedStandbyMovesReadsToThePrimaryOrFails) {
  PostgresStoreOptions o = options_;
  o.standby_wait = absl::Milliseconds(20);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> both = Open(true, o);
  ASSERT_OK(both);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> only = Open(false, o);
  ASSERT_OK(only);
  const Revision r = Write("x", v1::CONSENT_STATE_GIVEN);
  ASSERT_OK((*only)->GetAtLeast("x", r));
  ASSERT_EQ(testing::RunPgScript("stop.sh", CONSENTRY_PG_STANDBY_STATE), 0);
  struct Restart {
    ~Restart() {
      EXPECT_EQ(
          testing::RunPgScript("start-standby.sh",
                               absl::StrCat(CONSENTRY_PG_PRIMARY_STATE, " ",
                                            CONSENTRY_PG_STANDBY_STATE)),
          0);
    }
  } restart;
  absl::StatusOr<v1::ConsentRecord> g = (*both)->Get("x");
  ASSERT_OK(g);
  EXPECT_EQ(g->revision(), r);
  EXPECT_THAT((*only)->Get("x"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("no server can serve"),
                             HasSubstr("no primary is configured"))));
  EXPECT_THAT((*only)->Apply(
                  PurposeChange("x", "marketing", v1::CONSENT_STATE_WITHDRAWN)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("without a primary")));
}

TEST_F(PostgresStandbyTest, PromotedStandbyIsLeftByAStoreWithAPrimary) {
  const std::string spare = ConnInfoOf(CONSENTRY_PG_SPARE_STATE);
  ASSERT_TRUE(Eventually([&] {
    return Query(spare, absl::StrCat("SELECT to_regclass('", options_.schema,
                                     ".consent_history') IS NOT NULL")) == "t";
  }));
  PostgresStoreOptions o = options_;
  o.max_standby_lag = absl::Seconds(60);
  o.standby_wait = absl::Milliseconds(20);
  PostgresServers servers{primary_, {spare}};
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> both =
      PostgresConsentStore::Open(servers, o);
  ASSERT_OK(both);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> only =
      PostgresConsentStore::Open(PostgresServers{"", {spare}}, o);
  ASSERT_OK(only);
  const Revision r = Write("p", v1::CONSENT_STATE_GIVEN);
  ASSERT_OK((*only)->GetAtLeast("p", r));

  // The spare becomes a primary of its own (run once per fixture).
  const std::string promote =
      absl::StrCat("$(pg_config --bindir)/pg_ctl -D ", CONSENTRY_PG_SPARE_STATE,
                   "/data -w -t 60 promote");
  ASSERT_EQ(
      std::system(absl::StrCat(getuid() == 0 ? "runuser -u postgres -- " : "",
                               "bash -c '", promote, "' >/dev/null")
                      .c_str()),
      0);
  ASSERT_TRUE(Eventually(
      [&] { return Query(spare, "SELECT pg_is_in_recovery()") == "f"; }));
  // A change on the old primary never reaches it: the store with that
  // primary reads the primary ...
  const Revision after = Write("p", v1::CONSENT_STATE_WITHDRAWN);
  absl::StatusOr<v1::ConsentRecord> g = (*both)->Get("p");
  ASSERT_OK(g);
  EXPECT_EQ(g->revision(), after);
  // ... and the read-only store follows the promoted server as its
  // primary: a change written there is read and delivered.
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> new_primary =
      PostgresConsentStore::Open(spare, o);
  ASSERT_OK(new_primary);
  std::atomic<Revision> delivered{0};
  std::unique_ptr<Subscription> sub =
      (*only)->Watch([&](const v1::ConsentRecord& rec) {
        if (rec.subject_id() == "q") delivered.store(rec.revision());
      });
  absl::StatusOr<Revision> q =
      (*new_primary)
          ->Apply(PurposeChange("q", "marketing", v1::CONSENT_STATE_GIVEN));
  ASSERT_OK(q);
  absl::StatusOr<v1::ConsentRecord> gq = (*only)->GetAtLeast("q", *q);
  ASSERT_OK(gq);
  EXPECT_EQ(gq->revision(), *q);
  EXPECT_TRUE(Eventually([&] { return delivered.load() == *q; }));
}

TEST_F(PostgresStandbyTest, GuardMissDemandingARevisionTheStandbyLacksDenies) {
  PostgresStoreOptions o = options_;
  o.max_standby_lag = absl::Seconds(60);
  o.standby_wait = absl::Milliseconds(100);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> only = Open(false, o);
  ASSERT_OK(only);
  GuardOptions go;
  go.unaudited_for_benchmarks_only = true;
  go.cache_budget_bytes = 4096;
  go.max_feed_staleness = absl::InfiniteDuration();
  absl::StatusOr<std::unique_ptr<Guard>> g = Guard::Create(
      testing::DefaultPolicy(), only->get(), nullptr, std::move(go));
  ASSERT_OK(g);
  absl::StatusOr<AccessContext> ctx =
      (*g)->Context("statistics-job", "statistics.measurement");
  absl::StatusOr<CategoryRef> cat = (*g)->Category("measurement");
  ASSERT_OK(ctx);
  ASSERT_OK(cat);
  auto check = [&](Revision min) { return (*g)->Check(*ctx, "g", *cat, min); };
  const Revision given =
      writer_
          ->Apply(PurposeChange("g", "statistics.measurement",
                                v1::CONSENT_STATE_GIVEN))
          .value_or(0);
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<Decision> d = check(given);
    return d.ok() && d->allowed();
  }));
  Pause();
  const Revision refused =
      writer_
          ->Apply(PurposeChange("g", "statistics.measurement",
                                v1::CONSENT_STATE_REFUSED))
          .value_or(0);
  // The cache holds `given`; the caller demands `refused`, which the
  // paused standby has not replayed: deny (store unavailable), never the
  // older allow.
  absl::StatusOr<Decision> d = check(refused);
  EXPECT_THAT(d.status(), StatusIs(absl::StatusCode::kUnavailable,
                                   HasSubstr("store_unavailable")));
  EXPECT_EQ(ReasonFromStatus(d.status()), Reason::kStoreUnavailable);
  Resume();
  ASSERT_TRUE(Eventually([&] { return check(refused).ok(); }));
  d = check(refused);
  ASSERT_OK(d);
  EXPECT_FALSE(d->allowed());
  EXPECT_EQ(d->revision(), refused);
}

TEST_F(PostgresStandbyTest, CorruptRowOnTheStandbyIsDataLossForThatSubject) {
  PostgresStoreOptions o = options_;
  o.max_standby_lag = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<PostgresConsentStore>> only = Open(false, o);
  ASSERT_OK(only);
  const Revision r = Write("bad", v1::CONSENT_STATE_GIVEN);
  Write("good", v1::CONSENT_STATE_GIVEN);
  Query(primary_, absl::StrCat("UPDATE ", options_.schema,
                               ".consent_records SET record = "
                               "'\\xffffffff0f'::bytea WHERE subject_id = "
                               "'bad'"));
  const Revision last = Write("good", v1::CONSENT_STATE_WITHDRAWN);
  ASSERT_OK((*only)->GetAtLeast("good", last));
  EXPECT_THAT((*only)->GetAtLeast("bad", r),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("'bad'")));
}

TEST_F(PostgresStandbyTest, BadServerSetsAreRefused) {
  EXPECT_THAT(PostgresConsentStore::Open(PostgresServers{}, options_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("neither a primary nor a standby")));
  PostgresStoreOptions o = options_;
  o.schema = testing::UniqueName("nosuch");
  EXPECT_THAT(PostgresConsentStore::Open(PostgresServers{"", {standby_}}, o),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(o.schema),
                             HasSubstr("open a store on the primary first"))));
  EXPECT_THAT(
      PostgresConsentStore::Open(PostgresServers{"", {"host='unterminated"}},
                                 options_),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("connection")));
}

}  // namespace
}  // namespace consentry

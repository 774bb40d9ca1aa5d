// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The Guard and the change feed: "at least revision R" checks, the
// staleness bound, and a Guard kept fresh by a durable store's feed.

#include <atomic>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "consentry/audit_log.h"
#include "consentry/guard.h"
#include "consentry/postgres_store.h"
#include "consentry/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/feed_controlled_store.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"
#include "tests/testing/temp_dir.h"

namespace consentry {
namespace {

using ::consentry::testing::DefaultPolicy;
using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

// Runs with the store's heartbeat read from its word (true: as for the
// durable stores) and through `FeedHeartbeat` (false: an embedder's store).
class GuardFeedTest : public ::testing::TestWithParam<bool> {
 protected:
  void MakeGuard(GuardOptions options = {}) {
    absl::StatusOr<std::unique_ptr<Guard>> g =
        Guard::Create(DefaultPolicy(), &store_, &audit_, std::move(options));
    ASSERT_OK(g);
    guard_ = *std::move(g);
  }
  Revision Set(const std::string& subject, const std::string& purpose,
               v1::ConsentState state) {
    absl::StatusOr<Revision> r =
        store_.Apply(PurposeChange(subject, purpose, state));
    EXPECT_OK(r);
    return r.ok() ? *r : -1;
  }
  absl::StatusOr<Decision> Stats(const std::string& subject,
                                 Revision at_least = 0) {
    absl::StatusOr<AccessContext> ctx =
        guard_->Context("statistics-job", "statistics.measurement");
    absl::StatusOr<CategoryRef> cat = guard_->Category("measurement");
    EXPECT_OK(ctx);
    EXPECT_OK(cat);
    return guard_->Check(*ctx, subject, *cat, at_least);
  }
  absl::StatusOr<Decision> Necessary(const std::string& subject) {
    absl::StatusOr<AccessContext> ctx =
        guard_->Context("billing-service", "billing.calculation");
    absl::StatusOr<CategoryRef> cat = guard_->Category("billing");
    EXPECT_OK(ctx);
    EXPECT_OK(cat);
    return guard_->Check(*ctx, subject, *cat);
  }

  testing::FeedControlledStore store_{GetParam()};
  InMemoryAuditSink audit_;
  std::unique_ptr<Guard> guard_;
};

INSTANTIATE_TEST_SUITE_P(HeartbeatRead, GuardFeedTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Word" : "Call";
                         });

TEST_P(GuardFeedTest, CheckAtLeastRevisionDoesNotActOnOlderCachedState) {
  MakeGuard();
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  ASSERT_OK(Stats("s1"));  // cached
  store_.Mute(true);       // the feed falls behind
  const Revision withdrawn =
      Set("s1", "statistics.measurement", v1::CONSENT_STATE_WITHDRAWN);
  // Without a demand the Guard answers from its (older) cache ...
  absl::StatusOr<Decision> cached = Stats("s1");
  ASSERT_OK(cached);
  EXPECT_EQ(cached->reason(), Reason::kAllowedConsent);
  // ... with one it reads the store and enforces the withdrawal.
  absl::StatusOr<Decision> fresh = Stats("s1", withdrawn);
  ASSERT_OK(fresh);
  EXPECT_EQ(fresh->reason(), Reason::kConsentWithdrawn);
  EXPECT_EQ(fresh->revision(), withdrawn);
  // The cache was refreshed along the way.
  absl::StatusOr<Decision> after = Stats("s1");
  ASSERT_OK(after);
  EXPECT_EQ(after->reason(), Reason::kConsentWithdrawn);
}

TEST_P(GuardFeedTest, CheckAtLeastRevisionFailsClosedWhenTheStoreIsDown) {
  MakeGuard();
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  ASSERT_OK(Stats("s1"));
  store_.Mute(true);
  const Revision withdrawn =
      Set("s1", "statistics.measurement", v1::CONSENT_STATE_WITHDRAWN);
  store_.SetUnavailable(true);
  EXPECT_THAT(Stats("s1", withdrawn), StatusIs(absl::StatusCode::kUnavailable,
                                               HasSubstr("store_unavailable")));
  // A demand the cache already meets needs no store.
  EXPECT_OK(Stats("s1", 1));
}

TEST_P(GuardFeedTest, StaleFeedDeniesConsentPurposesButNotNecessaryOnes) {
  GuardOptions o;
  o.max_feed_staleness = absl::Milliseconds(500);
  MakeGuard(o);
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  store_.SetHeartbeat(absl::Now());
  absl::StatusOr<Decision> fresh = Stats("s1");
  ASSERT_OK(fresh);
  EXPECT_EQ(fresh->reason(), Reason::kAllowedConsent);
  EXPECT_FALSE(guard_->feed_stale());

  store_.SetHeartbeat(absl::Now() - absl::Seconds(5));
  EXPECT_TRUE(guard_->feed_stale());
  absl::StatusOr<Decision> stale = Stats("s1");
  ASSERT_OK(stale);
  EXPECT_FALSE(stale->allowed());
  EXPECT_EQ(stale->reason(), Reason::kConsentStale);
  absl::StatusOr<Decision> necessary = Necessary("s1");
  ASSERT_OK(necessary);
  EXPECT_EQ(necessary->reason(), Reason::kAllowedNecessary);
  // Authorize reports the stale feed as an outage.
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s1", "measurement", {"statistics.measurement"});
  ASSERT_OK(tags);
  absl::StatusOr<AccessContext> ctx =
      guard_->Context("statistics-job", "statistics.measurement");
  ASSERT_OK(ctx);
  EXPECT_THAT(
      guard_->Authorize(*ctx, *tags),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("consent_stale")));

  // The feed returns: checks recover without intervention.
  store_.SetHeartbeat(absl::Now());
  absl::StatusOr<Decision> recovered = Stats("s1");
  ASSERT_OK(recovered);
  EXPECT_EQ(recovered->reason(), Reason::kAllowedConsent);
}

// The staleness test on every path a check takes: the general decider
// (an in-memory sink), the audited warm path (the durable log) and the
// unaudited lean path, by id and by ref; stale and fresh again.
TEST_P(GuardFeedTest, StaleFeedDeniesOnEveryPath) {
  const absl::Time start = absl::Now();
  const std::string dir = testing::MakeTempDir();
  AuditLogOptions log_options;
  log_options.directory = dir;
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(log_options);
  ASSERT_OK(log);
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  for (AuditSink* sink :
       {static_cast<AuditSink*>(&audit_), static_cast<AuditSink*>(log->get()),
        static_cast<AuditSink*>(nullptr)}) {
    SCOPED_TRACE(sink == nullptr   ? "unaudited"
                 : sink == &audit_ ? "in-memory sink"
                                   : "durable log");
    GuardOptions o;
    o.max_feed_staleness = absl::Seconds(2);
    o.unaudited_for_benchmarks_only = sink == nullptr;
    absl::StatusOr<std::unique_ptr<Guard>> g =
        Guard::Create(DefaultPolicy(), &store_, sink, o);
    ASSERT_OK(g);
    ASSERT_OK((*g)->WarmCache());
    absl::StatusOr<AccessContext> ctx =
        (*g)->Context("statistics-job", "statistics.measurement");
    absl::StatusOr<CategoryRef> cat = (*g)->Category("measurement");
    ASSERT_OK(ctx);
    ASSERT_OK(cat);
    const SubjectRef ref = (*g)->Subject("s1");
    for (const bool stale : {false, true, false, true, false}) {
      SCOPED_TRACE(stale ? "stale" : "fresh");
      store_.SetHeartbeat(stale ? absl::Now() - absl::Seconds(5) : absl::Now());
      const Reason want =
          stale ? Reason::kConsentStale : Reason::kAllowedConsent;
      for (int i = 0; i < 3; ++i) {
        absl::StatusOr<Decision> by_id = (*g)->Check(*ctx, "s1", *cat);
        ASSERT_OK(by_id);
        EXPECT_EQ(by_id->reason(), want);
        absl::StatusOr<Decision> by_ref = (*g)->Check(*ctx, ref, *cat);
        ASSERT_OK(by_ref);
        EXPECT_EQ(by_ref->reason(), want);
      }
    }
  }
  ASSERT_OK((*log)->Close());
  const absl::Time end = absl::Now();
  // Every check through the durable log is on record, at a time within
  // the test's (the warm path's event takes the feed test's clock read).
  absl::StatusOr<std::unique_ptr<AuditLogReader>> reader =
      AuditLogReader::Open(dir);
  ASSERT_OK(reader);
  auto events = (*reader)->ForSubject("s1");
  ASSERT_OK(events);
  EXPECT_EQ(events->size(), 30u);
  for (const auto& e : *events) {
    EXPECT_GE(absl::FromUnixNanos(e.time_unix_nanos), start);
    EXPECT_LE(absl::FromUnixNanos(e.time_unix_nanos), end);
  }
  std::filesystem::remove_all(dir);
}

// A feed that stops must not mean a silent fail-open: the default bound is
// finite, and far above the heartbeat period of a healthy feed.
TEST_P(GuardFeedTest, DefaultStalenessBoundIsFiniteAndAboveHeartbeats) {
  const absl::Duration bound = GuardOptions{}.max_feed_staleness;
  EXPECT_LT(bound, absl::InfiniteDuration());
  EXPECT_LE(bound, absl::Minutes(1));
  EXPECT_GE(bound, 10 * SqliteStoreOptions{}.poll_interval);
  EXPECT_GE(bound, 10 * PostgresStoreOptions{}.heartbeat_interval);
  MakeGuard();
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  store_.SetHeartbeat(absl::Now() - bound / 2);
  absl::StatusOr<Decision> d = Stats("s1");
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kAllowedConsent);
  store_.SetHeartbeat(absl::Now() - bound - absl::Seconds(1));
  d = Stats("s1");
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kConsentStale);
}

// Bounds at the edges of what nanoseconds hold: the staleness test does not
// overflow (UBSan reports one in the sanitizer build) and keeps the
// bound's meaning, stale when now - heartbeat > bound.
TEST_P(GuardFeedTest, StalenessBoundsAtTheEdgesKeepTheirMeaning) {
  // 1677, the oldest heartbeat the store can report.
  const absl::Time oldest =
      absl::FromUnixNanos(std::numeric_limits<std::int64_t>::min());
  GuardOptions o;
  o.max_feed_staleness = absl::Hours(24 * 365 * 1000);  // beyond 2^63 ns
  MakeGuard(o);
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  store_.SetHeartbeat(oldest);  // about 350 years old: within the bound
  absl::StatusOr<Decision> d = Stats("s1");
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kAllowedConsent);

  o.max_feed_staleness = absl::Hours(24 * 365 * 100);  // within 2^62 ns
  MakeGuard(o);
  d = Stats("s1");
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kConsentStale);
  store_.SetHeartbeat(absl::Now());
  d = Stats("s1");
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kAllowedConsent);

  // A negative bound: stale unless the heartbeat is ahead of the clock by
  // more than the bound.
  o.max_feed_staleness = -absl::Seconds(1);
  MakeGuard(o);
  store_.SetHeartbeat(absl::Now());
  d = Stats("s1");
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kConsentStale);
  store_.SetHeartbeat(absl::Now() + absl::Minutes(1));
  d = Stats("s1");
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kAllowedConsent);
  o.max_feed_staleness = -absl::InfiniteDuration();
  MakeGuard(o);
  d = Stats("s1");
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kConsentStale);
}

TEST(GuardSqliteFeedTest, WithdrawalByAnotherHandleReachesTheGuardCache) {
  testing::StoreLocation location(testing::StoreKind::kSqlite);
  absl::StatusOr<std::unique_ptr<ConsentStore>> mine = location.Open();
  absl::StatusOr<std::unique_ptr<ConsentStore>> theirs = location.Open();
  ASSERT_OK(mine);
  ASSERT_OK(theirs);
  GuardOptions o;
  o.max_feed_staleness = absl::Seconds(5);
  InMemoryAuditSink audit;
  absl::StatusOr<std::unique_ptr<Guard>> guard =
      Guard::Create(DefaultPolicy(), mine->get(), &audit, o);
  ASSERT_OK(guard);
  ASSERT_OK((*theirs)->Apply(
      PurposeChange("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN)));
  absl::StatusOr<AccessContext> ctx =
      (*guard)->Context("statistics-job", "statistics.measurement");
  absl::StatusOr<CategoryRef> cat = (*guard)->Category("measurement");
  ASSERT_OK(ctx);
  ASSERT_OK(cat);
  absl::StatusOr<Decision> before = (*guard)->Check(*ctx, "s1", *cat);
  ASSERT_OK(before);
  EXPECT_EQ(before->reason(), Reason::kAllowedConsent);

  absl::StatusOr<Revision> r = (*theirs)->Apply(PurposeChange(
      "s1", "statistics.measurement", v1::CONSENT_STATE_WITHDRAWN));
  ASSERT_OK(r);
  // The poller delivers it to the cache (no store read on the check).
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<Decision> d = (*guard)->Check(*ctx, "s1", *cat);
  while (d.ok() && d->revision() < *r && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
    d = (*guard)->Check(*ctx, "s1", *cat);
  }
  ASSERT_OK(d);
  EXPECT_EQ(d->revision(), *r);
  EXPECT_EQ(d->reason(), Reason::kConsentWithdrawn);
  guard->reset();
}

}  // namespace
}  // namespace consentry

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The contract of `ConsentStore`, run against every store: in memory,
// SQLite and PostgreSQL (the last on the server the ctest fixture starts).

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "consentry/consent.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/internal/mutex.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_factories.h"

namespace consentry {
namespace {

std::string StoreParamName(
    const ::testing::TestParamInfo<testing::StoreKind>& p) {
  return testing::KindName(p.param);
}

using ::consentry::testing::IsOkAndHolds;
using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::consentry::testing::StoreKind;
using ::consentry::testing::StoreLocation;
using ::testing::HasSubstr;

// Collects what a Watch listener hears.
class Collector {
 public:
  ConsentListener Listener() {
    return [this](const v1::ConsentRecord& r) {
      internal::MutexLock lock(&mu_);
      seen_.push_back(r);
      cv_.NotifyAll();
    };
  }
  // Waits (up to a generous deadline) until a record of `subject` at
  // `revision` or later arrived.
  bool WaitFor(const std::string& subject, Revision revision) {
    internal::MutexLock lock(&mu_);
    return cv_.WaitFor(
        &mu_, std::chrono::seconds(10), [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          for (const auto& r : seen_) {
            if (r.subject_id() == subject && r.revision() >= revision) {
              return true;
            }
          }
          return false;
        });
  }
  std::vector<v1::ConsentRecord> seen() {
    internal::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  internal::Mutex mu_;
  internal::CondVar cv_;
  std::vector<v1::ConsentRecord> seen_ ABSL_GUARDED_BY(mu_);
};

class ConsentStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    location_ = std::make_unique<StoreLocation>(GetParam());
    absl::StatusOr<std::unique_ptr<ConsentStore>> s = location_->Open();
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  void TearDown() override { store_.reset(); }

  Revision Write(ConsentStore& store, const std::string& subject,
                 const std::string& purpose, v1::ConsentState state) {
    absl::StatusOr<Revision> r =
        store.Apply(PurposeChange(subject, purpose, state));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : -1;
  }

  std::unique_ptr<StoreLocation> location_;
  std::unique_ptr<ConsentStore> store_;
};

TEST_P(ConsentStoreTest, UnknownSubjectHasEmptyRecordAtRevisionZero) {
  absl::StatusOr<v1::ConsentRecord> r = store_->Get("nobody");
  ASSERT_OK(r);
  EXPECT_EQ(r->subject_id(), "nobody");
  EXPECT_EQ(r->revision(), 0);
  EXPECT_EQ(r->purposes_size(), 0);
  EXPECT_THAT(store_->LatestRevision(), IsOkAndHolds(0));
}

TEST_P(ConsentStoreTest, EveryWriteReturnsAHigherRevision) {
  const Revision r1 = Write(*store_, "a", "marketing", v1::CONSENT_STATE_GIVEN);
  const Revision r2 = Write(*store_, "b", "marketing", v1::CONSENT_STATE_GIVEN);
  const Revision r3 =
      Write(*store_, "a", "marketing", v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_GT(r1, 0);
  EXPECT_LT(r1, r2);
  EXPECT_LT(r2, r3);
  absl::StatusOr<v1::ConsentRecord> a = store_->Get("a");
  ASSERT_OK(a);
  EXPECT_EQ(a->revision(), r3);
  ASSERT_EQ(a->purposes_size(), 1);
  EXPECT_EQ(a->purposes(0).state(), v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_EQ(a->subject_kind(), v1::SUBJECT_KIND_CUSTOMER);
  EXPECT_THAT(store_->LatestRevision(), IsOkAndHolds(r3));
}

TEST_P(ConsentStoreTest, RestrictionsReplaceTheRestrictions) {
  Write(*store_, "a", "marketing", v1::CONSENT_STATE_GIVEN);
  v1::ConsentChange c;
  c.set_subject_id("a");
  c.mutable_restrictions()->add_suspended_purposes("marketing");
  ASSERT_OK(store_->Apply(c));
  absl::StatusOr<v1::ConsentRecord> a = store_->Get("a");
  ASSERT_OK(a);
  EXPECT_EQ(a->purposes_size(), 1);
  EXPECT_THAT(a->restrictions().suspended_purposes(),
              ::testing::ElementsAre("marketing"));
}

TEST_P(ConsentStoreTest, StaleExpectedRevisionIsAbortedAndWritesNothing) {
  const Revision r1 = Write(*store_, "a", "marketing", v1::CONSENT_STATE_GIVEN);
  const Revision r2 =
      Write(*store_, "a", "marketing", v1::CONSENT_STATE_WITHDRAWN);
  v1::ConsentChange late =
      PurposeChange("a", "marketing", v1::CONSENT_STATE_GIVEN);
  late.set_expected_revision(r1);
  EXPECT_THAT(store_->Apply(late),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("subject 'a'")));
  absl::StatusOr<v1::ConsentRecord> a = store_->Get("a");
  ASSERT_OK(a);
  EXPECT_EQ(a->revision(), r2);
  EXPECT_EQ(a->purposes(0).state(), v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_THAT(store_->LatestRevision(), IsOkAndHolds(r2));

  late.set_expected_revision(r2);
  EXPECT_OK(store_->Apply(late));
}

TEST_P(ConsentStoreTest, ExpectedRevisionZeroCreatesOnlyOnce) {
  v1::ConsentChange create =
      PurposeChange("new", "marketing", v1::CONSENT_STATE_GIVEN);
  create.set_expected_revision(0);
  EXPECT_OK(store_->Apply(create));
  EXPECT_THAT(
      store_->Apply(create),
      StatusIs(absl::StatusCode::kAborted, HasSubstr("expected revision 0")));
}

TEST_P(ConsentStoreTest, MalformedChangeIsInvalidArgumentNamingTheField) {
  v1::ConsentChange c = PurposeChange("", "marketing", v1::CONSENT_STATE_GIVEN);
  EXPECT_THAT(store_->Apply(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("subject_id")));
  c = PurposeChange("a", "", v1::CONSENT_STATE_GIVEN);
  EXPECT_THAT(store_->Apply(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("purpose_consent.purpose")));
  EXPECT_THAT(store_->LatestRevision(), IsOkAndHolds(0));
}

TEST_P(ConsentStoreTest, ChangesSinceListsCurrentRecordsInRevisionOrder) {
  const Revision ra = Write(*store_, "a", "marketing", v1::CONSENT_STATE_GIVEN);
  Write(*store_, "b", "marketing", v1::CONSENT_STATE_GIVEN);
  Write(*store_, "c", "marketing", v1::CONSENT_STATE_GIVEN);
  const Revision rb =
      Write(*store_, "b", "marketing", v1::CONSENT_STATE_WITHDRAWN);
  absl::StatusOr<std::vector<v1::ConsentRecord>> all =
      store_->ChangesSince(0, 100);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].subject_id(), "a");
  EXPECT_EQ((*all)[1].subject_id(), "c");
  EXPECT_EQ((*all)[2].subject_id(), "b");
  EXPECT_EQ((*all)[2].revision(), rb);
  absl::StatusOr<std::vector<v1::ConsentRecord>> after_a =
      store_->ChangesSince(ra, 1);
  ASSERT_OK(after_a);
  ASSERT_EQ(after_a->size(), 1u);
  EXPECT_EQ((*after_a)[0].subject_id(), "c");
  absl::StatusOr<std::vector<v1::ConsentRecord>> none =
      store_->ChangesSince(rb, 10);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(ConsentStoreTest, HistoryKeepsEveryStateAWithdrawalAddsOne) {
  const Revision r1 = Write(*store_, "a", "marketing", v1::CONSENT_STATE_GIVEN);
  Write(*store_, "b", "marketing", v1::CONSENT_STATE_GIVEN);
  const Revision r2 =
      Write(*store_, "a", "marketing", v1::CONSENT_STATE_WITHDRAWN);
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> h = store_->History("a");
  ASSERT_OK(h);
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].revision(), r1);
  EXPECT_EQ((*h)[0].state().purposes(0).state(), v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ((*h)[0].change().purpose_consent().state(),
            v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ((*h)[1].revision(), r2);
  EXPECT_EQ((*h)[1].state().purposes(0).state(), v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_EQ((*h)[1].state().revision(), r2);
  EXPECT_GT((*h)[1].commit_time().seconds(), 0);
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> none =
      store_->History("zz");
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

TEST_P(ConsentStoreTest, WatchDeliversEachCommittedChange) {
  Collector c;
  std::unique_ptr<Subscription> sub = store_->Watch(c.Listener());
  const Revision r =
      Write(*store_, "a", "marketing", v1::CONSENT_STATE_WITHDRAWN);
  ASSERT_TRUE(c.WaitFor("a", r));
  sub.reset();
  const Revision r2 = Write(*store_, "b", "marketing", v1::CONSENT_STATE_GIVEN);
  for (const v1::ConsentRecord& rec : c.seen()) EXPECT_LT(rec.revision(), r2);
}

TEST_P(ConsentStoreTest, ConcurrentConflictingWritesAreNeverLost) {
  // Several writers increment a counter kept in evidence_ref with
  // read-modify-write under expected_revision, retrying on kAborted. Every
  // acknowledged write must be in the history; none may be lost.
  std::vector<std::unique_ptr<ConsentStore>> handles;
  for (int i = 0; i < 3; ++i) {
    if (GetParam() == StoreKind::kInMemory) break;
    absl::StatusOr<std::unique_ptr<ConsentStore>> s = location_->Open();
    ASSERT_TRUE(s.ok()) << s.status();
    handles.push_back(*std::move(s));
  }
  constexpr int kWriters = 3;
  constexpr int kPerWriter = 15;
  std::atomic<int> acknowledged{0};
  std::atomic<int> aborted{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    ConsentStore* store = handles.empty()
                              ? store_.get()
                              : handles[static_cast<std::size_t>(w)].get();
    threads.emplace_back([&, store] {
      for (int i = 0; i < kPerWriter; ++i) {
        for (;;) {
          absl::StatusOr<v1::ConsentRecord> cur = store->Get("counter");
          if (!cur.ok()) {
            ++failed;
            return;
          }
          const int n = cur->purposes_size() == 0
                            ? 0
                            : std::stoi(cur->purposes(0).evidence_ref());
          v1::ConsentChange c =
              PurposeChange("counter", "marketing", v1::CONSENT_STATE_GIVEN);
          c.mutable_purpose_consent()->set_evidence_ref(std::to_string(n + 1));
          c.set_expected_revision(cur->revision());
          absl::StatusOr<Revision> r = store->Apply(c);
          if (r.ok()) {
            ++acknowledged;
            break;
          }
          if (absl::IsAborted(r.status())) {
            ++aborted;
            continue;
          }
          ++failed;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(acknowledged.load(), kWriters * kPerWriter);
  absl::StatusOr<v1::ConsentRecord> final_record = store_->Get("counter");
  ASSERT_OK(final_record);
  EXPECT_EQ(final_record->purposes(0).evidence_ref(),
            std::to_string(kWriters * kPerWriter));
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> h =
      store_->History("counter");
  ASSERT_OK(h);
  EXPECT_EQ(h->size(), static_cast<std::size_t>(kWriters * kPerWriter));
}

INSTANTIATE_TEST_SUITE_P(AllStores, ConsentStoreTest,
                         ::testing::Values(StoreKind::kInMemory,
                                           StoreKind::kSqlite,
                                           StoreKind::kPostgres),
                         StoreParamName);

// Durable stores: several handles (as several processes) on one store.
class SharedConsentStoreTest : public ConsentStoreTest {};

TEST_P(SharedConsentStoreTest, WatchSeesWritesOfAnotherHandle) {
  absl::StatusOr<std::unique_ptr<ConsentStore>> other = location_->Open();
  ASSERT_OK(other);
  Collector c;
  std::unique_ptr<Subscription> sub = store_->Watch(c.Listener());
  const Revision r =
      Write(**other, "x", "marketing", v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_TRUE(c.WaitFor("x", r));
  // Revisions of the two handles share one order.
  const Revision r2 = Write(*store_, "y", "marketing", v1::CONSENT_STATE_GIVEN);
  EXPECT_GT(r2, r);
  EXPECT_TRUE(c.WaitFor("y", r2));
}

TEST_P(SharedConsentStoreTest, FeedHeartbeatAdvancesWhileWatched) {
  EXPECT_EQ(store_->FeedHeartbeat(), absl::InfiniteFuture());
  Collector c;
  std::unique_ptr<Subscription> sub = store_->Watch(c.Listener());
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Seconds(10);
  while (store_->FeedHeartbeat() <= start && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_GT(store_->FeedHeartbeat(), start);
}

TEST_P(SharedConsentStoreTest, ReopenedStoreKeepsEverything) {
  const Revision r =
      Write(*store_, "a", "marketing", v1::CONSENT_STATE_WITHDRAWN);
  store_.reset();
  absl::StatusOr<std::unique_ptr<ConsentStore>> again = location_->Open();
  ASSERT_OK(again);
  absl::StatusOr<v1::ConsentRecord> a = (*again)->Get("a");
  ASSERT_OK(a);
  EXPECT_EQ(a->revision(), r);
  EXPECT_EQ(a->purposes(0).state(), v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_THAT((*again)->LatestRevision(), IsOkAndHolds(r));
}

INSTANTIATE_TEST_SUITE_P(DurableStores, SharedConsentStoreTest,
                         ::testing::Values(StoreKind::kSqlite,
                                           StoreKind::kPostgres),
                         StoreParamName);

}  // namespace
}  // namespace consentry

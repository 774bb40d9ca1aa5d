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
#include "consentry/guard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/util/mutex.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/raw_store_rows.h"
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

TEST_P(ConsentStoreTest, RestrictionsWriteAddsRestrictions) {
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

// A plain restrictions write that names a restriction set.
v1::ConsentChange RestrictionsChange(const std::string& subject,
                                     const v1::Restrictions& r) {
  v1::ConsentChange c;
  c.set_subject_id(subject);
  c.set_actor("direct-writer");
  *c.mutable_restrictions() = r;
  return c;
}

Reason GuardReason(ConsentStore& store, const std::string& subject) {
  InMemoryAuditSink audit;
  absl::StatusOr<std::unique_ptr<Guard>> g =
      Guard::Create(testing::DefaultPolicy(), &store, &audit);
  if (!g.ok()) return Reason::kUnspecified;
  absl::StatusOr<AccessContext> ctx = (*g)->Context("support-desk", "support");
  absl::StatusOr<CategoryRef> cat = (*g)->Category("contact");
  if (!ctx.ok() || !cat.ok()) return Reason::kUnspecified;
  absl::StatusOr<Decision> d = (*g)->Check(*ctx, subject, *cat);
  return d.ok() ? d->reason() : Reason::kUnspecified;
}

// APPI Art. 35: a write that leaves out a restriction in force (here an
// erasure, by a writer suspending marketing) is refused and writes nothing;
// the subject stays erased and a Guard still denies.
TEST_P(ConsentStoreTest, DirectWriteCannotLiftAnErasure) {
  Write(*store_, "a", "support", v1::CONSENT_STATE_GIVEN);
  v1::Restrictions erase;
  erase.set_erased(true);
  ASSERT_OK(store_->Apply(RestrictionsChange("a", erase)));
  ASSERT_EQ(GuardReason(*store_, "a"), Reason::kSubjectErased);
  absl::StatusOr<v1::ConsentRecord> before = store_->Get("a");
  ASSERT_OK(before);

  v1::Restrictions suspend;
  suspend.add_suspended_purposes("marketing");
  EXPECT_THAT(store_->Apply(RestrictionsChange("a", suspend)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr("subject 'a'"),
                                        HasSubstr("'erased'"))));
  absl::StatusOr<v1::ConsentRecord> after = store_->Get("a");
  ASSERT_OK(after);
  EXPECT_TRUE(after->restrictions().erased());
  EXPECT_EQ(after->revision(), before->revision());
  EXPECT_THAT(after->restrictions().suspended_purposes(), ::testing::IsEmpty());
  EXPECT_THAT(store_->LatestRevision(), IsOkAndHolds(before->revision()));
  EXPECT_EQ(GuardReason(*store_, "a"), Reason::kSubjectErased);
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> h = store_->History("a");
  ASSERT_OK(h);
  EXPECT_EQ(h->size(), 2u);
}

TEST_P(ConsentStoreTest, SuspendAllAndProvisionStopCannotBeDroppedByAWrite) {
  v1::Restrictions both;
  both.set_suspend_all(true);
  both.set_third_party_provision_stopped(true);
  ASSERT_OK(store_->Apply(RestrictionsChange("a", both)));
  v1::Restrictions only_stop;
  only_stop.set_third_party_provision_stopped(true);
  EXPECT_THAT(store_->Apply(RestrictionsChange("a", only_stop)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("'suspend_all'")));
  v1::Restrictions only_all;
  only_all.set_suspend_all(true);
  EXPECT_THAT(store_->Apply(RestrictionsChange("a", only_all)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("'third_party_provision_stopped'")));
  // An empty restrictions write is the bluntest attempt.
  EXPECT_THAT(store_->Apply(RestrictionsChange("a", v1::Restrictions())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("")));
  absl::StatusOr<v1::ConsentRecord> a = store_->Get("a");
  ASSERT_OK(a);
  EXPECT_TRUE(a->restrictions().suspend_all());
  EXPECT_TRUE(a->restrictions().third_party_provision_stopped());
}

TEST_P(ConsentStoreTest, AddingARestrictionKeepsTheEarlierOnesAndTheirEntries) {
  v1::Restrictions first;
  v1::RestrictionEntry* e = first.add_entries();
  e->set_kind(v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
  e->set_purpose("web");
  e->set_request_id("req-1");
  ASSERT_OK(store_->Apply(RestrictionsChange("a", first)));
  absl::StatusOr<v1::ConsentRecord> a = store_->Get("a");
  ASSERT_OK(a);
  v1::Restrictions more = a->restrictions();
  more.set_third_party_provision_stopped(true);
  ASSERT_OK(store_->Apply(RestrictionsChange("a", more)));
  a = store_->Get("a");
  ASSERT_OK(a);
  EXPECT_THAT(a->restrictions().suspended_purposes(),
              ::testing::ElementsAre("web"));
  EXPECT_TRUE(a->restrictions().third_party_provision_stopped());
  ASSERT_EQ(a->restrictions().entries_size(), 2);
  EXPECT_EQ(a->restrictions().entries(0).request_id(), "req-1");
  EXPECT_EQ(a->restrictions().entries(0).actor(), "direct-writer");
  EXPECT_TRUE(a->restrictions().entries(0).has_time());
  EXPECT_EQ(a->restrictions().entries(1).kind(),
            v1::RESTRICTION_KIND_THIRD_PARTY_PROVISION_STOPPED);
  EXPECT_EQ(a->restrictions().entries(1).request_id(), "");
}

TEST_P(ConsentStoreTest, LiftRemovesOnlyTheNamedRestrictionAndIsInHistory) {
  v1::Restrictions r;
  r.set_erased(true);
  r.add_suspended_purposes("marketing");
  ASSERT_OK(store_->Apply(RestrictionsChange("a", r)));
  v1::ConsentChange lift;
  lift.set_subject_id("a");
  lift.set_actor("privacy-officer");
  lift.mutable_lift_restriction()->set_kind(v1::RESTRICTION_KIND_ERASED);
  lift.mutable_lift_restriction()->set_reason("erased by mistake");
  ASSERT_OK(store_->Apply(lift));
  absl::StatusOr<v1::ConsentRecord> a = store_->Get("a");
  ASSERT_OK(a);
  EXPECT_FALSE(a->restrictions().erased());
  EXPECT_FALSE(a->restrictions().has_erased_time());
  EXPECT_THAT(a->restrictions().suspended_purposes(),
              ::testing::ElementsAre("marketing"));
  // Lifting it again: there is none.
  EXPECT_THAT(store_->Apply(lift),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'erased'")));
  absl::StatusOr<std::vector<v1::ConsentHistoryEntry>> h = store_->History("a");
  ASSERT_OK(h);
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ(h->back().change().lift_restriction().reason(),
            "erased by mistake");
}

TEST_P(ConsentStoreTest, LiftWithoutReasonOrActorIsInvalid) {
  v1::Restrictions r;
  r.set_erased(true);
  ASSERT_OK(store_->Apply(RestrictionsChange("a", r)));
  v1::ConsentChange lift;
  lift.set_subject_id("a");
  lift.set_actor("privacy-officer");
  lift.mutable_lift_restriction()->set_kind(v1::RESTRICTION_KIND_ERASED);
  EXPECT_THAT(store_->Apply(lift), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("reason")));
  lift.mutable_lift_restriction()->set_reason(std::string("\xff\xfe", 2));
  EXPECT_THAT(store_->Apply(lift),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
  lift.mutable_lift_restriction()->set_reason(
      std::string(kMaxLiftReasonBytes + 1, 'x'));
  EXPECT_THAT(store_->Apply(lift), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("too long")));
  lift.mutable_lift_restriction()->set_reason("ok");
  lift.clear_actor();
  EXPECT_THAT(store_->Apply(lift),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("actor")));
  lift.set_actor("privacy-officer");
  lift.mutable_lift_restriction()->set_purpose("marketing");
  EXPECT_THAT(store_->Apply(lift), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("purpose")));
  absl::StatusOr<v1::ConsentRecord> a = store_->Get("a");
  ASSERT_OK(a);
  EXPECT_TRUE(a->restrictions().erased());
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

// Every string a change carries is checked before any store writes it: a
// string that is not UTF-8 would be stored, but no later parse of the row
// would succeed.
TEST_P(ConsentStoreTest, NonUtf8OrOversizedStringsAreInvalidArgument) {
  const std::string bad("ok\xff\xfe", 4);
  const std::string surrogate("\xed\xa0\x80", 3);  // not UTF-8 either
  struct Case {
    std::string field;
    v1::ConsentChange change;
  };
  std::vector<Case> cases;
  const auto add = [&](std::string field, auto mutate) {
    v1::ConsentChange c =
        PurposeChange("s", "marketing", v1::CONSENT_STATE_GIVEN);
    mutate(c);
    cases.push_back({std::move(field), std::move(c)});
  };
  add("subject_id", [&](v1::ConsentChange& c) { c.set_subject_id(bad); });
  add("subject_id",
      [&](v1::ConsentChange& c) { c.set_subject_id(std::string("a\0b", 3)); });
  add("subject_id", [&](v1::ConsentChange& c) {
    c.set_subject_id(std::string(kMaxSubjectIdBytes + 1, 's'));
  });
  add("purpose_consent.purpose", [&](v1::ConsentChange& c) {
    c.mutable_purpose_consent()->set_purpose(surrogate);
  });
  add("purpose_consent.occasion_id", [&](v1::ConsentChange& c) {
    c.mutable_purpose_consent()->set_occasion_id(bad);
  });
  add("purpose_consent.policy_version", [&](v1::ConsentChange& c) {
    c.mutable_purpose_consent()->set_policy_version(bad);
  });
  add("purpose_consent.notice_version", [&](v1::ConsentChange& c) {
    c.mutable_purpose_consent()->set_notice_version(bad);
  });
  add("purpose_consent.evidence_ref", [&](v1::ConsentChange& c) {
    c.mutable_purpose_consent()->set_evidence_ref(
        std::string(kMaxConsentTextBytes + 1, 'e'));
  });
  add("actor", [&](v1::ConsentChange& c) { c.set_actor(bad); });
  add("restrictions.suspended_purposes[1]", [&](v1::ConsentChange& c) {
    c.mutable_restrictions()->add_suspended_purposes("marketing");
    c.mutable_restrictions()->add_suspended_purposes(bad);
  });
  for (const Case& c : cases) {
    EXPECT_THAT(
        store_->Apply(c.change),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)))
        << c.field;
  }
  EXPECT_THAT(store_->LatestRevision(), IsOkAndHolds(0));
  // At the limits, valid UTF-8 (including multi-byte) is accepted.
  v1::ConsentChange ok = PurposeChange(std::string(kMaxSubjectIdBytes, 's'),
                                       "marketing", v1::CONSENT_STATE_GIVEN);
  ok.set_actor("\xe5\x88\xa9\xe7\x94\xa8\xe8\x80\x85");
  EXPECT_OK(store_->Apply(ok));
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

// A durable store names its heartbeat word (a Guard reads it on each
// check in place of `FeedHeartbeat`), and the word is the heartbeat: 0
// before the feed starts, then the heartbeat in nanoseconds.
TEST_P(SharedConsentStoreTest, FeedHeartbeatWordIsTheHeartbeat) {
  const std::atomic<std::int64_t>* word = internal::FeedHeartbeatWord(*store_);
  ASSERT_NE(word, nullptr);
  EXPECT_EQ(word->load(), 0);
  EXPECT_EQ(store_->FeedHeartbeat(), absl::InfiniteFuture());
  Collector c;
  std::unique_ptr<Subscription> sub = store_->Watch(c.Listener());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int advanced = 0;
  std::int64_t last = word->load();
  while (advanced < 3 && absl::Now() < deadline) {
    // The heartbeat does not move back: read between two loads of the
    // word, it lies between them.
    const std::int64_t before = word->load();
    const absl::Time heartbeat = store_->FeedHeartbeat();
    const std::int64_t after = word->load();
    ASSERT_NE(before, 0);
    EXPECT_LE(absl::FromUnixNanos(before), heartbeat);
    EXPECT_LE(heartbeat, absl::FromUnixNanos(after));
    if (after > last) ++advanced;
    last = after;
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(advanced, 3);
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

// A Guard on its own handle of the store, as in another process.
struct RemoteGuard {
  std::unique_ptr<ConsentStore> store;
  InMemoryAuditSink audit;
  std::unique_ptr<Guard> guard;

  absl::StatusOr<Decision> Check(const std::string& subject) {
    absl::StatusOr<AccessContext> ctx =
        guard->Context("statistics-job", "statistics.measurement");
    absl::StatusOr<CategoryRef> cat = guard->Category("measurement");
    if (!ctx.ok()) return ctx.status();
    if (!cat.ok()) return cat.status();
    return guard->Check(*ctx, subject, *cat);
  }
  Reason CheckReason(const std::string& subject) {
    absl::StatusOr<Decision> d = Check(subject);
    if (d.ok()) return d->reason();
    return ReasonFromStatus(d.status()).value_or(Reason::kUnspecified);
  }
  // Waits (up to 10 s) until the check of `subject` has `reason`.
  bool WaitForReason(const std::string& subject, Reason reason) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (CheckReason(subject) != reason) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }
  // The feed takes a record into the cache first and then off the
  // quarantine list (so the list never misses a subject a check still
  // denies for data loss): a check can see the new state a moment before
  // the list does.
  bool WaitForNoQuarantine() {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!guard->QuarantinedSubjects().empty()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }
};

std::unique_ptr<RemoteGuard> OpenRemoteGuard(StoreLocation& location) {
  auto r = std::make_unique<RemoteGuard>();
  absl::StatusOr<std::unique_ptr<ConsentStore>> s = location.Open();
  EXPECT_OK(s.status());
  if (!s.ok()) return nullptr;
  r->store = *std::move(s);
  absl::StatusOr<std::unique_ptr<Guard>> g =
      Guard::Create(testing::DefaultPolicy(), r->store.get(), &r->audit);
  EXPECT_OK(g.status());
  if (!g.ok()) return nullptr;
  r->guard = *std::move(g);
  return r;
}

// A row no parse accepts (a writer that bypassed validation, a hand edit)
// quarantines its subject alone: the feed moves past it, so a later
// withdrawal of another subject still reaches a Guard elsewhere; checks of
// the bad subject deny with the data-loss reason and say where and who;
// warming the cache and switching policy still work.
TEST_P(SharedConsentStoreTest, UnreadableRowQuarantinesOnlyItsSubject) {
  Write(*store_, "a", "statistics", v1::CONSENT_STATE_GIVEN);
  Write(*store_, "b", "statistics", v1::CONSENT_STATE_GIVEN);
  std::unique_ptr<RemoteGuard> remote = OpenRemoteGuard(*location_);
  ASSERT_NE(remote, nullptr);
  ASSERT_OK(remote->guard->WarmCache());
  EXPECT_EQ(remote->CheckReason("a"), Reason::kAllowedConsent);

  const std::string garbage("\x0a\xff\xff\xff\x01garbage", 10);
  absl::StatusOr<Revision> bad_rev =
      testing::WriteRawRow(*location_, "bad", garbage, garbage);
  ASSERT_OK(bad_rev.status());
  const Revision withdrawn =
      Write(*store_, "a", "statistics", v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_GT(withdrawn, *bad_rev);
  EXPECT_TRUE(remote->WaitForReason("a", Reason::kConsentWithdrawn));
  EXPECT_TRUE(remote->WaitForReason("bad", Reason::kConsentDataLoss));

  absl::StatusOr<Decision> d = remote->Check("bad");
  EXPECT_THAT(
      d, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("subject 'bad'")));
  EXPECT_THAT(
      d, StatusIs(absl::StatusCode::kDataLoss, HasSubstr(location_->target())));
  EXPECT_EQ(remote->CheckReason("b"), Reason::kAllowedConsent);
  std::vector<QuarantinedSubject> q = remote->guard->QuarantinedSubjects();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].subject_id, "bad");
  EXPECT_EQ(q[0].revision, *bad_rev);
  EXPECT_THAT(q[0].detail, HasSubstr("does not parse"));
  bool audited = false;
  for (const auto& e : remote->audit.Events()) {
    if (e.subject == "bad" && e.reason == Reason::kConsentDataLoss) {
      audited = true;
    }
  }
  EXPECT_TRUE(audited);

  // Whole-store reads go on past the bad row.
  EXPECT_OK(remote->guard->WarmCache());
  EXPECT_OK(remote->guard->SetPolicy(testing::DefaultPolicy()));
  EXPECT_EQ(remote->CheckReason("bad"), Reason::kConsentDataLoss);
  EXPECT_EQ(remote->CheckReason("a"), Reason::kConsentWithdrawn);
  EXPECT_EQ(remote->CheckReason("b"), Reason::kAllowedConsent);
  absl::StatusOr<std::vector<v1::ConsentRecord>> all =
      store_->ChangesSince(0, 100);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[1].subject_id(), "bad");
  EXPECT_EQ((*all)[1].revision(), *bad_rev);
  EXPECT_THAT((*all)[1].data_loss(), HasSubstr("subject 'bad'"));
  EXPECT_TRUE((*all)[2].data_loss().empty());
  EXPECT_THAT(store_->Get("bad"), StatusIs(absl::StatusCode::kDataLoss,
                                           HasSubstr("subject 'bad'")));
  // Neither the record nor its history can be read: a write to the subject
  // is refused rather than built on nothing.
  EXPECT_THAT(store_->Apply(
                  PurposeChange("bad", "statistics", v1::CONSENT_STATE_GIVEN)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("not applied")));
  EXPECT_THAT(store_->LatestRevision(), IsOkAndHolds(withdrawn));

  // A Guard started after the damage (cold cache) denies it as well.
  std::unique_ptr<RemoteGuard> cold = OpenRemoteGuard(*location_);
  ASSERT_NE(cold, nullptr);
  EXPECT_EQ(cold->CheckReason("bad"), Reason::kConsentDataLoss);
  EXPECT_EQ(cold->CheckReason("b"), Reason::kAllowedConsent);
}

// Bit rot in a current record: the history entry of the same revision still
// holds the state, so the next write builds on it and lifts the quarantine.
// A record stored before restriction entries existed (flattened fields
// only) keeps its restrictions: a write leaving them out is refused, and
// each counts as an entry with an unknown request id.
TEST_P(SharedConsentStoreTest, LegacyRecordWithoutEntriesKeepsRestrictions) {
  absl::StatusOr<Revision> rev =
      testing::WriteRawRow(*location_, "old", "", "");
  ASSERT_OK(rev.status());
  v1::ConsentRecord legacy;
  legacy.set_subject_id("old");
  legacy.set_revision(*rev);
  legacy.mutable_restrictions()->set_erased(true);
  legacy.mutable_restrictions()->add_suspended_purposes("web");
  ASSERT_THAT(testing::CorruptRecordInPlace(*location_, "old",
                                            legacy.SerializeAsString()),
              IsOkAndHolds(*rev));
  v1::Restrictions suspend;
  suspend.add_suspended_purposes("web");
  suspend.add_suspended_purposes("marketing");
  EXPECT_THAT(store_->Apply(RestrictionsChange("old", suspend)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr("'erased'"),
                                        HasSubstr("unknown request"))));
  suspend.set_erased(true);
  ASSERT_OK(store_->Apply(RestrictionsChange("old", suspend)));
  absl::StatusOr<v1::ConsentRecord> r = store_->Get("old");
  ASSERT_OK(r);
  EXPECT_TRUE(r->restrictions().erased());
  EXPECT_THAT(r->restrictions().suspended_purposes(),
              ::testing::ElementsAre("web", "marketing"));
  ASSERT_EQ(r->restrictions().entries_size(), 3);
  EXPECT_EQ(r->restrictions().entries(0).request_id(), "");
  EXPECT_EQ(GuardReason(*store_, "old"), Reason::kSubjectErased);
}

TEST_P(SharedConsentStoreTest, CorruptRecordIsQuarantinedUntilTheNextWrite) {
  Write(*store_, "a", "statistics", v1::CONSENT_STATE_GIVEN);
  const Revision r =
      Write(*store_, "rot", "statistics", v1::CONSENT_STATE_GIVEN);
  ASSERT_THAT(testing::CorruptRecordInPlace(*location_, "rot",
                                            std::string("\xff\xff\xff", 3)),
              IsOkAndHolds(r));
  std::unique_ptr<RemoteGuard> remote = OpenRemoteGuard(*location_);
  ASSERT_NE(remote, nullptr);
  ASSERT_OK(remote->guard->WarmCache());
  EXPECT_EQ(remote->CheckReason("rot"), Reason::kConsentDataLoss);
  EXPECT_EQ(remote->CheckReason("a"), Reason::kAllowedConsent);
  ASSERT_EQ(remote->guard->QuarantinedSubjects().size(), 1u);

  const Revision r2 =
      Write(*store_, "rot", "marketing", v1::CONSENT_STATE_GIVEN);
  ASSERT_GT(r2, r);
  absl::StatusOr<v1::ConsentRecord> rot = store_->Get("rot");
  ASSERT_OK(rot);
  EXPECT_EQ(rot->revision(), r2);
  EXPECT_EQ(rot->purposes_size(), 2);  // statistics recovered, marketing new
  EXPECT_TRUE(remote->WaitForReason("rot", Reason::kAllowedConsent));
  EXPECT_TRUE(remote->WaitForNoQuarantine());
}

// The feed thread (SQLite poller, PostgreSQL listener) delivers to a Guard
// while checks run on other threads: a check that demands the revision a
// withdrawal returned never allows, and every check ends with the last
// state. Under ThreadSanitizer (label "concurrency").
TEST_P(SharedConsentStoreTest, FeedDeliversToAGuardWhileChecksRun) {
  std::unique_ptr<RemoteGuard> remote = OpenRemoteGuard(*location_);
  ASSERT_NE(remote, nullptr);
  constexpr int kSubjects = 4;
  constexpr int kRounds = 10;
  std::atomic<bool> done{false};
  std::atomic<Revision> withdrawn_at[kSubjects];
  for (auto& w : withdrawn_at) w.store(0);
  std::atomic<int> violations{0};
  std::vector<std::thread> checkers;
  for (int t = 0; t < 2; ++t) {
    checkers.emplace_back([&] {
      absl::StatusOr<AccessContext> ctx =
          remote->guard->Context("statistics-job", "statistics.measurement");
      absl::StatusOr<CategoryRef> cat = remote->guard->Category("measurement");
      if (!ctx.ok() || !cat.ok()) {
        ++violations;
        return;
      }
      while (!done.load()) {
        for (int s = 0; s < kSubjects; ++s) {
          const Revision w = withdrawn_at[s].load();
          absl::StatusOr<Decision> d =
              remote->guard->Check(*ctx, absl::StrCat("s", s), *cat, w);
          // Demanding the withdrawal's revision: never an allow based on
          // older state.
          if (d.ok() && d->allowed() && d->revision() < w) ++violations;
        }
      }
    });
  }
  for (int round = 0; round < kRounds; ++round) {
    for (int s = 0; s < kSubjects; ++s) {
      const std::string subject = absl::StrCat("s", s);
      Write(*store_, subject, "statistics", v1::CONSENT_STATE_GIVEN);
      withdrawn_at[s].store(
          Write(*store_, subject, "statistics", v1::CONSENT_STATE_WITHDRAWN));
    }
  }
  done.store(true);
  for (auto& t : checkers) t.join();
  EXPECT_EQ(violations.load(), 0);
  for (int s = 0; s < kSubjects; ++s) {
    EXPECT_TRUE(
        remote->WaitForReason(absl::StrCat("s", s), Reason::kConsentWithdrawn));
  }
}

// A feed that stops (here: every read of it fails while its table is
// gone) is not a silent fail-open: after the bound, consent purposes deny
// with consent_stale; once the feed works again, checks recover.
TEST_P(SharedConsentStoreTest, StoppedFeedMakesConsentChecksStale) {
  Write(*store_, "s1", "statistics", v1::CONSENT_STATE_GIVEN);
  absl::StatusOr<std::unique_ptr<ConsentStore>> mine = location_->Open();
  ASSERT_OK(mine);
  GuardOptions o;
  o.max_feed_staleness = absl::Milliseconds(300);
  RemoteGuard remote;
  remote.store = *std::move(mine);
  absl::StatusOr<std::unique_ptr<Guard>> g = Guard::Create(
      testing::DefaultPolicy(), remote.store.get(), &remote.audit, o);
  ASSERT_OK(g);
  remote.guard = *std::move(g);
  ASSERT_OK(remote.guard->WarmCache());
  EXPECT_TRUE(remote.WaitForReason("s1", Reason::kAllowedConsent));

  ASSERT_OK(testing::RenameRecordsTable(*location_, "consent_records",
                                        "consent_records_gone"));
  EXPECT_TRUE(remote.WaitForReason("s1", Reason::kConsentStale));
  EXPECT_TRUE(remote.guard->feed_stale());
  ASSERT_OK(testing::RenameRecordsTable(*location_, "consent_records_gone",
                                        "consent_records"));
  EXPECT_TRUE(remote.WaitForReason("s1", Reason::kAllowedConsent));
  EXPECT_FALSE(remote.guard->feed_stale());
}

INSTANTIATE_TEST_SUITE_P(DurableStores, SharedConsentStoreTest,
                         ::testing::Values(StoreKind::kSqlite,
                                           StoreKind::kPostgres),
                         StoreParamName);

}  // namespace
}  // namespace consentry

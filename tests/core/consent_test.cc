// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/consent.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

TEST(InMemoryConsentStoreTest, UnknownSubjectHasEmptyRecordAtRevisionZero) {
  InMemoryConsentStore store;
  absl::StatusOr<v1::ConsentRecord> r = store.Get("nobody");
  ASSERT_OK(r);
  EXPECT_EQ(r->revision(), 0);
  EXPECT_EQ(r->purposes_size(), 0);
}

TEST(InMemoryConsentStoreTest, EveryWriteReturnsANewRevision) {
  InMemoryConsentStore store;
  absl::StatusOr<Revision> r1 =
      store.Apply(PurposeChange("a", "marketing", v1::CONSENT_STATE_GIVEN));
  absl::StatusOr<Revision> r2 =
      store.Apply(PurposeChange("b", "marketing", v1::CONSENT_STATE_GIVEN));
  absl::StatusOr<Revision> r3 =
      store.Apply(PurposeChange("a", "marketing", v1::CONSENT_STATE_WITHDRAWN));
  ASSERT_OK(r1);
  ASSERT_OK(r2);
  ASSERT_OK(r3);
  EXPECT_LT(*r1, *r2);
  EXPECT_LT(*r2, *r3);
  absl::StatusOr<v1::ConsentRecord> a = store.Get("a");
  ASSERT_OK(a);
  EXPECT_EQ(a->revision(), *r3);
  ASSERT_EQ(a->purposes_size(), 1);
  EXPECT_EQ(a->purposes(0).state(), v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_TRUE(a->purposes(0).has_time());
  EXPECT_EQ(a->subject_kind(), v1::SUBJECT_KIND_CUSTOMER);
  EXPECT_THAT(store.LatestRevision(), testing::IsOkAndHolds(*r3));
}

TEST(InMemoryConsentStoreTest, OccasionConsentIsKeptPerOccasion) {
  InMemoryConsentStore store;
  v1::ConsentChange c1 =
      PurposeChange("a", "occasion.joint_study", v1::CONSENT_STATE_GIVEN);
  c1.mutable_purpose_consent()->set_occasion_id("o1");
  v1::ConsentChange c2 = c1;
  c2.mutable_purpose_consent()->set_occasion_id("o2");
  ASSERT_OK(store.Apply(c1));
  ASSERT_OK(store.Apply(c2));
  EXPECT_EQ(store.Get("a")->purposes_size(), 2);
}

TEST(InMemoryConsentStoreTest,
     ExpectedRevisionMismatchIsAbortedAndWritesNothing) {
  InMemoryConsentStore store;
  v1::ConsentChange c =
      PurposeChange("a", "marketing", v1::CONSENT_STATE_GIVEN);
  c.set_expected_revision(0);
  absl::StatusOr<Revision> r1 = store.Apply(c);
  ASSERT_OK(r1);
  // A second writer that also read revision 0 loses.
  v1::ConsentChange stale =
      PurposeChange("a", "marketing", v1::CONSENT_STATE_REFUSED);
  stale.set_expected_revision(0);
  EXPECT_THAT(store.Apply(stale),
              StatusIs(absl::StatusCode::kAborted,
                       HasSubstr("expected revision 0 but the record is at "
                                 "revision 1")));
  EXPECT_EQ(store.Get("a")->purposes(0).state(), v1::CONSENT_STATE_GIVEN);
  stale.set_expected_revision(*r1);
  EXPECT_OK(store.Apply(stale));
  // A conflict on a subject without a record creates nothing.
  v1::ConsentChange ghost =
      PurposeChange("b", "marketing", v1::CONSENT_STATE_GIVEN);
  ghost.set_expected_revision(5);
  EXPECT_THAT(store.Apply(ghost),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("b")));
  EXPECT_EQ(store.Get("b")->revision(), 0);
}

TEST(InMemoryConsentStoreTest, MalformedChangesAreRejectedByField) {
  InMemoryConsentStore store;
  v1::ConsentChange c;
  EXPECT_THAT(store.Apply(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("subject_id")));
  c.set_subject_id("a");
  EXPECT_THAT(store.Apply(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("one of purpose_consent")));
  c.mutable_purpose_consent()->set_state(v1::CONSENT_STATE_GIVEN);
  EXPECT_THAT(store.Apply(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("purpose_consent.purpose")));
  c.mutable_purpose_consent()->set_purpose("marketing");
  c.mutable_purpose_consent()->set_state(v1::CONSENT_STATE_UNSPECIFIED);
  EXPECT_THAT(store.Apply(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("purpose_consent.state")));
  c.mutable_purpose_consent()->set_state(static_cast<v1::ConsentState>(99));
  EXPECT_THAT(store.Apply(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("got 99")));
  c.mutable_purpose_consent()->set_state(v1::CONSENT_STATE_REFUSED);
  c.mutable_purpose_consent()->mutable_expiry()->set_seconds(1);
  EXPECT_THAT(store.Apply(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("expiry")));
  EXPECT_THAT(store.LatestRevision(), testing::IsOkAndHolds(0));
}

TEST(InMemoryConsentStoreTest, ChangesSinceListsLatestRecordsInRevisionOrder) {
  InMemoryConsentStore store;
  ASSERT_OK(
      store.Apply(PurposeChange("a", "marketing", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(
      store.Apply(PurposeChange("b", "marketing", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(
      store.Apply(PurposeChange("a", "support", v1::CONSENT_STATE_GIVEN)));
  absl::StatusOr<std::vector<v1::ConsentRecord>> all =
      store.ChangesSince(0, 100);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].subject_id(), "b");
  EXPECT_EQ((*all)[1].subject_id(), "a");
  EXPECT_EQ((*all)[1].revision(), 3);
  absl::StatusOr<std::vector<v1::ConsentRecord>> since2 =
      store.ChangesSince(2, 100);
  ASSERT_OK(since2);
  ASSERT_EQ(since2->size(), 1u);
  EXPECT_EQ(store.ChangesSince(0, 1)->size(), 1u);
}

TEST(InMemoryConsentStoreTest, WatchSeesEveryChangeInOrderUntilCancelled) {
  InMemoryConsentStore store;
  std::vector<Revision> seen;
  std::unique_ptr<Subscription> sub = store.Watch(
      [&](const v1::ConsentRecord& r) { seen.push_back(r.revision()); });
  ASSERT_OK(
      store.Apply(PurposeChange("a", "marketing", v1::CONSENT_STATE_GIVEN)));
  ASSERT_OK(
      store.Apply(PurposeChange("b", "marketing", v1::CONSENT_STATE_GIVEN)));
  sub.reset();
  ASSERT_OK(
      store.Apply(PurposeChange("c", "marketing", v1::CONSENT_STATE_GIVEN)));
  EXPECT_THAT(seen, ::testing::ElementsAre(1, 2));
}

TEST(InMemoryConsentStoreTest, ConcurrentWritersGetDistinctRevisions) {
  InMemoryConsentStore store;
  std::vector<std::thread> threads;
  std::vector<std::vector<Revision>> revs(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<Revision> r =
            store.Apply(PurposeChange("s" + std::to_string(i % 10), "marketing",
                                      v1::CONSENT_STATE_GIVEN));
        if (r.ok()) revs[static_cast<std::size_t>(t)].push_back(*r);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<Revision> all;
  for (const auto& v : revs) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 800u);
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());
  EXPECT_EQ(all.back(), 800);
}

// The merge every store performs, on a record stored before restriction
// entries existed: its flattened restrictions count as entries with an
// unknown request id, a write leaving one out is refused and changes
// nothing, and a lift removes exactly one.
TEST(MergeConsentChangeTest, LegacyRestrictionsHoldAndCanOnlyBeLifted) {
  v1::ConsentRecord legacy;
  legacy.set_subject_id("a");
  legacy.set_revision(7);
  legacy.mutable_restrictions()->set_suspend_all(true);
  legacy.mutable_restrictions()->add_suspended_purposes("web");
  legacy.mutable_restrictions()->set_third_party_provision_stopped(true);
  const std::vector<v1::RestrictionEntry> in_force =
      RestrictionsInForce(legacy.restrictions());
  ASSERT_EQ(in_force.size(), 3u);
  for (const v1::RestrictionEntry& e : in_force) {
    EXPECT_EQ(e.request_id(), "");
  }

  v1::ConsentChange drop;
  drop.set_subject_id("a");
  drop.mutable_restrictions()->set_suspend_all(true);
  drop.mutable_restrictions()->set_third_party_provision_stopped(true);
  v1::ConsentRecord record = legacy;
  EXPECT_THAT(MergeConsentChange(drop, 8, absl::Now(), record),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("'suspended purpose web'")));
  EXPECT_EQ(record.SerializeAsString(), legacy.SerializeAsString());

  v1::ConsentChange lift;
  lift.set_subject_id("a");
  lift.set_actor("officer");
  lift.mutable_lift_restriction()->set_kind(
      v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
  lift.mutable_lift_restriction()->set_purpose("web");
  lift.mutable_lift_restriction()->set_reason("asked in writing");
  ASSERT_OK(ValidateConsentChange(lift));
  ASSERT_OK(MergeConsentChange(lift, 8, absl::Now(), record));
  EXPECT_TRUE(record.restrictions().suspend_all());
  EXPECT_TRUE(record.restrictions().third_party_provision_stopped());
  EXPECT_EQ(record.restrictions().suspended_purposes_size(), 0);
  EXPECT_EQ(record.restrictions().entries_size(), 2);
  EXPECT_EQ(record.revision(), 8);
  // A lift of what is not in force is refused.
  EXPECT_THAT(MergeConsentChange(lift, 9, absl::Now(), record),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("'suspended purpose web'")));
}

TEST(MergeConsentChangeTest, MalformedRestrictionEntriesAreInvalid) {
  v1::ConsentChange c;
  c.set_subject_id("a");
  c.mutable_restrictions()->add_entries();  // no kind
  EXPECT_THAT(ValidateConsentChange(c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kind")));
  c.mutable_restrictions()->mutable_entries(0)->set_kind(
      v1::RESTRICTION_KIND_SUSPENDED_PURPOSE);
  EXPECT_THAT(
      ValidateConsentChange(c),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("purpose")));
  c.mutable_restrictions()->mutable_entries(0)->set_purpose("web");
  c.mutable_restrictions()->mutable_entries(0)->set_request_id(
      std::string("r\0", 2));
  EXPECT_THAT(ValidateConsentChange(c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  c.mutable_restrictions()->mutable_entries(0)->set_request_id("r-1");
  EXPECT_OK(ValidateConsentChange(c));
  c.mutable_restrictions()->mutable_entries(0)->set_kind(
      static_cast<v1::RestrictionKind>(99));
  EXPECT_THAT(ValidateConsentChange(c),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kind")));
}

TEST(InMemoryConsentStoreTest, RestrictionsWriteStampsErasure) {
  InMemoryConsentStore store;
  v1::ConsentChange c;
  c.set_subject_id("a");
  c.mutable_restrictions()->set_erased(true);
  ASSERT_OK(store.Apply(c));
  absl::StatusOr<v1::ConsentRecord> r = store.Get("a");
  ASSERT_OK(r);
  EXPECT_TRUE(r->restrictions().erased());
  EXPECT_TRUE(r->restrictions().has_erased_time());
}

TEST(InMemoryConsentStoreTest, UnavailableStoreFailsEveryCall) {
  InMemoryConsentStore store;
  store.SetUnavailableForTesting(true);
  EXPECT_THAT(store.Get("a"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("")));
  EXPECT_THAT(store.Apply(PurposeChange("a", "x", v1::CONSENT_STATE_GIVEN)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("")));
  EXPECT_THAT(store.ChangesSince(0, 1),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("")));
}

}  // namespace
}  // namespace consentry

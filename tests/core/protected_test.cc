// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/protected.h"

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::GuardFixture;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

// Misuse that must not compile.
static_assert(!std::is_default_constructible_v<AccessGrant>);
static_assert(!std::is_copy_constructible_v<AccessGrant>);
static_assert(!std::is_copy_assignable_v<AccessGrant>);
static_assert(std::is_move_constructible_v<AccessGrant>);
static_assert(!std::is_constructible_v<AccessGrant, const CompiledPolicy*,
                                       internal::RecordId, CategoryIndex,
                                       PurposeIndex, Decision>);
static_assert(!std::is_default_constructible_v<Protected<int>>);
static_assert(!std::is_default_constructible_v<RecordTags> ||
              !std::is_constructible_v<RecordTags, std::string>);

class ProtectedTest : public GuardFixture {
 protected:
  Protected<double> Weight(const std::string& subject, double kg) {
    absl::StatusOr<RecordTags> tags =
        guard_->Tag(subject, "measurement",
                    {"service.operation", "statistics.measurement"});
    EXPECT_TRUE(tags.ok()) << tags.status();
    return Protected<double>(*std::move(tags), kg);
  }
};

TEST_F(ProtectedTest, ReadWithGrantReturnsValue) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Protected<double> w = Weight("m1", 61.5);
  absl::StatusOr<AccessGrant> g =
      guard_->Authorize(Ctx("statistics-job", "statistics.measurement"), w);
  ASSERT_OK(g);
  EXPECT_EQ(g->category(), "measurement");
  EXPECT_EQ(g->purpose(), "statistics.measurement");
  absl::StatusOr<const double*> v = w.Read(*g);
  ASSERT_OK(v);
  EXPECT_DOUBLE_EQ(**v, 61.5);
}

TEST_F(ProtectedTest, GrantForAnotherSubjectIsRefused) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Protected<double> mine = Weight("m1", 61.5);
  Protected<double> theirs = Weight("m2", 80.0);
  absl::StatusOr<AccessGrant> g =
      guard_->Authorize(Ctx("statistics-job", "statistics.measurement"), mine);
  ASSERT_OK(g);
  EXPECT_THAT(theirs.Read(*g), StatusIs(absl::StatusCode::kPermissionDenied,
                                        HasSubstr("another record")));
}

TEST_F(ProtectedTest, GrantForAnotherCategoryIsRefused) {
  absl::StatusOr<RecordTags> billing_tags =
      guard_->Tag("m1", "billing", {"billing"});
  ASSERT_OK(billing_tags);
  Protected<int> charge(*billing_tags, 1600);
  absl::StatusOr<RecordTags> contact_tags =
      guard_->Tag("m1", "contact", {"billing"});
  ASSERT_OK(contact_tags);
  Protected<std::string> email(*contact_tags, "m1@example.jp");
  absl::StatusOr<AccessGrant> g =
      guard_->Authorize(Ctx("billing-service", "billing.calculation"), charge);
  ASSERT_OK(g);
  EXPECT_THAT(email.Read(*g), StatusIs(absl::StatusCode::kPermissionDenied,
                                       HasSubstr("category 'billing'")));
}

TEST_F(ProtectedTest, GrantDoesNotOpenRecordCollectedForOtherPurposes) {
  // Same subject and category, but the second record was collected only
  // for service operation: the statistics grant does not open it.
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Protected<double> w = Weight("m1", 61.5);
  absl::StatusOr<RecordTags> narrow =
      guard_->Tag("m1", "measurement", {"service.operation"});
  ASSERT_OK(narrow);
  Protected<double> body_fat(*narrow, 22.0);
  absl::StatusOr<AccessGrant> g =
      guard_->Authorize(Ctx("statistics-job", "statistics.measurement"), w);
  ASSERT_OK(g);
  EXPECT_THAT(body_fat.Read(*g),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("not_collected_for_purpose")));
}

TEST_F(ProtectedTest, GrantOpensOnlyTheRecordItWasMintedFor) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Protected<double> w = Weight("m1", 61.5);
  // Same subject, category and purposes, tagged by another call: another
  // record.
  Protected<double> twin = Weight("m1", 99.0);
  absl::StatusOr<AccessGrant> g =
      guard_->Authorize(Ctx("statistics-job", "statistics.measurement"), w);
  ASSERT_OK(g);
  EXPECT_THAT(twin.Read(*g), StatusIs(absl::StatusCode::kPermissionDenied,
                                      HasSubstr("another record")));
  // A copy of the record (its tags copied) is the same record.
  const Protected<double> copy = w;
  absl::StatusOr<const double*> v = copy.Read(*g);
  ASSERT_OK(v);
  EXPECT_DOUBLE_EQ(**v, 61.5);
  RecordTags tags_copy = w.tags();
  Protected<double> retagged(std::move(tags_copy), 1.0);
  EXPECT_OK(retagged.Read(*g));
}

TEST_F(ProtectedTest, MovedFromGrantOpensNothing) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Protected<double> w = Weight("m1", 61.5);
  absl::StatusOr<AccessGrant> g =
      guard_->Authorize(Ctx("statistics-job", "statistics.measurement"), w);
  ASSERT_OK(g);
  AccessGrant moved = *std::move(g);
  EXPECT_OK(w.Read(moved));
  EXPECT_THAT(w.Read(*g), StatusIs(absl::StatusCode::kPermissionDenied,
                                   HasSubstr("moved from")));
  AccessGrant assigned = std::move(moved);
  EXPECT_OK(w.Read(assigned));
  EXPECT_THAT(w.Read(moved), StatusIs(absl::StatusCode::kPermissionDenied,
                                      HasSubstr("moved from")));
}

TEST_F(ProtectedTest, MovedFromTagsNameNoRecord) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  absl::StatusOr<RecordTags> tags = guard_->Tag(
      "m1", "measurement", {"service.operation", "statistics.measurement"});
  ASSERT_OK(tags);
  Protected<double> w(std::move(*tags), 61.5);
  // Tags left behind by the move do not make another value the same record.
  Protected<double> reused(*tags, 99.0);
  absl::StatusOr<AccessGrant> g =
      guard_->Authorize(Ctx("statistics-job", "statistics.measurement"), w);
  ASSERT_OK(g);
  EXPECT_OK(w.Read(*g));
  EXPECT_THAT(reused.Read(*g), StatusIs(absl::StatusCode::kPermissionDenied,
                                        HasSubstr("another record")));
}

TEST_F(ProtectedTest, GrantOutlivingItsRecordOpensNoLaterRecord) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  const AccessContext ctx = Ctx("statistics-job", "statistics.measurement");
  absl::optional<Protected<double>> slot;
  slot.emplace(Weight("m1", 61.5));
  const RecordTags* first_address = &slot->tags();
  absl::StatusOr<AccessGrant> g = guard_->Authorize(ctx, *slot);
  ASSERT_OK(g);
  ASSERT_OK(slot->Read(*g));
  // The record is gone; a new one of the same subject, tagged alike, is
  // built in the very same storage.
  slot.reset();
  slot.emplace(Weight("m1", 99.0));
  ASSERT_EQ(&slot->tags(), first_address);
  EXPECT_THAT(slot->Read(*g), StatusIs(absl::StatusCode::kPermissionDenied,
                                       HasSubstr("another record")));
  // Its own grant opens it.
  absl::StatusOr<AccessGrant> own = guard_->Authorize(ctx, *slot);
  ASSERT_OK(own);
  EXPECT_OK(slot->Read(*own));
}

TEST_F(ProtectedTest, GrantFromAnotherGuardOpensOnlyTheRecordItDecided) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Protected<double> w = Weight("m1", 61.5);
  Protected<double> twin = Weight("m1", 99.0);
  absl::StatusOr<std::unique_ptr<Guard>> other =
      Guard::Create(guard_->policy(), &store_, &audit_);
  ASSERT_OK(other);
  absl::StatusOr<AccessContext> ctx =
      (*other)->Context("statistics-job", "statistics.measurement");
  ASSERT_OK(ctx);
  absl::StatusOr<AccessGrant> g = (*other)->Authorize(*ctx, w);
  ASSERT_OK(g);
  EXPECT_OK(w.Read(*g));
  EXPECT_THAT(twin.Read(*g), StatusIs(absl::StatusCode::kPermissionDenied,
                                      HasSubstr("another record")));
}

TEST_F(ProtectedTest, DeniedReadYieldsNoGrant) {
  Protected<double> w = Weight("m1", 61.5);
  EXPECT_THAT(
      guard_->Authorize(Ctx("statistics-job", "statistics.measurement"), w),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no_consent")));
}

TEST_F(ProtectedTest, DerivedValueKeepsTags) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Protected<double> w = Weight("m1", 61.5);
  AccessContext ctx = Ctx("statistics-job", "statistics.measurement");
  absl::StatusOr<AccessGrant> g = guard_->Authorize(ctx, w);
  ASSERT_OK(g);
  absl::StatusOr<Protected<int>> grams =
      w.Derive(*g, [](double kg) { return static_cast<int>(kg * 1000); });
  ASSERT_OK(grams);
  EXPECT_EQ(grams->tags().subject(), "m1");
  EXPECT_EQ(grams->tags().category(), "measurement");
  EXPECT_TRUE(grams->tags().Complies("statistics.measurement"));
  EXPECT_FALSE(grams->tags().Complies("marketing.research"));
  // The derived value needs a grant of its own, like its source.
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_THAT(guard_->Authorize(ctx, *grams),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("consent_withdrawn")));
  // The earlier grant still opens it: grants are short-lived by contract.
  absl::StatusOr<const int*> v = grams->Read(*g);
  ASSERT_OK(v);
  EXPECT_EQ(**v, 61500);
}

TEST_F(ProtectedTest, DeriveWithWrongGrantFails) {
  Protected<double> w = Weight("m1", 61.5);
  absl::StatusOr<RecordTags> other = guard_->Tag("m2", "billing", {"billing"});
  ASSERT_OK(other);
  Protected<int> charge(*other, 100);
  absl::StatusOr<AccessGrant> g =
      guard_->Authorize(Ctx("billing-service", "billing.calculation"), charge);
  ASSERT_OK(g);
  bool called = false;
  auto derived = w.Derive(*g, [&](double kg) {
    called = true;
    return kg;
  });
  EXPECT_THAT(derived, StatusIs(absl::StatusCode::kPermissionDenied,
                                HasSubstr("another record")));
  EXPECT_FALSE(called);
}

TEST_F(ProtectedTest, FilterReadableKeepsOnlyAllowedRecords) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Set("m2", "statistics.measurement", v1::CONSENT_STATE_REFUSED);
  Set("m4", "statistics", v1::CONSENT_STATE_GIVEN);
  std::vector<Protected<double>> records;
  records.push_back(Weight("m1", 60));
  records.push_back(Weight("m2", 70));
  records.push_back(Weight("m3", 80));
  records.push_back(Weight("m4", 90));
  audit_.Clear();
  absl::StatusOr<ReadableBatch<double>> batch = FilterReadable<double>(
      *guard_, Ctx("statistics-job", "statistics.measurement"), records);
  ASSERT_OK(batch);
  ASSERT_EQ(batch->allowed().size(), 2u);
  EXPECT_EQ(batch->allowed()[0].first, 0u);
  EXPECT_DOUBLE_EQ(*batch->allowed()[0].second, 60);
  EXPECT_EQ(batch->allowed()[1].first, 3u);
  EXPECT_DOUBLE_EQ(*batch->allowed()[1].second, 90);
  ASSERT_EQ(batch->denied().size(), 2u);
  EXPECT_EQ(batch->denied()[0].index, 1u);
  EXPECT_EQ(batch->denied()[0].decision.reason(), Reason::kConsentRefused);
  EXPECT_EQ(batch->denied()[1].index, 2u);
  EXPECT_EQ(batch->denied()[1].decision.reason(), Reason::kNoConsent);
  EXPECT_EQ(audit_.size(), 4u);
}

TEST_F(ProtectedTest, BatchGrantOpensExactlyTheRecordsItIncluded) {
  Set("m1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  Set("m2", "statistics.measurement", v1::CONSENT_STATE_REFUSED);
  std::vector<Protected<double>> records;
  records.push_back(Weight("m1", 60));
  records.push_back(Weight("m2", 70));
  Protected<double> outside = Weight("m1", 80);  // same tags, not decided
  std::vector<const RecordTags*> tags{&records[0].tags(), &records[1].tags()};
  audit_.Clear();
  absl::StatusOr<BatchGrant> grant = guard_->AuthorizeBatch(
      Ctx("statistics-job", "statistics.measurement"), tags, "batch-1");
  ASSERT_OK(grant);
  ASSERT_EQ(grant->decisions().size(), 2u);
  EXPECT_EQ(audit_.size(), 1u);  // one event for the batch
  absl::StatusOr<const double*> v = records[0].Read(*grant, 0);
  ASSERT_OK(v);
  EXPECT_DOUBLE_EQ(**v, 60);
  // A denied record, a record at another index, a record never decided.
  EXPECT_THAT(records[1].Read(*grant, 1),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("consent_refused")));
  EXPECT_THAT(records[0].Read(*grant, 1),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("does not cover")));
  EXPECT_THAT(outside.Read(*grant, 0),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("does not cover")));
  EXPECT_THAT(records[0].Read(*grant, 2),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("does not cover")));
}
static_assert(!std::is_default_constructible_v<BatchGrant>);
static_assert(!std::is_copy_constructible_v<BatchGrant>);

TEST_F(ProtectedTest, FilterReadableFailsClosedOnStoreOutage) {
  std::vector<Protected<double>> records;
  records.push_back(Weight("m1", 60));
  store_.SetUnavailableForTesting(true);
  EXPECT_THAT(
      FilterReadable<double>(
          *guard_, Ctx("statistics-job", "statistics.measurement"), records),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("store")));
}

TEST_F(ProtectedTest, ShadowGrantOpensDeniedRecord) {
  GuardOptions options;
  options.mode = EnforcementMode::kShadow;
  MakeGuard(options);
  absl::StatusOr<RecordTags> narrow =
      guard_->Tag("m1", "measurement", {"service.operation"});
  ASSERT_OK(narrow);
  Protected<double> w(*narrow, 61.5);
  absl::StatusOr<AccessGrant> g =
      guard_->Authorize(Ctx("statistics-job", "statistics.measurement"), w);
  ASSERT_OK(g);
  EXPECT_TRUE(g->decision().shadow_denial());
  EXPECT_OK(w.Read(*g));
  // Still only its own record.
  Protected<double> twin(*narrow, 70.0);
  EXPECT_OK(twin.Read(*g));  // a copy of the same tags
  absl::StatusOr<RecordTags> alike =
      guard_->Tag("m1", "measurement", {"service.operation"});
  ASSERT_OK(alike);
  Protected<double> other(*alike, 80.0);
  EXPECT_THAT(other.Read(*g), StatusIs(absl::StatusCode::kPermissionDenied,
                                       HasSubstr("another record")));
}

}  // namespace
}  // namespace consentry

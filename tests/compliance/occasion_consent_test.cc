// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Per-occasion purposes (APPI Art. 18(1): a use outside the catalogue, with
// the person's prior consent for that occasion): single-use consent is used
// only through Authorize, never relied on by Check; and a record tagged
// before the occasion existed is usable for it with the occasion consent.

#include <memory>
#include <string>
#include <vector>

#include "consentry/guard.h"
#include "consentry/protected.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::GuardFixture;
using ::consentry::testing::PurposeChange;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

class OccasionConsentTest : public GuardFixture {
 protected:
  // Gives `subject` consent to occasion.joint_study for `occasion`.
  void GiveOccasion(const std::string& subject, const std::string& occasion,
                    bool single_use) {
    v1::ConsentChange c =
        PurposeChange(subject, "occasion.joint_study", v1::CONSENT_STATE_GIVEN);
    c.mutable_purpose_consent()->set_occasion_id(occasion);
    c.mutable_purpose_consent()->set_single_use(single_use);
    ASSERT_OK(store_.Apply(c));
  }

  // Whether the subject's occasion consent has been used up in the store.
  bool Used(const std::string& subject) {
    absl::StatusOr<v1::ConsentRecord> rec = store_.Get(subject);
    EXPECT_TRUE(rec.ok()) << rec.status();
    for (const v1::PurposeConsent& pc : rec->purposes()) {
      if (!pc.occasion_id().empty()) return pc.has_used_time();
    }
    return false;
  }

  // A measurement record of `subject` collected for service operation only,
  // long before any study.
  RecordTags OperationRecord(const std::string& subject,
                             std::vector<absl::string_view> prohibited = {}) {
    absl::StatusOr<RecordTags> t =
        guard_->Tag(subject, "measurement", {"service.operation"}, prohibited,
                    "weight-1", now_ - absl::Hours(24 * 30));
    EXPECT_TRUE(t.ok()) << t.status();
    return *std::move(t);
  }

  AccessContext Study(const std::string& occasion) {
    return Ctx("research-team", "occasion.joint_study", occasion);
  }
};

TEST_F(OccasionConsentTest, CheckDeniesSingleUseConsentAndLeavesItUnused) {
  GiveOccasion("s", "study-1", /*single_use=*/true);
  absl::StatusOr<Decision> d =
      guard_->Check(Study("study-1"), "s", Cat("measurement"));
  ASSERT_OK(d);
  EXPECT_FALSE(d->allowed());
  EXPECT_EQ(d->reason(), Reason::kSingleUseRequiresAuthorize);
  RecordTags tags = OperationRecord("s");
  for (int i = 0; i < 3; ++i) {
    d = guard_->Check(Study("study-1"), tags);
    ASSERT_OK(d);
    EXPECT_EQ(d->reason(), Reason::kSingleUseRequiresAuthorize);
  }
  // The denials are audited, and the consent is still unused.
  std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().reason, Reason::kSingleUseRequiresAuthorize);
  EXPECT_FALSE(Used("s"));
  // Authorize uses it, once.
  ASSERT_OK(guard_->Authorize(Study("study-1"), tags));
  EXPECT_TRUE(Used("s"));
  EXPECT_THAT(guard_->Authorize(Study("study-1"), tags),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("occasion_consent_used")));
  EXPECT_EQ(guard_->Check(Study("study-1"), tags)->reason(),
            Reason::kOccasionConsentUsed);
}

TEST_F(OccasionConsentTest, BatchDeniesSingleUseConsentAndLeavesItUnused) {
  GiveOccasion("s", "study-2", /*single_use=*/true);
  Protected<double> weight(OperationRecord("s"), 61.2);
  std::vector<const RecordTags*> records = {&weight.tags(), &weight.tags()};
  absl::StatusOr<std::vector<Decision>> d =
      guard_->DecideBatch(Study("study-2"), records, "batch-1");
  ASSERT_OK(d);
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].reason(), Reason::kSingleUseRequiresAuthorize);
  EXPECT_EQ((*d)[1].reason(), Reason::kSingleUseRequiresAuthorize);
  EXPECT_FALSE(Used("s"));
  absl::StatusOr<BatchGrant> grant =
      guard_->AuthorizeBatch(Study("study-2"), records);
  ASSERT_OK(grant);
  EXPECT_THAT(weight.Read(*grant, 0),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("single_use_requires_authorize")));
  EXPECT_FALSE(Used("s"));
}

TEST_F(OccasionConsentTest, ReusableOccasionConsentAllowsCheckRepeatedly) {
  GiveOccasion("s", "study-3", /*single_use=*/false);
  RecordTags tags = OperationRecord("s");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(guard_->Check(Study("study-3"), tags)->reason(),
              Reason::kAllowedOccasionConsent);
  }
  ASSERT_OK(guard_->Authorize(Study("study-3"), tags));
  ASSERT_OK(guard_->Authorize(Study("study-3"), tags));
  EXPECT_FALSE(Used("s"));
}

TEST_F(OccasionConsentTest, SingleUseRequiresAuthorizeIsAFailedPrecondition) {
  const absl::Status s = DenialStatus(Reason::kSingleUseRequiresAuthorize,
                                      "occasion.joint_study", "measurement");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonFromStatus(s), Reason::kSingleUseRequiresAuthorize);
  EXPECT_EQ(ReasonName(Reason::kSingleUseRequiresAuthorize),
            "single_use_requires_authorize");
  EXPECT_EQ(static_cast<int>(Reason::kSingleUseRequiresAuthorize), 48);
}

TEST_F(OccasionConsentTest, RecordTaggedBeforeTheOccasionIsUsableWithConsent) {
  RecordTags tags = OperationRecord("s");
  Protected<double> weight(tags, 61.2);
  EXPECT_TRUE(tags.Complies("occasion.joint_study"));
  // Without consent for the occasion: denied for want of consent, not
  // because the record predates the occasion.
  EXPECT_EQ(guard_->Check(Study("study-4"), tags)->reason(),
            Reason::kNoOccasionConsent);
  EXPECT_THAT(guard_->Authorize(Study("study-4"), tags),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no_occasion_consent")));
  GiveOccasion("s", "study-4", /*single_use=*/false);
  EXPECT_EQ(guard_->Check(Study("study-4"), tags)->reason(),
            Reason::kAllowedOccasionConsent);
  absl::StatusOr<AccessGrant> grant = guard_->Authorize(Study("study-4"), tags);
  ASSERT_OK(grant);
  absl::StatusOr<const double*> kg = weight.Read(*grant);
  ASSERT_OK(kg);
  EXPECT_EQ(**kg, 61.2);
  // Consent for one occasion does not cover another.
  EXPECT_EQ(guard_->Check(Study("study-5"), tags)->reason(),
            Reason::kNoOccasionConsent);
  // A general consent to the parent purpose is no occasion consent.
  Set("t", "occasion", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(guard_->Check(Study("study-4"), OperationRecord("t"))->reason(),
            Reason::kNoOccasionConsent);
}

TEST_F(OccasionConsentTest, RecordTaggedBeforeTheOccasionSingleUseOnce) {
  RecordTags tags = OperationRecord("s");
  GiveOccasion("s", "study-6", /*single_use=*/true);
  EXPECT_EQ(guard_->Check(Study("study-6"), tags)->reason(),
            Reason::kSingleUseRequiresAuthorize);
  ASSERT_OK(guard_->Authorize(Study("study-6"), tags));
  EXPECT_THAT(guard_->Authorize(Study("study-6"), tags),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("occasion_consent_used")));
}

TEST_F(OccasionConsentTest, RecordProhibitingThePurposeStaysDenied) {
  GiveOccasion("s", "study-7", /*single_use=*/false);
  // Prohibiting the parent prohibits every per-occasion purpose under it.
  for (absl::string_view prohibited : {"occasion", "occasion.joint_study"}) {
    RecordTags tags = OperationRecord("s", {prohibited});
    EXPECT_FALSE(tags.Complies("occasion.joint_study")) << prohibited;
    EXPECT_EQ(guard_->Check(Study("study-7"), tags)->reason(),
              Reason::kProhibitedPurpose)
        << prohibited;
    EXPECT_THAT(guard_->Authorize(Study("study-7"), tags),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         HasSubstr("prohibited_purpose")));
  }
}

TEST_F(OccasionConsentTest, CategoryThePolicyDoesNotAllowStaysDenied) {
  GiveOccasion("s", "study-8", /*single_use=*/false);
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s", "identity", {"service.operation"});
  ASSERT_OK(tags);
  EXPECT_EQ(guard_->Check(Study("study-8"), *tags)->reason(),
            Reason::kNotAllowedByPolicy);
}

TEST_F(OccasionConsentTest, CatalogueRecordsStillNeedTheirCollectionPurpose) {
  Set("s", "marketing.research", v1::CONSENT_STATE_GIVEN);
  RecordTags tags = OperationRecord("s");
  EXPECT_FALSE(tags.Complies("marketing.research"));
  EXPECT_EQ(
      guard_->Check(Ctx("marketing-analytics", "marketing.research"), tags)
          ->reason(),
      Reason::kNotCollectedForPurpose);
  EXPECT_FALSE(tags.Complies("no.such.purpose"));
}

TEST_F(OccasionConsentTest, PurposeNoLongerPerOccasionNeedsCollection) {
  GiveOccasion("s", "study-9", /*single_use=*/false);
  Set("s", "occasion.joint_study", v1::CONSENT_STATE_GIVEN);
  RecordTags tags = OperationRecord("s");
  Protected<double> weight(tags, 61.2);
  // The next policy makes the study a catalogue purpose: a record tagged
  // under the old one complied only as per-occasion, so it no longer does.
  v1::Policy next = guard_->policy()->proto();
  next.set_version("2027-04-01");
  for (v1::Purpose& p : *next.mutable_purposes()) {
    if (p.id() == "occasion.joint_study") p.set_per_occasion(false);
  }
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(next);
  ASSERT_OK(compiled);
  ASSERT_OK(guard_->SetPolicy(*compiled));
  AccessContext ctx = Ctx("research-team", "occasion.joint_study");
  EXPECT_EQ(guard_->Check(ctx, tags)->reason(),
            Reason::kNotCollectedForPurpose);
  // A record collected for it is still usable on the plain consent.
  absl::StatusOr<RecordTags> collected =
      guard_->Tag("s", "measurement", {"occasion.joint_study"});
  ASSERT_OK(collected);
  EXPECT_EQ(guard_->Check(ctx, *collected)->reason(), Reason::kAllowedConsent);
  // A grant minted under the new policy does not open the old record.
  absl::StatusOr<AccessGrant> grant = guard_->Authorize(ctx, *collected);
  ASSERT_OK(grant);
  EXPECT_THAT(weight.Read(*grant),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("not_collected_for_purpose")));
}

}  // namespace
}  // namespace consentry

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/guard.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::GuardFixture;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

class GuardTest : public GuardFixture {};

TEST_F(GuardTest, NecessaryBasisAllowsWithoutConsent) {
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "s1", "billing"),
      Reason::kAllowedNecessary);
}

TEST_F(GuardTest, OptInWithoutConsentDeniesNoConsent) {
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "s1",
                        "measurement"),
            Reason::kNoConsent);
}

TEST_F(GuardTest, OptInWithConsentAllows) {
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "s1",
                        "measurement"),
            Reason::kAllowedConsent);
}

TEST_F(GuardTest, AuthorizeFailsAfterConsentWithdrawn) {
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s1", "measurement", {"statistics.measurement"});
  ASSERT_OK(tags);
  AccessContext ctx = Ctx("statistics-job", "statistics.measurement");
  ASSERT_OK(guard_->Authorize(ctx, *tags));
  const Revision rev =
      Set("s1", "statistics.measurement", v1::CONSENT_STATE_WITHDRAWN);
  absl::StatusOr<AccessGrant> g = guard_->Authorize(ctx, *tags);
  EXPECT_THAT(g, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("consent_withdrawn")));
  EXPECT_EQ(ReasonFromStatus(g.status()), Reason::kConsentWithdrawn);
  absl::StatusOr<Decision> d = guard_->Check(ctx, *tags);
  ASSERT_OK(d);
  EXPECT_EQ(d->revision(), rev);
}

TEST_F(GuardTest, ExpiredConsentDeniesConsentExpired) {
  v1::ConsentChange c = testing::PurposeChange("s1", "statistics.measurement",
                                               v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->mutable_expiry()->set_seconds(
      absl::ToUnixSeconds(now_ + absl::Hours(1)));
  ASSERT_OK(store_.Apply(c));
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "s1",
                        "measurement"),
            Reason::kAllowedConsent);
  now_ += absl::Hours(2);
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "s1",
                        "measurement"),
            Reason::kConsentExpired);
}

TEST_F(GuardTest, ExplicitExpiredStateDeniesConsentExpired) {
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_EXPIRED);
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "s1",
                        "measurement"),
            Reason::kConsentExpired);
}

TEST_F(GuardTest, PolicyDeniesCategoryNotAllowedForPurpose) {
  Set("s1", "marketing", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.promotion", "s1",
                        "measurement"),
            Reason::kNotAllowedByPolicy);
}

TEST_F(GuardTest, AccessorMayNotDeclareForeignPurpose) {
  // Billing may declare billing.*, never marketing.*.
  absl::StatusOr<AccessContext> ctx =
      guard_->Context("billing-service", "marketing.research");
  ASSERT_OK(ctx);
  absl::StatusOr<Decision> d = guard_->Check(*ctx, "s1", Cat("identity"));
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kAccessorNotPermitted);
  EXPECT_FALSE(d->allowed());
}

TEST_F(GuardTest, SuspensionDeniesNamedPurposeAndDescendants) {
  v1::Restrictions r;
  r.add_suspended_purposes("billing");
  Restrict("s1", r);
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "s1", "billing"),
      Reason::kUseSuspended);
  EXPECT_EQ(CheckReason("support-desk", "support", "s1", "billing"),
            Reason::kAllowedNecessary);
}

TEST_F(GuardTest, SuspendAllDeniesEveryPurpose) {
  v1::Restrictions r;
  r.set_suspend_all(true);
  Restrict("s1", r);
  EXPECT_EQ(CheckReason("support-desk", "support", "s1", "contact"),
            Reason::kUseSuspended);
}

TEST_F(GuardTest, ErasedSubjectDeniesEveryRead) {
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  v1::Restrictions r;
  r.set_erased(true);
  Restrict("s1", r);
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "s1",
                        "measurement"),
            Reason::kSubjectErased);
  EXPECT_EQ(
      CheckReason("billing-service", "billing.calculation", "s1", "billing"),
      Reason::kSubjectErased);
}

TEST_F(GuardTest, RecordNotCollectedForPurposeIsDenied) {
  Set("s1", "marketing.research", v1::CONSENT_STATE_GIVEN);
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s1", "measurement", {"service.operation"});
  ASSERT_OK(tags);
  absl::StatusOr<Decision> d =
      guard_->Check(Ctx("marketing-analytics", "marketing.research"), *tags);
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kNotCollectedForPurpose);
  EXPECT_THAT(guard_->Authorize(
                  Ctx("marketing-analytics", "marketing.research"), *tags),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("not_collected_for_purpose")));
}

TEST_F(GuardTest, ProhibitedPurposeIsDenied) {
  absl::StatusOr<RecordTags> tags = guard_->Tag(
      "s1", "identity", {"support", "marketing"}, {"marketing.promotion"});
  ASSERT_OK(tags);
  absl::StatusOr<Decision> d =
      guard_->Check(Ctx("marketing-analytics", "marketing.promotion"), *tags);
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kProhibitedPurpose);
}

TEST_F(GuardTest, PerOccasionPurposeNeedsConsentForThatOccasion) {
  EXPECT_THAT(
      guard_->Context("research-team", "occasion.joint_study"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("occasion")));
  AccessContext study1 =
      Ctx("research-team", "occasion.joint_study", "study-1");
  AccessContext study2 =
      Ctx("research-team", "occasion.joint_study", "study-2");
  absl::StatusOr<Decision> d = guard_->Check(study1, "s1", Cat("measurement"));
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kNoOccasionConsent);

  v1::ConsentChange c = testing::PurposeChange("s1", "occasion.joint_study",
                                               v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->set_occasion_id("study-1");
  ASSERT_OK(store_.Apply(c));
  d = guard_->Check(study1, "s1", Cat("measurement"));
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kAllowedOccasionConsent);
  d = guard_->Check(study2, "s1", Cat("measurement"));
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kNoOccasionConsent);
  // General consent to the parent does not stand in for occasion consent.
  Set("s2", "occasion", v1::CONSENT_STATE_GIVEN);
  d = guard_->Check(study1, "s2", Cat("measurement"));
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kNoOccasionConsent);
}

TEST_F(GuardTest, OccasionConsentExpires) {
  v1::ConsentChange c = testing::PurposeChange("s1", "occasion.joint_study",
                                               v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->set_occasion_id("study-1");
  c.mutable_purpose_consent()->mutable_expiry()->set_seconds(
      absl::ToUnixSeconds(now_ + absl::Minutes(5)));
  ASSERT_OK(store_.Apply(c));
  AccessContext study1 =
      Ctx("research-team", "occasion.joint_study", "study-1");
  EXPECT_EQ(guard_->Check(study1, "s1", Cat("measurement"))->reason(),
            Reason::kAllowedOccasionConsent);
  now_ += absl::Minutes(6);
  EXPECT_EQ(guard_->Check(study1, "s1", Cat("measurement"))->reason(),
            Reason::kConsentExpired);
}

TEST_F(GuardTest, SpecificConsentCategoryIgnoresParentConsent) {
  // Communication data for support needs consent to `support` itself; the
  // default policy has no parent of `support`, so build the case with
  // billing: consent to `billing` would not count for a child purpose.
  Set("s1", "support", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(CheckReason("support-desk", "support", "s1", "communication"),
            Reason::kAllowedConsent);
  EXPECT_EQ(CheckReason("support-desk", "support", "s2", "communication"),
            Reason::kNoConsent);
}

TEST_F(GuardTest, UnknownIdsAreNotFound) {
  EXPECT_THAT(
      guard_->Context("billing-service", "billing.fraud"),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("billing.fraud")));
  EXPECT_THAT(guard_->Context("nobody", "billing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
  EXPECT_THAT(guard_->Category("dna"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("dna")));
  EXPECT_THAT(guard_->Tag("s1", "identity", {"astrology"}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("astrology")));
  EXPECT_THAT(
      guard_->Tag("", "identity", {"support"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("subject")));
  EXPECT_THAT(
      guard_->Tag("s1", "identity", {}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("purpose")));
}

TEST_F(GuardTest, StoreOutageFailsClosedAndIsAudited) {
  store_.SetUnavailableForTesting(true);
  absl::StatusOr<Decision> d =
      guard_->Check(Ctx("statistics-job", "statistics.measurement"), "s9",
                    Cat("measurement"));
  EXPECT_THAT(d, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("store_unavailable")));
  ASSERT_EQ(audit_.size(), 1u);
  EXPECT_EQ(audit_.Events()[0].reason, Reason::kStoreUnavailable);
  store_.SetUnavailableForTesting(false);
  EXPECT_OK(guard_->Check(Ctx("statistics-job", "statistics.measurement"), "s9",
                          Cat("measurement")));
}

TEST_F(GuardTest, CachedSubjectIsCheckedDuringStoreOutage) {
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "s1",
                        "measurement"),
            Reason::kAllowedConsent);
  store_.SetUnavailableForTesting(true);
  EXPECT_EQ(CheckReason("statistics-job", "statistics.measurement", "s1",
                        "measurement"),
            Reason::kAllowedConsent);
}

TEST_F(GuardTest, AuditOutageDeniesTheRead) {
  audit_.SetFailingForTesting(true);
  absl::StatusOr<Decision> d = guard_->Check(
      Ctx("billing-service", "billing.calculation"), "s1", Cat("billing"));
  EXPECT_THAT(d, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("audit_unavailable")));
}

TEST_F(GuardTest, EveryDecisionIsAudited) {
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_REFUSED);
  audit_.Clear();
  CheckReason("statistics-job", "statistics.measurement", "s1", "measurement");
  CheckReason("billing-service", "billing.calculation", "s1", "billing");
  std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].accessor, "statistics-job");
  EXPECT_EQ(events[0].subject, "s1");
  EXPECT_EQ(events[0].category, "measurement");
  EXPECT_EQ(events[0].purpose, "statistics.measurement");
  EXPECT_EQ(events[0].reason, Reason::kConsentRefused);
  EXPECT_EQ(events[0].policy_version, "2026-11-01");
  EXPECT_EQ(events[0].time_unix_nanos, absl::ToUnixNanos(now_));
  EXPECT_FALSE(events[0].allowed());
  EXPECT_TRUE(events[1].allowed());
}

TEST_F(GuardTest, ShadowModeLetsDenialsThroughAndReportsThem) {
  GuardOptions options;
  options.mode = EnforcementMode::kShadow;
  MakeGuard(options);
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s1", "measurement", {"statistics.measurement"});
  ASSERT_OK(tags);
  AccessContext ctx = Ctx("statistics-job", "statistics.measurement");
  absl::StatusOr<Guard::Authorization> a = guard_->Evaluate(ctx, *tags);
  ASSERT_OK(a);
  EXPECT_FALSE(a->decision.allowed());
  EXPECT_TRUE(a->decision.shadow_denial());
  EXPECT_EQ(a->decision.reason(), Reason::kNoConsent);
  ASSERT_TRUE(a->grant.has_value());
  ASSERT_OK(guard_->Authorize(ctx, *tags));
  std::vector<ShadowDenialCount> report = guard_->ShadowReport();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].accessor, "statistics-job");
  EXPECT_EQ(report[0].reason, Reason::kNoConsent);
  EXPECT_EQ(report[0].count, 2);
  std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].shadow);
}

TEST_F(GuardTest, EnforceModeReportsNoShadowDenials) {
  CheckReason("statistics-job", "statistics.measurement", "s1", "measurement");
  EXPECT_TRUE(guard_->ShadowReport().empty());
  EXPECT_FALSE(audit_.Events()[0].shadow);
}

TEST_F(GuardTest, WarmCacheLoadsEverySubject) {
  for (int i = 0; i < 50; ++i) {
    Set("w" + std::to_string(i), "marketing", v1::CONSENT_STATE_GIVEN);
  }
  MakeGuard(GuardOptions{});
  EXPECT_EQ(guard_->cached_subjects(), 0u);
  ASSERT_OK(guard_->WarmCache());
  EXPECT_EQ(guard_->cached_subjects(), 50u);
  store_.SetUnavailableForTesting(true);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.research", "w7",
                        "measurement"),
            Reason::kAllowedConsent);
}

TEST_F(GuardTest, SetPolicySwitchesAtomicallyAndKeepsContexts) {
  AccessContext ctx = Ctx("statistics-job", "statistics.measurement");
  CategoryRef measurement = Cat("measurement");
  Set("s1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  v1::Policy next = testing::DefaultPolicy()->proto();
  next.set_version("2026-12-01");
  // Drop statistics from the measurement rules.
  for (v1::UseRule& r : *next.mutable_rules()) {
    if (r.category() == "measurement") {
      auto* ps = r.mutable_purposes();
      for (int i = ps->size() - 1; i >= 0; --i) {
        if (ps->Get(i) == "statistics.measurement") ps->DeleteSubrange(i, 1);
      }
    }
  }
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(next);
  ASSERT_OK(compiled);
  ASSERT_OK(guard_->SetPolicy(*compiled));
  EXPECT_EQ(guard_->policy()->version(), "2026-12-01");
  absl::StatusOr<Decision> d = guard_->Check(ctx, "s1", measurement);
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kNotAllowedByPolicy);
  EXPECT_EQ(audit_.Events().back().policy_version, "2026-12-01");
  // Consent carried over to the new cache.
  EXPECT_EQ(
      CheckReason("statistics-job", "statistics.measurement", "s1", "identity"),
      Reason::kNotAllowedByPolicy);
  EXPECT_EQ(guard_->cached_subjects(), 1u);
}

TEST_F(GuardTest, CreateRejectsNullArguments) {
  EXPECT_THAT(
      Guard::Create(nullptr, &store_, &audit_),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("policy")));
  EXPECT_THAT(Guard::Create(testing::DefaultPolicy(), nullptr, &audit_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("store")));
}

// Running unaudited takes an explicit, loudly named option: a null sink
// passed by accident is refused.
TEST_F(GuardTest, CreateRefusesANullAuditSinkUnlessUnauditedIsNamed) {
  EXPECT_THAT(Guard::Create(testing::DefaultPolicy(), &store_, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unaudited_for_benchmarks_only")));
  GuardOptions unaudited;
  unaudited.unaudited_for_benchmarks_only = true;
  absl::StatusOr<std::unique_ptr<Guard>> g =
      Guard::Create(testing::DefaultPolicy(), &store_, nullptr, unaudited);
  ASSERT_OK(g);
  absl::StatusOr<AccessContext> ctx =
      (*g)->Context("statistics-job", "statistics.measurement");
  ASSERT_OK(ctx);
  EXPECT_OK((*g)->Check(*ctx, "s1", *(*g)->Category("measurement")));
}

}  // namespace
}  // namespace consentry

namespace consentry {
namespace {

using ::consentry::testing::GuardFixture;

// Purpose semantics (Byun & Li) and hierarchy rules of consent.
class GuardHierarchyTest : public GuardFixture {};

TEST_F(GuardHierarchyTest, ConsentToParentCoversChildren) {
  Set("s1", "marketing", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.research", "s1",
                        "measurement"),
            Reason::kAllowedConsent);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.promotion", "s1",
                        "contact"),
            Reason::kAllowedConsent);
}

TEST_F(GuardHierarchyTest, ConsentToChildDoesNotCoverSibling) {
  Set("s1", "marketing.research", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.promotion", "s1",
                        "contact"),
            Reason::kNoConsent);
}

TEST_F(GuardHierarchyTest, RefusingParentRefusesChildrenGivenEarlier) {
  Set("s1", "marketing.research", v1::CONSENT_STATE_GIVEN);
  Set("s1", "marketing", v1::CONSENT_STATE_REFUSED);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.research", "s1",
                        "measurement"),
            Reason::kConsentRefused);
}

TEST_F(GuardHierarchyTest, WithdrawingParentWithdrawsChildrenGivenLater) {
  Set("s1", "marketing", v1::CONSENT_STATE_WITHDRAWN);
  Set("s1", "marketing.promotion", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.promotion", "s1",
                        "contact"),
            Reason::kConsentWithdrawn);
}

TEST_F(GuardHierarchyTest, RefusingChildKeepsParentConsentForSiblings) {
  Set("s1", "marketing", v1::CONSENT_STATE_GIVEN);
  Set("s1", "marketing.promotion", v1::CONSENT_STATE_REFUSED);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.promotion", "s1",
                        "contact"),
            Reason::kConsentRefused);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.research", "s1",
                        "measurement"),
            Reason::kAllowedConsent);
}

TEST_F(GuardHierarchyTest, RecordCollectedForParentCompliesForDescendant) {
  absl::StatusOr<RecordTags> tags = guard_->Tag("s1", "billing", {"billing"});
  ASSERT_OK(tags);
  EXPECT_TRUE(tags->Complies("billing.calculation"));
  EXPECT_TRUE(tags->Complies("billing"));
  EXPECT_FALSE(tags->Complies("support"));
  EXPECT_FALSE(tags->Complies("no.such.purpose"));
}

TEST_F(GuardHierarchyTest, RecordCollectedForChildDoesNotComplyForParent) {
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s1", "billing", {"billing.calculation"});
  ASSERT_OK(tags);
  EXPECT_EQ(tags->TagReason("billing"), Reason::kNotCollectedForPurpose);
  EXPECT_EQ(tags->TagReason("billing.invoicing"),
            Reason::kNotCollectedForPurpose);
}

TEST_F(GuardHierarchyTest, ProhibitionCoversAncestorsAndDescendants) {
  // Allowed: all of marketing; prohibited: marketing.promotion. The
  // prohibited purpose, its ancestor `marketing` and (had it any) its
  // descendants do not comply; the sibling does.
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s1", "identity", {"marketing"}, {"marketing.promotion"});
  ASSERT_OK(tags);
  EXPECT_EQ(tags->TagReason("marketing.promotion"), Reason::kProhibitedPurpose);
  EXPECT_EQ(tags->TagReason("marketing"), Reason::kProhibitedPurpose);
  EXPECT_TRUE(tags->Complies("marketing.research"));
  absl::StatusOr<RecordTags> parent_prohibited =
      guard_->Tag("s1", "billing", {"billing"}, {"billing"});
  ASSERT_OK(parent_prohibited);
  EXPECT_EQ(parent_prohibited->TagReason("billing.invoicing"),
            Reason::kProhibitedPurpose);
}

}  // namespace
}  // namespace consentry

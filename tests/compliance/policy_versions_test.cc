// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Policy versions in the Guard: consent that predates a material change,
// retention, single-use per-occasion consent, and the scheduled switch.

#include <string>
#include <thread>
#include <vector>

#include "consentry/guard.h"
#include "consentry/policy_diff.h"
#include "consentry/policy_scheduler.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class PolicyVersionsTest : public GuardFixture {
 protected:
  // The default policy, next version: measurement newly allowed for
  // marketing.promotion (material), with the re-consent requirement the
  // diff implies.
  std::shared_ptr<const CompiledPolicy> NextVersion(absl::Time effective) {
    v1::Policy before = guard_->policy()->proto();
    v1::Policy after = before;
    after.set_version("2027-04-01");
    const std::int64_t secs = absl::ToUnixSeconds(effective);
    after.mutable_effective_time()->set_seconds(secs);
    after.mutable_effective_time()->set_nanos(static_cast<std::int32_t>(
        absl::ToInt64Nanoseconds(effective - absl::FromUnixSeconds(secs))));
    v1::UseRule* r = after.add_rules();
    r->set_category("measurement");
    r->add_purposes("marketing.promotion");
    r->set_basis(v1::LEGAL_BASIS_OPT_IN);
    absl::StatusOr<v1::PolicyDiff> d = DiffPolicies(before, after);
    EXPECT_TRUE(d.ok()) << d.status();
    AddReconsentRequirements(*d, after);
    absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
        CompiledPolicy::Compile(after);
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }

  Revision Give(const std::string& subject, const std::string& purpose,
                const std::string& version) {
    v1::ConsentChange c =
        PurposeChange(subject, purpose, v1::CONSENT_STATE_GIVEN);
    c.mutable_purpose_consent()->set_policy_version(version);
    absl::StatusOr<Revision> r = store_.Apply(c);
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  }
};

TEST_F(PolicyVersionsTest, ConsentPredatingMaterialChangeDeniesOnlyTouchedUse) {
  Give("old", "marketing", "2026-11-01");
  ASSERT_OK(guard_->SetPolicy(NextVersion(now_)));
  // The changed use: measurement for promotion.
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.promotion", "old",
                        "measurement"),
            Reason::kConsentPredatesMaterialChange);
  // Untouched uses keep the earlier consent.
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.promotion", "old",
                        "contact"),
            Reason::kAllowedConsent);
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.research", "old",
                        "measurement"),
            Reason::kAllowedConsent);
  // Consent given again under the new version counts.
  Give("old", "marketing.promotion", "2027-04-01");
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.promotion", "old",
                        "measurement"),
            Reason::kAllowedConsent);
}

TEST_F(PolicyVersionsTest, ConsentWithUnknownVersionCountsAsOlder) {
  Give("s", "marketing.promotion", "");
  ASSERT_OK(guard_->SetPolicy(NextVersion(now_)));
  EXPECT_EQ(CheckReason("marketing-analytics", "marketing.promotion", "s",
                        "measurement"),
            Reason::kConsentPredatesMaterialChange);
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s", "measurement", {"marketing.promotion"});
  ASSERT_OK(tags);
  EXPECT_THAT(guard_->Authorize(
                  Ctx("marketing-analytics", "marketing.promotion"), *tags),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("consent_predates_material_change")));
}

TEST_F(PolicyVersionsTest, ReconsentListNamesSubjectsToAsk) {
  Give("a", "marketing", "2026-11-01");
  Give("b", "marketing.promotion", "2027-04-01");
  Give("c", "marketing.promotion", "2026-11-01");
  ASSERT_OK(store_.Apply(
      PurposeChange("c", "marketing", v1::CONSENT_STATE_WITHDRAWN)));
  Give("d", "support", "2026-11-01");
  std::shared_ptr<const CompiledPolicy> next = NextVersion(now_);
  absl::StatusOr<std::vector<ReconsentEntry>> list =
      ReconsentList(*next, store_);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].purpose, "marketing.promotion");
  EXPECT_THAT((*list)[0].categories, ElementsAre("measurement"));
  // b re-consented; c withdrew; d never consented to marketing.
  EXPECT_THAT((*list)[0].subjects, ElementsAre("a"));
}

TEST_F(PolicyVersionsTest, ScheduledPolicySwitchesAtItsEffectiveTime) {
  std::shared_ptr<const CompiledPolicy> next =
      NextVersion(now_ + absl::Hours(1));
  absl::StatusOr<std::unique_ptr<PolicyScheduler>> scheduler =
      PolicyScheduler::Create(guard_.get(), guard_->options().clock);
  ASSERT_OK(scheduler);
  ASSERT_OK((*scheduler)->Schedule(next));
  EXPECT_EQ((*scheduler)->pending(), 1u);
  EXPECT_THAT((*scheduler)->ApplyDue(), testing::IsOkAndHolds(0));
  EXPECT_EQ(guard_->policy()->version(), "2026-11-01");
  now_ += absl::Hours(1);
  EXPECT_THAT((*scheduler)->ApplyDue(), testing::IsOkAndHolds(1));
  EXPECT_EQ(guard_->policy()->version(), "2027-04-01");
  EXPECT_EQ((*scheduler)->pending(), 0u);
}

TEST_F(PolicyVersionsTest, PolicyAlreadyEffectiveSwitchesAtOnce) {
  absl::StatusOr<std::unique_ptr<PolicyScheduler>> scheduler =
      PolicyScheduler::Create(guard_.get(), guard_->options().clock);
  ASSERT_OK(scheduler);
  ASSERT_OK((*scheduler)->Schedule(NextVersion(now_ - absl::Hours(1))));
  EXPECT_EQ(guard_->policy()->version(), "2027-04-01");
}

TEST_F(PolicyVersionsTest, BackgroundSchedulerAppliesDuePolicyInRealTime) {
  // The background thread runs on real time; schedule 50 ms ahead.
  std::shared_ptr<const CompiledPolicy> next =
      NextVersion(absl::Now() + absl::Milliseconds(200));
  // A Guard on the real clock (no injected clock).
  absl::StatusOr<std::unique_ptr<Guard>> real =
      Guard::Create(testing::DefaultPolicy(), &store_, &audit_);
  ASSERT_OK(real);
  absl::StatusOr<std::unique_ptr<PolicyScheduler>> scheduler =
      PolicyScheduler::Create(real->get());
  ASSERT_OK(scheduler);
  ASSERT_OK((*scheduler)->Schedule(next));
  EXPECT_EQ((*real)->policy()->version(), "2026-11-01");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*real)->policy()->version() != "2027-04-01" &&
         absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ((*real)->policy()->version(), "2027-04-01");
}

TEST_F(PolicyVersionsTest, RetentionExpiredDeniesExceptKeptPurposes) {
  // Communication data: 180 days in general, 7 years for billing.
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s", "communication", {"service.operation", "billing"}, {},
                  "call-log-1", now_ - absl::Hours(24 * 200));
  ASSERT_OK(tags);
  absl::StatusOr<Decision> ops =
      guard_->Check(Ctx("app-backend", "service.operation"), *tags);
  ASSERT_OK(ops);
  EXPECT_EQ(ops->reason(), Reason::kRetentionExpired);
  absl::StatusOr<Decision> bill =
      guard_->Check(Ctx("billing-service", "billing.calculation"), *tags);
  ASSERT_OK(bill);
  EXPECT_EQ(bill->reason(), Reason::kAllowedNecessary);
  // A fresh record is usable for both.
  absl::StatusOr<RecordTags> fresh =
      guard_->Tag("s", "communication", {"service.operation"});
  ASSERT_OK(fresh);
  EXPECT_EQ(
      guard_->Check(Ctx("app-backend", "service.operation"), *fresh)->reason(),
      Reason::kAllowedNecessary);
}

TEST_F(PolicyVersionsTest, SingleUseOccasionConsentIsUsedUpByOneAuthorization) {
  v1::ConsentChange c =
      PurposeChange("s", "occasion.joint_study", v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->set_occasion_id("study-7");
  c.mutable_purpose_consent()->set_single_use(true);
  ASSERT_OK(store_.Apply(c));
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s", "measurement", {"occasion.joint_study"});
  ASSERT_OK(tags);
  AccessContext ctx = Ctx("research-team", "occasion.joint_study", "study-7");
  // A check neither uses it up nor allows on it.
  EXPECT_EQ(guard_->Check(ctx, *tags)->reason(),
            Reason::kSingleUseRequiresAuthorize);
  EXPECT_EQ(guard_->Check(ctx, *tags)->reason(),
            Reason::kSingleUseRequiresAuthorize);
  ASSERT_OK(guard_->Authorize(ctx, *tags));
  EXPECT_THAT(guard_->Authorize(ctx, *tags),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("occasion_consent_used")));
  EXPECT_EQ(guard_->Check(ctx, *tags)->reason(), Reason::kOccasionConsentUsed);
  absl::StatusOr<v1::ConsentRecord> rec = store_.Get("s");
  ASSERT_OK(rec);
  EXPECT_TRUE(rec->purposes(0).has_used_time());
}

TEST_F(PolicyVersionsTest,
       SingleUseOccasionConsentHasExactlyOneWinnerUnderRace) {
  v1::ConsentChange c =
      PurposeChange("s", "occasion.joint_study", v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->set_occasion_id("study-8");
  c.mutable_purpose_consent()->set_single_use(true);
  ASSERT_OK(store_.Apply(c));
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("s", "measurement", {"occasion.joint_study"});
  ASSERT_OK(tags);
  AccessContext ctx = Ctx("research-team", "occasion.joint_study", "study-8");
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      if (guard_->Authorize(ctx, *tags).ok()) granted.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 1);
}

TEST_F(PolicyVersionsTest, OccasionConsentUnderOlderVersionPredatesChange) {
  v1::ConsentChange c =
      PurposeChange("s", "occasion.joint_study", v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->set_occasion_id("study-9");
  c.mutable_purpose_consent()->set_policy_version("2026-11-01");
  ASSERT_OK(store_.Apply(c));
  v1::Policy after = guard_->policy()->proto();
  after.set_version("2027-04-01");
  after.add_version_history("2026-11-01");
  v1::ReconsentRequirement* r = after.add_reconsent();
  r->set_purpose("occasion.joint_study");
  r->set_since_version("2027-04-01");
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> p =
      CompiledPolicy::Compile(after);
  ASSERT_OK(p);
  ASSERT_OK(guard_->SetPolicy(*p));
  absl::StatusOr<Decision> d =
      guard_->Check(Ctx("research-team", "occasion.joint_study", "study-9"),
                    "s", Cat("measurement"));
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kConsentPredatesMaterialChange);
}

TEST(PolicyVersionValidationTest, RejectsBadRetentionAndReconsent) {
  v1::Policy p = testing::DefaultPolicy()->proto();
  v1::Policy bad = p;
  bad.add_retention()->set_category("dna");
  EXPECT_THAT(
      CompiledPolicy::Compile(bad),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("policy.retention[4].category: unknown category 'dna'")));
  bad = p;
  bad.add_retention()->set_category("contact");
  EXPECT_THAT(
      CompiledPolicy::Compile(bad),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("policy.retention[4].period: must be positive")));
  bad = p;
  v1::ReconsentRequirement* r = bad.add_reconsent();
  r->set_purpose("marketing");
  r->set_since_version("1999");
  EXPECT_THAT(CompiledPolicy::Compile(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy.reconsent[0].since_version: '1999'")));
  bad = p;
  bad.add_version_history("2026-11-01");
  EXPECT_THAT(CompiledPolicy::Compile(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy.version_history[0]")));
}

}  // namespace
}  // namespace consentry

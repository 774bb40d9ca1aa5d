// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Cookies and web usage (the policy's cookie section): recording how the
// web site is used is consent-gated and can be refused. In the default
// policy the `web_usage` category serves `web.usage_analysis` (and
// `marketing.research`) on an opt-in basis, read by the `web-analytics`
// accessor, and `service.operation` as necessary.

#include <string>
#include <vector>

#include "consentry/guard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/guard_fixture.h"
#include "tests/testing/status_matchers.h"

namespace consentry {
namespace {

using ::consentry::testing::GuardFixture;
using ::consentry::testing::StatusIs;
using ::testing::HasSubstr;

class WebUsageTest : public GuardFixture {
 protected:
  Reason Analysis(const std::string& subject) {
    return CheckReason("web-analytics", "web.usage_analysis", subject,
                       "web_usage");
  }
};

TEST_F(WebUsageTest, AnalysisIsAllowedWithOptInConsent) {
  Set("w-1", "web.usage_analysis", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(Analysis("w-1"), Reason::kAllowedConsent);
  // Consent to the parent purpose covers it.
  Set("w-2", "web", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(Analysis("w-2"), Reason::kAllowedConsent);
}

TEST_F(WebUsageTest, AnalysisIsDeniedWithoutConsent) {
  EXPECT_EQ(Analysis("w-1"), Reason::kNoConsent);
  // Consent to another purpose that uses web usage data does not count.
  Set("w-2", "marketing.research", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(Analysis("w-2"), Reason::kNoConsent);
}

TEST_F(WebUsageTest, AnalysisIsDeniedAfterWithdrawal) {
  Set("w-1", "web.usage_analysis", v1::CONSENT_STATE_GIVEN);
  AccessContext ctx = Ctx("web-analytics", "web.usage_analysis");
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("w-1", "web_usage", {"web.usage_analysis"});
  ASSERT_OK(tags);
  ASSERT_OK(guard_->Authorize(ctx, *tags));
  Set("w-1", "web.usage_analysis", v1::CONSENT_STATE_WITHDRAWN);
  absl::StatusOr<AccessGrant> g = guard_->Authorize(ctx, *tags);
  EXPECT_THAT(g, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("consent_withdrawn")));
  EXPECT_EQ(ReasonFromStatus(g.status()), Reason::kConsentWithdrawn);
}

TEST_F(WebUsageTest, OptOutOfTheWebPurposeDeniesAnalysis) {
  // Consent given, then the person disables the cookies: a refusal of the
  // parent purpose refuses every web purpose.
  Set("w-1", "web.usage_analysis", v1::CONSENT_STATE_GIVEN);
  Set("w-1", "web", v1::CONSENT_STATE_REFUSED);
  EXPECT_EQ(Analysis("w-1"), Reason::kConsentRefused);
  Set("w-2", "web.usage_analysis", v1::CONSENT_STATE_REFUSED);
  EXPECT_EQ(Analysis("w-2"), Reason::kConsentRefused);
}

TEST_F(WebUsageTest, WrongAccessorOrPurposeIsDenied) {
  Set("w-1", "web.usage_analysis", v1::CONSENT_STATE_GIVEN);
  Set("w-1", "marketing.research", v1::CONSENT_STATE_GIVEN);
  // Another service may not declare the web purpose.
  EXPECT_EQ(CheckReason("marketing-analytics", "web.usage_analysis", "w-1",
                        "web_usage"),
            Reason::kAccessorNotPermitted);
  // The web analytics service may not declare marketing research.
  EXPECT_EQ(
      CheckReason("web-analytics", "marketing.research", "w-1", "web_usage"),
      Reason::kAccessorNotPermitted);
  // The web purpose may not use other categories.
  EXPECT_EQ(
      CheckReason("web-analytics", "web.usage_analysis", "w-1", "measurement"),
      Reason::kNotAllowedByPolicy);
  // A record collected only to run the service is not for analysis.
  absl::StatusOr<RecordTags> tags =
      guard_->Tag("w-1", "web_usage", {"service.operation"});
  ASSERT_OK(tags);
  absl::StatusOr<Decision> d =
      guard_->Check(Ctx("web-analytics", "web.usage_analysis"), *tags);
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kNotCollectedForPurpose);
}

TEST_F(WebUsageTest, OperatingTheSiteNeedsNoConsentButAnalysisDoes) {
  Set("w-1", "web", v1::CONSENT_STATE_REFUSED);
  EXPECT_EQ(CheckReason("app-backend", "service.operation", "w-1", "web_usage"),
            Reason::kAllowedNecessary);
  EXPECT_EQ(Analysis("w-1"), Reason::kConsentRefused);
}

TEST_F(WebUsageTest, WebUsageIsKeptOnlyForItsRetentionPeriod) {
  Set("w-1", "web.usage_analysis", v1::CONSENT_STATE_GIVEN);
  AccessContext ctx = Ctx("web-analytics", "web.usage_analysis");
  absl::StatusOr<RecordTags> recent =
      guard_->Tag("w-1", "web_usage", {"web.usage_analysis"}, {}, "",
                  now_ - absl::Hours(24));
  absl::StatusOr<RecordTags> old =
      guard_->Tag("w-1", "web_usage", {"web.usage_analysis"}, {}, "",
                  now_ - absl::Hours(24 * 396));
  ASSERT_OK(recent);
  ASSERT_OK(old);
  EXPECT_EQ(guard_->Check(ctx, *recent)->reason(), Reason::kAllowedConsent);
  EXPECT_EQ(guard_->Check(ctx, *old)->reason(), Reason::kRetentionExpired);
}

TEST_F(WebUsageTest, EveryWebUsageDecisionIsAudited) {
  Set("w-1", "web.usage_analysis", v1::CONSENT_STATE_GIVEN);
  EXPECT_EQ(Analysis("w-1"), Reason::kAllowedConsent);
  EXPECT_EQ(Analysis("w-2"), Reason::kNoConsent);
  const std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_EQ(events.size(), 2u);
  for (const OwnedAuditEvent& e : events) {
    EXPECT_EQ(e.action, AuditAction::kRead);
    EXPECT_EQ(e.accessor, "web-analytics");
    EXPECT_EQ(e.purpose, "web.usage_analysis");
    EXPECT_EQ(e.category, "web_usage");
  }
  EXPECT_EQ(events[0].subject, "w-1");
  EXPECT_TRUE(events[0].allowed());
  EXPECT_EQ(events[1].subject, "w-2");
  EXPECT_EQ(events[1].reason, Reason::kNoConsent);
}

}  // namespace
}  // namespace consentry

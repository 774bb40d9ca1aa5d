// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Special-care personal information (APPI Art. 20(2)): health measurements
// are acquired only with the person's prior consent to the acquisition,
// separate from consent to any use. `Guard::Acquire` checks it against the
// consent store and audits the decision.

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

class AcquisitionTest : public GuardFixture {
 protected:
  absl::StatusOr<RecordTags> AcquireMeasurement(const std::string& subject) {
    return guard_->Acquire("app-backend", subject, "measurement",
                           {"service.operation", "statistics.measurement"}, {},
                           "scale-reading-1");
  }
};

TEST_F(AcquisitionTest, DefaultPolicyNamesTheMeasurementAcquisitionPurpose) {
  std::shared_ptr<const CompiledPolicy> p = guard_->policy();
  const int a = p->acquisition_purpose(*p->FindCategory("measurement"));
  ASSERT_GE(a, 0);
  EXPECT_EQ(p->purpose_id(static_cast<PurposeIndex>(a)),
            "acquisition.measurement");
  EXPECT_EQ(p->acquisition_purpose(*p->FindCategory("identity")), -1);
}

TEST_F(AcquisitionTest, WithoutPriorConsentAcquisitionIsRefusedAndAudited) {
  Set("m-1", "support", v1::CONSENT_STATE_GIVEN);  // a record, no such consent
  absl::StatusOr<RecordTags> t = AcquireMeasurement("m-1");
  EXPECT_THAT(t, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("no_acquisition_consent")));
  EXPECT_THAT(t, StatusIs(absl::StatusCode::kFailedPrecondition,
                          HasSubstr("subject 'm-1'")));
  EXPECT_EQ(ReasonFromStatus(t.status()), Reason::kNoAcquisitionConsent);
  const std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].action, AuditAction::kAcquire);
  EXPECT_EQ(events[0].accessor, "app-backend");
  EXPECT_EQ(events[0].subject, "m-1");
  EXPECT_EQ(events[0].category, "measurement");
  EXPECT_EQ(events[0].purpose, "acquisition.measurement");
  EXPECT_EQ(events[0].record_ref, "scale-reading-1");
  EXPECT_EQ(events[0].reason, Reason::kNoAcquisitionConsent);
  EXPECT_FALSE(events[0].allowed());
}

TEST_F(AcquisitionTest, WithPriorConsentAcquisitionTagsTheRecord) {
  const Revision rev =
      Set("m-1", "acquisition.measurement", v1::CONSENT_STATE_GIVEN);
  absl::StatusOr<RecordTags> t = AcquireMeasurement("m-1");
  ASSERT_OK(t);
  EXPECT_EQ(t->subject(), "m-1");
  EXPECT_EQ(t->category(), "measurement");
  EXPECT_EQ(t->record_ref(), "scale-reading-1");
  EXPECT_EQ(t->collected_at(), now_);
  EXPECT_TRUE(t->Complies("statistics.measurement"));
  const std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].action, AuditAction::kAcquire);
  EXPECT_EQ(events[0].reason, Reason::kAllowedConsent);
  EXPECT_EQ(events[0].revision, rev);
  // Consent to the parent purpose covers it.
  Set("m-2", "acquisition", v1::CONSENT_STATE_GIVEN);
  EXPECT_OK(AcquireMeasurement("m-2"));
}

TEST_F(AcquisitionTest, AfterWithdrawalAcquisitionIsRefused) {
  Set("m-1", "acquisition.measurement", v1::CONSENT_STATE_GIVEN);
  ASSERT_OK(AcquireMeasurement("m-1"));
  Set("m-1", "acquisition.measurement", v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_THAT(AcquireMeasurement("m-1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no_acquisition_consent")));
  // Withdrawing the parent withdraws a child consent given earlier.
  Set("m-2", "acquisition.measurement", v1::CONSENT_STATE_GIVEN);
  Set("m-2", "acquisition", v1::CONSENT_STATE_WITHDRAWN);
  EXPECT_THAT(AcquireMeasurement("m-2"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no_acquisition_consent")));
  Set("m-3", "acquisition.measurement", v1::CONSENT_STATE_REFUSED);
  EXPECT_THAT(AcquireMeasurement("m-3"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no_acquisition_consent")));
}

TEST_F(AcquisitionTest, ConsentToUsesIsNotConsentToAcquisitionNorTheReverse) {
  Set("m-1", "statistics.measurement", v1::CONSENT_STATE_GIVEN);
  EXPECT_THAT(AcquireMeasurement("m-1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no_acquisition_consent")));
  Set("m-2", "acquisition.measurement", v1::CONSENT_STATE_GIVEN);
  absl::StatusOr<RecordTags> t = AcquireMeasurement("m-2");
  ASSERT_OK(t);
  absl::StatusOr<Decision> d =
      guard_->Check(Ctx("statistics-job", "statistics.measurement"), *t);
  ASSERT_OK(d);
  EXPECT_EQ(d->reason(), Reason::kNoConsent);
}

TEST_F(AcquisitionTest, ExpiredConsentDoesNotCount) {
  v1::ConsentChange c = testing::PurposeChange("m-1", "acquisition.measurement",
                                               v1::CONSENT_STATE_GIVEN);
  c.mutable_purpose_consent()->mutable_expiry()->set_seconds(
      absl::ToUnixSeconds(now_ + absl::Hours(1)));
  ASSERT_OK(store_.Apply(c));
  ASSERT_OK(AcquireMeasurement("m-1"));
  now_ += absl::Hours(2);
  EXPECT_THAT(AcquireMeasurement("m-1"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no_acquisition_consent")));
}

TEST_F(AcquisitionTest, BadInputsAreClearErrors) {
  EXPECT_THAT(AcquireMeasurement(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("subject id must not be empty")));
  // An unknown subject has no record, hence no consent.
  absl::StatusOr<RecordTags> unknown = AcquireMeasurement("nobody");
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("subject 'nobody' (no consent "
                                          "record)")));
  EXPECT_EQ(ReasonFromStatus(unknown.status()), Reason::kNoAcquisitionConsent);
  EXPECT_THAT(guard_->Acquire("app-backend", "m-1", "dna", {"support"}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'dna'")));
  EXPECT_THAT(guard_->Acquire("nobody-svc", "m-1", "measurement", {"support"}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nobody-svc'")));
  EXPECT_THAT(guard_->Acquire("app-backend", "m-1", "measurement", {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at least one purpose")));
  EXPECT_THAT(
      guard_->Acquire("app-backend", "m-1", "measurement", {"astrology"}),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("'astrology'")));
  // Only the refusal of the unknown subject was a decision to audit.
  EXPECT_EQ(audit_.size(), 1u);
}

TEST_F(AcquisitionTest, OrdinaryCategoryNeedsNoAcquisitionConsent) {
  store_.SetUnavailableForTesting(true);  // not even looked up
  absl::StatusOr<RecordTags> t =
      guard_->Acquire("app-backend", "m-1", "identity", {"support"});
  ASSERT_OK(t);
  EXPECT_EQ(t->category(), "identity");
  EXPECT_EQ(audit_.size(), 0u);
}

TEST_F(AcquisitionTest, OutagesFailClosed) {
  Set("m-1", "acquisition.measurement", v1::CONSENT_STATE_GIVEN);
  store_.SetUnavailableForTesting(true);
  EXPECT_THAT(
      AcquireMeasurement("uncached"),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("store_unavailable")));
  store_.SetUnavailableForTesting(false);
  audit_.SetFailingForTesting(true);
  EXPECT_THAT(
      AcquireMeasurement("m-1"),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("audit_unavailable")));
  audit_.SetFailingForTesting(false);
  const std::vector<OwnedAuditEvent> events = audit_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, Reason::kStoreUnavailable);
}

TEST_F(AcquisitionTest, ErasedSubjectIsRefused) {
  Set("m-1", "acquisition.measurement", v1::CONSENT_STATE_GIVEN);
  v1::Restrictions erased;
  erased.set_erased(true);
  Restrict("m-1", erased);
  absl::StatusOr<RecordTags> t = AcquireMeasurement("m-1");
  EXPECT_THAT(t, StatusIs(absl::StatusCode::kPermissionDenied,
                          HasSubstr("subject_erased")));
}

TEST_F(AcquisitionTest, ShadowModeRecordsTheDenialAndLetsItThrough) {
  GuardOptions o;
  o.mode = EnforcementMode::kShadow;
  MakeGuard(o);
  absl::StatusOr<RecordTags> t = AcquireMeasurement("m-1");
  ASSERT_OK(t);
  const std::vector<ShadowDenialCount> report = guard_->ShadowReport();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].purpose, "acquisition.measurement");
  EXPECT_EQ(report[0].reason, Reason::kNoAcquisitionConsent);
  ASSERT_EQ(audit_.size(), 1u);
  EXPECT_TRUE(audit_.Events()[0].shadow);
}

}  // namespace
}  // namespace consentry

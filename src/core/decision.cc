// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/decision.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "consentry/v1/decision.pb.h"

namespace consentry {
namespace {

constexpr absl::string_view kReasonPayloadUrl =
    "type.googleapis.com/consentry.v1.Reason";

#define CONSENTRY_SAME_NUMBER(cpp, proto)                        \
  static_assert(static_cast<int>(Reason::cpp) == v1::proto, #cpp \
                " !="                                            \
                " " #proto)
CONSENTRY_SAME_NUMBER(kUnspecified, REASON_UNSPECIFIED);
CONSENTRY_SAME_NUMBER(kAllowedNecessary, REASON_ALLOWED_NECESSARY);
CONSENTRY_SAME_NUMBER(kAllowedConsent, REASON_ALLOWED_CONSENT);
CONSENTRY_SAME_NUMBER(kAllowedNotOptedOut, REASON_ALLOWED_NOT_OPTED_OUT);
CONSENTRY_SAME_NUMBER(kAllowedOccasionConsent, REASON_ALLOWED_OCCASION_CONSENT);
CONSENTRY_SAME_NUMBER(kNotCollectedForPurpose,
                      REASON_NOT_COLLECTED_FOR_PURPOSE);
CONSENTRY_SAME_NUMBER(kProhibitedPurpose, REASON_PROHIBITED_PURPOSE);
CONSENTRY_SAME_NUMBER(kNotAllowedByPolicy, REASON_NOT_ALLOWED_BY_POLICY);
CONSENTRY_SAME_NUMBER(kNoConsent, REASON_NO_CONSENT);
CONSENTRY_SAME_NUMBER(kConsentRefused, REASON_CONSENT_REFUSED);
CONSENTRY_SAME_NUMBER(kConsentWithdrawn, REASON_CONSENT_WITHDRAWN);
CONSENTRY_SAME_NUMBER(kConsentExpired, REASON_CONSENT_EXPIRED);
CONSENTRY_SAME_NUMBER(kUseSuspended, REASON_USE_SUSPENDED);
CONSENTRY_SAME_NUMBER(kSubjectErased, REASON_SUBJECT_ERASED);
CONSENTRY_SAME_NUMBER(kAccessorNotPermitted, REASON_ACCESSOR_NOT_PERMITTED);
CONSENTRY_SAME_NUMBER(kNoOccasionConsent, REASON_NO_OCCASION_CONSENT);
CONSENTRY_SAME_NUMBER(kStoreUnavailable, REASON_STORE_UNAVAILABLE);
CONSENTRY_SAME_NUMBER(kAuditUnavailable, REASON_AUDIT_UNAVAILABLE);
CONSENTRY_SAME_NUMBER(kAuditOverloaded, REASON_AUDIT_OVERLOADED);
CONSENTRY_SAME_NUMBER(kConsentStale, REASON_CONSENT_STALE);
CONSENTRY_SAME_NUMBER(kProvisionStopped, REASON_PROVISION_STOPPED);
CONSENTRY_SAME_NUMBER(kRecipientNotVetted, REASON_RECIPIENT_NOT_VETTED);
CONSENTRY_SAME_NUMBER(kRecipientMonitoringOverdue,
                      REASON_RECIPIENT_MONITORING_OVERDUE);
CONSENTRY_SAME_NUMBER(kNoProvisionConsent, REASON_NO_PROVISION_CONSENT);
CONSENTRY_SAME_NUMBER(kNoSpecificConsent, REASON_NO_SPECIFIC_CONSENT);
CONSENTRY_SAME_NUMBER(kConsentPredatesMaterialChange,
                      REASON_CONSENT_PREDATES_MATERIAL_CHANGE);
CONSENTRY_SAME_NUMBER(kRetentionExpired, REASON_RETENTION_EXPIRED);
CONSENTRY_SAME_NUMBER(kOccasionConsentUsed, REASON_OCCASION_CONSENT_USED);
CONSENTRY_SAME_NUMBER(kRequestPending, REASON_REQUEST_PENDING);
CONSENTRY_SAME_NUMBER(kConsentDataLoss, REASON_CONSENT_DATA_LOSS);
CONSENTRY_SAME_NUMBER(kSingleUseRequiresAuthorize,
                      REASON_SINGLE_USE_REQUIRES_AUTHORIZE);
CONSENTRY_SAME_NUMBER(kSubjectKindNotAllowed, REASON_SUBJECT_KIND_NOT_ALLOWED);
CONSENTRY_SAME_NUMBER(kSubjectKindUnknown, REASON_SUBJECT_KIND_UNKNOWN);
CONSENTRY_SAME_NUMBER(kNoAcquisitionConsent, REASON_NO_ACQUISITION_CONSENT);
CONSENTRY_SAME_NUMBER(kRecipientMonitoringFailed,
                      REASON_RECIPIENT_MONITORING_FAILED);
#undef CONSENTRY_SAME_NUMBER

}  // namespace

absl::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kUnspecified:
      return "unspecified";
    case Reason::kAllowedNecessary:
      return "allowed_necessary";
    case Reason::kAllowedConsent:
      return "allowed_consent";
    case Reason::kAllowedNotOptedOut:
      return "allowed_not_opted_out";
    case Reason::kAllowedOccasionConsent:
      return "allowed_occasion_consent";
    case Reason::kNotCollectedForPurpose:
      return "not_collected_for_purpose";
    case Reason::kProhibitedPurpose:
      return "prohibited_purpose";
    case Reason::kNotAllowedByPolicy:
      return "not_allowed_by_policy";
    case Reason::kNoConsent:
      return "no_consent";
    case Reason::kConsentRefused:
      return "consent_refused";
    case Reason::kConsentWithdrawn:
      return "consent_withdrawn";
    case Reason::kConsentExpired:
      return "consent_expired";
    case Reason::kUseSuspended:
      return "use_suspended";
    case Reason::kSubjectErased:
      return "subject_erased";
    case Reason::kAccessorNotPermitted:
      return "accessor_not_permitted";
    case Reason::kNoOccasionConsent:
      return "no_occasion_consent";
    case Reason::kStoreUnavailable:
      return "store_unavailable";
    case Reason::kAuditUnavailable:
      return "audit_unavailable";
    case Reason::kAuditOverloaded:
      return "audit_overloaded";
    case Reason::kConsentStale:
      return "consent_stale";
    case Reason::kProvisionStopped:
      return "provision_stopped";
    case Reason::kRecipientNotVetted:
      return "recipient_not_vetted";
    case Reason::kRecipientMonitoringOverdue:
      return "recipient_monitoring_overdue";
    case Reason::kNoProvisionConsent:
      return "no_provision_consent";
    case Reason::kNoSpecificConsent:
      return "no_specific_consent";
    case Reason::kConsentPredatesMaterialChange:
      return "consent_predates_material_change";
    case Reason::kRetentionExpired:
      return "retention_expired";
    case Reason::kOccasionConsentUsed:
      return "occasion_consent_used";
    case Reason::kRequestPending:
      return "request_pending";
    case Reason::kConsentDataLoss:
      return "consent_data_loss";
    case Reason::kSingleUseRequiresAuthorize:
      return "single_use_requires_authorize";
    case Reason::kSubjectKindNotAllowed:
      return "subject_kind_not_allowed";
    case Reason::kSubjectKindUnknown:
      return "subject_kind_unknown";
    case Reason::kNoAcquisitionConsent:
      return "no_acquisition_consent";
    case Reason::kRecipientMonitoringFailed:
      return "recipient_monitoring_failed";
  }
  return "unknown";
}

absl::string_view ReasonDescription(Reason r) {
  switch (r) {
    case Reason::kUnspecified:
      return "no decision";
    case Reason::kAllowedNecessary:
      return "necessary to provide the service";
    case Reason::kAllowedConsent:
      return "the person consented to this purpose";
    case Reason::kAllowedNotOptedOut:
      return "the person has not opted out";
    case Reason::kAllowedOccasionConsent:
      return "the person consented for this occasion";
    case Reason::kNotCollectedForPurpose:
      return "the record was not collected for this purpose";
    case Reason::kProhibitedPurpose:
      return "the record may never be used for this purpose";
    case Reason::kNotAllowedByPolicy:
      return "the policy does not allow this purpose for this data category";
    case Reason::kNoConsent:
      return "the person has not consented";
    case Reason::kConsentRefused:
      return "the person refused consent";
    case Reason::kConsentWithdrawn:
      return "the person withdrew consent";
    case Reason::kConsentExpired:
      return "the person's consent has expired";
    case Reason::kUseSuspended:
      return "use is suspended at the person's request";
    case Reason::kSubjectErased:
      return "the person's data has been erased";
    case Reason::kAccessorNotPermitted:
      return "this accessor may not declare this purpose";
    case Reason::kNoOccasionConsent:
      return "no consent for this occasion of a purpose outside the catalogue";
    case Reason::kStoreUnavailable:
      return "the consent store is unavailable";
    case Reason::kAuditUnavailable:
      return "the decision could not be audited";
    case Reason::kAuditOverloaded:
      return "the audit queue is full and the policy is to deny";
    case Reason::kConsentStale:
      return "consent state may be stale: the change feed has been silent too "
             "long";
    case Reason::kProvisionStopped:
      return "the person stopped provision to third parties";
    case Reason::kRecipientNotVetted:
      return "the recipient's vetting is missing or expired";
    case Reason::kRecipientMonitoringOverdue:
      return "the recipient's periodic monitoring is overdue";
    case Reason::kNoProvisionConsent:
      return "no consent to provide this data to a third party";
    case Reason::kNoSpecificConsent:
      return "secrecy of communications: no consent for exactly this use";
    case Reason::kConsentPredatesMaterialChange:
      return "consent predates a material change of the policy";
    case Reason::kRetentionExpired:
      return "the data is past its retention period for this purpose";
    case Reason::kOccasionConsentUsed:
      return "the one-time consent for this occasion was already used";
    case Reason::kRequestPending:
      return "a data-subject request blocks this use while it is processed";
    case Reason::kConsentDataLoss:
      return "the subject's stored consent record cannot be read";
    case Reason::kSingleUseRequiresAuthorize:
      return "the one-time consent for this occasion is used only through "
             "Authorize, which uses it up";
    case Reason::kSubjectKindNotAllowed:
      return "the policy restricts this data or purpose to other kinds of "
             "subject";
    case Reason::kSubjectKindUnknown:
      return "the policy restricts this data or purpose to some kinds of "
             "subject and the subject's kind is not recorded";
    case Reason::kNoAcquisitionConsent:
      return "special-care data: no prior consent to its acquisition";
    case Reason::kRecipientMonitoringFailed:
      return "the latest monitoring of the recipient or a sub-contractor "
             "failed";
  }
  return "unknown reason";
}

absl::Status DenialStatus(Reason reason, absl::string_view purpose,
                          absl::string_view category) {
  const std::string msg = absl::StrCat(
      "consentry: denied ", ReasonName(reason), " (", ReasonDescription(reason),
      ") for purpose '", purpose, "' on category '", category, "'");
  absl::Status s;
  switch (reason) {
    case Reason::kNoConsent:
    case Reason::kConsentRefused:
    case Reason::kConsentWithdrawn:
    case Reason::kConsentExpired:
    case Reason::kNoOccasionConsent:
    case Reason::kNoProvisionConsent:
    case Reason::kNoSpecificConsent:
    case Reason::kConsentPredatesMaterialChange:
    case Reason::kOccasionConsentUsed:
    case Reason::kSingleUseRequiresAuthorize:
    case Reason::kSubjectKindUnknown:
    case Reason::kNoAcquisitionConsent:
      s = absl::FailedPreconditionError(msg);
      break;
    case Reason::kStoreUnavailable:
    case Reason::kAuditUnavailable:
    case Reason::kAuditOverloaded:
    case Reason::kConsentStale:
      s = absl::UnavailableError(msg);
      break;
    case Reason::kConsentDataLoss:
      s = absl::DataLossError(msg);
      break;
    default:
      s = absl::PermissionDeniedError(msg);
      break;
  }
  s.SetPayload(kReasonPayloadUrl,
               absl::Cord(absl::StrCat(static_cast<int>(reason))));
  return s;
}

absl::optional<Reason> ReasonFromStatus(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kReasonPayloadUrl);
  if (!payload.has_value()) return absl::nullopt;
  int n = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &n)) return absl::nullopt;
  return static_cast<Reason>(n);
}

}  // namespace consentry

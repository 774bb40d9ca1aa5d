// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: decision.h
// -----------------------------------------------------------------------------
//
// A `Decision` is the value a purpose check returns: allow or deny, the
// `Reason`, and the consent revision it was based on. A deny is a value, not
// an error; only infrastructure failures are a non-OK `absl::Status`.
//
// Example:
//
//   absl::StatusOr<consentry::Decision> d = guard.Check(ctx, "s-1", category);
//   if (d.ok() && !d->allowed()) {
//     std::cout << "denied: " << consentry::ReasonName(d->reason());
//   }

#ifndef CONSENTRY_DECISION_H_
#define CONSENTRY_DECISION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "consentry/export.h"

namespace consentry {

// Store-wide, totally ordered revision of consent state. 0 means "no record".
using Revision = std::int64_t;

// Why a check allowed or denied. Numbers equal `consentry.v1.Reason`.
enum class Reason : std::uint8_t {
  kUnspecified = 0,
  kAllowedNecessary = 1,
  kAllowedConsent = 2,
  kAllowedNotOptedOut = 3,
  kAllowedOccasionConsent = 4,

  kNotCollectedForPurpose = 20,
  kProhibitedPurpose = 21,
  kNotAllowedByPolicy = 22,
  kNoConsent = 23,
  kConsentRefused = 24,
  kConsentWithdrawn = 25,
  kConsentExpired = 26,
  kUseSuspended = 27,
  kSubjectErased = 28,
  kAccessorNotPermitted = 29,
  kNoOccasionConsent = 30,
  kStoreUnavailable = 31,
  kAuditUnavailable = 32,
  kAuditOverloaded = 33,
  kConsentStale = 34,
  kProvisionStopped = 35,
  kRecipientNotVetted = 36,
  kRecipientMonitoringOverdue = 37,
  kNoProvisionConsent = 38,
  kNoSpecificConsent = 39,
  kConsentPredatesMaterialChange = 40,
  kRetentionExpired = 41,
  kOccasionConsentUsed = 42,
  kRequestPending = 43,
  kConsentDataLoss = 44,
  kSubjectKindNotAllowed = 45,
  kSubjectKindUnknown = 46,
  kNoAcquisitionConsent = 47,
  // A single-use per-occasion consent would allow the read, but only
  // `Guard::Authorize` / `Guard::Evaluate` may use it up: `Check`, batch
  // and per-category checks deny with this reason (no grant, no use).
  kSingleUseRequiresAuthorize = 48,
  kRecipientMonitoringFailed = 50,
};

// True for the reasons that allow.
constexpr bool IsAllowingReason(Reason r) {
  return r >= Reason::kAllowedNecessary && r <= Reason::kAllowedOccasionConsent;
}

// Stable snake_case name of `r`, e.g. "consent_withdrawn".
CONSENTRY_EXPORT absl::string_view ReasonName(Reason r);

// A plain English sentence for `r`, for reports and error messages.
CONSENTRY_EXPORT absl::string_view ReasonDescription(Reason r);

// The result of one purpose check. Immutable value type; safe to share.
class Decision {
 public:
  constexpr Decision(Reason reason, Revision revision, bool shadow = false)
      : reason_(reason), shadow_(shadow), revision_(revision) {}

  // True when the policy, consent and restrictions allow the read.
  constexpr bool allowed() const { return IsAllowingReason(reason_); }
  constexpr Reason reason() const { return reason_; }
  // Consent revision of the subject's record that the decision used.
  constexpr Revision revision() const { return revision_; }
  // True when the Guard is in shadow mode and the decision denies: the read
  // was let through, and the denial recorded.
  constexpr bool shadow_denial() const { return shadow_ && !allowed(); }
  // True when the caller may proceed: allowed, or a shadow-mode denial.
  constexpr bool proceeds() const { return allowed() || shadow_; }

  friend constexpr bool operator==(const Decision&, const Decision&) = default;

 private:
  Reason reason_;
  bool shadow_;
  Revision revision_;
};

// The status a denial maps to when a grant is asked for:
// consent-related denials (no consent, refused, withdrawn, expired, no
// occasion consent, no acquisition consent) and a subject whose kind is
// unknown where the policy restricts kinds are `kFailedPrecondition`; a store
// outage is `kUnavailable`; every other denial is `kPermissionDenied`. The
// status carries the reason; `ReasonFromStatus` reads it back.
CONSENTRY_EXPORT absl::Status DenialStatus(Reason reason,
                                           absl::string_view purpose,
                                           absl::string_view category);

// The denial reason carried by a status from `DenialStatus` or
// `Guard::Authorize`, or nullopt if it carries none.
CONSENTRY_EXPORT absl::optional<Reason> ReasonFromStatus(
    const absl::Status& status);

}  // namespace consentry

#endif  // CONSENTRY_DECISION_H_

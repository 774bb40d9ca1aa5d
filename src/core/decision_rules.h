// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The decision rules: which `Reason` a read gets, as one pure function of
// what the policy, the record's tags and the subject's compiled consent
// state say. No I/O, no clock, no lock: the Guard gathers the inputs (reads
// the cache or the store, the clock, the occasion consents) and uses up a
// single-use consent after an allow. Internal; never installed.

#ifndef CONSENTRY_SRC_CORE_DECISION_RULES_H_
#define CONSENTRY_SRC_CORE_DECISION_RULES_H_

#include <cstdint>

#include "absl/base/attributes.h"
#include "consentry/decision.h"
#include "consentry/policy.h"
#include "src/core/subject_state.h"

namespace consentry::internal {

// The facts one decision rests on.
struct RuleInputs {
  // The read: the policy's basis for (category, purpose), whether the
  // accessor may declare the purpose, what the record's tags say of the
  // purpose (`kNotCollectedForPurpose`, `kProhibitedPurpose`, or
  // `kUnspecified` when it complies or there are no tags), whether the
  // record's retention for the purpose has run out, and whether the
  // consent feed is stale.
  Basis basis = Basis::kNotAllowed;
  bool accessor_permitted = false;
  Reason tag_reason = Reason::kUnspecified;
  bool retention_expired = false;
  bool feed_stale = false;
  // The subject kinds the policy denies this (category, purpose) for
  // (`CompiledPolicy::kinds_denied`; 0 when it restricts none).
  SubjectKindMask kinds_denied = 0;

  // The subject's compiled consent state (restrictions included); null
  // until it is looked up.
  const SubjectProfile* subject = nullptr;
  PurposeIndex purpose = 0;
  // The purpose needs consent per occasion; `occasion` is the best
  // per-occasion consent of the subject for the read's occasion (read only
  // when the subject has `kHasOccasionConsent`).
  bool per_occasion = false;
  Reason occasion = Reason::kNoOccasionConsent;
  // The category counts only consent given to the purpose by name.
  bool specific_consent = false;
  // The policy-version ordinal a consent must have been given under (0: the
  // policy has no re-consent requirement).
  int min_consent_ordinal = 0;
};

// The rules about the read alone, in order: accessor, tags, policy,
// retention, feed. `kUnspecified` when they let the read through to the
// subject's consent state.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Reason ReadRules(const RuleInputs& in) {
  if (!in.accessor_permitted) return Reason::kAccessorNotPermitted;
  if (in.tag_reason != Reason::kUnspecified) return in.tag_reason;
  if (in.basis == Basis::kNotAllowed) return Reason::kNotAllowedByPolicy;
  if (in.retention_expired) return Reason::kRetentionExpired;
  // The cache may miss a withdrawal: consent cannot be relied on.
  if (in.basis != Basis::kNecessary && in.feed_stale) {
    return Reason::kConsentStale;
  }
  return Reason::kUnspecified;
}

// The rules about the subject, in the legal precedence: erased, subject
// kind, suspended, necessary, withdrawn, refused, opt-out, occasion, consent
// and re-consent, expired, specific consent, none. REQUIRES: `in.subject` is
// set and `ReadRules(in)` is `kUnspecified`.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Reason SubjectRules(const RuleInputs& in) {
  const SubjectProfile* s = in.subject;
  const std::uint64_t bit = std::uint64_t{1} << in.purpose;
  if (s->flags & SubjectProfile::kErased) {
    return (s->flags & SubjectProfile::kDataLoss) ? Reason::kConsentDataLoss
                                                  : Reason::kSubjectErased;
  }
  // The data or purpose is not for this kind of subject (policy §7.3): one
  // bit test of the subject's kind bit against the precompiled mask.
  if ((s->flags >> SubjectProfile::kKindShift) & in.kinds_denied) {
    return (s->flags & SubjectProfile::kKindUnspecified)
               ? Reason::kSubjectKindUnknown
               : Reason::kSubjectKindNotAllowed;
  }
  if ((s->flags & SubjectProfile::kSuspendAll) || (s->suspended & bit)) {
    return Reason::kUseSuspended;
  }
  if (in.basis == Basis::kNecessary) return Reason::kAllowedNecessary;
  if (s->withdrawn & bit) return Reason::kConsentWithdrawn;
  if (s->refused & bit) return Reason::kConsentRefused;
  if (in.basis == Basis::kOptOut) return Reason::kAllowedNotOptedOut;
  if (in.per_occasion) {
    return (s->flags & SubjectProfile::kHasOccasionConsent)
               ? in.occasion
               : Reason::kNoOccasionConsent;
  }
  if (((in.specific_consent ? s->given_direct : s->given) & bit) != 0) {
    return s->consent_ordinal[in.purpose] < in.min_consent_ordinal
               ? Reason::kConsentPredatesMaterialChange
               : Reason::kAllowedConsent;
  }
  if (s->expired & bit) return Reason::kConsentExpired;
  // Consent reaches this purpose only through a parent purpose.
  if (in.specific_consent && (s->given & bit)) {
    return Reason::kNoSpecificConsent;
  }
  return Reason::kNoConsent;
}

// The reason for a read: the read's rules, then the subject's. Returns
// `kUnspecified` when the subject's state is needed and `in.subject` is
// null: look the subject up and decide again. The Guard runs the two
// halves itself, around the look-up; inline, as they are the hot path of
// every check.
inline Reason DecideRules(const RuleInputs& in) {
  const Reason r = ReadRules(in);
  if (r != Reason::kUnspecified || in.subject == nullptr) return r;
  return SubjectRules(in);
}

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_CORE_DECISION_RULES_H_

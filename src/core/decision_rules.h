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

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
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

// A subject's profile as a warm check reads it (`ProfileSummary`): per
// purpose, which of the subject rules after the subject kind decides, as
// one of these codes, in the rules' precedence.
enum SubjectCode : std::uint8_t {
  kCodeNone = 0,       // nothing given, expired, refused or withdrawn
  kCodeGiven = 1,      // consent given (through a parent or by name)
  kCodeExpired = 2,    // consent expired, none given since
  kCodeRefused = 3,    // refused (and not withdrawn)
  kCodeWithdrawn = 4,  // withdrawn
  kCodeSuspended = 5,  // use suspended for the purpose
};

// 32 bytes that decide what `SubjectRules` decides for most (profile,
// entry) pairs without the 128-byte profile: a warm check loads this
// instead, and the codes turn the rules' chain of data-dependent branches
// into a table lookup. A pure function of the profile (`Summarize`),
// written with it whenever a profile index is (re)assigned, so it is as
// fresh as the profile it summarizes.
struct alignas(32) ProfileSummary {
  // The summary does not decide: erased (or unreadable), use suspended
  // for every purpose, or a consent that expires (the profile must be
  // recompiled at some time). Set or not, a summary always has `kValid`.
  static constexpr std::uint64_t kUndecided = 1u << 0;
  static constexpr std::uint64_t kValid = 1u << 1;
  // Per purpose p, its `SubjectCode` in bits [3p, 3p + 3) of these 24
  // bytes, bit i of the sequence being bit i % 8 of byte i / 8: one load
  // and one shift read a code (`code`).
  unsigned char codes[24] = {};
  // `kValid`, `kUndecided`, and from bit `SubjectProfile::kKindShift` the
  // subject's kind bits as `SubjectProfile::flags` has them.
  std::uint64_t flags = 0;

  SubjectCode code(PurposeIndex purpose) const {
    const unsigned bit = 3u * purpose;
    return CodeAt(bit / 8, bit % 8);
  }
  // The code whose bits start at bit `shift` of byte `byte` (`code`, with
  // its position worked out). The 8 bytes from `byte` are read as a
  // little-endian word: for every purpose below `kMaxPurposes` (byte 23
  // at most) inside the summary, whose bytes past `codes` are `flags`,
  // masked off.
  SubjectCode CodeAt(unsigned byte, unsigned shift) const {
    std::uint64_t word;
    std::memcpy(&word, reinterpret_cast<const unsigned char*>(this) + byte,
                sizeof(word));
    return static_cast<SubjectCode>((word >> shift) & 7);
  }
  // Sets purpose `purpose`'s code (from 0).
  void SetCode(PurposeIndex purpose, SubjectCode code) {
    for (unsigned k = 0; k < 3; ++k) {
      const unsigned bit = 3u * purpose + k;
      if ((code >> k) & 1) codes[bit / 8] |= 1u << (bit % 8);
    }
  }
};

static_assert(sizeof(ProfileSummary) == 32);
static_assert(offsetof(ProfileSummary, flags) == 24);
static_assert(3 * kMaxPurposes <= 8 * 24, "codes hold every purpose");
#ifndef ABSL_IS_LITTLE_ENDIAN
#error "ProfileSummary::code reads a little-endian word"
#endif

inline ProfileSummary Summarize(const SubjectProfile& s) {
  ProfileSummary out;
  const std::uint64_t undecided =
      (s.flags & (SubjectProfile::kErased | SubjectProfile::kDataLoss |
                  SubjectProfile::kSuspendAll)) != 0 ||
      s.valid_until_ns != kNoExpiry;
  out.flags =
      ProfileSummary::kValid | undecided |
      (s.flags & ~((std::uint64_t{1} << SubjectProfile::kKindShift) - 1));
  // Each purpose's first rule that applies, in the order of `SubjectRules`.
  const std::uint64_t suspended = s.suspended;
  const std::uint64_t withdrawn = s.withdrawn & ~suspended;
  const std::uint64_t refused = s.refused & ~(suspended | withdrawn);
  const std::uint64_t given = s.given & ~(suspended | withdrawn | refused);
  const std::uint64_t expired =
      s.expired & ~(suspended | withdrawn | refused | given);
  const std::uint64_t plane[3] = {
      given | refused | suspended,  // codes 1, 3, 5
      expired | refused,            // codes 2, 3
      withdrawn | suspended,        // codes 4, 5
  };
  for (int p = 0; p < kMaxPurposes; ++p) {
    out.SetCode(static_cast<PurposeIndex>(p),
                static_cast<SubjectCode>(((plane[0] >> p) & 1) |
                                         (((plane[1] >> p) & 1) << 1) |
                                         (((plane[2] >> p) & 1) << 2)));
  }
  return out;
}

// What a warm check needs to decide from a `ProfileSummary` for one
// (category, purpose) of a policy: the summary decides when
// `summary.flags & undecided_mask` is 0, and then the reason is
// `Decide(summary)`, that is `by_code[summary.code(purpose)]`.
struct SummaryRule {
  // `ProfileSummary::kUndecided`, the denied subject kinds (their rule
  // comes before the codes'), and `kValid` (always set in a summary) when
  // the summary never decides the pair: specific consent, or re-consent.
  std::uint64_t undecided_mask = ~std::uint64_t{0};
  Reason by_code[8] = {};
  // Where the purpose's code is (`ProfileSummary::code`), worked out
  // once: the byte its bits start in, and their shift in the word read
  // from there.
  std::uint8_t code_byte = 0;
  std::uint8_t code_shift = 0;

  // The reason for `summary`, when it decides (see above).
  Reason Decide(const ProfileSummary& summary) const {
    return by_code[summary.CodeAt(code_byte, code_shift)];
  }
};

// The `SummaryRule` of a read for `purpose` with `basis`, denied kinds,
// specific consent and re-consent ordinal, as `SubjectRules` takes them.
inline SummaryRule MakeSummaryRule(PurposeIndex purpose, Basis basis,
                                   SubjectKindMask kinds_denied,
                                   bool specific_consent,
                                   int min_consent_ordinal) {
  SummaryRule r;
  const unsigned bit = 3u * purpose;
  r.code_byte = static_cast<std::uint8_t>(bit / 8);
  r.code_shift = static_cast<std::uint8_t>(bit % 8);
  r.undecided_mask =
      ProfileSummary::kUndecided |
      (static_cast<std::uint64_t>(kinds_denied) << SubjectProfile::kKindShift);
  const bool opt_in = basis != Basis::kNecessary && basis != Basis::kOptOut;
  if (basis == Basis::kNotAllowed ||
      (opt_in && (specific_consent || min_consent_ordinal > 0))) {
    r.undecided_mask |= ProfileSummary::kValid;
  }
  for (Reason& reason : r.by_code) reason = Reason::kUnspecified;
  r.by_code[kCodeSuspended] = Reason::kUseSuspended;
  if (basis == Basis::kNecessary) {
    for (int c = kCodeNone; c < kCodeSuspended; ++c) {
      r.by_code[c] = Reason::kAllowedNecessary;
    }
    return r;
  }
  r.by_code[kCodeWithdrawn] = Reason::kConsentWithdrawn;
  r.by_code[kCodeRefused] = Reason::kConsentRefused;
  if (basis == Basis::kOptOut) {
    r.by_code[kCodeNone] = Reason::kAllowedNotOptedOut;
    r.by_code[kCodeGiven] = Reason::kAllowedNotOptedOut;
    r.by_code[kCodeExpired] = Reason::kAllowedNotOptedOut;
    return r;
  }
  r.by_code[kCodeNone] = Reason::kNoConsent;
  r.by_code[kCodeGiven] = Reason::kAllowedConsent;
  r.by_code[kCodeExpired] = Reason::kConsentExpired;
  return r;
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

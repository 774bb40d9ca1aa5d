// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The decision rules as a table: each row names one rule and what it must
// beat (or yield to), so that the legal precedence is stated once here as
// it is written once in src/core/decision_rules.h.

#include "src/core/decision_rules.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace consentry::internal {
namespace {

constexpr PurposeIndex kPurpose = 3;
constexpr std::uint64_t kBit = std::uint64_t{1} << kPurpose;
constexpr std::uint64_t kOtherBit = std::uint64_t{1} << 5;

struct RuleCase {
  std::string name;
  // The read.
  Basis basis = Basis::kOptIn;
  bool accessor_permitted = true;
  Reason tag_reason = Reason::kUnspecified;
  bool retention_expired = false;
  bool feed_stale = false;
  // The subject; absent: not looked up yet.
  bool looked_up = true;
  SubjectProfile subject{};
  std::uint8_t ordinal = 0;  // the subject's consent_ordinal of kPurpose
  bool per_occasion = false;
  Reason occasion = Reason::kNoOccasionConsent;
  bool specific_consent = false;
  int min_consent_ordinal = 0;
  // The kinds the policy denies the read for.
  SubjectKindMask kinds_denied = 0;
  Reason expected;
};

class DecisionRulesTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(DecisionRulesTest, DecidesTheReasonOfTheFirstRuleThatApplies) {
  const RuleCase& c = GetParam();
  SubjectProfile profile = c.subject;
  profile.consent_ordinal[kPurpose] = c.ordinal;

  RuleInputs in;
  in.basis = c.basis;
  in.accessor_permitted = c.accessor_permitted;
  in.tag_reason = c.tag_reason;
  in.retention_expired = c.retention_expired;
  in.feed_stale = c.feed_stale;
  in.subject = c.looked_up ? &profile : nullptr;
  in.purpose = kPurpose;
  in.per_occasion = c.per_occasion;
  in.occasion = c.occasion;
  in.specific_consent = c.specific_consent;
  in.min_consent_ordinal = c.min_consent_ordinal;
  in.kinds_denied = c.kinds_denied;
  EXPECT_EQ(DecideRules(in), c.expected)
      << ReasonName(DecideRules(in)) << " instead of "
      << ReasonName(c.expected);
}

constexpr std::uint64_t kErased = SubjectProfile::kErased;
constexpr std::uint64_t kDataLoss = SubjectProfile::kDataLoss;
constexpr std::uint64_t kSuspendAll = SubjectProfile::kSuspendAll;
constexpr std::uint64_t kOccasions = SubjectProfile::kHasOccasionConsent;
// Subject kinds (v1::SubjectKind numbers) as the profile's kind bit.
constexpr std::uint64_t kCustomer = std::uint64_t{SubjectKindBit(1)}
                                    << SubjectProfile::kKindShift;
constexpr std::uint64_t kEmployee = std::uint64_t{SubjectKindBit(3)}
                                    << SubjectProfile::kKindShift;
// A (category, purpose) only for employees.
constexpr SubjectKindMask kNotEmployee =
    static_cast<SubjectKindMask>(kAllSubjectKinds & ~SubjectKindBit(3));

std::vector<RuleCase> Rows() {
  using R = Reason;
  std::vector<RuleCase> rows;
  auto row = [&rows](RuleCase c) { rows.push_back(std::move(c)); };

  // The read, before any consent state.
  row({.name = "AccessorNotPermittedBeatsTagsAndPolicy",
       .basis = Basis::kNotAllowed,
       .accessor_permitted = false,
       .tag_reason = R::kProhibitedPurpose,
       .expected = R::kAccessorNotPermitted});
  row({.name = "NotCollectedForPurposeBeatsPolicy",
       .basis = Basis::kNotAllowed,
       .tag_reason = R::kNotCollectedForPurpose,
       .expected = R::kNotCollectedForPurpose});
  row({.name = "ProhibitedPurposeBeatsConsent",
       .tag_reason = R::kProhibitedPurpose,
       .subject = {.given = kBit, .given_direct = kBit},
       .expected = R::kProhibitedPurpose});
  row({.name = "PolicyNotAllowedBeatsRetention",
       .basis = Basis::kNotAllowed,
       .retention_expired = true,
       .expected = R::kNotAllowedByPolicy});
  row({.name = "RetentionExpiredBeatsStaleFeed",
       .retention_expired = true,
       .feed_stale = true,
       .expected = R::kRetentionExpired});
  row({.name = "RetentionExpiredBeatsNecessary",
       .basis = Basis::kNecessary,
       .retention_expired = true,
       .expected = R::kRetentionExpired});
  row({.name = "StaleFeedBeatsConsent",
       .feed_stale = true,
       .subject = {.given = kBit, .given_direct = kBit},
       .expected = R::kConsentStale});
  row({.name = "StaleFeedDeniesOptOut",
       .basis = Basis::kOptOut,
       .feed_stale = true,
       .expected = R::kConsentStale});
  row({.name = "StaleFeedDoesNotStopNecessary",
       .basis = Basis::kNecessary,
       .feed_stale = true,
       .expected = R::kAllowedNecessary});
  row({.name = "ConsentStateNeededWhenNotLookedUp",
       .looked_up = false,
       .expected = R::kUnspecified});
  row({.name = "NecessaryNeedsTheSubjectToo",
       .basis = Basis::kNecessary,
       .looked_up = false,
       .expected = R::kUnspecified});

  // The subject, in the legal precedence.
  row({.name = "ErasedBeatsSuspendedAndNecessary",
       .basis = Basis::kNecessary,
       .subject = {.suspended = kBit, .flags = kErased | kSuspendAll},
       .expected = R::kSubjectErased});
  row({.name = "UnreadableRecordDeniesAsDataLoss",
       .basis = Basis::kNecessary,
       .subject = {.flags = kErased | kDataLoss},
       .expected = R::kConsentDataLoss});
  row({.name = "ErasedBeatsTheSubjectKind",
       .basis = Basis::kNecessary,
       .subject = {.flags = kErased | kCustomer},
       .kinds_denied = kNotEmployee,
       .expected = R::kSubjectErased});
  row({.name = "WrongSubjectKindBeatsSuspendedAndNecessary",
       .basis = Basis::kNecessary,
       .subject = {.suspended = kBit, .flags = kCustomer},
       .kinds_denied = kNotEmployee,
       .expected = R::kSubjectKindNotAllowed});
  row({.name = "UnrecordedSubjectKindFailsClosed",
       .basis = Basis::kNecessary,
       .subject = {.flags = SubjectProfile::kKindUnspecified},
       .kinds_denied = kNotEmployee,
       .expected = R::kSubjectKindUnknown});
  row({.name = "SubjectOfAnAllowedKindReadsOn",
       .basis = Basis::kNecessary,
       .subject = {.flags = kEmployee},
       .kinds_denied = kNotEmployee,
       .expected = R::kAllowedNecessary});
  row({.name = "WrongSubjectKindBeatsConsent",
       .subject = {.given = kBit, .given_direct = kBit, .flags = kCustomer},
       .kinds_denied = kNotEmployee,
       .expected = R::kSubjectKindNotAllowed});
  row({.name = "SuspendedPurposeBeatsNecessary",
       .basis = Basis::kNecessary,
       .subject = {.suspended = kBit},
       .expected = R::kUseSuspended});
  row({.name = "SuspendAllBeatsConsent",
       .subject = {.given = kBit, .given_direct = kBit, .flags = kSuspendAll},
       .expected = R::kUseSuspended});
  row({.name = "SuspensionOfAnotherPurposeDoesNotApply",
       .basis = Basis::kNecessary,
       .subject = {.suspended = kOtherBit},
       .expected = R::kAllowedNecessary});
  row({.name = "NecessaryBeatsWithdrawnAndRefused",
       .basis = Basis::kNecessary,
       .subject = {.refused = kBit, .withdrawn = kBit},
       .expected = R::kAllowedNecessary});
  row({.name = "WithdrawnBeatsRefusedAndGiven",
       .subject = {.given = kBit, .refused = kBit, .withdrawn = kBit},
       .expected = R::kConsentWithdrawn});
  row({.name = "RefusedBeatsGiven",
       .subject = {.given = kBit, .given_direct = kBit, .refused = kBit},
       .expected = R::kConsentRefused});
  row({.name = "RefusedBeatsOptOut",
       .basis = Basis::kOptOut,
       .subject = {.refused = kBit},
       .expected = R::kConsentRefused});
  row({.name = "WithdrawnBeatsOptOut",
       .basis = Basis::kOptOut,
       .subject = {.withdrawn = kBit},
       .expected = R::kConsentWithdrawn});
  row({.name = "OptOutAllowsWithoutConsent",
       .basis = Basis::kOptOut,
       .expected = R::kAllowedNotOptedOut});
  row({.name = "OptOutBeatsOccasion",
       .basis = Basis::kOptOut,
       .per_occasion = true,
       .expected = R::kAllowedNotOptedOut});
  row({.name = "OccasionPurposeIgnoresStandingConsent",
       .subject = {.given = kBit, .given_direct = kBit},
       .per_occasion = true,
       .occasion = R::kAllowedOccasionConsent,
       .expected = R::kNoOccasionConsent});
  row({.name = "OccasionConsentAllows",
       .subject = {.flags = kOccasions},
       .per_occasion = true,
       .occasion = R::kAllowedOccasionConsent,
       .expected = R::kAllowedOccasionConsent});
  row({.name = "OccasionMatchDecidesWhenUsed",
       .subject = {.given = kBit, .flags = kOccasions},
       .per_occasion = true,
       .occasion = R::kOccasionConsentUsed,
       .expected = R::kOccasionConsentUsed});
  row({.name = "OccasionMatchDecidesWhenWithdrawn",
       .subject = {.flags = kOccasions},
       .per_occasion = true,
       .occasion = R::kConsentWithdrawn,
       .expected = R::kConsentWithdrawn});
  row({.name = "WithdrawnBeatsOccasion",
       .subject = {.withdrawn = kBit, .flags = kOccasions},
       .per_occasion = true,
       .occasion = R::kAllowedOccasionConsent,
       .expected = R::kConsentWithdrawn});
  row({.name = "ConsentAllows",
       .subject = {.given = kBit},
       .expected = R::kAllowedConsent});
  row({.name = "ConsentGivenUnderAnOlderVersionPredatesChange",
       .subject = {.given = kBit},
       .ordinal = 1,
       .min_consent_ordinal = 2,
       .expected = R::kConsentPredatesMaterialChange});
  row({.name = "ConsentGivenUnderTheRequiredVersionAllows",
       .subject = {.given = kBit},
       .ordinal = 2,
       .min_consent_ordinal = 2,
       .expected = R::kAllowedConsent});
  row({.name = "GivenBeatsExpired",
       .subject = {.given = kBit, .expired = kBit},
       .expected = R::kAllowedConsent});
  row({.name = "ExpiredWithoutConsent",
       .subject = {.expired = kBit},
       .expected = R::kConsentExpired});
  row({.name = "ExpiredBeatsNoSpecificConsent",
       .subject = {.given = kBit, .expired = kBit},
       .specific_consent = true,
       .expected = R::kConsentExpired});
  row({.name = "SpecificConsentIgnoresConsentThroughAParent",
       .subject = {.given = kBit},
       .specific_consent = true,
       .expected = R::kNoSpecificConsent});
  row({.name = "SpecificConsentGivenByNameAllows",
       .subject = {.given = kBit, .given_direct = kBit},
       .specific_consent = true,
       .expected = R::kAllowedConsent});
  row({.name = "ConsentToAnotherPurposeDoesNotCount",
       .subject = {.given = kOtherBit, .given_direct = kOtherBit},
       .expected = R::kNoConsent});
  row({.name = "NoConsent", .expected = R::kNoConsent});
  return rows;
}

INSTANTIATE_TEST_SUITE_P(Precedence, DecisionRulesTest,
                         ::testing::ValuesIn(Rows()),
                         [](const ::testing::TestParamInfo<RuleCase>& row) {
                           return row.param.name;
                         });

// The subject's rules as a chain of returns, in the legal precedence,
// written out here as the specification `SubjectRules` is held to (the
// table above checks one row per rule; this, every combination).
Reason SubjectRulesAsChain(const RuleInputs& in) {
  const SubjectProfile* s = in.subject;
  const std::uint64_t bit = std::uint64_t{1} << in.purpose;
  if (s->flags & SubjectProfile::kErased) {
    return (s->flags & SubjectProfile::kDataLoss) ? Reason::kConsentDataLoss
                                                  : Reason::kSubjectErased;
  }
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
  if (in.specific_consent && (s->given & bit)) {
    return Reason::kNoSpecificConsent;
  }
  return Reason::kNoConsent;
}

// Every combination of the inputs the subject's rules read (each consent
// set with the purpose's bit or another's, the flags, the basis, the
// occasion, specific consent, re-consent, the kinds denied): the same
// reason as the chain of returns.
TEST(SubjectRulesTest, EqualsTheRulesAsAChainOfReturnsForEveryInput) {
  constexpr int kSets = 6;  // given, given_direct, refused, withdrawn,
                            // expired, suspended
  constexpr std::uint64_t kFlags[] = {
      SubjectProfile::kErased,          SubjectProfile::kDataLoss,
      SubjectProfile::kSuspendAll,      SubjectProfile::kHasOccasionConsent,
      SubjectProfile::kKindUnspecified, kCustomer};
  constexpr int kFlagCount = 6;
  std::int64_t compared = 0;
  for (std::uint32_t sets = 0; sets < (1u << kSets); ++sets) {
    for (std::uint32_t flags = 0; flags < (1u << kFlagCount); ++flags) {
      SubjectProfile profile;
      const auto pick = [sets](int i) {
        return (sets >> i) & 1u ? kBit : kOtherBit;
      };
      profile.given = pick(0);
      profile.given_direct = pick(1);
      profile.refused = pick(2);
      profile.withdrawn = pick(3);
      profile.expired = pick(4);
      profile.suspended = pick(5);
      for (int f = 0; f < kFlagCount; ++f) {
        if ((flags >> f) & 1u) profile.flags |= kFlags[f];
      }
      for (int variant = 0; variant < 3 * 2 * 2 * 3 * 2 * 3; ++variant) {
        int v = variant;
        RuleInputs in;
        in.subject = &profile;
        in.purpose = kPurpose;
        in.accessor_permitted = true;
        in.basis = static_cast<Basis>(1 + v % 3);  // necessary .. opt-out
        v /= 3;
        in.per_occasion = v % 2 == 1;
        v /= 2;
        in.specific_consent = v % 2 == 1;
        v /= 2;
        in.occasion = v % 3 == 0   ? Reason::kNoOccasionConsent
                      : v % 3 == 1 ? Reason::kAllowedOccasionConsent
                                   : Reason::kOccasionConsentUsed;
        v /= 3;
        profile.consent_ordinal[kPurpose] = 2;
        in.min_consent_ordinal = v % 2 == 1 ? 3 : 0;
        v /= 2;
        // No kind denied, or the unspecified kind, or customers.
        in.kinds_denied = static_cast<SubjectKindMask>(v % 3);
        const Reason want = SubjectRulesAsChain(in);
        const Reason got = SubjectRules(in);
        ASSERT_EQ(got, want)
            << ReasonName(got) << " instead of " << ReasonName(want)
            << " (sets " << sets << ", flags " << flags << ", variant "
            << variant << ")";
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, (1 << kSets) * (1 << kFlagCount) * 216);
}

// Whether a summary must decide: nothing erased, suspended for all or
// expiring, no kind rule that applies, and for opt-in no specific consent
// or re-consent to test. Stated apart from `MakeSummaryRule`, so that a
// summary that declines more than it needs to fails.
bool SummaryShouldDecide(const SubjectProfile& p, const RuleInputs& in) {
  if (in.basis == Basis::kNotAllowed) return false;
  if (p.flags & (SubjectProfile::kErased | SubjectProfile::kDataLoss |
                 SubjectProfile::kSuspendAll)) {
    return false;
  }
  if (p.valid_until_ns != kNoExpiry) return false;
  if ((p.flags >> SubjectProfile::kKindShift) & in.kinds_denied) return false;
  if (in.basis == Basis::kOptIn &&
      (in.specific_consent || in.min_consent_ordinal > 0)) {
    return false;
  }
  return true;
}

// Compares a profile's summary with `SubjectRules` on one input: where the
// summary decides, the same reason; and it decides exactly where it should.
void ExpectSummaryAgrees(const SubjectProfile& p, RuleInputs in,
                         const std::string& what) {
  in.subject = &p;
  in.accessor_permitted = true;
  in.per_occasion = false;  // per-occasion purposes never use a summary
  const ProfileSummary summary = Summarize(p);
  const SummaryRule rule =
      MakeSummaryRule(in.purpose, in.basis, in.kinds_denied,
                      in.specific_consent, in.min_consent_ordinal);
  const bool decides = (summary.flags & rule.undecided_mask) == 0;
  ASSERT_EQ(decides, SummaryShouldDecide(p, in)) << what;
  if (!decides) return;
  const Reason got = rule.Decide(summary);
  ASSERT_EQ(got, rule.by_code[summary.code(in.purpose)]) << what;
  const Reason want = SubjectRules(in);
  ASSERT_EQ(got, want) << ReasonName(got) << " instead of " << ReasonName(want)
                       << " (" << what << ")";
}

// Each purpose reads back the code it was given, whatever its neighbours'
// codes and the flags (which the last purposes' 8-byte read overlaps).
TEST(ProfileSummaryTest, EveryPurposeReadsItsOwnCode) {
  for (const int neighbours : {0, 7}) {
    for (int p = 0; p < kMaxPurposes; ++p) {
      for (int code = kCodeNone; code <= kCodeSuspended; ++code) {
        ProfileSummary s;
        s.flags = ~std::uint64_t{0};
        for (int q = 0; q < kMaxPurposes; ++q) {
          s.SetCode(static_cast<PurposeIndex>(q),
                    static_cast<SubjectCode>(q == p ? code : neighbours));
        }
        ASSERT_EQ(s.code(static_cast<PurposeIndex>(p)), code)
            << "purpose " << p << ", neighbours " << neighbours;
        // A rule for the purpose reads the same code.
        SummaryRule rule = MakeSummaryRule(static_cast<PurposeIndex>(p),
                                           Basis::kOptIn, 0, false, 0);
        for (int c = 0; c < 8; ++c) {
          rule.by_code[c] = static_cast<Reason>(c + 1);
        }
        ASSERT_EQ(rule.Decide(s), static_cast<Reason>(code + 1))
            << "purpose " << p << ", neighbours " << neighbours;
      }
    }
  }
}

// Every combination of the sets, flags, expiry, basis, specific consent,
// re-consent and kinds denied, as above: the summary's reason is the
// rules' reason wherever the summary decides.
TEST(ProfileSummaryTest, DecidesAsTheSubjectRulesForEveryInput) {
  constexpr std::uint64_t kFlags[] = {
      SubjectProfile::kErased,          SubjectProfile::kDataLoss,
      SubjectProfile::kSuspendAll,      SubjectProfile::kHasOccasionConsent,
      SubjectProfile::kKindUnspecified, kCustomer};
  constexpr int kFlagCount = 6;
  int decided = 0;
  for (std::uint32_t sets = 0; sets < (1u << 6); ++sets) {
    for (std::uint32_t flags = 0; flags < (1u << kFlagCount); ++flags) {
      for (const std::int64_t until : {kNoExpiry, std::int64_t{1000}}) {
        SubjectProfile p;
        const auto pick = [sets](int i) {
          return (sets >> i) & 1u ? kBit : kOtherBit;
        };
        p.given = pick(0);
        p.given_direct = pick(1);
        p.refused = pick(2);
        p.withdrawn = pick(3);
        p.expired = pick(4);
        p.suspended = pick(5);
        p.valid_until_ns = until;
        p.consent_ordinal[kPurpose] = 2;
        for (int f = 0; f < kFlagCount; ++f) {
          if ((flags >> f) & 1u) p.flags |= kFlags[f];
        }
        for (int v = 0; v < 4 * 2 * 2 * 3; ++v) {
          RuleInputs in;
          in.purpose = kPurpose;
          in.basis = static_cast<Basis>(v % 4);  // not allowed .. opt-out
          in.specific_consent = (v / 4) % 2 == 1;
          in.min_consent_ordinal = (v / 8) % 2 == 1 ? 3 : 0;
          in.kinds_denied = static_cast<SubjectKindMask>((v / 16) % 3);
          ExpectSummaryAgrees(p, in,
                              "sets " + std::to_string(sets) + ", flags " +
                                  std::to_string(flags) + ", variant " +
                                  std::to_string(v));
          if (in.basis != Basis::kNotAllowed && SummaryShouldDecide(p, in)) {
            ++decided;
          }
        }
      }
    }
  }
  EXPECT_GT(decided, 0);
}

// Random profiles over all 64 purposes (several bits per set, so that
// each purpose's code comes from a mix of its own and its neighbours'
// bits), every purpose: the same.
TEST(ProfileSummaryTest, DecidesAsTheSubjectRulesOnRandomProfiles) {
  std::mt19937_64 rng(20261205);
  for (int round = 0; round < 4000; ++round) {
    SubjectProfile p;
    // Sparse sets: each bit in about a third of them.
    const auto draw = [&rng] { return rng() & rng(); };
    p.given = draw() | draw();
    p.given_direct = p.given & draw();
    p.refused = draw();
    p.withdrawn = draw();
    p.expired = draw();
    p.suspended = draw() & draw();
    p.flags = std::uint64_t{1} << (SubjectProfile::kKindShift + rng() % 4);
    if (rng() % 8 == 0) p.flags |= SubjectProfile::kSuspendAll;
    if (rng() % 8 == 0) p.valid_until_ns = 5;
    for (auto& o : p.consent_ordinal) o = static_cast<std::uint8_t>(rng() % 3);
    for (PurposeIndex purpose = 0; purpose < 64; ++purpose) {
      RuleInputs in;
      in.purpose = purpose;
      in.basis = static_cast<Basis>(rng() % 4);
      in.specific_consent = rng() % 4 == 0;
      in.min_consent_ordinal = rng() % 4 == 0 ? 2 : 0;
      in.kinds_denied = static_cast<SubjectKindMask>(rng() % 16);
      ExpectSummaryAgrees(p, in,
                          "round " + std::to_string(round) + ", purpose " +
                              std::to_string(purpose));
    }
  }
}

}  // namespace
}  // namespace consentry::internal

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A subject's consent record compiled against one policy: bitsets closed
// under the purpose hierarchy, so that a check is a few AND instructions.

#ifndef CONSENTRY_SRC_INTERNAL_SUBJECT_STATE_H_
#define CONSENTRY_SRC_INTERNAL_SUBJECT_STATE_H_

#include <array>
#include <cstdint>
#include <limits>

#include "absl/time/time.h"
#include "consentry/decision.h"
#include "consentry/policy.h"
#include "consentry/v1/consent.pb.h"

namespace consentry::internal {

inline constexpr std::int64_t kNoExpiry =
    std::numeric_limits<std::int64_t>::max();

// `t` as nanoseconds since the Unix epoch, saturated to the int64 range. A
// record from the wire may carry any seconds and nanos; a plain
// `seconds * 1e9 + nanos` overflows (undefined behaviour) beyond the year
// 2262. Saturation keeps the order: far-future expiries never expire, far-past
// ones have expired.
inline std::int64_t TimestampToNanos(std::int64_t seconds, std::int32_t nanos) {
  constexpr std::int64_t kNanosPerSecond = 1'000'000'000;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  if (seconds > kMax / kNanosPerSecond) return kMax;
  if (seconds < kMin / kNanosPerSecond) return kMin;
  const std::int64_t base = seconds * kNanosPerSecond;
  if (nanos > 0 && base > kMax - nanos) return kMax;
  if (nanos < 0 && base < kMin - nanos) return kMin;
  return base + nanos;
}

// The consent choices of a subject, without its revision: what the cache
// interns, since many subjects share the same choices.
struct SubjectProfile {
  enum Flag : std::uint64_t {
    kErased = 1u << 0,
    kSuspendAll = 1u << 1,
    kProvisionStopped = 1u << 2,
    kHasOccasionConsent = 1u << 3,
    // The stored record is unreadable (set together with kErased, so that
    // the check's common path tests one bit).
    kDataLoss = 1u << 4,
    // The subject's kind, one-hot: bit `kKindShift + k` for
    // `consentry.v1.SubjectKind` k (a kind the record does not state, or
    // states as an unknown number, is unspecified). A check tests it
    // against `CompiledPolicy::kinds_denied`, a mask of the same layout.
    kKindUnspecified = 1u << 8,
  };
  static constexpr int kKindShift = 8;

  // Purposes given consent, closed downwards (consent to a parent covers
  // its children).
  std::uint64_t given = 0;
  // Purposes given consent by name, not through a parent.
  std::uint64_t given_direct = 0;
  // Refused / withdrawn / expired, each closed downwards.
  std::uint64_t refused = 0;
  std::uint64_t withdrawn = 0;
  std::uint64_t expired = 0;
  // Use suspended by the subject's request, closed downwards.
  std::uint64_t suspended = 0;
  // The profile must be recompiled at or after this time (a consent
  // expires).
  std::int64_t valid_until_ns = kNoExpiry;
  std::uint64_t flags = 0;
  // Per purpose, the policy-version ordinal of the newest consent that
  // covers it (CompiledPolicy::VersionOrdinal); all zero unless the policy
  // has re-consent requirements.
  std::array<std::uint8_t, 64> consent_ordinal{};

  friend bool operator==(const SubjectProfile&,
                         const SubjectProfile&) = default;
  struct Hasher {
    std::size_t operator()(const SubjectProfile& p) const {
      std::uint64_t h = 0x9e3779b97f4a7c15u;
      for (std::uint64_t w :
           {p.given, p.given_direct, p.refused, p.withdrawn, p.expired,
            p.suspended, static_cast<std::uint64_t>(p.valid_until_ns),
            p.flags}) {
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
      }
      for (std::size_t i = 0; i < p.consent_ordinal.size(); i += 8) {
        std::uint64_t w = 0;
        for (std::size_t k = 0; k < 8; ++k) {
          w |= static_cast<std::uint64_t>(p.consent_ordinal[i + k]) << (8 * k);
        }
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
      }
      return static_cast<std::size_t>(h);
    }
  };
};
static_assert(sizeof(SubjectProfile) == 128);

struct SubjectState {
  SubjectProfile profile;
  std::int64_t revision = 0;
};

// Compiles `record` for `policy` as of `now`. Entries naming purposes the
// policy does not know are ignored (they cannot allow anything).
SubjectState CompileSubjectState(const CompiledPolicy& policy,
                                 const v1::ConsentRecord& record,
                                 absl::Time now);

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_SUBJECT_STATE_H_

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A subject's consent record compiled against one policy: bitsets closed
// under the purpose hierarchy, so that a check is a few AND instructions.

#ifndef CONSENTRY_SRC_INTERNAL_SUBJECT_STATE_H_
#define CONSENTRY_SRC_INTERNAL_SUBJECT_STATE_H_

#include <cstdint>
#include <limits>

#include "absl/time/time.h"
#include "consentry/decision.h"
#include "consentry/policy.h"
#include "consentry/v1/consent.pb.h"

namespace consentry::internal {

inline constexpr std::int64_t kNoExpiry = std::numeric_limits<std::int64_t>::max();

struct SubjectState {
  enum Flag : std::uint64_t {
    kErased = 1u << 0,
    kSuspendAll = 1u << 1,
    kProvisionStopped = 1u << 2,
    kHasOccasionConsent = 1u << 3,
  };

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
  std::int64_t revision = 0;
  // The state must be recompiled at or after this time (a consent expires).
  std::int64_t valid_until_ns = kNoExpiry;
  std::uint64_t flags = 0;
};

// Compiles `record` for `policy` as of `now`. Entries naming purposes the
// policy does not know are ignored (they cannot allow anything).
SubjectState CompileSubjectState(const CompiledPolicy& policy,
                                 const v1::ConsentRecord& record,
                                 absl::Time now);

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_SUBJECT_STATE_H_

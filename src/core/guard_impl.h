// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// What the library's other subsystems may reach inside a Guard, by name.
// `Guard::Impl` itself is defined in guard.cc and reached only through
// these functions (`Guard::impl()`), never through friendship.
// Internal; never installed.

#ifndef CONSENTRY_SRC_CORE_GUARD_IMPL_H_
#define CONSENTRY_SRC_CORE_GUARD_IMPL_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "consentry/audit.h"
#include "consentry/consent.h"
#include "consentry/decision.h"
#include "consentry/guard.h"

namespace consentry::internal {

// For projection (src/access/projection.cc): decides `categories` of
// `subject` for `ctx` into `decisions[i]` exactly as one `Check` per
// category made at the same instant would, and audits one event per
// category (all with the same time), but reads the policy, the clock and
// the subject's consent state once. Errors: those of `Check`; the first
// one ends the call, and the decisions after it are not made.
absl::Status CheckCategories(Guard& guard, const AccessContext& ctx,
                             absl::string_view subject,
                             absl::Span<const CategoryRef* const> categories,
                             Decision* decisions);

// For the provision desk (src/compliance/provision.cc): the consent store
// and the audit sink (null when unaudited) the Guard was created with.
ConsentStore* ConsentStoreOf(const Guard& guard);
AuditSink* AuditSinkOf(const Guard& guard);

// For benchmarks (src/testing/guard_test_peer.h): stops (`suspended`) or
// resumes auditing; while suspended the Guard decides exactly as one
// created without a sink. REQUIRES: no other thread uses `guard` meanwhile.
CONSENTRY_EXPORT void SuspendAudit(Guard& guard, bool suspended);

// For tests (src/testing/guard_test_peer.h): makes every `Check` of
// `guard` take the general decider (`forced`) instead of the warm path, or
// lets it take the warm path again, so that a test can compare the two.
// REQUIRES: no other thread uses `guard` meanwhile.
CONSENTRY_EXPORT void ForceGeneralPath(Guard& guard, bool forced);

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_CORE_GUARD_IMPL_H_

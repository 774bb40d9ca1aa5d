// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Test-only access to a Guard's audit sink and check path. Internal; never
// installed.

#ifndef CONSENTRY_SRC_INTERNAL_GUARD_TEST_PEER_H_
#define CONSENTRY_SRC_INTERNAL_GUARD_TEST_PEER_H_

#include "consentry/guard.h"
#include "src/core/guard_impl.h"

namespace consentry::internal {

class GuardTestPeer {
 public:
  // Stops (`suspended`) or resumes auditing by `guard`: while suspended
  // the Guard decides exactly as one created without a sink. Lets a
  // benchmark time audited and unaudited checks over the same warm cache.
  // REQUIRES: no other thread uses `guard` meanwhile.
  static void SuspendAudit(Guard& guard, bool suspended) {
    internal::SuspendAudit(guard, suspended);
  }

  // Makes every `Check` of `guard` take the general decider (`forced`)
  // rather than the warm path, or lets it take the warm path again; a test
  // compares the decisions of the two. REQUIRES: no other thread uses
  // `guard` meanwhile.
  static void ForceGeneralPath(Guard& guard, bool forced) {
    internal::ForceGeneralPath(guard, forced);
  }
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_GUARD_TEST_PEER_H_

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Test-only access to a Guard's audit sink. Internal; never installed.

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
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_GUARD_TEST_PEER_H_

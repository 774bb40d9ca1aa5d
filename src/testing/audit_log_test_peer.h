// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Test-only access to an AuditLog's writer. Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_AUDIT_LOG_TEST_PEER_H_
#define CONSENTRY_SRC_INTERNAL_AUDIT_LOG_TEST_PEER_H_

#include "consentry/audit_log.h"
#include "consentry/export.h"

namespace consentry::internal {

class CONSENTRY_EXPORT AuditLogTestPeer {
 public:
  // While paused the writer takes nothing from the queue, so that tests can
  // fill it deterministically. REQUIRES: unpaused before `Close`.
  static void PauseWriter(AuditLog& log, bool paused);
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_AUDIT_LOG_TEST_PEER_H_

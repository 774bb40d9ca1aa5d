// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Test-only access to an AuditLog's writer. Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_AUDIT_LOG_TEST_PEER_H_
#define CONSENTRY_SRC_INTERNAL_AUDIT_LOG_TEST_PEER_H_

#include <atomic>

#include "consentry/audit_log.h"
#include "consentry/export.h"
#include "src/audit/audit_log_impl.h"

namespace consentry::internal {

class CONSENTRY_EXPORT AuditLogTestPeer {
 public:
  // While paused the writer takes nothing from the queue, so that tests can
  // fill it deterministically. REQUIRES: unpaused before `Close`.
  static void PauseWriter(AuditLog& log, bool paused) {
    log.impl_->paused_for_testing.store(paused, std::memory_order_release);
  }
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_AUDIT_LOG_TEST_PEER_H_

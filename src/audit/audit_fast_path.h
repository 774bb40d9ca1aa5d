// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The Guard's way into an `AuditLog` for read decisions. Instead of an
// `AuditEvent` of strings, the Guard hands over the decision with the
// accessor, purpose, category and policy version as indexes into a compiled
// policy that the log keeps alive; the caller's thread copies only the
// subject and record reference. The log's writer thread turns the record
// into the same `consentry.v1.AuditEvent` bytes that `Record` would have
// produced, so files, verification and queries cannot tell the two apart.
// Internal; never installed.

#ifndef CONSENTRY_SRC_INTERNAL_AUDIT_FAST_PATH_H_
#define CONSENTRY_SRC_INTERNAL_AUDIT_FAST_PATH_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "consentry/audit_log.h"
#include "consentry/decision.h"
#include "consentry/export.h"
#include "consentry/policy.h"
#include "consentry/purpose.h"

namespace consentry::internal {

// `CompactDecision` (consentry/audit.h) carries one read decision.
class CONSENTRY_EXPORT AuditLogFastPath {
 public:
  // Keeps `policy` alive in `log` until the log is destroyed and returns
  // the slot that names it in a `CompactDecision`. Attaching the same policy
  // again returns the same slot. Thread-safe.
  static std::uint32_t AttachPolicy(
      AuditLog& log, std::shared_ptr<const CompiledPolicy> policy);

  // As `AuditLog::Record` for the event the decision describes (action
  // `kRead`). A subject or record reference longer than 4 KiB takes the
  // `Record` path. Errors: those of `AuditLog::Record`.
  static absl::Status Record(AuditLog& log, const CompactDecision& decision);

  // The common case of `Record`, without a status: a decision in the short
  // form, taken when this thread's lane has room as last seen and the log
  // is open and healthy. Returns false, having recorded nothing, when any
  // of that does not hold (then `Record` decides). Thread-safe.
  static bool TryRecord(AuditLog& log, const CompactDecision& decision);
  // `internal::TryRecordCheck` (consentry/audit_log.h).
  static bool TryRecordCheck(AuditLog& log, std::int64_t time_unix_nanos,
                             Revision revision, std::uint64_t names,
                             absl::string_view subject);

 private:
  // Writes a short-form record (`flags` and `packed`: its header words)
  // into this thread's lane when the lane has room as last seen and the
  // log is open and healthy; false, having written nothing, otherwise.
  static bool TryPutShort(AuditLog& log, std::int64_t time_unix_nanos,
                          std::uint64_t packed, std::uint32_t flags,
                          absl::string_view subject,
                          absl::string_view record_ref);
  // `Record` when the decision or the lane is not the common case.
  static absl::Status RecordSlow(AuditLog& log,
                                 const CompactDecision& decision);
};

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_INTERNAL_AUDIT_FAST_PATH_H_

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// What retention (audit_retention.cc) needs from verification
// (audit_log_reader.cc): the log's retention record, and a verified walk
// of the segments that may be removed. Internal; never installed.

#ifndef CONSENTRY_SRC_AUDIT_AUDIT_RETENTION_WALK_H_
#define CONSENTRY_SRC_AUDIT_AUDIT_RETENTION_WALK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "consentry/audit_log.h"
#include "consentry/audit_retention.h"
#include "consentry/signing.h"
#include "src/audit/audit_format.h"

namespace consentry::internal {

// Reads the retention record of `dir` into `*out`; false when there is
// none. Errors: `kDataLoss` naming the file when it does not parse;
// `kInvalidArgument` for a symlink or non-regular file; I/O errors.
absl::StatusOr<bool> ReadRetentionRecordIfAny(const std::string& dir,
                                              AuditRetentionRecord* out);

// A sealed segment that verified, as retention sees it.
struct RetainedSegment {
  std::uint64_t number = 0;
  std::uint64_t first_sequence = 0;
  std::uint64_t next_sequence = 0;  // after its last event
  std::uint64_t records = 0;
  std::int64_t min_time = 0;
  std::int64_t max_time = 0;
  Hash256 hash_after{};  // the chain after its seal record
};

// Verifies the log in `dir` from its start (segment 0, or the retention
// record's cut, whose signatures `keys` check as `VerifyAuditLog` does),
// segment by segment, never the last one, and stops before the first
// segment with an event at or after `cutoff`: `*removable` gets the
// segments walked, in order. The report carries the defect, if any, and
// the record (coverage, leftovers). Errors: those of `VerifyAuditLog`.
absl::StatusOr<AuditVerifyReport> WalkForRetention(
    const std::string& dir, ChainKeys chain_keys, PublicKeyLookup* keys,
    std::int64_t cutoff, std::vector<RetainedSegment>* removable);

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_AUDIT_AUDIT_RETENTION_WALK_H_

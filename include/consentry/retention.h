// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: retention.h
// -----------------------------------------------------------------------------
//
// Which records are due for deletion. A record is past retention for a
// purpose when `collected_at + policy.retention(category, purpose)` has
// passed; the Guard then denies that purpose with
// `Reason::kRetentionExpired`. It is due for deletion when no purpose it
// was collected for may still use it.
//
// Example:
//
//   std::vector<consentry::RetentionDue> due =
//       consentry::RetentionReport(*policy, all_tags, absl::Now());

#ifndef CONSENTRY_RETENTION_H_
#define CONSENTRY_RETENTION_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "consentry/export.h"
#include "consentry/guard.h"
#include "consentry/policy.h"

namespace consentry {

struct RetentionDue {
  std::size_t index;  // position in the input
  std::string subject;
  std::string category;
  std::string record_ref;
  absl::Time collected_at;
  // The last time any purpose could use the record.
  absl::Time retained_until;
};

// The records of `records` that every purpose they were collected for has
// outlived at `now`, under `policy`. Records whose category is unknown to
// `policy` are reported as due (nothing may use them).
CONSENTRY_EXPORT std::vector<RetentionDue> RetentionReport(
    const CompiledPolicy& policy, absl::Span<const RecordTags> records,
    absl::Time now);

}  // namespace consentry

#endif  // CONSENTRY_RETENTION_H_

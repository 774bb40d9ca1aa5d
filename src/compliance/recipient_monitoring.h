// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The checks of one monitoring result, shared by registry validation
// (recipients.cc) and `RecordMonitoringResult` (recipient_monitoring.cc).
// Internal; never installed.

#ifndef CONSENTRY_SRC_COMPLIANCE_RECIPIENT_MONITORING_H_
#define CONSENTRY_SRC_COMPLIANCE_RECIPIENT_MONITORING_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "consentry/v1/recipient.pb.h"

namespace consentry::internal {

// `result` is well formed: `monitored_by` non-empty, a known outcome other
// than unspecified, a failed outcome with at least one finding, `time` set,
// every time within years 1 to 9999, every string valid UTF-8 and bounded.
// Errors: `kInvalidArgument` whose message starts with `at` plus the
// field; the caller puts in front what it was checking.
absl::Status CheckMonitoringResult(const v1::MonitoringResult& result,
                                   const std::string& at);

// The result of `r.monitoring_results` that counts at `as_of`: the latest
// by `time` at or before `as_of` (of equal times, the later in the list);
// nullptr when there is none.
const v1::MonitoringResult* LatestMonitoringResult(
    const v1::Recipient& r, absl::Time as_of = absl::InfiniteFuture());

}  // namespace consentry::internal

#endif  // CONSENTRY_SRC_COMPLIANCE_RECIPIENT_MONITORING_H_

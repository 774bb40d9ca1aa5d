// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Writes the access log that tests/tools/consentctl_test.sh runs `consentctl`
// on: 14 days of ordinary reads by two accessors before END (Unix seconds),
// a few denials each day, and in the last day a bulk read of 400 subjects'
// measurement (health) data in one hour by "support-desk" (which leak
// detection must flag, and leak scoping must report: special-care data).
//
//   consentctl_fixture AUDIT_DIR END_UNIX_SECONDS

#include <cstdint>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/audit_log.h"
#include "consentry/decision.h"

int main(int argc, char** argv) {
  std::int64_t end_s = 0;
  if (argc != 3 || !absl::SimpleAtoi(argv[2], &end_s)) {
    std::cerr << "usage: consentctl_fixture AUDIT_DIR END_UNIX_SECONDS\n";
    return 2;
  }
  consentry::AuditLogOptions options;
  options.directory = argv[1];
  options.sync = consentry::AuditSyncPolicy::kInterval;
  // A finished history: the run's last segment is sealed and indexed, and
  // a second run (a later period) begins its own segment.
  options.seal_on_close = true;
  auto log = consentry::AuditLog::Open(options);
  if (!log.ok()) {
    std::cerr << log.status() << "\n";
    return 1;
  }
  const absl::Time end = absl::FromUnixSeconds(end_s);
  const absl::Time start = end - absl::Hours(24 * 14);
  auto record = [&](absl::Time t, const std::string& accessor,
                    const std::string& subject, const std::string& category,
                    const std::string& purpose, consentry::Reason reason) {
    const std::string ref = "rec-" + subject;
    consentry::AuditEvent e;
    e.time_unix_nanos = absl::ToUnixNanos(t);
    e.action = consentry::AuditAction::kRead;
    e.accessor = accessor;
    e.subject = subject;
    e.category = category;
    e.purpose = purpose;
    e.policy_version = "2026-11-01";
    e.record_ref = ref;
    e.reason = reason;
    return (*log)->Record(e);
  };
  int n = 0;
  for (int day = 0; day < 14; ++day) {
    for (int hour = 1; hour <= 8; ++hour) {  // 10:00-17:00 JST
      const absl::Time h = start + absl::Hours(24 * day + hour);
      for (int i = 0; i < 10; ++i) {
        const std::string subject =
            absl::StrCat("m-", (day * 80 + hour * 10 + i) % 300);
        const absl::Time t = h + absl::Minutes(i * 5);
        const bool deny = (i == 7 && hour % 4 == 0);
        if (!record(t, "billing-svc", subject, "billing", "billing.invoicing",
                    deny ? consentry::Reason::kNotAllowedByPolicy
                         : consentry::Reason::kAllowedNecessary)
                 .ok() ||
            !record(t + absl::Minutes(1), "support-desk", subject, "contact",
                    "support",
                    deny ? consentry::Reason::kConsentWithdrawn
                         : consentry::Reason::kAllowedNecessary)
                 .ok()) {
          std::cerr << "record failed\n";
          return 1;
        }
        n += 2;
      }
    }
  }
  // The bulk read: 400 distinct subjects in one hour of the last day.
  const absl::Time bulk = end - absl::Hours(5);
  for (int i = 0; i < 400; ++i) {
    if (!record(bulk + absl::Seconds(i * 8), "support-desk",
                absl::StrCat("m-", 1000 + i), "measurement", "support",
                consentry::Reason::kAllowedNecessary)
             .ok()) {
      std::cerr << "record failed\n";
      return 1;
    }
    ++n;
  }
  if (absl::Status s = (*log)->Close(); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  std::cout << n << " events\n";
  return 0;
}

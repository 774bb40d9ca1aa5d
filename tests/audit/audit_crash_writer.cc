// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Helper for audit_log_crash_test: appends events to the log in argv[1] in
// small batches, under the every-batch sync policy, and after each
// acknowledged Flush prints "<durable sequence end>\n" to stdout (unbuffered).
// Event n has subject "seq-<n>", so the test can check content as well as
// presence. Runs until killed.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "consentry/audit_log.h"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  consentry::AuditLogOptions options;
  options.directory = argv[1];
  options.segment_bytes = 64 << 10;
  options.sync = consentry::AuditSyncPolicy::kEveryBatch;
  auto log = consentry::AuditLog::Open(options);
  if (!log.ok()) {
    std::fprintf(stderr, "open: %s\n", log.status().ToString().c_str());
    return 3;
  }
  std::uint64_t next = (*log)->head().sequence_end;
  unsigned seed = static_cast<unsigned>(std::atoi(argv[2]));
  while (true) {
    const int batch = 1 + static_cast<int>(rand_r(&seed) % 40);
    for (int i = 0; i < batch; ++i, ++next) {
      const std::string subject = absl::StrCat("seq-", next);
      consentry::AuditEvent e;
      e.time_unix_nanos =
          1'790'000'000'000'000'000 + static_cast<std::int64_t>(next);
      e.accessor = "crash-writer";
      e.subject = subject;
      e.category = "measurement";
      e.purpose = "statistics.measurement";
      e.reason = consentry::Reason::kAllowedConsent;
      absl::StatusOr<std::uint64_t> s = (*log)->Append(e);
      if (!s.ok() || *s != next) return 4;
    }
    if (!(*log)->Flush().ok()) return 5;
    const std::string line = absl::StrCat((*log)->durable_sequence_end(), "\n");
    if (write(1, line.data(), line.size()) !=
        static_cast<ssize_t>(line.size())) {
      return 6;
    }
  }
}

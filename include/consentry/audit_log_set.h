// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: audit_log_set.h
// -----------------------------------------------------------------------------
//
// The access logs of a fleet, read as one. Each service keeps its own
// durable `AuditLog` (one writer per log stays the model); an
// `AuditLogSet` opens several log directories (a list, or every log under
// one root) and answers the queries of `AuditLogReader` over all of them,
// merged by time: one person's events across services for a disclosure,
// one accessor's activity, a time range for leak detection
// (`DetectLeaks`) and leak scoping (`ScopeLeak`) across the fleet.
//
// Sealed segment files never change, so an operator may ship them (and
// their `.idx` files) to other storage with their own tools, and open the
// copies here; `VerifyAll` verifies each log as `VerifyAuditLog` does, on
// the original or on a copy.
//
// A query fails as a whole when one log cannot be read, naming that log: a
// disclosure or a leak scope that silently missed a service would be
// wrong.
//
// Thread-safety: one query at a time per set (it keeps the last query's
// statistics); open one set per thread to query in parallel. The set
// reads files only; it never writes a log.
//
// Example:
//
//   auto fleet = consentry::AuditLogSet::OpenRoot("/var/lib/audit");
//   if (!fleet.ok()) return fleet.status();
//   absl::StatusOr<consentry::AuditLogSet::Events> mine =
//       (*fleet)->ForSubject("member-7");
//   if (!mine.ok()) return mine.status();
//   for (std::size_t i = 0; i < mine->events.size(); ++i) {
//     std::cout << (*fleet)->logs()[mine->log[i]].name << " "
//               << mine->events[i].accessor << "\n";
//   }

#ifndef CONSENTRY_AUDIT_LOG_SET_H_
#define CONSENTRY_AUDIT_LOG_SET_H_

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "consentry/audit.h"
#include "consentry/audit_log.h"
#include "consentry/export.h"

namespace consentry {

class CONSENTRY_EXPORT AuditLogSet {
 public:
  // One log of the set.
  struct Log {
    std::string name;       // the directory's last path component
    std::string directory;  // as given
  };

  // Events of several logs, ordered by time; events of one time keep their
  // log's order, and logs the set's order. `log[i]` is the index in
  // `logs()` of the log that holds `events[i]`.
  struct Events {
    std::vector<OwnedAuditEvent> events;
    std::vector<std::size_t> log;
    // Per log (indexed as `logs()`), which period the answer covers
    // (`AuditLogReader::last_coverage`): what retention removed.
    std::vector<AuditCoverage> coverage;
    // The earliest time from which every log's answer is complete (the
    // latest of their `complete_from`).
    absl::Time complete_from() const {
      absl::Time t = absl::InfinitePast();
      for (const AuditCoverage& c : coverage) t = std::max(t, c.complete_from);
      return t;
    }
  };

  // What the last query read, summed over the logs.
  using Stats = AuditLogReader::Stats;

  // Opens the logs in `directories`, in that order. Errors:
  // `kInvalidArgument` for an empty list, or two directories with one
  // name (the names tell the logs apart in answers); `kNotFound` naming a
  // directory that does not exist or holds no log segment.
  static absl::StatusOr<std::unique_ptr<AuditLogSet>> Open(
      const std::vector<std::string>& directories);

  // Opens every directory directly under `root` that holds a log segment,
  // in name order (other entries are skipped). Errors: `kNotFound` when
  // `root` does not exist or holds no log.
  static absl::StatusOr<std::unique_ptr<AuditLogSet>> OpenRoot(
      absl::string_view root);

  ~AuditLogSet();
  AuditLogSet(const AuditLogSet&) = delete;
  AuditLogSet& operator=(const AuditLogSet&) = delete;

  const std::vector<Log>& logs() const;

  // As `AuditLogReader`'s queries, over every log. Errors: those of the
  // reader, naming the log ("audit log set: log 'billing' (/var/...): ").
  absl::StatusOr<Events> ForSubject(absl::string_view subject,
                                    absl::Time from = absl::InfinitePast(),
                                    absl::Time to = absl::InfiniteFuture());
  absl::StatusOr<Events> ForAccessor(absl::string_view accessor,
                                     absl::Time from = absl::InfinitePast(),
                                     absl::Time to = absl::InfiniteFuture());
  absl::StatusOr<Events> InTimeRange(absl::Time from, absl::Time to);

  const Stats& last_stats() const;

  // Verifies every log with `VerifyAuditLog(directory, options_for(log))`
  // (each log has its own keys and anchor), in set order; a report per
  // log. Errors: the first log's error that prevented looking, naming it.
  absl::StatusOr<std::vector<AuditVerifyReport>> VerifyAll(
      absl::FunctionRef<AuditVerifyOptions(const Log&)> options_for);

 private:
  struct Impl;
  explicit AuditLogSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_AUDIT_LOG_SET_H_

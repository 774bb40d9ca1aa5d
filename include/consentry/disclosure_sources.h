// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: disclosure_sources.h
// -----------------------------------------------------------------------------
//
// The sources of a disclosure package (APPI Art. 33, including the records
// of provision under Art. 33(5)) over the library's own records, for
// `RequestDeskOptions` (requests.h). With all three, a `RequestDesk` writes a
// package with no omitted section:
//
//   * `AuditLogAccessEventSource`: the subject's access events from the
//     durable `AuditLog` (audit_log.h). It flushes the live log first, so a
//     read that already happened is never missing from the package, and
//     reads each sealed segment through its per-subject index (a segment
//     whose index does not match its seal, and the active segment, are
//     scanned).
//   * `ConsentStoreHistorySource`: the versions of the subject's consent
//     record from any `ConsentStore` that keeps history (`History`).
//   * `ProvisionStoreSource`: the provision and receipt records concerning
//     the subject from any `ProvisionRecordStore` (`HistoryForSubject`,
//     recipients.h), as `ProvisionEntry` rows, oldest first.
//
// A source that fails fails the package (`Execute` returns the error with
// the section named); a subject with no records gets an empty section.
// Every source is thread-safe and owns nothing it is given: the log, the
// stores must outlive it.
//
// Example:
//
//   consentry::AuditLogOptions log_options;
//   log_options.directory = "/var/lib/myservice/audit";
//   auto log = consentry::AuditLog::Open(log_options);
//   if (!log.ok()) return log.status();
//   consentry::AuditLogAccessEventSource events(log_options.directory,
//                                               log->get());
//   consentry::ConsentStoreHistorySource history(&consent_store);
//   consentry::ProvisionStoreSource provisions(&provision_records);
//   consentry::RequestDeskOptions options;
//   options.access_events = &events;
//   options.consent_history = &history;
//   options.provisions = &provisions;
//   auto desk = consentry::RequestDesk::Create(
//       policy, &consent_store, &requests, log->get(), std::move(options));
//   if (!desk.ok()) return desk.status();

#ifndef CONSENTRY_DISCLOSURE_SOURCES_H_
#define CONSENTRY_DISCLOSURE_SOURCES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "consentry/audit.h"
#include "consentry/audit_log.h"
#include "consentry/audit_log_set.h"
#include "consentry/consent.h"
#include "consentry/export.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "consentry/v1/request.pb.h"

namespace consentry {

// The subject's events from the durable audit log in `directory`, in log
// order. When `live_log` (the `AuditLog` writing that directory, or null
// for a log no one writes) is set, each call first `Flush`es it: every
// event recorded before the call is on disk and read. Each call opens its
// own `AuditLogReader`, so calls may run concurrently.
class CONSENTRY_EXPORT AuditLogAccessEventSource final
    : public AccessEventSource {
 public:
  AuditLogAccessEventSource(std::string directory, AuditLog* live_log);
  ~AuditLogAccessEventSource() override;

  // Errors: the flush's error (`kUnavailable`, `kFailedPrecondition` for a
  // closed log); `kNotFound` when the directory does not exist; the
  // reader's `kDataLoss` (a frame failing its CRC) and `kInternal` (I/O).
  // Each names the directory.
  absl::StatusOr<std::vector<OwnedAuditEvent>> EventsFor(
      absl::string_view subject_id) override;
  // As `EventsFor`, with the log's coverage (`AuditLogReader::
  // last_coverage`): "events before T were removed under the retention
  // policy ..." when retention removed old segments.
  absl::StatusOr<CoveredEvents> CoveredEventsFor(
      absl::string_view subject_id) override;

  // What the last successful `EventsFor` read: segments answered from an
  // index, scanned, skipped by the index.
  AuditLogReader::Stats last_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The subject's events from the access logs of several services (an
// `AuditLogSet` over `directories`), merged by time: a disclosure that
// covers every service of a fleet. The `AuditLog`s in `live_logs` (those
// this process writes, possibly none) are flushed first. Each call opens
// its own set, so calls may run concurrently. Errors: as
// `AuditLogSet::Open` and its queries, naming the log; a flush's error.
class CONSENTRY_EXPORT AuditLogSetAccessEventSource final
    : public AccessEventSource {
 public:
  explicit AuditLogSetAccessEventSource(std::vector<std::string> directories,
                                        std::vector<AuditLog*> live_logs = {});
  ~AuditLogSetAccessEventSource() override;

  absl::StatusOr<std::vector<OwnedAuditEvent>> EventsFor(
      absl::string_view subject_id) override;
  // As `EventsFor`, complete from the latest `complete_from` of the logs;
  // the note names each log retention cut.
  absl::StatusOr<CoveredEvents> CoveredEventsFor(
      absl::string_view subject_id) override;

 private:
  std::vector<std::string> directories_;
  std::vector<AuditLog*> live_logs_;
};

// The states of the subject's consent record after each change, oldest
// first (`ConsentStore::History`). Does not own `store`.
class CONSENTRY_EXPORT ConsentStoreHistorySource final
    : public ConsentHistorySource {
 public:
  explicit ConsentStoreHistorySource(ConsentStore* store) : store_(store) {}

  // Errors: those of `History`, `kUnimplemented` included (the store keeps
  // no history: configure no history source for it).
  absl::StatusOr<std::vector<v1::ConsentRecord>> HistoryFor(
      absl::string_view subject_id) override;

 private:
  ConsentStore* store_;
};

// The subject's provision records (direction "provided") and receipt
// records ("received"), merged oldest first; `record_ref` is the record's
// id. A receipt names its provider in `recipient_name` (it has no
// registry id). Does not own `store`.
class CONSENTRY_EXPORT ProvisionStoreSource final
    : public ProvisionRecordSource {
 public:
  explicit ProvisionStoreSource(ProvisionRecordStore* store) : store_(store) {}

  // Errors: those of `ProvisionRecordStore::Query`; `kInternal` when the
  // store returns a record that does not name the subject (it is never
  // disclosed to someone else).
  absl::StatusOr<std::vector<v1::ProvisionEntry>> ProvisionsFor(
      absl::string_view subject_id) override;

 private:
  ProvisionRecordStore* store_;
};

}  // namespace consentry

#endif  // CONSENTRY_DISCLOSURE_SOURCES_H_

// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: recipients.h
// -----------------------------------------------------------------------------
//
// Giving personal data to someone outside is a checked and recorded act
// (policy §5, §7.2; APPI Art. 25, 27-30). This header holds:
//
//   * `RecipientRegistry`: the validated registry of contractors, joint
//     users, third parties and foreign third parties
//     (`consentry.v1.Recipient`), with each one's vetting, contract clauses and
//     monitoring status.
//   * `ProvisionDesk::Provide` (declared in provision.h, documented here):
//     gives one record or a batch to a recipient for a purpose, after every
//     check, and writes the provision record and one audit event per
//     record.
//   * `RecordReceipt`: records data received from a third party (Art. 30).
//   * `ProvisionRecordStore`: where provision and receipt records live, with
//     an in-memory implementation (SQLite: consentry/sqlite_records.h);
//     queries by subject and by recipient; `retain_until` set by the store;
//     `PurgeExpiredRecords`, the audited purge after the retention period.
//   * Reports: recipients due for monitoring; provisions per recipient and
//     period.
//   * Monitoring results: `RecordMonitoringResult` appends who monitored a
//     recipient, when, the outcome and the findings to a monitoring log
//     next to the registry, crash-safely; `ApplyMonitoringLog` folds it in.
//
// What `ProvisionDesk::Provide` checks, in order, per record (the first failure
// is the record's denial reason):
//
//   1. The recipient (for the whole batch): vetting approved and not expired
//      (`kRecipientNotVetted`); latest monitoring not failed
//      (`kRecipientMonitoringFailed`); periodic monitoring not overdue
//      (`kRecipientMonitoringOverdue`); the same for every sub-contractor
//      down the entrustment chain (`RecipientRegistry::ChainStatusAt`; a
//      sub-contractor without a registry entry is not vetted); the purpose
//      is one the recipient may receive data for, i.e. one of
//      `Recipient.purposes` or a descendant (`kNotAllowedByPolicy`).
//   2. The purpose as a read does: `Guard::Check(ctx, record)`, audited as a
//      read by the providing accessor (collection purposes, policy rule,
//      consent, suspension, erasure, accessor permission).
//   3. Third parties and foreign third parties only: the person has not
//      stopped provision to third parties (`kProvisionStopped`), and has
//      consented to provision (`kNoProvisionConsent`).
//   4. Categories that require specific consent (secrecy of communications):
//      see below (`kNoSpecificConsent`).
//
// Consent to provision is consent to the recipient's `consent_purpose`
// (consent to a parent counts, except for a foreign third party under
// `FOREIGN_TRANSFER_BASIS_CONSENT_WITH_INFORMATION`); contractors and joint
// users are not third parties. Data under secrecy of communications goes
// without further consent only to a contractor with the confidentiality
// clause for a purpose the category serves as necessary; otherwise it needs
// consent to exactly the recipient's consent purpose. Provision records are
// kept 1 year (`CONTRACT_DOCUMENT`) or 3 years (`COLLECTIVE`, per
// provision), counted in Japan time. The rules and the legal reading behind
// them: docs/design/provision-rules.md.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<const consentry::RecipientRegistry>>
//       registry = consentry::RecipientRegistry::Create(proto, *policy);
//   if (!registry.ok()) return registry.status();  // names recipients[i]
//   for (const consentry::MonitoringDueEntry& due :
//        consentry::RecipientsDueForMonitoring(**registry, absl::Now())) {
//     std::cout << due.recipient_id << (due.overdue ? " overdue" : "") << "\n";
//   }
//   // Giving records to a recipient: consentry/provision.h.

#ifndef CONSENTRY_RECIPIENTS_H_
#define CONSENTRY_RECIPIENTS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "consentry/audit.h"
#include "consentry/decision.h"
#include "consentry/export.h"
#include "consentry/policy.h"
#include "consentry/v1/recipient.pb.h"

namespace consentry {

// The validated registry of recipients. Immutable; safe to share.
class CONSENTRY_EXPORT RecipientRegistry {
 public:
  // Validates every entry against `policy` and builds the registry.
  //
  // Errors: `kInvalidArgument` naming the field path
  // (`recipients[2].contract.subcontractors`) and the value, for: a missing
  // or malformed or duplicate id; a missing name; an unspecified or unknown
  // kind or vetting status; an approved vetting without `vetted_time`; a
  // contractor without a contract, without `monitoring_interval`, or with
  // sub-contractors while sub-contracting is not allowed; a sub-contractor
  // without a name; a joint user without joint-use terms; a third party
  // without `consent_purpose`; a foreign third party without a country or a
  // basis, with an equivalent-country basis for a country that is not
  // designated, with equivalent measures but no monitoring interval, or on
  // consent without `information_ref`; a `country` on a domestic recipient;
  // no purposes; a purpose or consent purpose the policy does not know; a
  // negative monitoring interval; a time outside years 1 to 9999 or a
  // duration outside the range of `google.protobuf.Duration` (either would
  // make due dates meaningless, e.g. a monitoring never due); a
  // sub-contractor `recipient_id` that is malformed, names no entry, or
  // names an entry that is not a contractor; an entrustment cycle (A
  // sub-contracts to B, B back to A); a monitoring result that names
  // another recipient or fails the checks of `RecordMonitoringResult`.
  static absl::StatusOr<std::unique_ptr<const RecipientRegistry>> Create(
      const v1::RecipientRegistry& registry, const CompiledPolicy& policy);

  RecipientRegistry(const RecipientRegistry&) = delete;
  RecipientRegistry& operator=(const RecipientRegistry&) = delete;
  ~RecipientRegistry();

  // The entry with `id`, or nullptr. The pointer lives as long as this.
  const v1::Recipient* Find(absl::string_view id) const;
  const v1::RecipientRegistry& proto() const { return *proto_; }

  // Whether `r` may receive data at `now`: `kUnspecified` when it may,
  // `kRecipientNotVetted` when vetting is not approved or has expired,
  // `kRecipientMonitoringFailed` when its latest monitoring result (by
  // time, at or before `now`) failed, `kRecipientMonitoringOverdue` when the
  // last monitoring (or the vetting, if never monitored) is older than the
  // monitoring interval. Sub-contractors are not looked at: see
  // `ChainStatusAt`.
  static Reason StatusAt(const v1::Recipient& r, absl::Time now);

  // When `r` is next due for monitoring, as known at `as_of`: one
  // `monitoring_interval` after the later of `last_monitored_time` and the
  // time of its latest monitoring result at or before `as_of` (or after
  // `vetted_time` when it was never monitored); `absl::InfiniteFuture()`
  // when it has no monitoring interval. A result dated after `as_of` had not
  // happened then and is not counted (a report as of a past date).
  static absl::Time MonitoringDue(const v1::Recipient& r,
                                  absl::Time as_of = absl::InfiniteFuture());

  // `StatusAt` over the entrustment chain: `r` itself, then each of its
  // sub-contractors (`contract.subcontractors[].recipient_id`, registry
  // entries vetted and monitored as contractors), theirs, and so on, depth
  // first in the order listed. The first reason that refuses in that order
  // is returned, and `*blocking` (when not null)
  // set to the id of the recipient it concerns. A sub-contractor without a
  // `recipient_id` has no vetting record: `kRecipientNotVetted`, `*blocking`
  // its name. `ProvisionDesk::Provide` refuses on this.
  Reason ChainStatusAt(const v1::Recipient& r, absl::Time now,
                       std::string* blocking = nullptr) const;

 private:
  RecipientRegistry() = default;
  int IndexOf(absl::string_view id) const;
  absl::Status CheckEntrustmentChains() const;
  std::unique_ptr<v1::RecipientRegistry> proto_;
  std::vector<std::pair<std::string, int>> index_;  // sorted by id
};

// True when `country` (ISO 3166-1 alpha-2) is designated as having a
// system equivalent to Japan's (APPI Art. 28(1); the EEA and the UK).
CONSENTRY_EXPORT bool IsEquivalentSystemCountry(absl::string_view country);

// Filter for record queries. Empty strings and infinite times match all.
struct RecordFilter {
  std::string subject;
  std::string recipient;                   // for receipts: the provider name
  absl::Time from = absl::InfinitePast();  // inclusive
  absl::Time to = absl::InfiniteFuture();  // exclusive
};

// Limits on what a provision or receipt record may hold, checked by
// `ValidateProvisionRecord` and `ValidateReceiptRecord`: ids (record,
// recipient, subject, accessor, purpose, category, series; as long as a
// consent store's subject id, `kMaxSubjectIdBytes`) and every other
// string (names, addresses, circumstances, policy version); the subjects
// (and consent revisions) of one record; every other repeated field.
inline constexpr std::size_t kMaxRecordIdBytes = 1024;
inline constexpr std::size_t kMaxRecordTextBytes = 16 * 1024;
inline constexpr int kMaxRecordSubjects = 100'000;
inline constexpr int kMaxRecordListEntries = 1'000;

// Checks a record as a store accepts it: every string valid UTF-8 within
// its limit, the lists within theirs, no empty subject id, at least one
// subject, the recipient id (provider name) set, the time set and within
// years 1 to 9999, a known record method, and a keeping period that ends
// within years 1 to 9999. Every `ProvisionRecordStore` refuses a record
// that fails this and stores nothing.
//
// Errors: `kInvalidArgument` naming the field and what is wrong.
CONSENTRY_EXPORT absl::Status ValidateProvisionRecord(
    const v1::ProvisionRecord& record);
CONSENTRY_EXPORT absl::Status ValidateReceiptRecord(
    const v1::ReceiptRecord& record);

// Checks every record of `history` as above, and that no id is given to
// two provisions (or two receipts) of it. Errors: `kInvalidArgument`
// naming the record ("provisions[3] 'prov-9': ...").
CONSENTRY_EXPORT absl::Status ValidateProvisionHistory(
    const v1::ProvisionHistory& history);

// What a purge removed.
struct PurgeResult {
  std::vector<std::string> provision_ids;
  std::vector<std::string> receipt_ids;
};

// Called by `ProvisionRecordStore::PurgeDue` with exactly what it is about
// to delete, before anything is deleted; an error stops the purge.
using PurgeApproval = std::function<absl::Status(const PurgeResult&)>;

// Where provision and receipt records live. Implementations must be
// thread-safe.
//
// Retention: on add the store sets `retain_until` of the record to
// `RetentionEnd(method, time, last)`, where `last` is the latest time of
// the records of its series (`series_id`, among provisions for a
// provision and among receipts for a receipt) including the new one; for
// the collective and contract-document methods a later record of a series
// thereby moves `retain_until` of every record of that series.
class CONSENTRY_EXPORT ProvisionRecordStore {
 public:
  virtual ~ProvisionRecordStore() = default;

  // Stores `record`; assigns its id when empty, sets its `retain_until`
  // (see above) and returns the id.
  // Errors: `kInvalidArgument` for a record that fails
  // `ValidateProvisionRecord` (`ValidateReceiptRecord`); `kAlreadyExists`
  // for a duplicate id; `kUnavailable` on outage. Nothing is stored on
  // error.
  virtual absl::StatusOr<std::string> AddProvision(
      v1::ProvisionRecord record) = 0;
  virtual absl::StatusOr<std::string> AddReceipt(v1::ReceiptRecord record) = 0;

  // Stores every record of `history`, its provisions then its receipts,
  // each as `AddProvision` / `AddReceipt` would, all or none: for filing
  // records kept elsewhere in one step. Returns the ids in that order.
  // The library's stores implement it; the default returns
  // `kUnimplemented`. Errors: those of `AddProvision`, naming the record
  // (a duplicate id within `history` included); nothing is stored on
  // error.
  virtual absl::StatusOr<std::vector<std::string>> AddRecords(
      v1::ProvisionHistory history);

  // The records matching `filter`, oldest first. Errors: `kUnavailable`.
  virtual absl::StatusOr<v1::ProvisionHistory> Query(
      const RecordFilter& filter) = 0;

  // Deletes the records with these ids (unknown ids are ignored).
  // Errors: `kUnavailable`.
  virtual absl::Status Delete(absl::Span<const std::string> provision_ids,
                              absl::Span<const std::string> receipt_ids) = 0;

  // Deletes exactly the records whose `retain_until` is at or before
  // `now`, except that a record with a `series_id` goes only when every
  // record of its series is due, and returns the ids removed (each list in
  // the order of the records' times). When `approve` is set it is called,
  // once, with what is about to be removed (also when that is nothing)
  // while no other writer can change it; when it returns an error nothing
  // is deleted and that error is returned. `PurgeExpiredRecords` is the
  // audited purge built on this.
  // Errors: those of `approve`; `kUnavailable` on outage (nothing
  // deleted).
  virtual absl::StatusOr<PurgeResult> PurgeDue(
      absl::Time now, const PurgeApproval& approve = nullptr) = 0;
};

// Records in process memory. Thread-safe.
class CONSENTRY_EXPORT InMemoryProvisionRecordStore final
    : public ProvisionRecordStore {
 public:
  InMemoryProvisionRecordStore();
  ~InMemoryProvisionRecordStore() override;

  absl::StatusOr<std::string> AddProvision(v1::ProvisionRecord record) override;
  absl::StatusOr<std::string> AddReceipt(v1::ReceiptRecord record) override;
  absl::StatusOr<std::vector<std::string>> AddRecords(
      v1::ProvisionHistory history) override;
  absl::StatusOr<v1::ProvisionHistory> Query(
      const RecordFilter& filter) override;
  absl::Status Delete(absl::Span<const std::string> provision_ids,
                      absl::Span<const std::string> receipt_ids) override;
  absl::StatusOr<PurgeResult> PurgeDue(
      absl::Time now, const PurgeApproval& approve = nullptr) override;

  // For tests: makes every call fail with `kUnavailable` while true.
  void SetUnavailableForTesting(bool unavailable);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The provisions and receipts concerning `subject`, oldest first: the
// query the disclosure package reads. Errors: those of `Query`.
CONSENTRY_EXPORT absl::StatusOr<v1::ProvisionHistory> HistoryForSubject(
    ProvisionRecordStore& store, absl::string_view subject);

// The provisions to `recipient_id` and receipts from the provider named
// `recipient_id`, oldest first. Errors: those of `Query`.
CONSENTRY_EXPORT absl::StatusOr<v1::ProvisionHistory> HistoryForRecipient(
    ProvisionRecordStore& store, absl::string_view recipient_id);

// When a record made at `recorded` under `method` may be deleted, given the
// last provision (or receipt) of its series, per the table in the file
// comment. For `PER_PROVISION` the series is ignored.
CONSENTRY_EXPORT absl::Time RetentionEnd(v1::RecordMethod method,
                                         absl::Time recorded,
                                         absl::Time last_in_series);

// Records a receipt of personal data from a third party (APPI Art. 30):
// sets `receipt_time` to `now` when unset and stores it.
//
// Errors: `kInvalidArgument` naming the field when `provider_name`,
// `acquisition_circumstances`, `subjects` or `categories` is empty, or a
// category is unknown to `policy`; the errors of `AddReceipt`.
CONSENTRY_EXPORT absl::StatusOr<std::string> RecordReceipt(
    const CompiledPolicy& policy, ProvisionRecordStore& store,
    v1::ReceiptRecord receipt, absl::Time now);

// Deletes every record whose retention ended at or before `now`
// (`ProvisionRecordStore::PurgeDue`), audited by one event taken before
// anything is deleted: action `kRecordsPurged`, reason
// `kRetentionExpired`, `accessor`, time `now`, `records_included` = the
// number of records removed, `records_excluded` = 0, and `detail` =
// "provisions: <ids>; receipts: <ids>" (ids comma-separated). When the
// sink refuses the event, nothing is deleted. When the deletion then fails
// to commit, a second event with detail "not_committed: ..." retracts the
// first. A purge that finds nothing due writes no event.
//
// Errors: `kUnavailable` when the store fails or the audit sink refuses
// the event (nothing deleted); `kInvalidArgument` when `audit` is null.
CONSENTRY_EXPORT absl::StatusOr<PurgeResult> PurgeExpiredRecords(
    ProvisionRecordStore& store, AuditSink* audit, absl::string_view accessor,
    absl::Time now);

// A recipient whose periodic monitoring falls due.
struct MonitoringDueEntry {
  std::string recipient_id;
  std::string name;
  v1::RecipientKind kind;
  absl::Time due;
  bool overdue;  // due at or before `as_of`, as `StatusAt` counts it
};

// Recipients with a monitoring interval whose monitoring is due at or
// before `as_of + horizon`, earliest due first.
CONSENTRY_EXPORT std::vector<MonitoringDueEntry> RecipientsDueForMonitoring(
    const RecipientRegistry& registry, absl::Time as_of,
    absl::Duration horizon = absl::ZeroDuration());

// Provisions to one recipient within a period.
struct ProvisionSummary {
  std::string recipient_id;
  std::int64_t provisions = 0;          // provision records
  std::int64_t subjects = 0;            // distinct subjects
  std::int64_t subject_records = 0;     // (record, subject) pairs
  std::vector<std::string> categories;  // distinct, sorted
};

// Provisions in [from, to) per recipient, sorted by recipient id.
// Errors: those of `Query`.
CONSENTRY_EXPORT absl::StatusOr<std::vector<ProvisionSummary>>
ProvisionsPerRecipient(ProvisionRecordStore& store, absl::Time from,
                       absl::Time to);

// ---------------------------------------------------------------------------
// Monitoring results (policy §5; APPI Art. 25)
//
// The registry file is authored by hand and never rewritten; the results of
// periodic monitoring go to a monitoring log next to it
// (`MonitoringLogPath`: recipients.textproto ->
// recipients.monitoring.textproto), a `consentry.v1.MonitoringLog` that
// `RecordMonitoringResult` appends to and `ApplyMonitoringLog` folds into
// the registry before `RecipientRegistry::Create`. The latest result of a
// recipient starts its next monitoring interval; a failed one refuses
// provision to it, and to every contractor sub-contracting to it, with
// `kRecipientMonitoringFailed` until a later result passes.

// The monitoring log kept next to the registry at `registry_path`: its
// extension replaced by ".monitoring.textproto".
CONSENTRY_EXPORT std::string MonitoringLogPath(absl::string_view registry_path);

// Reads the monitoring log at `path` (textproto); an absent file is an
// empty log. Errors: `kInvalidArgument` when `path` is not a regular file
// or does not parse (naming it); `kResourceExhausted` over 256 MiB;
// `kPermissionDenied`.
CONSENTRY_EXPORT absl::StatusOr<v1::MonitoringLog> LoadMonitoringLog(
    const std::string& path);

// Appends each result of `log` to the `monitoring_results` of the recipient
// it names. Errors: `kInvalidArgument` naming `results[i]` when a result
// names no recipient of `registry` (then `registry` may be partly updated).
CONSENTRY_EXPORT absl::Status ApplyMonitoringLog(
    const v1::MonitoringLog& log, v1::RecipientRegistry& registry);

// Records one monitoring of `result.recipient_id` in the log at `log_path`
// and returns the recipient's next due time. `recorded_time` is set to
// `now`. The log is replaced crash-safely (temporary file created
// exclusively, fsync, rename, directory fsync: after a crash it holds the
// old or the new results, never a torn file), under an exclusive lock on
// `log_path + ".lock"` so that concurrent recorders (threads or processes)
// lose no result. `registry` is only read; reload it (with
// `ApplyMonitoringLog`) to see the result.
//
// Errors: `kNotFound` for a recipient not in `registry`;
// `kInvalidArgument` naming the field when `monitored_by` is empty or
// blank, `time` is unset, after `now` or outside years 1 to 9999, the
// outcome is unspecified or unknown, a failed outcome states no findings,
// more than 100 findings, or a string is not valid UTF-8 or over 4096
// bytes; the errors of `LoadMonitoringLog` for an existing log; I/O errors
// (the log then keeps its previous content).
//
// Example:
//
//   consentry::v1::MonitoringResult m;
//   m.set_recipient_id("callcenter-tokyo");
//   m.set_monitored_by("Privacy Officer");
//   m.set_outcome(consentry::v1::MONITORING_OUTCOME_PASSED);
//   m.mutable_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
//   absl::StatusOr<absl::Time> next = consentry::RecordMonitoringResult(
//       consentry::MonitoringLogPath("recipients.textproto"), *registry,
//       m, absl::Now());
CONSENTRY_EXPORT absl::StatusOr<absl::Time> RecordMonitoringResult(
    const std::string& log_path, const RecipientRegistry& registry,
    v1::MonitoringResult result, absl::Time now);

}  // namespace consentry

#endif  // CONSENTRY_RECIPIENTS_H_

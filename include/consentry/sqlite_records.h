// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// File: sqlite_records.h
// -----------------------------------------------------------------------------
//
// Durable data-subject requests and provision/receipt records (APPI Art.
// 29/30) in SQLite, the embedded default: `SqliteRequestStore` and
// `SqliteProvisionRecordStore`, behind `RequestStore` (requests.h) and
// `ProvisionRecordStore` (recipients.h). Both may share one file with each
// other and with a `SqliteConsentStore`; each keeps its own schema version
// (table `consentry_components`), so none blocks the others' upgrades.
// Opened like the consent store: a regular file (never a link or a
// directory), WAL mode, `synchronous=FULL` (a write that returned is
// durable), several processes may write (each waits up to
// `busy_timeout`). Schema, indexes, migrations and retention:
// docs/design/record-stores.md.
//
// Thread-safety: both are thread-safe (one connection each, serialized).
// Ownership: each owns its connection and closes it on destruction; the
// file outlives them.
//
// A stored row that does not parse, or names another id than its row, is
// `kDataLoss` naming the row and the file; rows of other requests and
// subjects keep working.
//
// In the example, `path` names the file (e.g. the consent store's).
//
// Example:
//
//   auto requests = consentry::SqliteRequestStore::Open(path);
//   if (!requests.ok()) return requests.status();
//   auto records = consentry::SqliteProvisionRecordStore::Open(path);
//   if (!records.ok()) return records.status();
//   consentry::v1::ProvisionRecord p;
//   p.set_recipient_id("callcenter-tokyo");
//   p.add_subjects("member-7");
//   p.set_record_method(consentry::v1::RECORD_METHOD_PER_PROVISION);
//   p.mutable_provision_time()->set_seconds(
//       absl::ToUnixSeconds(absl::Now()));
//   absl::StatusOr<std::string> id = (*records)->AddProvision(p);
//   if (!id.ok()) return id.status();
//   // Kept three years (`retain_until`); then purged, audited:
//   //   consentry::PurgeExpiredRecords(**records, &audit, "dpo", now);

#ifndef CONSENTRY_SQLITE_RECORDS_H_
#define CONSENTRY_SQLITE_RECORDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "consentry/export.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "consentry/sqlite_store.h"

namespace consentry {

// Requests in a SQLite file: one row per request, the record as
// `consentry.v1.SubjectRequest` bytes, with the verified subject and
// whether it is open as indexed columns. Ids are "req-1", "req-2", ...,
// never reused. `SqliteStoreOptions::poll_interval` is not used.
class CONSENTRY_EXPORT SqliteRequestStore final : public RequestStore {
 public:
  // The version of this component's schema (`consentry_components`).
  static constexpr int kSchemaVersion = 1;

  // Opens (or creates) the store at `path`, which may be a consent store's
  // file, and migrates its part of the schema.
  //
  // Errors: `kInvalidArgument` for an empty path; `kNotFound` when the
  // file is missing and `create_if_missing` is false;
  // `kFailedPrecondition` for a symbolic link, a directory, a file that is
  // not a database or belongs to another application, or a newer schema
  // version (all name the file); `kDataLoss` when SQLite reports the file
  // corrupt; `kUnavailable` when it cannot be opened or stays locked.
  static absl::StatusOr<std::unique_ptr<SqliteRequestStore>> Open(
      const std::string& path, SqliteStoreOptions options = {});

  SqliteRequestStore(const SqliteRequestStore&) = delete;
  SqliteRequestStore& operator=(const SqliteRequestStore&) = delete;
  ~SqliteRequestStore() override;

  // RequestStore. Besides the interface's codes: `kDataLoss` naming the
  // request and file for a row that does not parse (a list fails when it
  // would include that row).
  absl::StatusOr<v1::SubjectRequest> Create(
      v1::SubjectRequest request) override;
  absl::StatusOr<v1::SubjectRequest> Get(absl::string_view id) override;
  absl::StatusOr<v1::SubjectRequest> Update(
      const v1::SubjectRequest& request) override;
  absl::StatusOr<std::vector<v1::SubjectRequest>> ListBySubject(
      absl::string_view subject_id) override;
  absl::StatusOr<RequestListing> ListOpen() override;
  absl::StatusOr<RequestListing> ListAll() override;
  // Keeps the row number of the id, so later ids follow the largest.
  absl::StatusOr<v1::SubjectRequest> Import(
      const v1::SubjectRequest& request) override;

  const std::string& path() const;

 private:
  struct Impl;
  explicit SqliteRequestStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Provision and receipt records in a SQLite file: one row per record (the
// record as protobuf bytes, without `retain_until`, which the store keeps
// in columns and sets on every read), one row per (subject, record) in a
// subject index, and one row per series with its last record and its
// keeping period. Adding a record costs the same however long its series.
// Ids are "prov-N" and "rcpt-N" when the caller gives none.
class CONSENTRY_EXPORT SqliteProvisionRecordStore final
    : public ProvisionRecordStore {
 public:
  static constexpr int kSchemaVersion = 1;

  // Opens (or creates) the store at `path`; errors as
  // `SqliteRequestStore::Open`.
  static absl::StatusOr<std::unique_ptr<SqliteProvisionRecordStore>> Open(
      const std::string& path, SqliteStoreOptions options = {});

  SqliteProvisionRecordStore(const SqliteProvisionRecordStore&) = delete;
  SqliteProvisionRecordStore& operator=(const SqliteProvisionRecordStore&) =
      delete;
  ~SqliteProvisionRecordStore() override;

  // ProvisionRecordStore. Besides the interface's codes: `kDataLoss`
  // naming the record and file for a row that does not parse (a query
  // fails when it would include that row; `PurgeDue` reads no record
  // bytes and is not stopped by one).
  absl::StatusOr<std::string> AddProvision(v1::ProvisionRecord record) override;
  absl::StatusOr<std::string> AddReceipt(v1::ReceiptRecord record) override;
  // In one transaction.
  absl::StatusOr<std::vector<std::string>> AddRecords(
      v1::ProvisionHistory history) override;
  absl::StatusOr<v1::ProvisionHistory> Query(
      const RecordFilter& filter) override;
  absl::Status Delete(absl::Span<const std::string> provision_ids,
                      absl::Span<const std::string> receipt_ids) override;
  absl::StatusOr<PurgeResult> PurgeDue(
      absl::Time now, const PurgeApproval& approve = nullptr) override;

  const std::string& path() const;

 private:
  struct Impl;
  explicit SqliteProvisionRecordStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentry

#endif  // CONSENTRY_SQLITE_RECORDS_H_
